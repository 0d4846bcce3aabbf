"""The stand-in plant: the park co-simulated, its measurements published as telemetry.

:class:`StandInPlant` runs the scenario through :func:`twin.runner.run`, paced to accelerated
real time; after each step its ``observer`` publishes every tag of the mapping (the entity's
recorded value, in the tag's unit, through :class:`twin.live.faults.Faulty`) with the step's
time. It is the live twin's peer in the tests and in the README's example, and the run's own
file is the truth the twin's estimates are scored against.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from twin import runner
from twin.live.faults import Fault, Faulty
from twin.live.mapping import Telemetry
from twin.scenario import Scenario

if TYPE_CHECKING:
    from twin.live.engine import LiveEngine


class Publisher(Protocol):
    """Where readings go: an MQTT client, an OPC UA server, a list in a test."""

    def publish(self, tag: str, t_epoch_s: float, value: float) -> None: ...

    # optional: ``flush()``, called after each step's readings (sends them at once)


class Straight:
    """A publisher that hands each reading straight to a live twin in this thread (no
    transport: tests and benchmarks that score the twin's models and checks alone)."""

    def __init__(self, engine: LiveEngine) -> None:
        self.engine, self.prefix = engine, engine.tm.source.prefix

    def publish(self, tag: str, t_epoch_s: float, value: float) -> None:
        self.engine.feed(tag.removeprefix(self.prefix), t_epoch_s, value)


class _Stopped(Exception):
    """Raised in the run's progress callback to end the run early."""


class StandInPlant:
    """A scenario run whose measurements go out as telemetry.

    Parameters
    ----------
    scenario : Scenario
        The park (its whole period runs).
    telemetry : Telemetry
        Which tags to publish (the mapping file the twin reads too).
    publisher : Publisher
        Where the readings go.
    faults : tuple of Fault
        What goes wrong, when (:mod:`twin.live.faults`).
    speed : float
        Simulated seconds per wall second; 0: as fast as it runs.
    """

    def __init__(self, scenario: Scenario, telemetry: Telemetry, publisher: Publisher,
                 faults: tuple[Fault, ...] = (), speed: float = 600.0,
                 out_dir: str | Path | None = None) -> None:
        self.s = scenario
        self.tm = telemetry
        self.publisher = publisher
        self.faulty = Faulty(faults)
        self.speed = float(speed)
        self.out_dir = out_dir
        self.step_s = scenario.period.step_s
        self.n_published = 0
        self.n_steps = 0
        self.late_s = 0.0  # the most the pace fell behind
        self.published_at: dict[int, float] = {}  # step -> when its last reading went out
        self._stop = threading.Event()
        self._anchor: float | None = None

    def run(self) -> runner.RunResult | None:
        """Run to the end of the period (or :meth:`stop`); the run's result, None if stopped."""
        try:
            return runner.run(self.s, out_dir=self.out_dir, progress=self._pace,
                              observer=self._observe)
        except _Stopped:
            return None

    def stop(self) -> None:
        """End the run after the current step."""
        self._stop.set()

    def _observe(self, t: int, values: Mapping[tuple[str, str], Any]) -> None:
        epoch = self.s.start_epoch_s + t
        for tag in self.tm.tags:
            true = values.get((tag.entity, tag.attr))
            if true is None:
                continue
            value = self.faulty.value(tag.point, t, float(true), self.step_s)
            if value is None:  # a lost tag
                continue
            self.publisher.publish(self.tm.topic(tag), epoch, self.tm.from_twin(tag.tag, value))
            self.n_published += 1
        vm = values.get(("grid", "vm_pu"))
        for v in self.tm.voltages if vm is not None else ():
            value = self.faulty.value(self.tm.point_of(v), t, float(vm[self.tm.buses[v.bus]]),
                                      self.step_s)
            if value is not None:
                self.publisher.publish(self.tm.topic(v), epoch, self.tm.from_twin(v.tag, value))
                self.n_published += 1
        flush = getattr(self.publisher, "flush", None)
        if flush is not None:  # a publisher that sends a step at once
            flush()
        self.n_steps += 1
        self.published_at[t] = time.monotonic()

    def _pace(self, t: int) -> None:
        if self._stop.is_set():
            raise _Stopped
        if self.speed <= 0:
            return
        now = time.monotonic()
        if self._anchor is None:
            self._anchor = now - t / self.speed
        deadline = self._anchor + (t + self.step_s) / self.speed
        if now > deadline:
            self.late_s = max(self.late_s, now - deadline)
        elif self._stop.wait(deadline - now):
            raise _Stopped
