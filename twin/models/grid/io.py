"""The grid's file edge: pandapower JSON in and out."""

from __future__ import annotations

from pathlib import Path

import pandapower as pp

from twin.core import textload
from twin.models.grid.checks import inspect
from twin.models.grid.network import ParkNetwork

_MAX_BYTES = 200_000_000  # a network of a few hundred thousand elements


def read_network(path: str | Path, names: list[str]) -> ParkNetwork:
    """Load a pandapower JSON network and tie the park entities ``names`` to its elements.

    Raises ``ValueError`` with the first error of :func:`check_file` (and how many more).
    """
    pn, errors, _ = check_file(path, names)
    if errors or pn is None:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ValueError(f"{errors[0]}{more}")
    return pn


def check_file(path: str | Path, names: list[str]) -> tuple[ParkNetwork | None, list[str],
                                                             list[str]]:
    """Load a pandapower JSON network and check it for the park entities ``names``
    (:func:`twin.models.grid.checks.inspect`): the network (None where it cannot be used),
    every error and every warning, one line each."""
    try:
        text = textload.read_text(path, "pandapower JSON network", ValueError,
                                  max_bytes=_MAX_BYTES)
    except ValueError as exc:
        return None, [str(exc)], []
    try:
        net = pp.from_json_string(text)
    except Exception as exc:  # pandapower raises many kinds for a bad file
        return None, [f"not a pandapower JSON network: {' '.join(str(exc).split())}"], []
    return inspect(net, names)


def write_network(pn: ParkNetwork, path: str | Path) -> Path:
    """Write the network as pandapower JSON, readable with ``pandapower.from_json``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pp.to_json(pn.net, str(path))
    return path
