"""Following a telemetry source until it ends: readings in, alarms out, the run file closed.

A source is anything with ``get(timeout) -> (tag, t, value) | None`` (the MQTT subscriber,
a recorded file played back). :func:`follow` feeds its readings to a
:class:`twin.live.engine.LiveEngine` and ends when the telemetry time reaches ``until_s``, the
source says it is done, ``until_s`` of telemetry time have passed since the first reading, or
no reading came for ``idle_s`` wall seconds after the first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from twin.live.checks import Alarm
from twin.live.engine import LiveEngine


class Source(Protocol):
    def get(self, timeout: float) -> tuple[str, float, float] | None: ...


@dataclass
class Followed:
    """What a session did: steps, readings, alarms, how far behind the telemetry it ran."""

    n_steps: int = 0
    n_readings: int = 0
    alarms: list[Alarm] = field(default_factory=list)
    step_ms: list[float] = field(default_factory=list)  # wall time of each step's models+checks
    backlog_max: int = 0  # the most readings that waited in the queue

    @property
    def step_ms_p95(self) -> float:
        return float(np.quantile(self.step_ms, 0.95)) if self.step_ms else 0.0


def follow(engine: LiveEngine, source: Source, until_s: float | None = None,
           idle_s: float = 30.0, on_alarm: Callable[[Alarm], None] | None = None,
           running: Callable[[], bool] | None = None,
           stop: Callable[[], bool] | None = None) -> Followed:
    """Feed ``source``'s readings to ``engine`` until the telemetry ends; close the engine.

    ``running``: whether the publisher may still send (a plant in this process): the idle
    time counts only once it says no. ``stop``: asked between readings; True ends the
    session (the page's server shutting down)."""
    out = Followed()
    last_wall = time.monotonic()
    first_t: float | None = None
    while stop is None or not stop():
        item = source.get(timeout=min(idle_s, 0.5))
        if item is None:
            idle = out.n_readings > 0 and time.monotonic() - last_wall > idle_s and (
                running is None or not running())
            if getattr(source, "done", False) or idle:
                break
            continue
        last_wall = time.monotonic()
        out.n_readings += 1
        backlog = getattr(source, "readings", None)
        if backlog is not None:
            out.backlog_max = max(out.backlog_max, backlog.qsize())
        tag, t, value = item
        first_t = t if first_t is None else first_t
        if until_s is not None and t - first_t >= until_s:
            break
        steps = engine.n_steps
        t0 = time.perf_counter()
        raised = engine.feed(tag, t, value)
        if engine.n_steps > steps:
            out.step_ms.append((time.perf_counter() - t0) * 1e3)
        for alarm in raised:
            out.alarms.append(alarm)
            if on_alarm is not None:
                on_alarm(alarm)
    for alarm in _closing(engine):
        out.alarms.append(alarm)
        if on_alarm is not None:
            on_alarm(alarm)
    out.n_steps = engine.n_steps
    return out


def _closing(engine: LiveEngine) -> list[Alarm]:
    before = len(engine.detector.alarms)
    engine.close()
    return engine.detector.alarms[before:]
