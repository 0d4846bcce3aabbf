"""A recorded run on the live page: the frames of any step, and the totals up to it.

The run file (:mod:`twin.core.results`) holds every series the page shows; the scenario text in its
``/meta`` rebuilds the park's view (entities, the single-line diagram), and the events a
trainer added live are read from beside it (:func:`twin.apps.dashboard.history.events_file`).

Opening a year's file reads its scalar series once; the network's vectors (line flows and
loadings) stay in the file and are read a step at a time, and the forecasts (the run's
``ems/forecasts`` table, or the scenario's forecaster replayed on the run by
:func:`twin.cosim.ems.forecast_table`) are worked out in a background thread, shown once
ready. A slider move sends the two days up to the step: the charts' values of every step
straight from the arrays, the whole frame (diagram, tiles) of the step itself and of the
steps an event changed; the totals so far (:meth:`Replay.totals`) come apart, as they take
longer over a long run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import threading
import zoneinfo
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from twin.apps.dashboard.frames import (
    ColumnsRun,
    FrameBuilder,
    carbon_so_far,
    kpis_so_far,
    num,
)
from twin.apps.dashboard.history import History, events_file, load_events
from twin.apps.dashboard.viewcache import park_view, trip_sets
from twin.core.kinds import LOADS
from twin.core.results import open_run
from twin.models.events import EventBook
from twin.scenario import ScenarioError, loads

log = logging.getLogger(__name__)

VECTORS = ("line_p_from_mw", "line_loading_pct", "trafo_loading_pct")
HISTORY_STEPS = 192
FULL_FRAMES_KEPT = 4096


def run_view(run: Any, path: Path) -> tuple[dt.datetime, np.ndarray, EventBook, Any]:
    """The start, step times, event book and park's view of the open run file at ``path``
    (the view kept beside it, or built and kept: :func:`park_view`)."""
    meta = run.meta
    try:
        scenario = loads(str(meta.get("scenario", "")),
                         str(meta.get("scenario_path", "<memory>")))
    except ScenarioError as exc:
        raise ValueError(f"{path}: cannot rebuild the run's scenario: {exc}") from None
    start_utc = dt.datetime.fromisoformat(str(meta["start"]))
    time = run.time_s.astype(np.int64)
    if not len(time):
        raise ValueError(f"{path}: the run recorded no step")
    # the scenario as this run ran it: its period (a live page's segment, a shortened run) and
    # its controller (twin demo --controller ems) are not in its text
    tz = zoneinfo.ZoneInfo(scenario.park.timezone)
    kind = "ems" if "ems" in run.entities() else scenario.controller.kind
    s = dataclasses.replace(
        scenario, period=dataclasses.replace(
            scenario.period, start=start_utc.astimezone(tz).replace(tzinfo=None),
            duration=int(time[-1]) + scenario.period.step_s),
        controller=dataclasses.replace(scenario.controller, kind=kind))
    book = EventBook([*s.events, *load_events(events_file(path))], start_utc, s.park.timezone,
                     s.period.duration)
    rated = {w: float(spec["p_rated_mw"]) for w in run.entities("wind")
             if "p_rated_mw" in (spec := run.spec(w))}
    view = park_view(s, str(meta.get("scenario", "")), path, trip_sets(book), rated)
    return start_utc, time, book, view


def keep_view(path: str | Path) -> None:
    """Work out the park's view of run file ``path`` and keep it beside the file (``twin
    run`` does it after a run, while the network it built is at hand), so that the first
    ``twin replay`` of it opens without building the network."""
    with open_run(path) as run:
        run_view(run, Path(path))


class Replay:
    """A recorded run: its scalar series in memory, its vectors read from the file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._run = open_run(self.path)
        self._lock = threading.Lock()  # the file, from the page's worker threads
        try:
            self._open(self._run)
        except BaseException:
            self._run.close()
            raise
        self.builder = FrameBuilder(self.view, self.start_utc)
        s = self.view.scenario
        self.history = History(self.book, s.period.step_s,
                               lambda t_s: self.view.local(self.start_utc, t_s))
        self._tallied: set[tuple[int, int]] = set()
        self._full: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._totals: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self.forecasts: np.ndarray | None = None
        self.forecasts_ready = threading.Event()
        threading.Thread(target=self._forecast, name="replay-forecasts", daemon=True).start()

    def _open(self, run: Any) -> None:
        self.start_utc, self.time, self.book, self.view = run_view(run, self.path)
        self.n = len(self.time)
        self.data: dict[tuple[str, str], np.ndarray] = {}
        self.vectors: list[tuple[str, str]] = []
        for entity, attr in run.series_keys():
            columns = run.info(entity, attr).columns
            if columns:  # a vector: only those the diagram draws
                if attr in VECTORS:
                    self.vectors.append((entity, attr))
                lines = self.view.diagram.lines
                if attr == "line_p_from_mw" and lines and list(columns) != lines:
                    raise ValueError(
                        f"{self.path}: recorded on another network than this version of the "
                        f"twin builds for its scenario ({len(columns)} lines, now {len(lines)}"
                        f"{', named otherwise' if len(columns) == len(lines) else ''}): replay "
                        "it with the version that recorded it, or run it again")
                continue
            self.data[(entity, attr)] = np.asarray(run.series(entity, attr), dtype=float)
        self.complete = run.complete
        self._stored_forecasts = None
        with contextlib.suppress(KeyError):
            self._stored_forecasts = np.asarray(run.array("ems/forecasts"), dtype=float)

    def close(self) -> None:
        """Close the run file."""
        with self._lock:
            self._run.close()

    stop = close  # the page's server calls stop() when it ends

    def _forecast(self) -> None:
        from twin.cosim import ems as ems_setup

        try:
            if self._stored_forecasts is not None:
                self.forecasts = self._stored_forecasts
            else:
                run = ColumnsRun(self.view, self.start_utc, self.time, self.data, self.n)
                self.forecasts = ems_setup.forecast_table(run, self.view.scenario)
        except Exception:  # a run without what the forecaster needs: no forecast panel
            log.warning("%s: no forecasts to show", self.path, exc_info=True)
        self._full.clear()
        self.forecasts_ready.set()

    # ------------------------------------------------------------------ frames
    def values(self, i: int) -> dict[tuple[str, str], Any]:
        """The recorded values of step ``i`` (the vectors read from the file)."""
        out: dict[tuple[str, str], Any] = {k: float(v[i]) for k, v in self.data.items()}
        with self._lock:
            for entity, attr in self.vectors:
                out[(entity, attr)] = self._run.row(entity, attr, i).tolist()
        return out

    def frame(self, i: int) -> dict[str, Any]:
        """The page's whole frame of step ``i``."""
        f = self._full.get(i)
        if f is not None:
            self._full.move_to_end(i)
            return f
        t = int(self.time[i])
        f = self.builder.frame(t, self.values(i), seq=i + 1, active=self.book.active(t))
        f["forecast"] = self._forecast_of(i)
        f["segment"] = 1
        self._full[i] = f
        if len(self._full) > FULL_FRAMES_KEPT:
            self._full.popitem(last=False)
        return f

    def _forecast_of(self, i: int) -> dict[str, Any] | None:
        fc = self.forecasts
        if fc is None:
            return None
        from twin.cosim.ems import FORECAST_COLUMNS

        return {c: num(fc[i, j], 2) for j, c in enumerate(FORECAST_COLUMNS) if "_" in c}

    def _chart_frames(self, lo: int, hi: int) -> list[dict[str, Any]]:
        """What the charts draw of steps ``lo`` to ``hi - 1``, from the arrays; the steps an
        event, an island or a cut changed get their whole frame."""
        sl, of, d = slice(lo, hi), self.view.of_kind, self.data
        n = hi - lo

        def total(kinds: tuple[str, ...], attr: str = "p_mw") -> np.ndarray:
            out = np.zeros(n)
            for kind in kinds:
                for e in of.get(kind, ()):
                    if (e, attr) in d:
                        out += np.nan_to_num(d[(e, attr)][sl])
            return out

        def col(entity: str, attr: str) -> np.ndarray:
            return d[(entity, attr)][sl] if (entity, attr) in d else np.full(n, np.nan)

        pcc = self.view.pcc
        wind, pv, load = total(("wind",)), total(("pv",)), total(LOADS)
        storage, ev = total(("battery",)), total(("ev",))
        e_max = sum(b.e_max_mwh for b in self.view.batteries.values())
        soc = total(("battery",), "e_mwh") / e_max if e_max else np.full(n, np.nan)
        net, shed, isl = col(pcc, "p_net_mw"), col(pcc, "p_shed_mw"), col(pcc, "islanded")
        cap = col("ems", "p_import_cap_mw")
        special = (np.nan_to_num(shed) > 0) | (np.nan_to_num(isl) > 0)
        for w in self.book:
            a, b = np.searchsorted(self.time[sl], [w.start_s, w.end_s])
            special[a:b] = True
        fc = self.forecasts
        out = []
        for k in range(n):
            i = lo + k
            if special[k] or i == hi - 1:
                out.append(self.frame(i))
                continue
            out.append({
                "seq": i + 1, "t": int(self.time[i]), "segment": 1,
                "time": self.view.local(self.start_utc, int(self.time[i])),
                "wind": num(wind[k], 2), "pv": num(pv[k], 2), "load": num(load[k], 2),
                "demand": num(load[k], 2), "storage": num(storage[k], 2),
                "pcc": num(net[k], 2), "shed": 0.0, "soc_park": num(soc[k]),
                "ems": {"cap": num(cap[k], 2)}, "request": None, "ev": {"p": num(ev[k], 2)},
                "forecast": None if fc is None else self._forecast_of(i)})
        return out

    def index_of(self, day: dt.date) -> int:
        """The first step on local date ``day`` (``ValueError`` if the run has none)."""
        midnight = dt.datetime(day.year, day.month, day.day, tzinfo=self.view.tz)
        t = int((midnight - self.start_utc).total_seconds())
        i = int(np.searchsorted(self.time, t))
        if i >= self.n or self.view.local(self.start_utc, int(self.time[i]))[:10] \
                != day.isoformat():
            raise ValueError(f"no step on {day} in this run ({self.view.local(self.start_utc, 0)}"
                             f" to {self.view.local(self.start_utc, int(self.time[-1]))})")
        return i

    def snapshot(self, i: int) -> dict[str, Any]:
        """The charts' two days up to step ``i``, its whole frame and the status (the totals
        come from :meth:`totals`)."""
        i = min(max(int(i), 0), self.n - 1)
        frames = self._chart_frames(max(0, i - HISTORY_STEPS + 1), i + 1)
        t = int(self.time[i])
        return {
            "frames": frames,
            "status": {"state": "replay", "t": t, "i": i, "n": self.n, "segment": 1,
                       "time": self.view.local(self.start_utc, t),
                       "start": self.view.local(self.start_utc, int(self.time[0])),
                       "end": self.view.local(self.start_utc, int(self.time[-1])),
                       "events": self._events(t), "file": str(self.path),
                       "complete": self.complete,
                       "forecasts": self.forecasts_ready.is_set()},
        }

    def totals(self, i: int) -> dict[str, Any]:
        """The carbon counter, the criteria and the KPIs up to step ``i``."""
        i = min(max(int(i), 0), self.n - 1)
        found = self._totals.get(i)
        if found is None:
            run = ColumnsRun(self.view, self.start_utc, self.time, self.data, i + 1)
            found = {"segment": 1, "i": i, "carbon": carbon_so_far(run, self.view),
                     "kpis": kpis_so_far(run), "steps": i + 1}
            self._totals[i] = found
            if len(self._totals) > 256:
                self._totals.popitem(last=False)
        return found

    def _events(self, t: int) -> list[dict[str, Any]]:
        """The run's events with their results, those begun by ``t`` tallied."""
        for w in self.book:
            key = (w.index, w.start_s)
            if w.start_s <= t and key not in self._tallied:
                self._tallied.add(key)
                lo = int(np.searchsorted(self.time, w.start_s))
                hi = int(np.searchsorted(self.time, w.end_s))
                for k in range(lo, hi):
                    tk = int(self.time[k])
                    self.history.observe(tk, self.frame(k), [w])
        return self.history.rows(t)

    def info(self) -> dict[str, Any]:
        """What the page needs once."""
        return {**self.view.info(), "mode": "replay", "n": self.n, "events": [],
                "first": self.view.local(self.start_utc, int(self.time[0])),
                "last": self.view.local(self.start_utc, int(self.time[-1]))}
