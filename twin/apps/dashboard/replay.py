"""A recorded run on the live page: the frames of any step, and the totals up to it.

The run file (:mod:`twin.core.results`) holds every series the page shows; the scenario text in its
``/meta`` rebuilds the park's view (entities, the single-line diagram). The forecasts are the
run's ``ems/forecasts`` table, or the scenario's forecaster replayed on the run
(:func:`twin.cosim.ems.forecast_table`).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

import numpy as np

from twin.apps.dashboard.frames import (
    ColumnsRun,
    FrameBuilder,
    ParkView,
    carbon_so_far,
    kpis_so_far,
    num,
)
from twin.apps.dashboard.history import History, events_file, load_events
from twin.core.results import open_run
from twin.models.events import EventBook
from twin.scenario import ScenarioError, loads

log = logging.getLogger(__name__)

VECTORS = ("line_p_from_mw", "line_loading_pct", "trafo_loading_pct")
HISTORY_STEPS = 192


class Replay:
    """A recorded run, read into memory once."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with open_run(self.path) as run:
            meta = run.meta
            try:
                scenario = loads(str(meta.get("scenario", "")),
                                 str(meta.get("scenario_path", "<memory>")))
            except ScenarioError as exc:
                raise ValueError(f"{self.path}: cannot rebuild the run's scenario: {exc}") \
                    from None
            self.view = ParkView(scenario)
            self.start_utc = dt.datetime.fromisoformat(str(meta["start"]))
            self.time = run.time_s.astype(np.int64)
            self.n = len(self.time)
            if not self.n:
                raise ValueError(f"{self.path}: the run recorded no step")
            self.data: dict[tuple[str, str], np.ndarray] = {}
            self.vectors: dict[tuple[str, str], np.ndarray] = {}
            for entity, attr in run.series_keys():
                if run.info(entity, attr).columns:  # a vector: only those the diagram draws
                    if attr in VECTORS:
                        self.vectors[(entity, attr)] = run.series(entity, attr)
                    continue
                self.data[(entity, attr)] = np.asarray(run.series(entity, attr), dtype=float)
            self.complete = run.complete
            self.forecasts = self._forecasts(run, scenario)
        self.builder = FrameBuilder(self.view, self.start_utc)
        duration = int(self.time[-1]) + self.view.scenario.period.step_s
        self.book = EventBook([*scenario.events, *load_events(events_file(self.path))],
                              self.start_utc, scenario.park.timezone, duration)
        self.history = History(self.book, self.view.scenario.period.step_s,
                               lambda t_s: self.view.local(self.start_utc, t_s))
        self._tallied: set[tuple[int, int]] = set()

    def _forecasts(self, run: Any, scenario: Any) -> np.ndarray | None:
        from twin.cosim import ems as ems_setup

        try:
            return np.asarray(run.array("ems/forecasts"), dtype=float)
        except KeyError:
            pass
        try:
            return ems_setup.forecast_table(run, scenario)
        except Exception:  # a run without what the forecaster needs: no forecast panel
            log.warning("%s: no forecasts to show", self.path, exc_info=True)
            return None

    def values(self, i: int) -> dict[tuple[str, str], Any]:
        """The recorded values of step ``i``."""
        out: dict[tuple[str, str], Any] = {k: float(v[i]) for k, v in self.data.items()}
        out.update({k: v[i].tolist() for k, v in self.vectors.items()})
        return out

    def frame(self, i: int) -> dict[str, Any]:
        """The page's frame of step ``i``."""
        t = int(self.time[i])
        f = self.builder.frame(t, self.values(i), seq=i + 1, active=self.book.active(t))
        fc = self.forecasts
        if fc is not None:
            from twin.cosim.ems import FORECAST_COLUMNS

            f["forecast"] = {c: num(fc[i, j], 2) for j, c in enumerate(FORECAST_COLUMNS)
                             if "_" in c}
        f["segment"] = 1
        return f

    def snapshot(self, i: int) -> dict[str, Any]:
        """Frames of the two days up to step ``i``, and the totals at its end."""
        i = min(max(int(i), 0), self.n - 1)
        frames = [self.frame(k) for k in range(max(0, i - HISTORY_STEPS + 1), i + 1)]
        run = ColumnsRun(self.view, self.start_utc, self.time, self.data, i + 1)
        t = int(self.time[i])
        return {
            "frames": frames,
            "totals": {"segment": 1, "carbon": carbon_so_far(run, self.view),
                       "kpis": kpis_so_far(run), "steps": i + 1},
            "status": {"state": "replay", "t": t, "i": i, "n": self.n, "segment": 1,
                       "time": self.view.local(self.start_utc, t),
                       "start": self.view.local(self.start_utc, int(self.time[0])),
                       "end": self.view.local(self.start_utc, int(self.time[-1])),
                       "events": self._events(t), "file": str(self.path),
                       "complete": self.complete},
        }

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
                    windows = [x for x in self.book.active(tk) if x is w]
                    self.history.observe(tk, self.builder.frame(tk, self.values(k), 0,
                                                                self.book.active(tk)), windows)
        return self.history.rows(t)

    def info(self) -> dict[str, Any]:
        """What the page needs once."""
        return {**self.view.info(), "mode": "replay", "n": self.n, "events": []}
