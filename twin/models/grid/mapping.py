"""A user's own network (pandapower JSON or CIM/CGMES) tied to the park's entities by a table.

A network exported from a planning tool names its loads and generators its own way. The
mapping table says which of its elements each park entity drives, one row per element::

    entity,table,element
    pv-roof,sgen,PV_Roof_North        # element: the element's name ...
    pv-roof,sgen,PV_Roof_South
    plant-a,load,12                   # ... or its index in the table

PV plants and wind farms map to static generators (``sgen``), loads and batteries to loads
(``load``; a battery charging is a positive load). :func:`apply` checks the table against the
network and the scenario and names each mistake in one line (file, line, field): an element
the network does not have, an element mapped twice, an entity that is not the park's, a park
entity with no row, an entity mapped to the wrong table. It then renames the mapped elements
``<entity>/<k>``, the names the rest of the twin ties entities by
(:func:`twin.models.grid.network.from_pandapower`), and renames any other element whose name
would tie it to an entity, so that only the table decides.

A CIM/CGMES model is converted by pandapower's converter
(``pandapower.converter.cim.cim2pp.from_cim``) before the table is applied (:func:`read_cim`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twin.core import textload

__all__ = ["Row", "TABLES", "apply", "read_cim", "read_table"]

#: the table each kind of entity maps to
TABLES = {"pv": "sgen", "wind": "sgen"}  # every other kind: load


@dataclass(frozen=True)
class Row:
    """One row of the mapping table: its line in the file, entity, table and element."""

    line: int
    entity: str
    table: str
    element: str


def read_table(path: str | Path) -> tuple[list[Row], list[str]]:
    """The rows of a mapping table (CSV with the header ``entity,table,element``; lines
    starting with ``#`` and text after `` #`` are comments) and its errors, one line each."""
    path = Path(path)
    try:
        text = textload.read_text(path, "mapping table", ValueError, max_bytes=10_000_000)
    except ValueError as exc:
        return [], [str(exc)]
    lines = [(n, ln.split(" #", 1)[0].strip()) for n, ln in enumerate(text.splitlines(), 1)]
    lines = [(n, ln) for n, ln in lines if ln and not ln.startswith("#")]
    if not lines:
        return [], [f"{path.name}: empty; expected the header entity,table,element"]
    head_line, head = lines[0]
    header = [h.strip() for h in next(csv.reader(io.StringIO(head)))]
    if header != ["entity", "table", "element"]:
        return [], [f"{path.name} line {head_line}: header {','.join(header)!r}; expected "
                    "entity,table,element"]
    rows, errors = [], []
    for n, ln in lines[1:]:
        cells = [c.strip() for c in next(csv.reader(io.StringIO(ln)))]
        if len(cells) != 3 or not all(cells):
            errors.append(f"{path.name} line {n}: expected three fields entity,table,element, "
                          f"got {ln!r}")
            continue
        rows.append(Row(n, *cells))
    return rows, errors


def _find(net: Any, table: str, element: str) -> int | None:
    """The index of ``element`` (a name, or an index as text) in ``net[table]``."""
    df = net[table]
    hits = df.index[df["name"].astype(str) == element]
    if len(hits) == 1:
        return int(hits[0])
    if len(hits) == 0 and element.lstrip("-").isdigit() and int(element) in df.index:
        return int(element)
    return None if len(hits) == 0 else -len(hits)


def _check_row(net: Any, r: Row, kinds: Mapping[str, str], taken: dict[tuple[str, int], Row],
               at: str) -> int | str:
    """The index of the row's element, or its mistake in one line."""
    if r.entity not in kinds:
        return (f"{at}, entity: {r.entity!r} is not a park entity (expected one of "
                f"{', '.join(sorted(kinds))})")
    want = TABLES.get(kinds[r.entity], "load")
    if r.table != want:
        return f"{at}, table: a {kinds[r.entity]} entity drives {want} elements, got {r.table!r}"
    idx = _find(net, r.table, r.element)
    if idx is None:
        names = [str(n) for n in net[r.table]["name"][:8]]
        return (f"{at}, element: no {r.table} named or numbered {r.element!r} in the network "
                f"(its {r.table}s: {', '.join(names)}{' ...' if len(net[r.table]) > 8 else ''})")
    if idx < 0:
        return f"{at}, element: {-idx} {r.table}s are named {r.element!r}; give its index instead"
    if (r.table, idx) in taken:
        first = taken[(r.table, idx)]
        return (f"{at}, element: {r.table} {r.element!r} is already mapped to {first.entity} "
                f"on line {first.line}")
    return idx


def apply(net: Any, rows: list[Row], kinds: Mapping[str, str], where: str) -> list[str]:
    """Tie the park entities ``kinds`` (name -> kind) to the elements of ``net`` by ``rows``
    (the table in file ``where``): rename them in place; return the mistakes, one line each
    (nothing is renamed when there are any)."""
    errors: list[str] = []
    taken: dict[tuple[str, int], Row] = {}
    for r in rows:
        found = _check_row(net, r, kinds, taken, f"{where} line {r.line}")
        if isinstance(found, str):
            errors.append(found)
        else:
            taken[(r.table, found)] = r
    mapped = {r.entity for r in rows}
    errors += [f"{where}: no row for park entity {e!r} ({kinds[e]}); map it to one or more "
               f"{TABLES.get(kinds[e], 'load')} elements" for e in sorted(kinds)
               if e not in mapped]
    if errors:
        return errors
    for table in ("load", "sgen"):
        df = net[table]
        for idx, label in df["name"].items():
            if (table, int(idx)) not in taken and str(label).split("/", 1)[0] in kinds:
                df.at[idx, "name"] = f"{label} (unmapped)"
    count: dict[str, int] = {}
    for (table, idx), r in taken.items():
        k = count.get(r.entity, 0)
        count[r.entity] = k + 1
        net[table].at[idx, "name"] = f"{r.entity}/{k}"
    return []


def read_cim(path: str | Path) -> Any:
    """A CIM/CGMES model (a .zip of its profiles, one .xml, or a folder of them) converted by
    pandapower's converter; ``ValueError`` in one line where it cannot be read."""
    from pandapower.converter.cim.cim2pp.from_cim import from_cim

    path = Path(path)
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".xml", ".zip")) \
        if path.is_dir() else [path]
    if not files:
        raise ValueError(f"{path.name}: no .xml or .zip CIM files in the folder")
    try:
        return from_cim(file_list=[str(f) for f in files])
    except Exception as exc:  # noqa: BLE001 - the converter raises many kinds for a bad model
        raise ValueError(f"{path.name}: not a CIM/CGMES model pandapower can convert: "
                         f"{' '.join(str(exc).split())[:200]}") from None
