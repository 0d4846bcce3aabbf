"""The scenario's FMUs wired into the park (:mod:`adapters.fmu_sim`): their inputs read the
weather or the park's entities, their electric power enters the balance on their role's side,
and every output they map is recorded under the FMU's name (kind ``fmu``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from adapters.base import Attr
from twin.models.fmu import QUANTITIES
from twin.scenario import Scenario
from twin.scenario.fmus import sources

if TYPE_CHECKING:
    import mosaik

SIM = "FMU"


def sim_config(s: Scenario) -> dict[str, dict[str, str]]:
    """mosaik's sim config entry of the FMU adapter, where the scenario has FMUs."""
    return {SIM: {"python": "adapters.fmu_sim:FMUSim"}} if s.fmus else {}


def build(world: mosaik.World, s: Scenario, wiring: Any) -> tuple[list[Any], list[Any]]:
    """Create each FMU's entity, connect its inputs; (generators, loads) whose ``p_mw`` the
    balance takes."""
    if not s.fmus:
        return [], []
    factory = world.start(SIM, step_s=s.period.step_s)
    units = sources(s)
    quantities = {q.name: q for q in QUANTITIES}
    gens, loads = [], []
    for f in s.fmus:
        inputs = f.inputs or {}
        ent = factory.FMU.create(1, spec=f, input_units={v: units[src] for v, src in
                                                          inputs.items()})[0]
        wiring.add(f.name, ent, "fmu", [Attr(o.quantity, quantities[o.quantity].unit,
                                             f"from the FMU's {o.variable}",
                                             quantities[o.quantity].agg) for o in f.outputs],
                   {"path": str(f.path), "role": f.role, "generation": f.generation})
        for var, src in inputs.items():
            entity, attr = src.split(".", 1)
            world.connect(wiring.entities[entity], ent, (attr, var))
        if any(o.quantity == "p_mw" for o in f.outputs) and f.role != "none":
            (gens if f.role == "generator" else loads).append(ent)
    return gens, loads
