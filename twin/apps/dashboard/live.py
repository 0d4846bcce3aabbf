"""The twin running live: its own thread, paced to accelerated real time, with controls.

:class:`LiveTwin` runs :func:`twin.cosim.runner.run` in a thread. The recorder's ``progress``
callback paces it (``speed`` simulated seconds per wall second, to absolute deadlines, so
lateness does not add up) and is where pause, stop and a jump take effect; its ``observer``
callback turns each step into a frame for the page and keeps the run so far in memory for
the carbon counter and the KPIs.

Events from the page go to the running twin's :class:`twin.models.events.EventBook`, the book its
simulators read the events in force from each step: the same data a scenario's ``events:``
list gives at the start. The twin runs in segments of at most a week, each with its own run
file (``<scenario>-demo-<local start>.h5``, beside it the events added live), the next one
starting where the last ended with the storage's state of charge and the heat stores' level.
A jump to a date restarts the co-simulation there (storage and heat stores as initially, or as
a year run of the scenario had them then: :meth:`LiveTwin.use_year`) with the period's own
weather, loads and AOI lines (their random draws start at the period's start); the book of
the new run has every event so far.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import os
import tempfile
import threading
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from twin import runner
from twin.apps.dashboard.frames import (
    Columns,
    ForecastTracker,
    FrameBuilder,
    ParkView,
    carbon_so_far,
    kpis_so_far,
)
from twin.apps.dashboard.history import History, events_file, save_events
from twin.models import catchup
from twin.models.events import Event, EventBook, live_events
from twin.scenario import Scenario

log = logging.getLogger(__name__)

HISTORY_STEPS = 192  # frames kept for the page's charts (two days of 15-minute steps)
SEGMENT_S = 7 * 86400  # one co-simulation covers at most a week (a jump builds less)
MAX_LATE_S = 2.0  # later than this behind the pace: start the pace again from now
EVENT_DEFAULTS: dict[str, dict[str, Any]] = {  # what a button on the page asks for
    "cloud_front": {"irradiance_factor": 0.25},
    "wind_lull": {"wind_factor": 0.2},
    "heat_wave": {"temp_delta_c": 10.0},
    "cold_wave": {"temp_delta_c": -15.0},
    "demand_response": {"cut_import_mw": 30.0},
    "grid_outage": {},
    "line_trip": {},
    "ev_surge": {"arrival_factor": 5.0},
    "defect_burst": {"p_defect": 0.3},
    "price_signal": {"price_adder_cny_per_mwh": 800.0},
}


OPENING = (5, 12, 7)  # a spring weekday from 12 May, 07:00: sun rising, shifts starting


def opening(scenario: Scenario) -> dt.datetime:
    """A useful moment to open at (not a dead New Year's night), 07:00 local on a weekday (sun
    rising, shifts starting): in a run of two months or more the first from 12 May, else the
    first at or after the period's start; the start itself if the period holds none."""
    start = scenario.period.start
    month, day, hour = OPENING
    if scenario.period.duration_s >= 60 * 86400:
        moment = dt.datetime(start.year, month, day, hour)
        if moment < start:
            moment = moment.replace(year=start.year + 1)
    else:
        moment = start.replace(hour=hour, minute=0, second=0, microsecond=0)
        if moment < start:
            moment += dt.timedelta(days=1)
    while moment.weekday() >= 5:
        moment += dt.timedelta(days=1)
    end = start + dt.timedelta(seconds=scenario.period.duration_s - scenario.period.step_s)
    return moment if moment <= end else start


class NotTheYear(ValueError):
    """A year run that is not a run of the twin's scenario from its period's start."""


class _Restart(Exception):
    """Raised in the simulation thread to end the run for a jump."""


class _Stopped(Exception):
    """Raised in the simulation thread to end the run for good."""


