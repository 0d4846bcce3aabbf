"""Scenario events: things that happen to the park at given times.

An event has a kind, the local dates it happens on and a daily window (local clock times). The
energy management system answers the grid operator's events:

- ``demand_response``: cut the park's import by ``cut_import_mw`` below what it would have
  been, inside the window;
- ``price_signal``: ``price_adder_cny_per_mwh`` on top of the tariff inside the window.

The simulators answer the others (:mod:`twin.models.disturbances` says what each does):

- ``cloud_front``: the weather's irradiance times ``irradiance_factor`` (the beam more);
- ``wind_lull``: the wind speed times ``wind_factor``;
- ``heat_wave``, ``cold_wave``: ``temp_delta_c`` added to the air temperature;
- ``grid_outage``: the public grid is lost; the park runs as an island on its storage and
  generation (exchange 0, load shed or generation curtailed where they cannot balance);
- ``line_trip``: the network's line ``line`` is out of service (what it fed is lost);
- ``ev_surge``: EV arrivals times ``arrival_factor`` (hub ``target``, or every hub);
- ``defect_burst``: the AOI line's defective share is ``p_defect`` (line ``target``, or all).

:func:`windows` turns events into intervals of seconds from the scenario start, the time base
of the co-simulation. :class:`EventBook` holds the events of a running twin: the scenario's,
and those a trainer adds while it runs (:func:`live_events`); the simulators read it each step.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import zoneinfo
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

from twin.core.fields import param
from twin.core.specload import build

EVENT_KINDS = ("demand_response", "price_signal", "cloud_front", "wind_lull", "heat_wave",
               "cold_wave", "grid_outage", "line_trip", "ev_surge", "defect_burst")
EventKind = Literal["demand_response", "price_signal", "cloud_front", "wind_lull", "heat_wave",
                    "cold_wave", "grid_outage", "line_trip", "ev_surge", "defect_burst"]
_CLOCK_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


def parse_clock(value: Any) -> int:
    """Seconds after local midnight of a clock time ``"HH:MM"`` (``"24:00"`` is the day's end)."""
    match = _CLOCK_RE.match(str(value))
    if not match:
        raise ValueError(f"got {value!r}")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"got {value!r}")
    return hours * 3600 + minutes * 60


def parse_dates(value: Any) -> tuple[dt.date, ...]:
    """A list of dates (``2027-07-15``) as a tuple of :class:`datetime.date`."""
    items = value if isinstance(value, list | tuple) else [value]
    out = []
    for item in items:
        if isinstance(item, dt.datetime):
            out.append(item.date())
        elif isinstance(item, dt.date):
            out.append(item)
        else:
            out.append(dt.date.fromisoformat(str(item).strip()))
    if not out:
        raise ValueError("got an empty list")
    return tuple(out)


def _clock(doc: str) -> Any:
    return param("s", doc=doc, parse=parse_clock, expect="a local clock time such as 18:00")


@dataclass(frozen=True)
class Event:
    """Something that happens on given local dates inside a daily window."""

    kind: EventKind = param(doc="what happens")
    dates: tuple[dt.date, ...] = param(doc="local dates it happens on", parse=parse_dates,
                                      expect="a list of dates such as [2027-07-15, 2027-07-16]")
    start: int = _clock("start of the daily window, local time (HH:MM)")
    end: int = _clock("end of the daily window, local time (HH:MM; 24:00 = midnight)")
    cut_import_mw: float = param("MW", ge=0, default=0.0,
                                 doc="demand_response: import cut asked below the baseline")
    price_adder_cny_per_mwh: float = param("CNY/MWh", default=0.0,
                                           doc="price_signal: added to the import price")
    irradiance_factor: float = param("1", ge=0, le=1, default=1.0,
                                     doc="cloud_front: global irradiance kept (0..1)")
    wind_factor: float = param("1", ge=0, le=1, default=1.0,
                               doc="wind_lull: wind speed kept (0..1)")
    temp_delta_c: float = param("K", ge=-40, le=40, default=0.0,
                                doc="heat_wave (> 0), cold_wave (< 0): added to the air "
                                "temperature")
    arrival_factor: float = param("1", ge=0, le=20, default=1.0,
                                  doc="ev_surge: EV arrivals times this (> 1)")
    p_defect: float | None = param("1", ge=0, le=1, default=None,
                                   doc="defect_burst: defective share of the boards")
    line: str = param(default="", doc="line_trip: name of the network's line taken out")
    target: str = param(default="", doc="ev_surge, defect_burst: the entity (empty: all)")
    name: str = param(default="", doc="label in reports")

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        for kind, ok, need in _NEEDS:
            if self.kind == kind and not ok(self):
                raise ValueError(f"a {kind} needs {need}")


