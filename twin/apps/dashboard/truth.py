"""What the park really gets in a failure state: power served per entity, shed apart from losses.

The recorders keep each entity's own power (``p_mw``: what a factory asks for, what a wind
farm produces) and, at the PCC, what the network did with it (``p_shed_mw``,
``p_curtailed_mw``, ``p_loss_mw``). The page draws what was served, by the rules of
:meth:`twin.models.grid.topology.ParkGrid.step` (and of the lossless balance without a network):

- a tripped line leaves the buses without a path to the public grid dead: the elements on them
  get nothing (:class:`Supply` says which share of each entity's elements, per set of tripped
  lines; a trip of a PCC line islands the park instead);
- in an island every consuming element is cut by the same share and every generator curtailed
  by the same share (:func:`twin.models.disturbances.island`); the network's losses, which the
  island's grid-forming storage covers, are booked in ``p_shed_mw`` by the network model and
  shown here apart from the load cut.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping
from typing import Any

from twin.core.kinds import GENERATORS


class Supply:
    """Which share of each entity's network elements a set of tripped lines cuts off.

    ``net``: the pandapower network; with ``known`` (the shares :meth:`state` kept, with the
    network's line names), a function that builds it, called the first time a set of
    tripped lines not in ``known`` is asked about.
    """

    def __init__(self, net: Any | None, known: Mapping[str, Any] | None = None) -> None:
        self._net, self._build = (None, net) if known is not None else (net, None)
        self._cache: dict[frozenset[str], dict[str, float]] = {frozenset(): {}}
        self.pcc_lines: frozenset[str] = frozenset()
        self.lines: frozenset[str] = frozenset()
        if known is not None:
            self.pcc_lines = frozenset(known["pcc_lines"])
            self.lines = frozenset(known["lines"])
            self._cache.update({frozenset(k): dict(v) for k, v in known["dead"]})
        elif net is not None:
            slack = set(net.ext_grid.bus[net.ext_grid.in_service])
            self.pcc_lines = frozenset(str(n) for n, a, b in zip(
                net.line.name, net.line.from_bus, net.line.to_bus, strict=True)
                if a in slack or b in slack)
            self.lines = frozenset(map(str, net.line.name))

    @property
    def net(self) -> Any:
        """The network (built now if it was given as a function)."""
        if self._net is None and self._build is not None:
            self._net, self._build = self._build(), None
        return self._net

    def state(self) -> dict[str, Any]:
        """The line names and the shares worked out so far, JSON-ready (``known``)."""
        return {"pcc_lines": sorted(self.pcc_lines), "lines": sorted(self.lines),
                "dead": [[sorted(k), v] for k, v in self._cache.items() if k]}

    def islands_park(self, tripped: Iterable[str]) -> bool:
        """Whether the trips include a line to the public grid (the park islands)."""
        return bool(frozenset(tripped) & self.pcc_lines)

    def dead_share(self, tripped: Iterable[str]) -> dict[str, float]:
        """Entity -> share of its elements without supply (entities cut off by nothing left
        out), with the lines ``tripped`` out of service; built once per set of lines."""
        known = (frozenset(tripped) & self.lines) - self.pcc_lines
        found = self._cache.get(known)
        if found is None:
            found = self._cache[known] = self._dead(known)
        return found

    def _dead(self, tripped: frozenset[str]) -> dict[str, float]:
        import pandapower.topology as pp_topology

        net = copy.deepcopy(self.net)
        net.line.loc[net.line.name.isin(tripped), "in_service"] = False
        dead = set(pp_topology.unsupplied_buses(net))
        n: dict[str, int] = {}
        cut: dict[str, int] = {}
        for table in ("load", "sgen"):
            for name, bus in zip(net[table].name, net[table].bus, strict=True):
                entity = str(name).split("/", 1)[0]
                n[entity] = n.get(entity, 0) + 1
                cut[entity] = cut.get(entity, 0) + (int(bus) in dead)
        return {e: cut[e] / n[e] for e in n if cut[e]}


def served(p: Mapping[str, float | None], kinds: Mapping[str, str], dead: Mapping[str, float],
           islanded: bool, shed_mw: float, curtailed_mw: float, loss_mw: float
           ) -> tuple[dict[str, float | None], dict[str, float]]:
    """Power each entity really gets or gives (MW, signs as recorded: > 0 consumed by loads
    and charging storage, > 0 produced by generators), and the park's truths:
    ``demand`` (load asked), ``load`` (load served), ``shed`` (load cut, losses apart),
    ``losses`` (network losses), ``curtailed``.

    ``dead``: share of each entity's elements cut off (:meth:`Supply.dead_share`);
    ``shed_mw``, ``curtailed_mw``, ``loss_mw``: what the network or balance recorded.
    """
    def val(e: str) -> float:
        x = p.get(e)
        return float(x) if x is not None and math.isfinite(x) else 0.0

    live = {e: val(e) * (1.0 - dead.get(e, 0.0)) for e in kinds}
    lost_load = sum(max(val(e), 0.0) - max(live[e], 0.0) for e in kinds
                    if kinds[e] not in GENERATORS)
    lost_gen = sum(val(e) - live[e] for e in kinds if kinds[e] in GENERATORS) + sum(
        max(-val(e), 0.0) - max(-live[e], 0.0) for e in kinds if kinds[e] not in GENERATORS)
    losses = max(loss_mw, 0.0) if math.isfinite(loss_mw) else 0.0
    load_ratio = gen_ratio = 1.0
    cut = 0.0
    if islanded:  # the share the island cut: what was shed beyond the dead elements and losses
        consuming = sum(x for e, x in live.items() if kinds[e] not in GENERATORS and x > 0)
        cut = min(max(shed_mw - lost_load - losses, 0.0), consuming)
        load_ratio = 1.0 - cut / consuming if consuming > 0 else 1.0
        gen = sum(x for e, x in live.items() if kinds[e] in GENERATORS)
        spill = max(curtailed_mw - lost_gen, 0.0)
        gen_ratio = max(1.0 - spill / gen, 0.0) if gen > 0 else 1.0
    out: dict[str, float | None] = {}
    for e, kind in kinds.items():
        x = live[e]
        if kind in GENERATORS:
            x *= gen_ratio
        elif x > 0:
            x *= load_ratio
        out[e] = x if p.get(e) is not None else None
    loads = [e for e, k in kinds.items() if k not in GENERATORS and k != "battery"]
    demand = sum(max(val(e), 0.0) for e in loads)
    load = sum(max(out[e] or 0.0, 0.0) for e in loads)
    shed = lost_load + cut if islanded else max(shed_mw, 0.0)
    return out, {"demand": demand, "load": load, "shed": shed, "losses": losses,
                 "curtailed": max(curtailed_mw, 0.0)}
