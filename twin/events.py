"""Scenario events: things that happen to the park at given times.

An event has a kind, the local dates it happens on and a daily window (local clock times). The
energy management system answers the grid operator's events:

- ``demand_response``: cut the park's import by ``cut_import_mw`` below what it would have
  been, inside the window;
- ``price_signal``: ``price_adder_cny_per_mwh`` on top of the tariff inside the window.

:func:`windows` turns events into intervals of seconds from the scenario start, the time base
of the co-simulation.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass
from typing import Any, Literal

from twin.fields import param

EVENT_KINDS = ("demand_response", "price_signal")
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

    kind: Literal["demand_response", "price_signal"] = param(doc="what happens")
    dates: tuple[dt.date, ...] = param(doc="local dates it happens on", parse=parse_dates,
                                      expect="a list of dates such as [2027-07-15, 2027-07-16]")
    start: int = _clock("start of the daily window, local time (HH:MM)")
    end: int = _clock("end of the daily window, local time (HH:MM; 24:00 = midnight)")
    cut_import_mw: float = param("MW", ge=0, default=0.0,
                                 doc="demand_response: import cut asked below the baseline")
    price_adder_cny_per_mwh: float = param("CNY/MWh", default=0.0,
                                           doc="price_signal: added to the import price")
    name: str = param(default="", doc="label in reports")

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.kind == "demand_response" and self.cut_import_mw <= 0:
            raise ValueError("a demand_response needs cut_import_mw > 0")
        if self.kind == "price_signal" and self.price_adder_cny_per_mwh == 0:
            raise ValueError("a price_signal needs a price_adder_cny_per_mwh")


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
    tz = zoneinfo.ZoneInfo(timezone)
    t0 = start_utc.timestamp()
    out = []
    for i, event in enumerate(events):
        for day in event.dates:
            midnight = dt.datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()
            a, b = int(midnight + event.start - t0), int(midnight + event.end - t0)
            if b > 0 and a < duration_s:
                out.append(Window(max(a, 0), min(b, duration_s), event, i))
    return sorted(out, key=lambda w: (w.start_s, w.index))
