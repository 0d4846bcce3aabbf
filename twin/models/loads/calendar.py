"""The park's working calendar: day types (workday, weekend, holiday, Spring Festival shutdown).

Day types come from the ``holidays`` package (China): public holidays, the official make-up
working days (调休, Saturdays or Sundays that are workdays) and the lunar New Year date. A day
is

* ``"shutdown"``: inside the Spring Festival shutdown window of an enterprise kind (offsets in
  days from 正月初一, inclusive; e.g. ``(-2, 9)`` runs from the day before 除夕 through 初十);
* ``"holiday"``: a public holiday, or a weekend day in the same unbroken run of days off as a
  public holiday (the State Council's holiday blocks, e.g. 1-7 October);
* ``"workday"``: Monday to Friday, or a make-up working Saturday/Sunday;
* ``"weekend"``: any other Saturday or Sunday.

Day codes are precomputed per local day for the years asked (and extended lazily when a step
falls outside them), so :meth:`ParkCalendar.day_type` costs a list look-up.

:class:`DayProfile` holds per-minute profiles for each day type and integrates them over
arbitrary steps (steps that cross local midnight are split by day).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import holidays

from twin import data

DAY_TYPES: tuple[str, ...] = ("workday", "weekend", "holiday", "shutdown")
WORKDAY, WEEKEND, HOLIDAY, SHUTDOWN = range(4)
SECONDS_PER_DAY = 86400
MINUTES_PER_DAY = 1440
EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_SPRING_FESTIVAL_NAME = "Chinese New Year (Spring Festival)"

ShutdownWindows = Mapping[str, tuple[int, int] | None]


def default_shutdown_windows() -> dict[str, tuple[int, int] | None]:
    """Spring Festival shutdown windows per enterprise kind, from ``loads_profiles.yaml``.

    Returns
    -------
    dict
        ``{kind: (first, last) | None}``: day offsets from 正月初一 (day 0), inclusive;
        ``None`` for kinds that keep running (continuous processes). Key ``"default"`` is
        the window used when no kind is named.
    """
    raw = data.load("loads_profiles")["spring_festival_shutdown_days"]
    return {k: (None if v is None else (int(v[0]), int(v[1]))) for k, v in raw.items()}


def default_golden_weeks() -> dict[str, tuple]:
    """Golden-week rule for years without an official schedule, from ``loads_profiles.yaml``.

    Returns
    -------
    dict
        ``national_day``: (first, last) as ``"MM-DD"``; ``spring_festival_days``: (first,
        last) day offsets from 正月初一, inclusive.
    """
    return dict(data.load("loads_profiles")["golden_weeks"])


class ParkCalendar:
    """Local time and day types of the park (pure; results cached per local day).

    Parameters
    ----------
    timezone : str
        IANA time zone of the park, e.g. ``"Asia/Shanghai"``.
    years : iterable of int
        Years to precompute; other years are added on first use.
    shutdown_windows : mapping, optional
        ``{kind: (first, last) | None}`` Spring Festival shutdown windows in days from
        正月初一; ``None`` loads :func:`default_shutdown_windows`.
    golden_weeks : mapping, optional
        Holiday blocks assumed for years the ``holidays`` package has no official schedule
        for (no make-up working days listed); ``None`` loads :func:`default_golden_weeks`,
        ``{}`` turns the rule off.
    """

    def __init__(
        self,
        timezone: str = "Asia/Shanghai",
        years: Iterable[int] = range(2024, 2031),
        shutdown_windows: ShutdownWindows | None = None,
        golden_weeks: Mapping[str, tuple] | None = None,
    ) -> None:
        self.timezone = timezone
        self._tz = ZoneInfo(timezone)
        windows = default_shutdown_windows() if shutdown_windows is None else shutdown_windows
        self._windows: dict[str, tuple[int, int] | None] = dict(windows)
        self._windows.setdefault("default", None)
        self._golden = dict(default_golden_weeks() if golden_weeks is None else golden_weeks)
        years = sorted(set(int(y) for y in years))
        if not years:
            raise ValueError("ParkCalendar needs at least one year")
        self._y0, self._y1 = years[0], years[-1]
        self._fixed_offset_s = self._find_fixed_offset(self._y0, self._y1)
        self._build()

    # ------------------------------------------------------------------ building
    def _find_fixed_offset(self, y0: int, y1: int) -> int | None:
        offsets = set()
        for year in range(y0 - 1, y1 + 2):
            for month in (1, 4, 7, 10):
                off = dt.datetime(year, month, 1, 12, tzinfo=self._tz).utcoffset()
                offsets.add(int(off.total_seconds()) if off is not None else 0)
        return offsets.pop() if len(offsets) == 1 else None

    def _build(self) -> None:
        years = range(self._y0 - 1, self._y1 + 2)  # neighbours: holiday runs cross years
        cn = holidays.China(years=list(years), language="en_US")
        self._makeup = frozenset(d for d in cn.weekend_workdays if d.year in years)
        self._spring = {y: self._find_spring_festival(cn, y) for y in years}
        official = {d.year for d in self._makeup}
        self.unofficial_years = tuple(y for y in years if y not in official)
        self._holidays = frozenset(cn.keys()) | self._golden_days(self.unofficial_years)
        first = dt.date(self._y0, 1, 1)
        last = dt.date(self._y1, 12, 31)
        self._day0 = first.toordinal() - EPOCH_ORDINAL
        n_days = last.toordinal() - first.toordinal() + 1
        base = self._base_codes(first, n_days)
        self._codes: dict[str | None, list[int]] = {}
        for key, window in self._windows.items():
            self._codes[key] = self._with_shutdown(base, first, window)
        self._codes[None] = self._codes["default"]
        self._none_codes = base

    @staticmethod
    def _find_spring_festival(cn: holidays.HolidayBase, year: int) -> dt.date:
        days = [d for d, name in cn.items() if d.year == year and _SPRING_FESTIVAL_NAME in
                name.split("; ") and "observed" not in name]
        if days:
            return min(days)
        from holidays.calendars.chinese import _ChineseLunisolar  # fallback, private API

        return _ChineseLunisolar().lunar_new_year_date(year)[0]

    def _golden_days(self, years: Iterable[int]) -> set[dt.date]:
        days: set[dt.date] = set()
        if not self._golden:
            return days
        nd = self._golden.get("national_day")
        sf = self._golden.get("spring_festival_days")
        for y in years:
            if nd:
                (m0, d0), (m1, d1) = (tuple(int(x) for x in str(v).split("-")) for v in nd)
                a, b = dt.date(y, m0, d0), dt.date(y, m1, d1)
                days.update(a + dt.timedelta(days=k) for k in range((b - a).days + 1))
            if sf:
                festival = self._spring[y]
                days.update(festival + dt.timedelta(days=k) for k in range(sf[0], sf[1] + 1))
        return days

    def _is_off(self, d: dt.date) -> bool:
        if d in self._holidays:
            return True
        return d.weekday() >= 5 and d not in self._makeup

    def _base_codes(self, first: dt.date, n_days: int) -> list[int]:
        codes = []
        for i in range(n_days):
            d = first + dt.timedelta(days=i)
            if d in self._holidays or (self._is_off(d) and self._in_holiday_run(d)):
                codes.append(HOLIDAY)
            elif d.weekday() >= 5 and d not in self._makeup:
                codes.append(WEEKEND)
            else:
                codes.append(WORKDAY)
        return codes

    def _in_holiday_run(self, d: dt.date) -> bool:
        """Whether the unbroken run of days off containing ``d`` holds a public holiday."""
        one = dt.timedelta(days=1)
        for step in (one, -one):
            x = d + step
            while self._is_off(x):
                if x in self._holidays:
                    return True
                x += step
        return False

    def _with_shutdown(
        self, base: list[int], first: dt.date, window: tuple[int, int] | None
    ) -> list[int]:
        codes = list(base)
        if window is None:
            return codes
        lo, hi = window
        for festival in self._spring.values():
            for k in range(lo, hi + 1):
                i = (festival + dt.timedelta(days=k)).toordinal() - first.toordinal()
                if 0 <= i < len(codes):
                    codes[i] = SHUTDOWN
        return codes

    def _extend(self, local_day: int) -> None:
        year = dt.date.fromordinal(local_day + EPOCH_ORDINAL).year
        self._y0, self._y1 = min(self._y0, year), max(self._y1, year)
        self._fixed_offset_s = self._find_fixed_offset(self._y0, self._y1)
        self._build()

    # ------------------------------------------------------------------ queries
    def utc_offset_s(self, epoch_s: int) -> int:
        """UTC offset of local time at ``epoch_s`` (s)."""
        if self._fixed_offset_s is not None:
            return self._fixed_offset_s
        off = dt.datetime.fromtimestamp(epoch_s, self._tz).utcoffset()
        return int(off.total_seconds()) if off is not None else 0

    def locate(self, epoch_s: float) -> tuple[int, float]:
        """Local day (days since 1970-01-01, local) and seconds into that local day."""
        loc = epoch_s + self.utc_offset_s(int(epoch_s))
        day = int(loc // SECONDS_PER_DAY)
        return day, loc - day * SECONDS_PER_DAY

    def local_hour(self, epoch_s: int) -> float:
        """Local time of day (h, in [0, 24))."""
        return self.locate(epoch_s)[1] / 3600.0

    def local_date(self, epoch_s: int) -> dt.date:
        """Local calendar date at ``epoch_s``."""
        return dt.date.fromordinal(self.locate(epoch_s)[0] + EPOCH_ORDINAL)

    def day_code(self, local_day: int, kind: str | None = None) -> int:
        """Day-type code (index into :data:`DAY_TYPES`) of a local day for an enterprise kind.

        ``kind=None`` uses the ``"default"`` shutdown window; a kind without a window
        (e.g. ``"datacentre"``) or not listed never gets ``"shutdown"``.
        """
        i = local_day - self._day0
        codes = self._codes.get(kind, self._none_codes)
        if i < 0 or i >= len(codes):
            self._extend(local_day)
            return self.day_code(local_day, kind)
        return codes[i]

    def day_type(self, epoch_s: int, kind: str | None = None) -> str:
        """Day type at ``epoch_s``: ``"workday"``, ``"weekend"``, ``"holiday"`` or ``"shutdown"``."""
        return DAY_TYPES[self.day_code(self.locate(epoch_s)[0], kind)]

    def spring_festival(self, year: int) -> dt.date:
        """Date of 正月初一 (lunar New Year's day) in ``year``."""
        if year not in self._spring:
            self._extend(dt.date(year, 6, 1).toordinal() - EPOCH_ORDINAL)
        return self._spring[year]

    def shutdown_window(self, kind: str | None = None) -> tuple[int, int] | None:
        """Spring Festival shutdown window of ``kind`` (days from 正月初一, inclusive)."""
        return self._windows.get("default" if kind is None else kind)


class DayProfile:
    """Piecewise-constant per-minute profiles, one per day type, integrated over steps.

    Parameters
    ----------
    minutes : sequence of 4 sequences of 1440 floats
        Value in each local minute for workday, weekend, holiday, shutdown.
    """

    def __init__(self, minutes: Sequence[Sequence[float]]) -> None:
        if len(minutes) != len(DAY_TYPES):
            raise ValueError("DayProfile needs one profile per day type")
        self._vals: list[list[float]] = []
        self._cum: list[list[float]] = []
        self._arrays: Any = None  # both as arrays, for :meth:`means`
        for prof in minutes:
            vals = [float(v) for v in prof]
            if len(vals) != MINUTES_PER_DAY:
                raise ValueError("each day-type profile needs 1440 minute values")
            cum = [0.0]
            for v in vals:
                cum.append(cum[-1] + 60.0 * v)
            self._vals.append(vals)
            self._cum.append(cum)

    def day_integral(self, code: int) -> float:
        """Integral over a whole day of type ``code`` (value x s)."""
        return self._cum[code][-1]

    def _at(self, code: int, sod: float) -> float:
        """Integral from local midnight to ``sod`` seconds (value x s)."""
        m = int(sod // 60)
        if m >= MINUTES_PER_DAY:
            return self._cum[code][-1]
        return self._cum[code][m] + (sod - 60 * m) * self._vals[code][m]

    def integral(
        self, calendar: ParkCalendar, epoch_s: int, dt_s: float, kind: str | None = None
    ) -> float:
        """Integral of the profile over ``[epoch_s, epoch_s + dt_s)`` (value x s)."""
        day, sod = calendar.locate(epoch_s)
        end = sod + dt_s
        if end <= SECONDS_PER_DAY:
            code = calendar.day_code(day, kind)
            return self._at(code, end) - self._at(code, sod)
        total = 0.0
        while dt_s > 0:
            code = calendar.day_code(day, kind)
            span = min(dt_s, SECONDS_PER_DAY - sod)
            total += self._at(code, sod + span) - self._at(code, sod)
            dt_s -= span
            day, sod = day + 1, 0.0
        return total

    def mean(
        self, calendar: ParkCalendar, epoch_s: int, dt_s: float, kind: str | None = None
    ) -> float:
        """Mean of the profile over ``[epoch_s, epoch_s + dt_s)``."""
        return self.integral(calendar, epoch_s, dt_s, kind) / dt_s

    def means(
        self, calendar: ParkCalendar, epochs_s: Sequence[int], dt_s: int, kind: str | None = None
    ) -> Any:
        """:meth:`mean` of each step of ``dt_s`` starting at ``epochs_s``, as an array (the
        same numbers: :meth:`integrals` over ``dt_s``)."""
        return self.integrals(calendar, epochs_s, dt_s, kind) / dt_s

    def integrals(
        self, calendar: ParkCalendar, epochs_s: Sequence[int], dt_s: int, kind: str | None = None
    ) -> Any:
        """:meth:`integral` of each step of ``dt_s`` starting at ``epochs_s``, as an array:
        the same operations elementwise (the same numbers) where the steps are whole seconds
        in a calendar of a fixed UTC offset and none crosses local midnight; else one
        :meth:`integral` per step."""
        import numpy as np  # here: the calendar itself stays light

        offset = calendar._fixed_offset_s
        e = np.asarray(epochs_s)
        if offset is None or e.dtype.kind != "i" or not isinstance(dt_s, int) or not e.size:
            return np.array([self.integral(calendar, int(x), dt_s, kind) for x in epochs_s])
        loc = e + offset
        day = loc // SECONDS_PER_DAY
        sod = loc - day * SECONDS_PER_DAY
        end = sod + dt_s
        if (end > SECONDS_PER_DAY).any():
            return np.array([self.integral(calendar, int(x), dt_s, kind) for x in epochs_s])
        if self._arrays is None:
            self._arrays = (np.array(self._cum), np.array(self._vals))
        cum, vals = self._arrays
        first, last_day = int(day.min()), int(day.max())
        if first == last_day:  # a block inside a day: one day type
            code: Any = calendar.day_code(first, kind)
        else:
            codes = {d: calendar.day_code(d, kind) for d in range(first, last_day + 1)}
            code = np.array([codes[d] for d in day.tolist()])

        def at(t: Any) -> Any:  # _at, elementwise
            m = t // 60
            last = MINUTES_PER_DAY - 1
            mm = np.minimum(m, last)
            return np.where(m > last, cum[code, -1], cum[code, mm] + (t - 60 * mm) * vals[code, mm])

        return at(end) - at(sod)


def hourly_to_minutes(hourly: Sequence[float]) -> list[float]:
    """Expand 24 hourly values to 1440 minute values (step function)."""
    if len(hourly) != 24:
        raise ValueError("expected 24 hourly values")
    return [float(hourly[m // 60]) for m in range(MINUTES_PER_DAY)]
