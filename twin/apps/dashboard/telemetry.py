"""The trainers' page in live mode: the twin beside the park's telemetry (``twin live --serve``).

:class:`TelemetryPage` follows a telemetry source with a :class:`twin.live.engine.LiveEngine`
in its own thread and keeps, for the page, each closed step's measured and twin values per
point, the alarms as they are raised, the latest grid state estimate (every bus voltage with
its standard deviation, the measured ones beside it, every line's loading) and the EMS's
latest recommendation. The page (``static/live_mode.js``) polls ``GET /api/telemetry?since=N``
twice a second: the steps after ``N`` and the rest as it stands now. The values are the ones
the engine writes into the history file, so the page and the file agree to the digit.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import zoneinfo
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from twin.apps.dashboard.frames import num, safe_json
from twin.live.checks import Alarm
from twin.live.engine import LiveEngine
from twin.live.mapping import catalogue
from twin.live.session import Followed, Source, follow

log = logging.getLogger(__name__)

HISTORY_STEPS = 192  # steps kept for the page's chart (two days of 15-minute steps)


class TelemetryPage:
    """A live twin following its telemetry, as the trainers' page shows it.

    Parameters
    ----------
    engine : LiveEngine
        The twin (its history file, if any, is written as without the page).
    source : Source
        The telemetry (MQTT, OPC UA, a recorded file), followed until it ends or :meth:`stop`.
    follow_args : mapping
        Passed on to :func:`twin.live.session.follow` (``until_s``, ``idle_s``, ``running``).
    on_alarm : callable, optional
        Also told of each alarm (the command line prints them).
    """

    def __init__(self, engine: LiveEngine, source: Source,
                 follow_args: Mapping[str, Any] | None = None,
                 on_alarm: Callable[[Alarm], None] | None = None) -> None:
        self.engine, self.source = engine, source
        self.follow_args = dict(follow_args or {})
        self.on_alarm = on_alarm
        s = engine.s
        self.tz = zoneinfo.ZoneInfo(s.park.timezone)
        self.start_utc = s.start_utc
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.frames: deque[dict[str, Any]] = deque(maxlen=HISTORY_STEPS)
        self.alarms: list[dict[str, Any]] = []
        self.seq = 0
        self.state = "waiting"  # waiting for the first reading, following, ended, failed
        self.error = ""
        self.done: Followed | None = None
        engine.observers.append(self._observe)
        self._thread = threading.Thread(target=self._main, name="twin-live-page", daemon=True)

    def start(self) -> TelemetryPage:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """End the session (the engine closes its history file) and wait for it."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        close = getattr(self.source, "close", None)
        if close is not None:
            close()

    def join(self, timeout: float | None = None) -> None:
        """Wait until the telemetry ends."""
        self._thread.join(timeout)

    def _main(self) -> None:
        try:
            self.done = follow(self.engine, self.source, on_alarm=self.on_alarm,
                               stop=self._stop.is_set, **self.follow_args)
            with self._lock:  # alarms raised while closing (a last estimate)
                seen = {(a["kind"], a["point"], a["raised_s"]) for a in self.alarms}
                self.alarms += [self._alarm(a) for a in self.engine.detector.alarms
                                if (a.kind, a.point, a.raised_s) not in seen]
                self.state = "ended"
                self.seq += 1
        except Exception as exc:  # shown on the page; the server stays up
            log.exception("the live twin stopped")
            with self._lock:
                self.state, self.error = "failed", f"{type(exc).__name__}: {exc}"
                self.seq += 1

    # ------------------------------------------------------------------ each step
    def _observe(self, last: Mapping[str, Any], raised: list[Alarm]) -> None:
        t = int(last["t"])
        frame = {"t": t, "time": self.local(t),
                 "measured": {p: num(v, 6) for p, v in last["measured"].items()},
                 "twin": {p: num(v, 6) for p, v in last["expected"].items()},
                 "stale": list(last["stale"])}
        with self._lock:
            self.state = "following"
            self.seq += 1
            frame["seq"] = self.seq
            self.frames.append(frame)
            self.alarms += [self._alarm(a) for a in raised]

    def _alarm(self, a: Alarm) -> dict[str, Any]:
        return {"kind": a.kind, "point": a.point, "start_s": int(a.start_s),
                "raised_s": int(a.raised_s), "since": self.local(a.start_s),
                "raised": self.local(a.raised_s), "detail": a.detail, "said": a.said.as_dict()}

    def local(self, t_s: float) -> str:
        """Local clock time of ``t_s`` seconds from the scenario's start."""
        return (self.start_utc + dt.timedelta(seconds=float(t_s))).astimezone(self.tz).strftime(
            "%Y-%m-%d %H:%M")

    # ------------------------------------------------------------------ what the page asks
    def info(self) -> dict[str, Any]:
        """What the page needs once: the points with their units and kinds, the network."""
        e = self.engine
        known = catalogue(e.s)
        points = []
        for tag in e.tm.tags:
            q = known[tag.entity][tag.attr]
            kind = e.kinds.get(tag.entity) or ("weather" if tag.entity == "weather" else "pcc")
            points.append({"point": tag.point, "entity": tag.entity, "attr": tag.attr,
                           "kind": kind, "unit": q.unit, "tag": tag.tag})
        grid = None
        if e.grid is not None:
            by_bus = {bus: point for point, bus in e.grid.voltage_bus.items()}
            index = [int(b) for b in e.grid.pn.net.bus.index]
            grid = {"buses": list(e.grid.bus_names), "lines": list(e.grid.line_names),
                    "measured": [by_bus.get(b) for b in index], "every": e.grid.every}
        return {"mode": "telemetry", "park": e.s.park.name, "step_s": e.step_s,
                "timezone": e.s.park.timezone, "controller": e.s.controller.kind,
                "points": points, "grid": grid, "recommend": e.advisor is not None,
                "batteries": [b.name for b in e.s.batteries], "aoi": [], "ev": [],
                "file": str(e.path) if e.path is not None else ""}

    def telemetry(self, since: int = 0) -> dict[str, Any]:
        """The steps after ``since``, the alarms, the latest estimate and recommendation."""
        with self._lock:
            frames = [f for f in self.frames if f["seq"] > since]
            alarms = list(self.alarms)
            state, error, seq = self.state, self.error, self.seq
        return {"seq": seq, "frames": frames, "alarms": alarms, "grid": self._grid(),
                "ems": self._ems(), "status": {"state": state, "error": error,
                                               "n_steps": self.engine.n_steps,
                                               "late": self.engine.n_late}}

    def _grid(self) -> dict[str, Any] | None:
        g = self.engine.grid
        est = g.last if g is not None else None
        if est is None:
            return None
        held = self.engine.held
        return {"vm_pu": [num(v, 6) for v in est.vm_pu],
                "vm_sigma_pu": [num(v, 7) for v in est.vm_sigma_pu]
                if est.vm_sigma_pu is not None else None,
                "loading_pct": [num(v, 3) for v in est.loading_percent],
                "loading_sigma_pct": [num(v, 4) for v in est.loading_sigma_pct]
                if est.loading_sigma_pct is not None else None,
                "measured_pu": {p: num(held.get(p), 6) for p in g.voltage_bus},
                "bad": [m.element for m in est.bad if m.kind == "v"],
                "n_estimates": g.n_estimates, "n_failed": g.n_failed}

    def _ems(self) -> dict[str, Any] | None:
        """The recommendation for the step just closed (in the history's last row), the one
        for the next step and the plan in force (its forecasts, storage, import)."""
        a = self.engine.advisor
        if a is None or a.last is None:
            return None
        plan = a.plan()
        if plan is not None:
            step = self.engine.step_s
            plan = {**{k: [num(v, 4) for v in vs] for k, vs in plan.items() if k != "t0"},
                    "t0": plan["t0"], "time": [self.local(plan["t0"] + k * step)
                                               for k in range(len(plan["pv_mw"]))]}
        return {"now": self._recommendation(a.due), "next": self._recommendation(a.last),
                "plan": plan}

    def _recommendation(self, rec: Any) -> dict[str, Any] | None:
        if rec is None:
            return None
        return {"for": self.local(rec.t), "t": rec.t, "why": str(rec.why or ""),
                "said": rec.why.as_dict() if rec.why else None,
                "p_set_mw": {b: num(v, 4) for b, v in rec.p_set_mw.items()},
                "p_import_plan_mw": num(rec.p_import_plan_mw, 4), "status": rec.status}

    def routes(self) -> dict[str, Callable[[web.Request], Any]]:
        """The page's extra routes (the server adds them)."""
        return {"/api/telemetry": self._route}

    async def _route(self, request: web.Request) -> web.Response:
        try:
            since = int(request.query.get("since", "0"))
        except ValueError:
            raise web.HTTPBadRequest(text="since: expected a step number") from None
        return web.Response(text=safe_json(self.telemetry(since)),
                            content_type="application/json")
