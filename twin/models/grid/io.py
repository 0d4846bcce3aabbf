"""The grid's file edge: pandapower JSON in and out, CIM/CGMES in, with a mapping table."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandapower as pp

from twin.core import textload
from twin.models.grid import mapping as mapping_table
from twin.models.grid.checks import inspect
from twin.models.grid.network import ParkNetwork

_MAX_BYTES = 200_000_000  # a network of a few hundred thousand elements


def read_network(path: str | Path, names: list[str], source: str = "json",
                 mapping: str | Path | None = None,
                 kinds: Mapping[str, str] | None = None) -> ParkNetwork:
    """Load a pandapower JSON or CIM/CGMES network and tie the park entities ``names`` to its
    elements (by a mapping table where given, :mod:`twin.models.grid.mapping`).

    Raises ``ValueError`` with the first error of :func:`check_file` (and how many more).
    """
    pn, errors, _ = check_file(path, names, source, mapping, kinds)
    if errors or pn is None:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ValueError(f"{errors[0]}{more}")
    return pn


def check_file(path: str | Path, names: list[str], source: str = "json",
               mapping: str | Path | None = None, kinds: Mapping[str, str] | None = None
               ) -> tuple[ParkNetwork | None, list[str], list[str]]:
    """Load a pandapower JSON or CIM/CGMES (``source: cim``) network, tie it to the park
    entities by the ``mapping`` table where given (entity kinds ``kinds``) and check it for the
    entities ``names`` (:func:`twin.models.grid.checks.inspect`): the network (None where it
    cannot be used), every error and every warning, one line each."""
    if source == "cim":
        try:
            net = mapping_table.read_cim(path)
        except ValueError as exc:
            return None, [str(exc)], []
    else:
        net, errors = _read_json(path)
        if net is None:
            return None, errors, []
    if mapping is not None:
        rows, errors = mapping_table.read_table(mapping)
        errors = errors or mapping_table.apply(net, rows, kinds or {}, Path(mapping).name)
        if errors:
            return None, errors, []
    return inspect(net, names)


def _read_json(path: str | Path) -> tuple[object | None, list[str]]:
    """A pandapower JSON network, or None and why not."""
    try:
        text = textload.read_text(path, "pandapower JSON network", ValueError,
                                  max_bytes=_MAX_BYTES)
    except ValueError as exc:
        return None, [str(exc)]
    try:
        return pp.from_json_string(text), []
    except Exception as exc:  # pandapower raises many kinds for a bad file
        return None, [f"not a pandapower JSON network: {' '.join(str(exc).split())}"]


def write_network(pn: ParkNetwork, path: str | Path) -> Path:
    """Write the network as pandapower JSON, readable with ``pandapower.from_json``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pp.to_json(pn.net, str(path))
    return path
