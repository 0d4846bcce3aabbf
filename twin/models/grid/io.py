"""The grid's file edge: pandapower JSON in and out."""

from __future__ import annotations

from pathlib import Path

import pandapower as pp

from twin.models.grid.network import ParkNetwork, from_pandapower


def read_network(path: str | Path, names: list[str]) -> ParkNetwork:
    """Load a pandapower JSON network and tie the park entities ``names`` to its elements.

    Raises ``ValueError`` with a clear message for an unreadable file, a network without a
    slack or with islands, or an entity without elements.
    """
    from twin.models.grid.solver import check_network

    try:
        net = pp.from_json(str(path))
    except Exception as exc:  # pandapower raises many kinds for a bad file
        raise ValueError(f"not a pandapower JSON network: {exc}") from None
    check_network(net)
    return from_pandapower(net, names)


def write_network(pn: ParkNetwork, path: str | Path) -> Path:
    """Write the network as pandapower JSON, readable with ``pandapower.from_json``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pp.to_json(pn.net, str(path))
    return path
