"""What the pacer and the device proxies of one HIL run share: clock, trace, I/O thread.

The I/O thread runs its own asyncio loop: every device coroutine (pymodbus requests, camera
reads) runs there, never on mosaik's event loop; a simulator hands it work and waits at most
its I/O budget (:meth:`IOThread.submit`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import hashlib
import logging
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from hil.trace import Trace, TraceWriter
from twin.scenario.hil import HILSection

log = logging.getLogger(__name__)


class HILAbort(RuntimeError):
    """The run stopped on purpose (an overrun under the abort policy)."""


class IOThread:
    """A thread with its own event loop for blocking or async device I/O."""

    def __init__(self, name: str = "hil-io") -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        """Run ``coro`` on the I/O loop; the caller waits on the future as long as it may."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        """Stop the loop and the thread."""
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=2.0)
        if not self.loop.is_running():
            self.loop.close()


class Session:
    """One HIL run's shared state: the wall clock (zero at the first deadline), the trace
    being written, the trace being replayed (or None), the I/O thread."""

    def __init__(self, section: HILSection, trace_path: Path, replay: Trace | None,
                 scenario_sha256: str = "", scenario_path: str = "", step_s: float = 1.0):
        self.section = section
        self.replay = replay
        self.step_s = step_s
        self.trace_path = trace_path
        self.writer = TraceWriter(trace_path, {
            "scenario_path": scenario_path, "step_s": step_s,
            "scenario_sha256": scenario_sha256,
            "created_unix_s": time.time(), "replay_of": str(replay.path) if replay else None,
            "bindings": [{"entity": b.entity, "kind": b.kind, "device": b.device,
                          "protocol": b.resolved_protocol,
                          "revert_after_s": b.safety.revert_after} for b in section.bindings]})
        self.t0: float | None = None
        self._io: IOThread | None = None
        self.closed = False
        self.users = 0

    @property
    def live(self) -> bool:
        """True when devices are really talked to (not a replay)."""
        return self.replay is None

    @property
    def io(self) -> IOThread:
        """The I/O thread (started on first use)."""
        if self._io is None:
            self._io = IOThread()
        return self._io

    def start_clock(self) -> None:
        """Zero of the wall clock: the first deadline."""
        if self.t0 is None:
            self.t0 = time.perf_counter()

    def wall(self) -> float:
        """Seconds since the first deadline (0 before it)."""
        return 0.0 if self.t0 is None else time.perf_counter() - self.t0

    def event(self, step: int, t_s: float, wall_s: float, entity: str, kind: str, name: str,
              detail: str = "") -> None:
        """Record an event (interlock, watchdog, comm, overrun, ...)."""
        log.info("t=%s s %s %s %s: %s", t_s, entity, kind, name, detail)
        self.writer.write("event", step=step, t_s=t_s, wall_s=wall_s, entity=entity,
                          kind=kind, name=name, detail=detail)

    def join(self) -> None:
        """A simulator starts using the session."""
        self.users += 1

    def leave(self) -> None:
        """A simulator is done with the session; the last one closes it."""
        self.users -= 1
        if self.users <= 0:
            self.close()

    def close(self) -> None:
        """Close the trace (left at ``<trace>.partial``: :func:`hil.run.run` publishes the
        trace of a run that ended, never of an interrupted one) and stop the I/O thread
        (idempotent)."""
        if self.closed:
            return
        self.closed = True
        self.writer.close()
        if self._io is not None:
            self._io.close()


def scenario_hash(s: Any) -> str:
    """The hash a trace stores of its scenario (``scenario_sha256``): of the scenario as
    parsed - park, entities, bindings, safety limits, faults, step - less what a replay may
    change without changing the run (where the trace and results go, the duration, real-time
    scheduling, the assertions and sequence expectations it is judged by; comments and layout
    of the file)."""
    h = dataclasses.replace(s.hil, record=None, replay=None, active=False, realtime=False,
                            duration=0.0, assertions=(), sequence=tuple(
                                dataclasses.replace(st, expect=()) for st in s.hil.sequence))
    cameras = {b.entity: b.device for b in h.bindings if b.kind == "camera"}
    lines = tuple(dataclasses.replace(a, camera=cameras[a.name], fidelity="full")
                  if a.name in cameras else a  # grab:/replay: of the same camera (hil.run)
                  for a in s.aoi_lines)
    canon = dataclasses.replace(s, path=Path("-"), text="", hil=h, output=None,
                                aoi_lines=lines,
                                period=dataclasses.replace(s.period, duration=None,
                                                           step=None))  # hil.step rules
    return hashlib.sha256(repr(canon).encode()).hexdigest()


def check_replay(trace: Trace, s: Any) -> None:
    """Refuse to replay ``trace`` against scenario ``s`` unless it recorded that scenario:
    the outputs of a replay are only the recorded run's when the park, the bindings and the
    safety limits are the same (:class:`hil.trace.TraceError`, one line)."""
    from hil.trace import TraceError

    stored = trace.header.get("scenario_sha256")
    if stored != scenario_hash(s):
        was = trace.header.get("scenario_path") or "another scenario"
        raise TraceError(f"{trace.path}: recorded with a different scenario ({was}, sha256 "
                         f"{str(stored)[:12]}) than {s.path} (sha256 "
                         f"{scenario_hash(s)[:12]}); replay it with the scenario it was "
                         "recorded with")


def open_session(s: Any, results_path: Path) -> Session:
    """The session of a HIL run of scenario ``s`` whose results go to ``results_path``: the
    trace goes to ``hil.record`` or beside the results (``<name>.trace.jsonl``); a scenario
    with ``hil.replay`` replays that trace."""
    from hil.trace import read

    h: HILSection = s.hil
    replay = read(h.replay) if h.replay is not None else None
    if replay is not None:
        check_replay(replay, s)
    path = Path(h.record) if h.record is not None else results_path.with_suffix(".trace.jsonl")
    return Session(h, path, replay, scenario_hash(s), str(s.path), float(s.period.step_s))
