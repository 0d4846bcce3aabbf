"""The real-time pacer: a mosaik simulator that sleeps to absolute deadlines.

mosaik's own ``rt_factor`` sleeps relative to when each simulator last ran, warns on nearly
every step and drifts. The pacer instead fixes its zero at its first step and sleeps, at
step ``k``, until ``t0 + k * step`` (:class:`Pacer`): a late step does not delay the next
deadline, so lateness never accumulates. It records each step's lateness, and when a step is
later than ``max_lateness`` (an overrun) it applies the policy: ``abort`` the run (the default
with power hardware), ``warn`` and go on, or ``skip`` that step's device I/O (its ``skip``
output tells the device proxies, which it precedes in every step).

With ``hil.realtime`` it asks the OS for real-time scheduling (``SCHED_FIFO``) while the
simulation runs: on a busy machine that is the difference between tens of milliseconds and
a tenth of one. In a HIL run step 0 is untimed: the real-time clock starts once every
simulator is done with it (lazy stepping: the pacer's step 1 waits for the device proxies'
step 0), so an EMS's first plan, which takes seconds, does not make step 1 late; step 1 is
due one step later. In a replay the pacer does not sleep: it gives each step the lateness
recorded in the trace.
It runs at the park's time resolution (:func:`adapters.base.resolution_for`: ticks of a
second, or of a millisecond for a sub-second step such as 100 ms); ``step_s`` is in seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from mosaik_api_v3.types import InputData, Meta, SimId
from typing_extensions import override

from adapters.base import (
    Attr,
    Model,
    TwinSimulator,
    make_meta,
    parse_start,
    seconds_value,
    ticks_per_s,
)
from hil.session import HILAbort, Session

log = logging.getLogger(__name__)

OUTPUTS = (Attr("lateness_s", "s", "wall-clock lateness of the step against its deadline"),
           Attr("overrun", "1", "1 when the step was later than max_lateness"))
TAIL_S = 0.003  # the last part of each wait is a precise (blocking) sleep
SIGNALS = (Attr("skip", "1", "1: skip the device I/O of this step (overrun policy skip)"),)


class RealtimePriority:
    """Real-time scheduling (Linux ``SCHED_FIFO``) for the calling thread and the threads it
    starts afterwards, from :meth:`start` to :meth:`stop`. Without the right to it (root, or
    an ``rtprio`` limit) nothing changes and :meth:`start` says so: a busy machine then
    delays wake-ups by tens of milliseconds (see benchmarks/bench_pacer.py)."""

    def __init__(self, priority: int = 10) -> None:
        self.priority = priority
        self._before: tuple[int, Any] | None = None

    def start(self) -> str:
        """Ask for it; a line saying what was granted."""
        try:
            before = (os.sched_getscheduler(0), os.sched_getparam(0))
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(self.priority))
        except (AttributeError, OSError) as exc:
            log.warning("real-time scheduling refused (%s); normal scheduling", exc)
            return f"normal scheduling (SCHED_FIFO refused: {exc})"
        self._before = before
        return f"real-time scheduling (SCHED_FIFO, priority {self.priority})"

    def stop(self) -> None:
        """Back to the scheduling before :meth:`start`."""
        if self._before is not None:
            os.sched_setscheduler(0, *self._before)
            self._before = None


@contextlib.contextmanager
def realtime_priority(enabled: bool, priority: int = 10) -> Iterator[str]:
    """:class:`RealtimePriority` while inside (if ``enabled``); yields what was granted."""
    if not enabled:
        yield "normal scheduling"
        return
    rt = RealtimePriority(priority)
    try:
        yield rt.start()
    finally:
        rt.stop()


class Pacer:
    """Deadlines ``t0 + k * step_s`` (wall seconds); ``t0`` is fixed at the first call."""

    def __init__(self, step_s: float, clock: Callable[[], float] = time.perf_counter,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.step_s = step_s
        self.clock = clock
        self.sleep = sleep
        self.t0: float | None = None

    def deadline(self, k: int) -> float:
        """The wall time (``clock``) at which step ``k`` is due."""
        if self.t0 is None:
            self.t0 = self.clock() - k * self.step_s
        return self.t0 + k * self.step_s

    def wait(self, k: int) -> tuple[float, float]:
        """Sleep to the deadline of step ``k``; return (lateness, wall seconds since t0)."""
        deadline = self.deadline(k)
        now = self.clock()
        if now < deadline:
            self.sleep(deadline - now)
            now = self.clock()
        assert self.t0 is not None
        return now - deadline, now - self.t0


class PacerSim(TwinSimulator):
    """The pacer as a mosaik simulator (one ``Pacer`` entity)."""

    MODELS = {"Pacer": Model(("name",), OUTPUTS, signals=SIGNALS)}

    def __init__(self) -> None:
        super().__init__()
        self.meta = make_meta(self.MODELS, ("lateness",))

    @override
    def init(self, sid: SimId, time_resolution: float = 1.0,
             start: str = "2027-01-01T00:00:00+08:00", step_s: float = 1,
             session: Session | None = None, policy: str | None = None,
             max_lateness_s: float | None = None) -> Meta:
        self.sid = sid
        self.ticks_per_s = ticks_per_s(time_resolution)
        self.start_epoch_s = parse_start(start)
        self.step_s = seconds_value(step_s)
        wall_step = float(self.step_s)
        self.session = session
        if session is not None:
            session.join()
        section = session.section if session is not None else None
        self.policy = policy or (section.overrun_policy if section else "warn")
        self.max_lateness_s = (max_lateness_s if max_lateness_s is not None
                               else section.max_lateness_s if section else wall_step)
        self.pacer = Pacer(wall_step)
        self.realtime = RealtimePriority()
        self.record: list[float] = []
        return self.meta

    def make_entity(self, model: str, eid: str, params: Any) -> Any:
        self.out[eid] = {"lateness_s": 0.0, "overrun": 0.0, "skip": 0.0}
        return None

    @override
    def step(self, time: int, inputs: InputData, max_advance: int) -> Any:
        """Wait for the step's deadline without holding mosaik's event loop: an asyncio sleep
        (other simulators run meanwhile) to ``TAIL_S`` before it, then a precise sleep."""
        k = time // self.step_ticks
        t_s = self.seconds(time)
        s = self.session
        if s is not None and not s.live:
            rec = s.replay.pace.get(k) if s.replay else None
            lateness, wall = (rec["lateness_s"], rec["wall_s"]) if rec else (0.0, 0.0)
        else:
            if s is not None and s.t0 is None:
                if k == 0:  # untimed: the first plans (an EMS's take seconds), discovery;
                    self._after(k, t_s, 0.0, 0.0)  # the clock starts when it is done
                    return time + self.step_ticks
                self._first_step(s)  # t0 now: step 1 is due one step later
            ahead = self.pacer.deadline(k) - self.pacer.clock() - TAIL_S
            if ahead > 0:
                yield asyncio.sleep(ahead)
            lateness, wall = self.pacer.wait(k)
        self._after(k, t_s, lateness, wall)
        return time + self.step_ticks

    def _first_step(self, s: Session) -> None:
        """Real-time scheduling if the scenario asks for it, then the clock starts."""
        note = "normal scheduling"
        if s.section.realtime:
            note = self.realtime.start()
        s.event(0, 0.0, 0.0, "pacer", "scheduling", note.split(" (")[0], note)
        s.start_clock()
        self.pacer.t0 = s.t0

    def _after(self, k: int, time: float, lateness: float, wall: float) -> None:
        s = self.session
        overrun = lateness > self.max_lateness_s
        skip = overrun and self.policy == "skip"
        self.record.append(lateness)
        if s is not None:
            s.writer.write("pace", step=k, t_s=time, wall_s=wall, lateness_s=lateness,
                           overrun=overrun)
        if overrun:
            self._overrun(k, time, wall, lateness)
        for eid in self.entities:
            self.out[eid] = {"lateness_s": lateness, "overrun": 1.0 if overrun else 0.0,
                             "skip": 1.0 if skip else 0.0}

    def _overrun(self, k: int, time: float, wall: float, lateness: float) -> None:
        what = (f"step {k} started {lateness * 1e3:.1f} ms late (limit "
                f"{self.max_lateness_s * 1e3:.0f} ms); policy {self.policy}")
        if self.session is not None:
            self.session.event(k, time, wall, "pacer", "overrun", self.policy, what)
        if self.policy == "abort":
            raise HILAbort(f"overrun at t = {time} s: {what}")
        log.warning("overrun: %s", what)

    def finalize(self) -> None:
        self.realtime.stop()
        if self.session is not None:
            self.session.leave()

    def lateness(self) -> list[float]:
        """Extra method: the lateness of every step so far (s)."""
        return list(self.record)
