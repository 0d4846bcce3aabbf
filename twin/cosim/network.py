"""Scenario -> the park's pandapower network: read from JSON or built from the entities."""

from __future__ import annotations

import copy

from twin import data as reference_data
from twin.models.grid import io as grid_io
from twin.models.grid.control import Unit
from twin.models.grid.network import Connection, ParkNetwork, build_network
from twin.models.loads import ev_params
from twin.models.turbines import power_curve
from twin.scenario import Scenario


def grid_connections(s: Scenario) -> list[Connection]:
    """How each park entity connects to a built network: kind, rating and host."""
    hosts = (s.grid.hosts if s.grid else None) or {}
    cop_min = float(reference_data.load("grid")["heat_cop_min"])
    out = []
    for spec in s.wind_farms:
        rated = power_curve(spec.turbine_type).nominal_mw * spec.n_turbines
        out.append(Connection(spec.name, "wind", rated, None, spec.n_turbines))
    ratings: list[tuple[str, str, float]] = [
        *((p.name, "pv", p.p_ac_mw) for p in s.pv_plants),
        *((b.name, "battery", b.p_max_mw) for b in s.batteries),
        *((f.name, "factory", f.p_peak_mw) for f in s.factory_loads),
        *((e.name, "ev", e.p_max_mw or e.n_chargers * (e.p_charger_kw or ev_params(e.kind)[
            "p_charger_kw"]) / 1000.0) for e in s.ev_hubs),
        *((h.name, "heat", max(h.hp_q_max_mw / cop_min, 0.1 * h.q_design_mw))
          for h in s.heat_supply),
        *((a.name, "aoi", max(sum(a.p_run_kw), a.reflow_warmup_kw) / 1000.0)
          for a in s.aoi_lines),
    ]
    out.extend(Connection(name, kind, mw, hosts.get(name)) for name, kind, mw in ratings)
    return out


def grid_units(s: Scenario) -> dict[str, Unit]:
    """Each park entity's kind and rating, as the inverters' voltage control sees them."""
    return {c.name: Unit(c.kind, c.rating_mw) for c in grid_connections(s)}


_BUILT: dict[str, ParkNetwork] = {}  # the last network built, by what it follows from


def build_grid(s: Scenario) -> ParkNetwork:
    """The network a run uses: loaded from JSON, or built from the scenario's entities (a copy
    of the last one built when nothing it follows from changed: the trainers' page builds
    the same network at every jump, and the planning rules' power flows take a second)."""
    if s.grid is None:
        raise ValueError("the scenario has no grid section")
    names = [name for _, name in s.entity_names()]
    if s.grid.source in ("json", "cim"):
        return grid_io.read_network(s.grid.path, names, s.grid.source, s.grid.mapping,
                                    s.entity_kinds())
    connections = grid_connections(s)
    key = repr((connections, s.grid.layout, s.park.name, reference_data.load("grid")))
    if key not in _BUILT:
        _BUILT.clear()
        _BUILT[key] = build_network(connections, s.grid.layout, name=s.park.name)
    return copy.deepcopy(_BUILT[key])