class LiveTwin:
    """A scenario running in its own thread for the page.

    Parameters
    ----------
    scenario : Scenario
        What runs (its whole period; a jump restarts inside it).
    speed : float
        Simulated seconds per wall second (600: a 15-minute step every 1.5 s).
    out_dir : path, optional
        Folder of the run files (default: a new temporary folder).
    start : datetime, optional
        Local time to open at (default: the period's start).
    year : path, optional
        A run file of this scenario from its period's start (``twin run``'s year): the twin
        opens and jumps with the storage and heat stores as that run had them then (else as
        initially); see :meth:`use_year`.
    """

    def __init__(self, scenario: Scenario, speed: float = 600.0,
                 out_dir: str | Path | None = None, start: dt.datetime | None = None,
                 year: str | Path | None = None) -> None:
        stem = scenario.output.name or (scenario.path.stem if scenario.path.name != "<memory>"
                                        else "run")
        self.scenario = dataclasses.replace(
            scenario, output=dataclasses.replace(scenario.output, name=f"{stem}-demo"))
        self.view = ParkView(self.scenario)
        self.out_dir = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="twin-demo-"))
        self.step_s = self.scenario.period.step_s
        self.end_utc = self.scenario.start_utc + dt.timedelta(
            seconds=self.scenario.period.duration_s)
        self._cond = threading.Condition()
        self._speed = float(speed)
        self._paused = self._stop = False
        self._stopped = threading.Event()  # stop() was called (ends the background catch-up)
        self.warmed = threading.Event()  # the background catch-up has run (:meth:`_warm`)
        self._jump: dt.datetime | None = None
        self.jump_from: float | None = None  # monotonic time of the last jump asked
        self.jump_took_s: float | None = None
        self._anchor: tuple[float, int] | None = None
        self._events: list[Event] = list(self.scenario.events)
        self._thread: threading.Thread | None = None
        self.state = "starting"
        self.error = ""
        self.segment = 0
        self.sim_t: int | None = None
        self.seq = 0
        self.late_s: deque[float] = deque(maxlen=64)
        self.frames: deque[dict[str, Any]] = deque(maxlen=HISTORY_STEPS)
        self.path: Path | None = None
        self._year: dict[str, np.ndarray] = {}  # each store's level at each step's end
        if year is not None:
            self.use_year(year)
        first = start or self.scenario.period.start
        self._check_inside(first)
        self._begin(self._segment(first, self._in_year(first)))

    def use_year(self, path: str | Path) -> None:
        """Take the storage's state of charge and the heat stores' level at a jump from run
        file ``path``: a run of this scenario from its period's start (:class:`NotTheYear` if
        it is not one)."""
        from twin.core.results import open_run

        try:
            run = open_run(path)
        except (OSError, ValueError, KeyError) as exc:
            raise NotTheYear(f"{path}: not a run file ({exc})") from None
        with run:
            try:
                start = dt.datetime.fromisoformat(str(run.meta.get("start", "")))
            except ValueError:
                start = None
            if start != self.scenario.start_utc or run.step_s != self.step_s:
                raise NotTheYear(f"{path}: not a run of this scenario from its period's start "
                                 f"({self.scenario.period.start:%Y-%m-%d %H:%M}, steps of "
                                 f"{self.step_s} s)")
            level = {**{b.name: "soc" for b in self.scenario.batteries},
                     **{h.name: "e_store_mwh" for h in self.scenario.heat_supply if h.store_mwh}}
            missing = [f"{n}.{a}" for n, a in level.items() if not run.has(n, a)]
            if missing:
                raise NotTheYear(f"{path}: no store level recorded for {', '.join(missing)}")
            self._year = {n: np.asarray(run.series(n, a), dtype=float) for n, a in level.items()}

    def _in_year(self, moment: dt.datetime) -> dict[str, float] | None:
        """The storage's state of charge and the heat stores' level (MWh) at the start of the
        step at local ``moment`` in the year run (what it recorded at the end of the step
        before), if there is one."""
        if not self._year:
            return None
        t = moment.replace(tzinfo=self.view.tz).astimezone(dt.UTC)
        i = int((t - self.scenario.start_utc).total_seconds()) // self.step_s
        out = {}
        for name, level in self._year.items():
            if 1 <= i <= len(level) and np.isfinite(level[i - 1]):
                out[name] = float(level[i - 1])
        return out or None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> LiveTwin:
        """Start the simulation thread (and, once the first step is shown, the models'
        catch-up for later jumps in the background: :meth:`_warm`)."""
        self._thread = threading.Thread(target=self._main, name="twin-live", daemon=True)
        self._thread.start()
        threading.Thread(target=self._warm, name="twin-warm", daemon=True).start()
        return self

    def _warm(self) -> None:
        """Run the EV hubs and statistical AOI lines of the first segment to the period's
        end, keeping their state every seventh day (:func:`twin.models.catchup.warm`), so a
        jump starts them from its week instead of the period's start; at low priority, held
        while a jump is being built."""
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        with self._cond:
            while self.sim_t is None and not self._stop and self.state != "failed":
                self._cond.wait(0.5)
        weeks = self.scenario.period.duration_s // catchup.KEEP_S + 1

        def wait() -> None:  # a jump being built goes first
            with self._cond:
                while self.state == "jumping" and not self._stop:
                    self._cond.wait(0.05)

        try:
            catchup.warm(lambda per_week: weeks * per_week, self._stopped, wait)
        except Exception:  # only a later jump's speed depends on it
            log.warning("the models' catch-up for jumps was not run ahead", exc_info=True)
        self.warmed.set()

    def stop(self, timeout: float = 10.0) -> None:
        """End the run (the file is kept, marked incomplete) and wait for the thread."""
        with self._cond:
            self._stop = True
            self._stopped.set()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def _main(self) -> None:
        while True:
            s = self.current
            nxt = None
            try:
                if self.state != "jumping":
                    self.state = "running"
                result = runner.run(s, out_dir=self.out_dir, progress=self._pace,
                                    events=self.book, observer=self._observe)
                self.path = result.path
                end = s.period.start + dt.timedelta(seconds=s.period.duration_s)
                if end.replace(tzinfo=self.view.tz) < self.end_utc:  # the next segment
                    nxt = self._segment(end, self._levels())
                else:
                    self.state = "finished"
            except _Restart:
                pass
            except _Stopped:
                return
            except Exception as exc:  # shown on the page; the server goes on
                log.exception("the live run failed")
                self.state, self.error = "failed", f"{type(exc).__name__}: {exc}"
            with self._cond:
                while nxt is None and not self._stop and self._jump is None:
                    self._cond.wait()
                if self._stop:
                    return
                if self._jump is not None:
                    nxt = self._segment(self._jump, self._in_year(self._jump))
                    self._jump = None
                self._begin(nxt)

    def _segment(self, start: dt.datetime, level: Mapping[str, float] | None = None
                 ) -> Scenario:
        """The scenario of a segment from local time ``start``: up to a week, inside the
        period; ``level``: the batteries' state of charge and the heat stores' level (MWh)
        to start from, by name (default: initial)."""
        base = self.scenario
        start_utc = start.replace(tzinfo=self.view.tz).astimezone(dt.UTC)
        left = int((self.end_utc - start_utc).total_seconds()) // self.step_s
        steps = max(min(left, SEGMENT_S // self.step_s), 1)
        level = level or {}
        batteries = tuple(dataclasses.replace(b, soc_init=min(max(float(level[b.name]), b.soc_min),
                                                               b.soc_max))
                          if level.get(b.name) is not None else b for b in base.batteries)
        heat = tuple(dataclasses.replace(h, store_init_mwh=min(max(float(level[h.name]), 0.0),
                                                               h.store_mwh))
                     if level.get(h.name) is not None else h for h in base.heat_supply)
        return dataclasses.replace(
            base, batteries=batteries, heat_supply=heat,
            period=dataclasses.replace(base.period, start=start, duration=steps * self.step_s),
            output=dataclasses.replace(base.output,
                                       name=f"{base.output.name}-{start:%Y%m%d-%H%M}"))

    def _levels(self) -> dict[str, float]:
        """The stores' levels at the end of the run so far (as :meth:`_segment` takes them)."""
        last = self.latest()
        out = dict(last["soc"]) if last else {}
        n = self.columns.n
        for h in self.scenario.heat_supply:
            col = self.columns.data.get((h.name, "e_store_mwh"))
            if col is not None and n and np.isfinite(col[n - 1]):
                out[h.name] = float(col[n - 1])
        return out

    def _check_inside(self, moment: dt.datetime) -> None:
        first = self.scenario.period.start
        last = first + dt.timedelta(seconds=self.scenario.period.duration_s - self.step_s)
        if not first <= moment <= last:
            raise ValueError(f"{moment:%Y-%m-%d %H:%M} is outside the scenario's period "
                             f"({first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M})")

    def _begin(self, s: Scenario) -> None:
        """Fresh state for a run of ``s`` (the first, or after a jump)."""
        self.current = s
        self.start_utc = s.start_utc
        self.book = EventBook(self._events, s.start_utc, s.park.timezone, s.period.duration_s,
                              period_start_utc=self.scenario.start_utc)
        self.builder = FrameBuilder(self.view, s.start_utc)
        self.history = History(self.book, self.step_s,
                               lambda t_s: self.view.local(s.start_utc, t_s),
                               getattr(self, "history", None))
        self.columns = Columns(s.n_steps)
        self.tracker = ForecastTracker(self.view, s.start_epoch_s, s.n_steps)
        self.frames.clear()
        self.sim_t = None
        self.segment += 1
        self._anchor = None
        self.path = runner.output_path(s, self.out_dir)
        self.events_path = events_file(self.path)
        save_events(self._events[len(self.scenario.events):], self.events_path)

    # ------------------------------------------------------------------ in the sim thread
    def _observe(self, t: int, values: Mapping[tuple[str, str], Any]) -> None:
        if self.state == "jumping" and self.jump_from is not None and self.sim_t is None:
            self.jump_took_s = time.monotonic() - self.jump_from
            self.state = "running"
        windows = self.book.active(t)
        frame = self.builder.frame(t, values, self.seq + 1, windows)
        self.history.observe(t, frame, windows)
        frame["forecast"] = self.tracker.step(self.builder, values)
        frame["segment"] = self.segment
        self.columns.append(t, values)
        with self._cond:
            self.seq += 1
            self.frames.append(frame)
            self.sim_t = t

    def _pace(self, t: int) -> None:
        """Hold the run until the end of step ``t`` is due (or a control says otherwise)."""
        with self._cond:
            deadline = 0.0
            while True:
                if self._stop:
                    raise _Stopped
                if self._jump is not None:
                    raise _Restart
                if self._paused:
                    self._anchor = None
                    self._cond.wait(0.25)
                    continue
                if self._anchor is None:
                    self._anchor = (time.monotonic(), t)
                wall0, t0 = self._anchor
                deadline = wall0 + (t + self.step_s - t0) / self._speed
                wait = deadline - time.monotonic()
                if wait <= 0:
                    break
                self._cond.wait(min(wait, 0.25))
            late = time.monotonic() - deadline
            self.late_s.append(late)
            if late > MAX_LATE_S:  # a slow step (a re-plan): do not rush to catch up
                self._anchor = (time.monotonic(), t + self.step_s)

    # ------------------------------------------------------------------ controls
    def pause(self) -> None:
        """Hold the run after the current step."""
        with self._cond:
            self._paused = True
            self._cond.notify_all()

    def resume(self) -> None:
        """Go on after a pause."""
        with self._cond:
            self._paused = False
            self._anchor = None
            self._cond.notify_all()

    def set_speed(self, speed: float) -> None:
        """Simulated seconds per wall second (1 to 100,000)."""
        if not 1.0 <= float(speed) <= 1e5:
            raise ValueError(f"speed must be 1 to 100000, got {speed}")
        with self._cond:
            self._speed = float(speed)
            self._anchor = None
            self._cond.notify_all()

    def jump(self, moment: dt.date | dt.datetime) -> None:
        """Restart the co-simulation at local ``moment`` (a date: its midnight, or the
        period's start on its first day), inside the period."""
        if not isinstance(moment, dt.datetime):
            moment = max(dt.datetime(moment.year, moment.month, moment.day),
                         self.scenario.period.start)
        moment = moment.replace(tzinfo=None, second=0, microsecond=0)
        off = int((moment - self.scenario.period.start).total_seconds()) % self.step_s
        moment -= dt.timedelta(seconds=off)  # on the period's steps
        self._check_inside(moment)
        with self._cond:
            self._jump = moment
            self._paused = False
            self.jump_from = time.monotonic()
            self.state = "jumping"
            self._cond.notify_all()

    def add_event(self, kind: str, hours: float, **params: Any) -> list[dict[str, Any]]:
        """Start an event of ``kind`` now for ``hours`` (simulated); ``params`` default to
        :data:`EVENT_DEFAULTS`. Raises ``ValueError``/``TypeError`` for bad values."""
        if kind not in EVENT_DEFAULTS:
            raise ValueError(f"unknown event kind {kind!r}; expected one of "
                             f"{', '.join(EVENT_DEFAULTS)}")
        if not 0 < float(hours) <= 24 * 14:
            raise ValueError(f"hours must be more than 0 and at most 336, got {hours}")
        if kind == "line_trip" and params.get("line") not in self.view.diagram.trippable():
            raise ValueError(f"no line {params.get('line')!r} to trip in this park's network")
        if kind == "line_trip" and self.scenario.grid is None:
            raise ValueError("a line trip needs a scenario with a grid section")
        with self._cond:
            # from the step in progress: the simulators have read the book up to sim_t
            start_s = 0 if self.sim_t is None else self.sim_t + self.step_s
            n = len(self._events) + 1
            made = live_events(kind, start_s, int(float(hours) * 3600), self.start_utc,
                               self.current.park.timezone, name=f"live-{n}-{kind}",
                               **{**EVENT_DEFAULTS[kind], **params})
            found = []
            for event in made:
                self._events.append(event)
                found.extend(self.book.add(event))
            save_events(self._events[len(self.scenario.events):], self.events_path)
            t = -1 if self.sim_t is None else self.sim_t
        return [self.history.row(w, t) for w in found]

    # ------------------------------------------------------------------ readers
    def frames_since(self, seq: int) -> tuple[int, list[dict[str, Any]]]:
        """Frames after ``seq`` (all kept if ``seq`` is older), and the latest seq."""
        with self._cond:
            return self.seq, [f for f in self.frames if f["seq"] > seq]

    def latest(self) -> dict[str, Any] | None:
        """The last frame, if any."""
        with self._cond:
            return self.frames[-1] if self.frames else None

    def status(self) -> dict[str, Any]:
        """State, speed, clock, lateness and the events in force or coming."""
        with self._cond:
            t = self.sim_t
            late = np.array(self.late_s) if self.late_s else np.zeros(1)
            state = "paused" if self._paused and self.state == "running" else self.state
            return {
                "state": state, "error": self.error, "speed": self._speed,
                "jump": {"elapsed_s": round(time.monotonic() - self.jump_from, 2)
                         if self.state == "jumping" and self.jump_from is not None else None,
                         "took_s": None if self.jump_took_s is None
                         else round(self.jump_took_s, 2)},
                "segment": self.segment, "seq": self.seq, "t": t,
                "time": self.view.local(self.start_utc, t) if t is not None else "",
                "start": self.view.local(self.start_utc, 0),
                "end": self.view.local(self.end_utc, 0), "late_ms_p95":
                round(float(np.quantile(late, 0.95)) * 1000.0, 1),
                "events": self.history.rows(t),
                "file": str(self.path) if self.path else "",
            }

    def totals(self) -> dict[str, Any]:
        """Carbon counter, national criteria and KPIs of the run so far (heavier: call it
        from a worker thread, every second or two)."""
        run = self.columns.run(self.view, self.start_utc)
        return {"segment": self.segment, "carbon": carbon_so_far(run, self.view),
                "kpis": kpis_so_far(run), "steps": run.n}

    @property
    def running(self) -> bool:
        """Whether the twin is stepping now (not paused, failed or finished)."""
        return self.state == "running" and not self._paused

    def active(self, *kinds: str) -> list[Any]:
        """Windows of ``kinds`` in force now."""
        return self.book.active(self.sim_t or 0, *kinds)

    def info(self) -> dict[str, Any]:
        """What the page needs once; ``request``: the scenario's first grid operator's
        request from the opening moment on (else its first), where the guided tour goes."""
        return {**self.view.info(), "mode": "live", "events": list(EVENT_DEFAULTS),
                "opening": f"{opening(self.scenario):%Y-%m-%dT%H:%M}",
                "request": self._first_request()}

    def _first_request(self) -> dict[str, Any] | None:
        s = self.scenario
        book = EventBook(s.events, s.start_utc, s.park.timezone, s.period.duration_s)
        asked = [w for w in book if w.event.kind == "demand_response"]
        if not asked:
            return None
        since = int((opening(s) - s.period.start).total_seconds())
        w = min(asked, key=lambda w: (w.start_s < since, w.start_s))
        return {"at": self.view.local(s.start_utc, w.start_s).replace(" ", "T"),
                "cut_mw": w.event.cut_import_mw, "hours": (w.end_s - w.start_s) / 3600}