_NEEDS = (  # (kind, check, what it needs): one rule per kind
    ("demand_response", lambda e: e.cut_import_mw > 0, "cut_import_mw > 0"),
    ("price_signal", lambda e: e.price_adder_cny_per_mwh != 0, "a price_adder_cny_per_mwh"),
    ("cloud_front", lambda e: e.irradiance_factor < 1, "irradiance_factor < 1"),
    ("wind_lull", lambda e: e.wind_factor < 1, "wind_factor < 1"),
    ("heat_wave", lambda e: e.temp_delta_c > 0, "temp_delta_c > 0"),
    ("cold_wave", lambda e: e.temp_delta_c < 0, "temp_delta_c < 0"),
    ("line_trip", lambda e: bool(e.line), "the name of a line"),
    ("ev_surge", lambda e: e.arrival_factor > 1, "arrival_factor > 1"),
    ("defect_burst", lambda e: e.p_defect is not None, "p_defect"),
)


@dataclass(frozen=True)
class Window:
    """One occurrence of an event, in seconds from the scenario start."""

    start_s: int
    end_s: int
    event: Event
    index: int  # position of the event in the scenario's list

    @property
    def label(self) -> str:
        """The event's name, or its kind and position."""
        return self.event.name or f"{self.event.kind}-{self.index}"


def windows(events: tuple[Event, ...] | list[Event], start_utc: dt.datetime, timezone: str,
            duration_s: int) -> list[Window]:
    """Occurrences of ``events`` inside the run, in time order (seconds from the start)."""
    out = [Window(max(a, 0), min(b, duration_s), event, i)
           for i, event, _, a, b in _occurrences(events, start_utc, timezone)
           if b > 0 and a < duration_s]
    return sorted(out, key=lambda w: (w.start_s, w.index))


def _occurrences(events: tuple[Event, ...] | list[Event], start_utc: dt.datetime,
                 timezone: str) -> Iterator[tuple[int, Event, dt.date, int, int]]:
    """(index, event, date, start, end) of every occurrence, in seconds from the run's start."""
    tz = zoneinfo.ZoneInfo(timezone)
    t0 = start_utc.timestamp()
    for i, event in enumerate(events):
        for day in event.dates:
            midnight = dt.datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()
            yield i, event, day, int(midnight + event.start - t0), int(midnight + event.end - t0)


def outside(events: tuple[Event, ...] | list[Event], start_utc: dt.datetime, timezone: str,
            duration_s: int) -> list[tuple[int, str]]:
    """(index, message) for each event with occurrences wholly or partly outside the run: a
    scenario's event that never happens, or happens cut, is said rather than silently lost."""
    tz = zoneinfo.ZoneInfo(timezone)
    t0 = start_utc.timestamp()
    run = (f"{dt.datetime.fromtimestamp(t0, tz):%Y-%m-%d %H:%M} .. "
           f"{dt.datetime.fromtimestamp(t0 + duration_s, tz):%Y-%m-%d %H:%M}")
    found: dict[int, tuple[list[dt.date], list[tuple[dt.date, str]]]] = {}
    for i, _, day, a, b in _occurrences(events, start_utc, timezone):
        missed, cut = found.setdefault(i, ([], []))
        if b <= 0 or a >= duration_s:
            missed.append(day)
        elif a < 0 or b > duration_s:
            cut.append((day, "start" if a < 0 else "end"))
    out = []
    for i, (missed, cut) in found.items():
        event = events[i]
        if len(missed) == len(event.dates):
            out.append((i, f"every date of this {event.kind} lies outside the run ({run}): "
                        "it never happens"))
            continue
        if missed:
            out.append((i, f"{len(missed)} of {len(event.dates)} dates lie outside the run "
                        f"({run}), first {missed[0]}: those do not happen"))
        for day, edge in cut:
            out.append((i, f"its window on {day} is cut by the run's {edge} ({run}): only "
                        "its part inside the run happens"))
    return out


