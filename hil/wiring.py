"""Hardware in the loop plugged into the park's wiring (:class:`twin.cosim.world.Extension`).

:class:`HILExtension` adds the real-time pacer and a proxy per bound battery, PV plant or metered
load that takes the entity's place. The entity's model stays in the run as its simulated
twin, recorded as ``<name>.twin``: it gives a battery proxy the controller's command (what the
twin battery does with it), a PV or load proxy the power to fall back on (a PV plant's
curtailment limit comes from the scenario's ``hil.sequence``; none: no limit). The loop is closed on the
device: the proxy's state of charge (the device's measurement, or the twin's after a takeover)
goes back to the twin battery, one step later, as its ``soc_measured``, so the controller - the
local rule clipping on the battery's state, or the EMS reading the battery simulator's
snapshot - works on the device's state of charge. Cameras need no proxy: the AOI
line reads them (:mod:`hil.run` binds them). ``twin hil`` passes this extension to
:func:`twin.runner.run`; ``twin run`` simulates every entity.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import mosaik

from hil.pacer import PacerSim
from hil.proxy_sim import HILSim
from hil.session import open_session
from twin.cosim.world import Wiring, retire, start
from twin.scenario import Scenario


class HILExtension:
    """The pacer and the device proxies of a scenario whose ``hil`` bindings are active."""

    def sim_config(self) -> dict[str, dict[str, str]]:
        return {name: {"python": f"{cls.__module__}:{cls.__name__}"}
                for name, cls in (("Pacer", PacerSim), ("HIL", HILSim))}

    def build(self, world: mosaik.World, s: Scenario, wiring: Wiring,
              factories: dict[str, Any], path: Path) -> None:
        if s.hil is None or not s.hil.active:
            return
        session = open_session(s, path)
        factories["Pacer"] = start(world, s, "Pacer", session=session)
        pacer = factories["Pacer"].Pacer.create(1, name="pacer")[0]
        wiring.add("pacer", pacer, "pacer", PacerSim.MODELS["Pacer"].outputs)
        specs = {spec.name: spec for spec in (*s.batteries, *s.pv_plants, *s.factory_loads)}
        for b in s.hil.bindings:
            if b.kind == "camera":
                continue
            model, kind = {"battery": ("Battery", "battery"), "pv": ("PV", "pv"),
                           "meter": ("Load", "factory")}[b.kind]
            if f"HIL:{b.kind}" not in factories:  # one simulator per kind: no same-step cycle
                factories[f"HIL:{b.kind}"] = start(world, s, "HIL", session=session)
            twin = retire(wiring, b.entity, f"{b.entity}.twin", f"{kind}-twin")
            proxy = getattr(factories[f"HIL:{b.kind}"], model).create(
                1, name=b.entity, spec=specs[b.entity], binding=b)[0]
            spec = {**dataclasses.asdict(specs[b.entity]), "device": b.device, "hil": b.kind}
            wiring.add(b.entity, proxy, kind, HILSim.MODELS[model].outputs, spec)
            world.connect(pacer, proxy, "skip")
            world.connect(twin, proxy,
                          ("p_mw", "p_set_mw" if b.kind == "battery" else "p_twin_mw"))
            if b.kind == "battery":  # the controller works on the device's state
                world.connect(proxy, twin, ("soc", "soc_measured"), time_shifted=True,
                              initial_data={"soc": math.nan})
