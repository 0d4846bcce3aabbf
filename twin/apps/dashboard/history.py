"""The events of a run on the page: each window with its simulated times and its result.

For every window of the run's :class:`twin.models.events.EventBook` the page lists its kind,
its simulated start and end, whether it is coming, in force or over, and what it did, summed
over its steps (:class:`History`): for an outage or a trip the load shed and generation
curtailed while it lasted, for a grid operator's request (``demand_response``) the import cut
asked, offered by the VPP and delivered, and the part missed, per step
(:func:`request_step`) and in total (MWh).

A request is judged by the truth: the cut delivered is the import below the EMS's baseline
(the import on its plan without the request), never more than asked. The rule controller
neither offers nor cuts anything: its requests show as not answered, the whole cut missed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from twin.core.specload import build
from twin.models.events import Event, Window

SUMMED = ("shed", "curtailed")  # frame fields summed over a window (MW x h = MWh)
CUTS = ("grid_outage", "line_trip")  # the events whose result is what they shed or curtailed
REQUEST = ("asked", "offered", "delivered", "missed")


def request_step(windows: Iterable[Window], ems: Mapping[str, float | None],
                 import_mw: float | None, answers: bool) -> dict[str, float | None] | None:
    """One step of the grid operator's requests in force (``None`` if none): the cut asked,
    offered and delivered and the part missed, MW.

    ``ems``: the EMS's recorded series of the step (``asked``, ``offered``, ``baseline``: see
    :data:`twin.apps.dashboard.frames.EMS_SERIES`); ``import_mw``: the import at the PCC;
    ``answers``: whether the controller answers requests at all (the EMS does, the rule
    controller does not). The cut delivered is the baseline less the import, as the EMS's own
    account of requests (:func:`twin.cosim.ems.responses`) reads it.
    """
    cut = sum(w.event.cut_import_mw for w in windows if w.event.kind == "demand_response")
    if cut <= 0:
        return None
    asked = ems.get("asked")
    asked = float(asked) if asked is not None else cut
    if not answers:
        return {"asked": asked, "offered": 0.0, "delivered": 0.0, "missed": asked}
    offered = ems.get("offered")
    baseline = ems.get("baseline")
    delivered = None
    if baseline is not None and import_mw is not None:
        delivered = min(max(float(baseline) - float(import_mw), 0.0), asked)
    return {"asked": asked, "offered": None if offered is None else float(offered),
            "delivered": delivered,
            "missed": None if delivered is None else max(asked - delivered, 0.0)}


class History:
    """The windows of an event book and what each did, tallied step by step (thread-safe).

    ``local``: seconds from the run's start -> local clock text; ``before``: the history of
    the run this one continues (a live page's last segment, or the run a jump left), whose
    tallies it keeps (windows are keyed by their event and their start in UTC seconds).
    """

    def __init__(self, book: Any, step_s: int, local: Callable[[int], str],
                 before: History | None = None) -> None:
        self.book, self.step_s, self.local = book, int(step_s), local
        self._t0 = int(book.start_utc.timestamp())
        self._tally: dict[tuple[int, int], dict[str, float]] = (
            {} if before is None else before._tally)
        self._seen: dict[tuple[int, int], set[int]] = {} if before is None else before._seen
        #: the rows of the windows over before this run's start (kept from ``before``)
        self._past: list[dict[str, Any]] = [] if before is None else [
            *before._past, *(before.row(w, w.end_s) for w in before.book
                             if before._t0 + w.end_s <= self._t0)]
        self._lock = threading.Lock()

    def observe(self, t: int, frame: Mapping[str, Any], windows: Iterable[Window]) -> None:
        """Add step ``t``'s frame to the windows in force in it."""
        h = self.step_s / 3600.0
        with self._lock:
            for w in windows:
                seen = self._seen.setdefault(self._key(w), set())
                if self._t0 + t in seen:  # a step run again after a jump back: counted once
                    continue
                seen.add(self._t0 + t)
                acc = self._tally.setdefault(self._key(w), {"steps": 0.0})
                acc["steps"] += 1
                if w.event.kind in CUTS:  # what the outage or the trip cost
                    for k in SUMMED:
                        acc[k] = acc.get(k, 0.0) + float(frame.get(k) or 0.0) * h
                req = frame.get("request")
                if w.event.kind == "demand_response" and req:
                    for k in REQUEST:
                        if req.get(k) is not None:
                            acc[k] = acc.get(k, 0.0) + float(req[k]) * h

    def _key(self, w: Window) -> tuple[int, int]:
        return w.index, self._t0 + w.start_s

    def rows(self, now: int | None, n: int = 40) -> list[dict[str, Any]]:
        """The last ``n`` windows up to those coming next, in time order, with results."""
        t = -1 if now is None else int(now)
        with self._lock:
            out = [self.row(w, t) for w in sorted(self.book, key=lambda w: (w.start_s, w.index))]
        return [*self._past, *out][-n:]

    def row(self, w: Window, t: int) -> dict[str, Any]:
        """One window as the page lists it."""
        e = w.event
        state = "coming" if t < w.start_s else "active" if t < w.end_s else "over"
        acc = self._tally.get(self._key(w), {})
        result = {k: round(v, 2) for k, v in acc.items() if k != "steps" and math.isfinite(v)}
        result["steps"] = int(acc.get("steps", 0))
        return {"kind": e.kind, "name": w.label, "start_s": w.start_s, "end_s": w.end_s,
                "start": self.local(w.start_s), "end": self.local(w.end_s), "state": state,
                "active": state == "active", "detail": detail(e), "result": result}


def detail(e: Any) -> dict[str, Any]:
    """An event's own parameters (those of its kind that differ from the defaults)."""
    keys = {"cloud_front": ("irradiance_factor",), "wind_lull": ("wind_factor",),
            "heat_wave": ("temp_delta_c",), "cold_wave": ("temp_delta_c",),
            "demand_response": ("cut_import_mw",), "price_signal": ("price_adder_cny_per_mwh",),
            "line_trip": ("line",), "ev_surge": ("arrival_factor", "target"),
            "defect_burst": ("p_defect", "target")}.get(e.kind, ())
    return {k: getattr(e, k) for k in keys if getattr(e, k) not in ("", None)}


def events_file(run_path: Path) -> Path:
    """The file beside a run that keeps the events a trainer added live (for its replay)."""
    return Path(run_path).with_suffix(".events.json")


def _clock(s: int) -> str:
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}"


def save_events(events: Sequence[Event], path: Path) -> None:
    """Write ``events`` as a scenario's ``events:`` entries (JSON), replacing the file."""
    if not events and not path.exists():
        return
    items = []
    for e in events:
        d = {k: v for k, v in dataclasses.asdict(e).items()
             if v != getattr(Event, k, None) or k in ("kind", "dates", "start", "end")}
        d.update(dates=[x.isoformat() for x in e.dates], start=_clock(e.start),
                 end=_clock(e.end))
        items.append(d)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(items, indent=1))
    tmp.replace(path)


def load_events(path: Path) -> list[Event]:
    """The events saved beside a run (none if there is no such file); a bad file raises
    ``ValueError`` naming it."""
    if not path.is_file():
        return []
    try:
        items = json.loads(path.read_text())
        return [build(Event, item) for item in items]
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{path}: {exc}") from None
