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
import logging
import re
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
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


#: IEC 61970-452's Equipment profile, named before ENTSO-E's CGMES names pandapower knows
_IEC_EQ = re.compile(rb"(<md:Model\.profile>)http://iec\.ch/TC57/61970-452/Equipment/\d+(<)")
_CGMES_EQ = rb"\1http://entsoe.eu/CIM/EquipmentCore/3/1\2"
#: a current limit of zero (an exporter's "no limit"), which the converter would take as the
#: line's rating
_ZERO_LIMIT = re.compile(rb"<cim:CurrentLimit [^>]*>(?:(?!</cim:CurrentLimit>).)*?"
                         rb"<cim:CurrentLimit\.value>0(?:\.0*)?(?:e[+-]?0+)?</cim:CurrentLimit"
                         rb"\.value>(?:(?!</cim:CurrentLimit>).)*</cim:CurrentLimit>\s*", re.S)
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"


def _profile(data: bytes) -> bytes:
    """The text of a ``<md:Model.profile>`` header (empty where none)."""
    found = re.search(rb"<md:Model\.profile>([^<]*)<", data)
    return found.group(1) if found else b""


def _sv(data: bytes) -> tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float]]]:
    """A StateVariables file's power flow per terminal (p, q in MW, Mvar) and voltage per
    topological node (kV, degrees)."""
    from xml.etree import ElementTree

    def ref(el: Any, tag: str) -> str:
        node = next(c for c in el if c.tag.endswith(tag))
        return node.get(f"{_RDF}resource", "").lstrip("#")

    def num(el: Any, tag: str) -> float:
        return float(next(c for c in el if c.tag.endswith(tag)).text)

    flows, volts = {}, {}
    for el in ElementTree.fromstring(data):
        if el.tag.endswith("}SvPowerFlow"):
            flows[ref(el, ".Terminal")] = (num(el, ".p"), num(el, ".q"))
        elif el.tag.endswith("}SvVoltage"):
            volts[ref(el, ".TopologicalNode")] = (num(el, ".v"), num(el, ".angle"))
    return flows, volts


def _state_from_sv(net: Any, sv: bytes) -> None:
    """A model with no SteadyStateHypothesis profile (an export from before CGMES: EQ, TP, SV)
    takes its steady state from the solved one: each load's power from the power flow at its
    terminal, every element in service, the external network the slack at its solved voltage."""
    flows, volts = _sv(sv)
    load = net.load
    pq = load["terminal"].map(flows)
    missing = load["name"][pq.isna()].tolist()
    if missing:
        raise ValueError(f"no SteadyStateHypothesis profile and no power flow in the "
                         f"StateVariables profile for load(s) {', '.join(map(str, missing))}")
    load["p_mw"] = [p for p, _ in pq]
    load["q_mvar"] = [q for _, q in pq]
    for table in ("load", "sgen", "line", "trafo", "bus"):
        if "in_service" in net[table]:
            net[table]["in_service"] = net[table]["in_service"].fillna(True).astype(bool)
    if len(net.ext_grid):
        return
    import pandapower as pp

    eni = net.sgen.index[net.sgen.get("origin_class", "") == "ExternalNetworkInjection"]
    for idx in eni:
        bus = net.sgen.at[idx, "bus"]
        v, angle = volts.get(str(net.bus.at[bus, "origin_id"]), (net.bus.at[bus, "vn_kv"], 0.0))
        pp.create_ext_grid(net, bus, vm_pu=v / net.bus.at[bus, "vn_kv"], va_degree=angle,
                           name=net.sgen.at[idx, "name"])
    net.sgen = net.sgen.drop(index=eni)


@contextmanager
def _converter_quiet() -> Iterator[list[str]]:
    """pandapower's CIM converter logs its errors with tracebacks and pandas' deprecation
    warnings on stderr: its error messages are collected (one line each) for the caller to
    judge, the rest kept off the console."""
    said: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append(" ".join(record.getMessage().split())[:200])

    logger = logging.getLogger("pandapower.converter")
    handler = _Collect(level=logging.ERROR)
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield said
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def read_cim(path: str | Path) -> Any:
    """A CIM/CGMES model (a .zip of its profiles, one .xml, or a folder of them) converted by
    pandapower's converter; ``ValueError`` in one line where it cannot be read.

    An export of IEC 61970-452/456 profiles (before ENTSO-E's CGMES names) is read as well: its
    Equipment profile under the CGMES name pandapower knows, current limits of zero (an
    exporter's "no limit") left out, and, with no SteadyStateHypothesis
    profile, its steady state taken from its StateVariables profile (:func:`_state_from_sv`)."""
    import tempfile

    from pandapower.converter.cim.cim2pp.from_cim import from_cim

    path = Path(path)
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".xml", ".zip")) \
        if path.is_dir() else [path]
    if not files:
        raise ValueError(f"{path.name}: no .xml or .zip CIM files in the folder")
    xml = {f: f.read_bytes() for f in files if f.suffix.lower() == ".xml"}
    legacy = {f: _ZERO_LIMIT.sub(b"", _IEC_EQ.sub(_CGMES_EQ, data, count=1))
              for f, data in xml.items() if _IEC_EQ.search(data[:4000]) or _ZERO_LIMIT.search(data)}
    profiles = [_profile(data[:4000]) for data in xml.values()]
    no_ssh = bool(xml) and len(xml) == len(files) and \
        not any(b"SteadyStateHypothesis" in p for p in profiles)
    sv = [data for data, p in zip(xml.values(), profiles, strict=True) if b"StateVariables" in p]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            names = []
            for f in files:
                if f in legacy:
                    names.append(Path(tmp) / f.name)
                    names[-1].write_bytes(legacy[f])
                else:
                    names.append(f)
            with _converter_quiet() as said:
                net = from_cim(file_list=[str(f) for f in names])
        if no_ssh and sv:
            _state_from_sv(net, sv[0])
            said = [m for m in said if "in_service" not in m and "NaN to bool" not in m]
        for message in dict.fromkeys(said):   # each once, in one line, no traceback
            warnings.warn(f"{path.name}: pandapower's CIM converter: {message}", stacklevel=2)
        return net
    except Exception as exc:  # noqa: BLE001 - the converter raises many kinds for a bad model
        raise ValueError(f"{path.name}: not a CIM/CGMES model pandapower can convert: "
                         f"{' '.join(str(exc).split())[:200]}") from None