def live_events(kind: str, start_s: int, duration_s: int, start_utc: dt.datetime, timezone: str,
                **params: Any) -> list[Event]:
    """Events of ``kind`` covering ``[start_s, start_s + duration_s)`` (seconds from the run's
    start): one per local day the interval touches, since an event's window is daily.

    ``params`` are the kind's fields (``wind_factor=0.2``, ``line="..."``); a bad value raises
    ``ValueError`` (or ``TypeError`` for an unknown field) as the scenario's events would.
    """
    if duration_s <= 0:
        raise ValueError(f"duration must be positive, got {duration_s} s")
    # the scenario's own checks (types, finite numbers, bounds, what each kind needs), so a
    # live event passes exactly what ``twin check`` passes in a scenario file
    build(Event, {"kind": kind, "dates": [dt.date(2000, 1, 1)], "start": "00:00",
                  "end": "24:00", **params})
    tz = zoneinfo.ZoneInfo(timezone)
    t0 = start_utc.timestamp()
    a = dt.datetime.fromtimestamp(t0 + start_s, tz)
    b = dt.datetime.fromtimestamp(t0 + start_s + duration_s, tz)
    out = []
    day = a.date()
    while day <= b.date():
        lo = a if day == a.date() else None
        hi = b if day == b.date() else None
        start = lo.hour * 3600 + lo.minute * 60 if lo else 0
        end = hi.hour * 3600 + hi.minute * 60 if hi else 86400
        if end > start:
            out.append(Event(kind=kind, dates=(day,), start=start, end=end, **params))  # type: ignore[arg-type]
        day += dt.timedelta(days=1)
    return out


class EventBook(Sequence[Window]):
    """The events of a running twin, as windows in the order they were added (thread-safe).

    It starts with the scenario's events; :meth:`add` appends one while the twin runs (from
    another thread: a trainer's page). Simulators ask :meth:`active` each step; a reader that
    keeps its place (the EMS) reads the windows added since with ``book[n:]``.
    """

    def __init__(self, events: Sequence[Event], start_utc: dt.datetime, timezone: str,
                 duration_s: int, period_start_utc: dt.datetime | None = None) -> None:
        self.start_utc, self.timezone, self.duration_s = start_utc, timezone, int(duration_s)
        #: the start of the longer period a restarted run lies inside (the trainers' page's
        #: jump): the synthetic weather's random streams start there (None: this run's start)
        self.period_start_epoch_s = (None if period_start_utc is None
                                     else int(period_start_utc.timestamp()))
        self._lock = threading.Lock()
        self._events: tuple[Event, ...] = ()
        self._windows: tuple[Window, ...] = ()  # replaced, never mutated: reads need no lock
        for event in events:
            self.add(event)

    def add(self, event: Event) -> list[Window]:
        """Append ``event``; return its windows inside the run (empty if it misses the run)."""
        with self._lock:
            index = len(self._events)
            found = windows([event], self.start_utc, self.timezone, self.duration_s)
            found = [Window(w.start_s, w.end_s, w.event, index) for w in found]
            self._events = (*self._events, event)
            self._windows = (*self._windows, *found)
        return found

    @property
    def events(self) -> tuple[Event, ...]:
        """Every event added so far, the scenario's first."""
        return self._events

    def active(self, t_s: int, *kinds: str) -> list[Window]:
        """Windows in force at ``t_s`` (seconds from the start), of ``kinds`` if given."""
        return [w for w in self._windows if w.start_s <= t_s < w.end_s
                and (not kinds or w.event.kind in kinds)]

    def __len__(self) -> int:
        return len(self._windows)

    @overload
    def __getitem__(self, i: int) -> Window: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Window]: ...

    def __getitem__(self, i: int | slice) -> Window | Sequence[Window]:
        return self._windows[i]
