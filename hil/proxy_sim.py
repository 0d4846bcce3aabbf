"""mosaik simulator that proxies bound entities to their devices (one per device kind).

A ``Battery`` entity takes a battery's place in the park: it receives the controller's
command (``p_set_mw``), passes it through the safety layer to the device and outputs what the
device measures - or, after a watchdog trip, what its simulated twin does. A ``PV`` entity
does the same for a PV inverter: its command is a curtailment limit (``p_limit_mw``, or the
scenario's ``hil.sequence``; none: the rating, no limit), its output the measured power, and
after a trip the plant's model (``p_twin_mw``) under that limit. A ``Load`` entity
does the same for a metered load (``p_twin_mw``: the load's model, used after a trip). Both
record the HIL columns (command, setpoint sent, device reading, online, on_device, latency).

The work of each entity is a :class:`hil.channel.Channel`. Device I/O runs on the session's
I/O thread; each step hands it every entity's exchange and awaits them together, at most the
I/O budget, as a generator step that mosaik awaits - its event loop stays free meanwhile.
Battery and load entities live in separate simulator instances so that a metered load can
feed the battery's controller within the same step.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time as _time
from collections.abc import Mapping
from typing import Any

from mosaik_api_v3.types import InputData
from typing_extensions import override

from adapters.base import Attr, Model, TwinSimulator, single, total
from hil.channel import DEVICE_STATE, Channel
from hil.session import Session
from twin.core.quantities import pick
from twin.models import battery, pv
from twin.models.loads import factory

HIL_OUT = (
    Attr("p_cmd_mw", "MW", "command from the twin's controller (or the load's model)"),
    Attr("p_sent_mw", "MW", "setpoint sent to the device after the safety layer (NaN: none)"),
    Attr("p_device_mw", "MW", "power the device reported this step (NaN: no answer)"),
    Attr("online", "1", "1 when the device answered this step"),
    Attr("on_device", "1", "1 while the device serves the entity, 0 after a takeover"),
    Attr("latency_ms", "ms", "time of the step's exchange (write and read)"),
    *DEVICE_STATE,
)
NAN = float("nan")
SKIP = Attr("skip", "1", "from the pacer: skip this step's device I/O")
BATTERY = Model(("name", "spec", "binding"), battery.OUTPUTS + HIL_OUT,
                (*pick(battery.INPUTS, "p_set_mw"), SKIP))
PV = Model(("name", "spec", "binding"), (*pick(pv.OUTPUTS, "p_mw"), *HIL_OUT),
           (Attr("p_twin_mw", "MW", "the plant's model (serves the entity after a trip)"),
            Attr("p_limit_mw", "MW", "curtailment limit from a controller (none: no limit)"),
            SKIP))
LOAD = Model(("name", "spec", "binding"), (*pick(factory.OUTPUTS, "p_mw"), *HIL_OUT),
             (Attr("p_twin_mw", "MW", "the load's model (serves the entity after a trip)"),
              Attr("p_shift_mw", "MW", "load shift from the EMS (a metered load ignores it)"),
              SKIP))


class HILSim(TwinSimulator):
    """Bound entities: safety layer, device exchange, watchdog, takeover by the twin."""

    MODELS = {"Battery": BATTERY, "PV": PV, "Load": LOAD}

    def setup(self, session: Session | None = None) -> None:
        if session is None:
            raise TypeError("HILSim needs the run's session (hil.session.Session)")
        self.session = session
        session.join()

    def make_entity(self, model: str, eid: str, params: Mapping[str, Any]) -> Channel:
        return Channel(params["binding"], params["spec"], self.session, float(self.step_s))

    @override
    def step(self, time: int, inputs: InputData, max_advance: int) -> Any:
        """Start every entity's exchange, wait for them together - at most the I/O budget,
        without holding mosaik's event loop - then finish each entity."""
        t0 = _time.perf_counter()
        k, t_s = time // self.step_ticks, float(self.seconds(time))
        started = {}
        for eid, channel in self.entities.items():
            data = inputs.get(eid, {})
            twin = total(data.get("p_twin_mw"))
            cmd = (total(data.get("p_set_mw")) if "p_set_mw" in data
                   else total(data.get("p_limit_mw")) if "p_limit_mw" in data
                   else NAN if channel.b.kind == "pv" else twin)  # a PV plant: no limit
            skip = bool(single(data.get("skip"), 0.0))
            started[eid] = channel.begin(k, t_s, cmd, twin, skip)
        futures = [f for f in started.values() if isinstance(f, concurrent.futures.Future)]
        if futures:
            yield asyncio.wait([asyncio.wrap_future(f) for f in futures],
                               timeout=max(self.session.section.budget_for(c.b)
                                           for c in self.entities.values()))
        for eid, channel in self.entities.items():
            self.out[eid] = channel.finish(started[eid])
        self._timing.steps += 1
        self._timing.step_s += _time.perf_counter() - t0
        return time + self.step_ticks

    def finalize(self) -> None:
        for eid, channel in self.entities.items():
            outcome = channel.shut_down()
            self.session.event(-1, -1.0, self.session.wall(), eid, "end", "shutdown", outcome)
        self.session.leave()
