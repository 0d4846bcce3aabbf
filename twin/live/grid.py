"""The park's grid estimated from its telemetry, every few steps (the mapping's ``grid:``).

:class:`GridEstimator` builds the scenario's network once (:func:`twin.cosim.network.build_grid`)
and, at a step, turns what is measured into :mod:`twin.live.estimate` measurements:

- each entity's measured power shared over its elements as a run shares it (equally,
  :func:`twin.models.grid.network.shares`; reactive power at the elements' own ratio), summed
  per bus in pandapower's bus convention (consumption positive);
- a bus with nothing connected injects nothing (a pseudo-measurement); a bus with an element
  whose entity is not measured, or stale, and the grid connection, are left unknown;
- each measured bus voltage.

The WLS estimate gives every bus voltage and every line's loading, each with its standard
deviation; a measurement thrown out as
bad data is a ``bad_data`` alarm on its tag. With ``background=True`` (``twin live``) an
estimate runs in its own thread while the steps go on, one at a time; its result goes into the
history from the step it is done.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from twin.core.results import RunWriter, SeriesInfo
from twin.live.checks import Alarm, say
from twin.live.estimate import (
    SIGMA_P_FLOOR_MW,
    SIGMA_P_REL,
    SIGMA_V_PU,
    ZERO_INJECTION_STD,
    Measurement,
    StateEstimate,
    estimate_state,
)
from twin.live.mapping import Telemetry
from twin.scenario import Scenario

TABLES = ("load", "sgen", "storage", "gen")  # elements that inject power into a bus


class GridEstimator:
    """Grid state estimation for a live twin."""

    def __init__(self, s: Scenario, telemetry: Telemetry, background: bool = False) -> None:
        from twin.cosim.network import build_grid
        from twin.models.grid.network import element_names, shares

        self.tm = telemetry
        self.pn = build_grid(s)
        net = self.pn.net
        self.every = telemetry.grid.every if telemetry.grid is not None else 1
        self.bus_names = element_names(net, "bus")
        self.line_names = element_names(net, "line")
        self.shares = shares(self.pn)
        self.q_ratio = {name: self.pn.q_ratio(name) for name in self.pn.elements}
        tied = {(table, int(i)) for table, idx in self.pn.elements.values() for i in idx}
        self.untied: set[int] = set()  # buses with an element no entity measures
        self.connected: set[int] = {int(b) for b in net.ext_grid.bus}
        for table in TABLES:
            frame = net[table]
            for i, bus in zip(frame.index, frame.bus, strict=True):
                self.connected.add(int(bus))
                if (table, int(i)) not in tied:
                    self.untied.add(int(bus))
        self.voltage_bus = {telemetry.point_of(v): int(net.bus.index[telemetry.buses[v.bus]])
                            for v in telemetry.voltages}
        self.last: StateEstimate | None = None
        self.n_bad = 0
        self.n_estimates = self.n_failed = 0
        self._flagged: set[str] = set()  # voltage points thrown out at the last estimate
        # background: the estimate runs in a thread while the steps go on (live at x600 a
        # step lasts 1.5 s, an estimate of the reference park's 183 buses several)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="twin-estimate") \
            if background else None
        self._running: Future[list[Alarm]] | None = None

    def measurements(self, held: Mapping[str, float], stale: set[str]) -> list[Measurement]:
        """What is known at a step, as WLS measurements."""
        net = self.pn.net
        inj: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0])
        unknown = set(self.untied) | {int(b) for b in net.ext_grid.bus}
        for name, (table, idx) in self.pn.elements.items():
            buses = [int(b) for b in net[table].bus.loc[idx]]
            point = f"{name}.p_mw"
            if point not in held or point in stale:
                unknown.update(buses)
                continue
            sign = -1.0 if table in ("sgen", "gen") else 1.0  # generation: negative demand
            for bus, share in zip(buses, self.shares[name], strict=True):
                p = sign * held[point] * float(share)
                inj[bus][0] += p
                inj[bus][1] += p * self.q_ratio[name]
        out = []
        for bus in (int(b) for b in net.bus.index):
            if bus in unknown:
                continue
            if bus in inj:
                for kind, value in zip(("p", "q"), inj[bus], strict=True):
                    out.append(Measurement(kind, "bus", bus, value,
                                           max(abs(value) * SIGMA_P_REL, SIGMA_P_FLOOR_MW)))
            elif bus not in self.connected:
                out += [Measurement(kind, "bus", bus, 0.0, ZERO_INJECTION_STD, exact=True)
                        for kind in ("p", "q")]
        for point, bus in self.voltage_bus.items():
            if point in held and point not in stale:
                out.append(Measurement("v", "bus", bus, held[point], SIGMA_V_PU))
        return out

    def estimate(self, t: int, held: Mapping[str, float], fresh: Mapping[str, float],
                 stale: set[str]) -> list[Alarm]:
        """Estimate the state at step ``t`` (in the background: start it, and give what the
        last one found); a ``bad_data`` alarm per voltage thrown out."""
        ms = self.measurements(held, stale)
        if not any(m.kind == "v" for m in ms):
            return self.collect()
        if self._pool is None:
            return self._estimate(t, ms)
        found = self.collect()
        if self._running is None:  # one at a time: a step that comes while one runs skips
            self._running = self._pool.submit(self._estimate, t, ms)
        return found

    def collect(self, wait: bool = False) -> list[Alarm]:
        """The alarms of an estimate finished in the background (``wait``: wait for it)."""
        job = self._running
        if job is None or not (wait or job.done()):
            return []
        self._running = None
        return job.result()

    def close(self) -> list[Alarm]:
        found = self.collect(wait=True)
        if self._pool is not None:
            self._pool.shutdown()
        return found

    def _estimate(self, t: int, ms: list[Measurement]) -> list[Alarm]:
        est = estimate_state(self.pn.net, ms, bad_data=True)
        self.n_estimates += 1
        if not est.converged and self._flagged:  # without the meters thrown out last time
            known_bad = {self.voltage_bus[p] for p in self._flagged}
            kept = [m for m in ms if not (m.kind == "v" and m.element in known_bad)]
            est = estimate_state(self.pn.net, kept, bad_data=False)
            est = dataclasses.replace(est, bad=tuple(m for m in ms if m not in kept))
        if not est.converged:
            self.n_failed += 1
            return []
        self.last = est
        self.n_bad += len(est.bad)
        by_bus = {bus: point for point, bus in self.voltage_bus.items()}
        position = {int(b): i for i, b in enumerate(self.pn.net.bus.index)}
        bad = {by_bus[m.element]: m for m in est.bad if m.kind == "v" and m.element in by_bus}
        new = [Alarm(kind="bad_data", point=point, start_s=t, raised_s=t,
                     said=say("{v} p.u. thrown out by the state estimation, which puts the "
                              "bus at {e} p.u.", v=f"{m.value:.4f}",
                              e=f"{est.vm_pu[position[m.element]]:.4f}"))
               for point, m in bad.items() if point not in self._flagged]  # once an episode
        self._flagged = set(bad)
        return new

    # ------------------------------------------------------------------ the run file
    def series(self) -> dict[tuple[str, str], SeriesInfo]:
        measured = tuple(v.bus for v in self.tm.voltages)
        return {
            ("grid.measured", "vm_pu"): SeriesInfo(
                "p.u.", "bus voltages measured (held between readings)", measured),
            ("grid.twin", "vm_pu"): SeriesInfo(
                "p.u.", "bus voltages estimated (WLS), held between estimates",
                tuple(self.bus_names)),
            ("grid.twin", "vm_sigma_pu"): SeriesInfo(
                "p.u.", "standard deviation of each estimated bus voltage (the WLS gain "
                "matrix's inverse), held between estimates", tuple(self.bus_names)),
            ("grid.twin", "line_loading_pct"): SeriesInfo(
                "%", "line loadings estimated (WLS), held between estimates",
                tuple(self.line_names)),
            ("grid.twin", "line_loading_sigma_pct"): SeriesInfo(
                "%", "standard deviation of each estimated line loading (the WLS gain "
                "matrix's inverse through the line's current), held between estimates",
                tuple(self.line_names)),
            ("grid.twin", "bad_data"): SeriesInfo(
                "1", "measurements thrown out as bad data so far", aggregation="mean"),
        }

    def groups(self) -> dict[str, dict[str, Any]]:
        return {"grid.measured": {"kind": "pcc-measured", "spec": "{}"},
                "grid.twin": {"kind": "pcc-twin", "spec": "{}"}}

    def row(self, w: RunWriter, held: Mapping[str, float]) -> dict[int, Any]:
        out: dict[int, Any] = {}
        points = [self.tm.point_of(v) for v in self.tm.voltages]
        if all(p in held for p in points):
            out[w.column(("grid.measured", "vm_pu"))] = np.array([held[p] for p in points])
        if self.last is not None:
            out[w.column(("grid.twin", "vm_pu"))] = self.last.vm_pu
            out[w.column(("grid.twin", "line_loading_pct"))] = self.last.loading_percent
            if self.last.vm_sigma_pu is not None:
                out[w.column(("grid.twin", "vm_sigma_pu"))] = self.last.vm_sigma_pu
            if self.last.loading_sigma_pct is not None:
                out[w.column(("grid.twin", "line_loading_sigma_pct"))] = \
                    self.last.loading_sigma_pct
        out[w.column(("grid.twin", "bad_data"))] = float(self.n_bad)
        return out
