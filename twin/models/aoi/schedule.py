"""When the AOI line can produce: its shift windows and its stations' breakdowns.

:class:`ShiftClock` gives the production windows (merged shifts of the producing days, local
time, from ``loads_profiles.yaml`` ``shift_windows_h``) in epoch seconds; :class:`Breakdowns`
the down intervals of each station (time to failure exponential in production hours with mean
``mtbf_h``, repair exponential with mean ``mttr_min``), one schedule per station that both
fidelities of :mod:`twin.models.aoi.line` share.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Sequence

import numpy as np

from twin import data

SECONDS_PER_DAY = 86400

def overlap_s(a: float, b: float, t0: float, t1: float) -> float:
    """Seconds of ``[a, b)`` inside ``[t0, t1)``."""
    return max(0.0, min(b, t1) - max(a, t0))


def shift_windows_h(shifts: int) -> tuple[tuple[float, float], ...]:
    """The local-time shift windows (h) of a ``shifts``-shift day, as the data file gives."""
    raw = data.load("loads_profiles")["shift_windows_h"]
    return tuple((float(a), float(b)) for a, b in raw[shifts])


class ShiftClock:
    """Production windows (merged shifts of producing days) in epoch seconds, made lazily.

    ``day_type`` maps a local day number (days since 1970-01-01, local) to a day-type name;
    ``None`` makes every day a workday. ``utc_offset_s`` is the local time's offset.
    """

    def __init__(self, windows_h: Sequence[tuple[float, float]], days: Sequence[str],
                 day_type: Callable[[int], str] | None = None, utc_offset_s: int = 8 * 3600,
                 drain_s: float = 0.0, warmup_s: float = 0.0) -> None:
        self.windows_h = tuple(windows_h)
        self.days = frozenset(days)
        self.day_type = day_type
        self.utc_offset_s = utc_offset_s
        self.drain_s = drain_s
        self.warmup_s = warmup_s
        self.starts: list[float] = []
        self.ends: list[float] = []
        self._next_day: int | None = None
        #: the park's holds overlapping [t0, t1): ``(start, end, planned)`` epoch seconds, with
        #: ``planned`` whether the held time stays planned time (None: no holds)
        self.holds: Callable[[float, float], list[tuple[float, float, bool]]] | None = None

    def _ensure(self, t: float) -> None:
        if self._next_day is None:
            self._next_day = int((t + self.utc_offset_s) // SECONDS_PER_DAY) - 1
        horizon = t + 3 * SECONDS_PER_DAY
        while self._next_day * SECONDS_PER_DAY - self.utc_offset_s < horizon:
            day = self._next_day
            self._next_day += 1
            kind = self.day_type(day) if self.day_type else "workday"
            if kind not in self.days:
                continue
            base = day * SECONDS_PER_DAY - self.utc_offset_s
            for h0, h1 in self.windows_h:
                a, b = base + h0 * 3600.0, base + h1 * 3600.0
                if self.ends and a <= self.ends[-1]:
                    self.ends[-1] = max(self.ends[-1], b)
                else:
                    self.starts.append(a)
                    self.ends.append(b)

    def shift_windows(self, t0: float, t1: float) -> list[tuple[float, float]]:
        """The shifts' windows overlapping [t0, t1), unclipped, before any hold."""
        self._ensure(t1)
        i = bisect_right(self.ends, t0)
        out = []
        while i < len(self.starts) and self.starts[i] < t1:
            out.append((self.starts[i], self.ends[i]))
            i += 1
        return out

    def windows(self, t0: float, t1: float) -> list[tuple[float, float]]:
        """Production windows overlapping [t0, t1), unclipped: the shifts less the holds."""
        wins = self.shift_windows(t0, t1)
        if self.holds is None or not wins:
            return wins
        holds = sorted(self.holds(wins[0][0], wins[-1][1]))
        if not holds:
            return wins
        out = []
        for a, b in wins:
            for h0, h1, _ in holds:
                if h1 <= a or h0 >= b:
                    continue
                if h0 > a:
                    out.append((a, h0))
                a = max(a, h1)
                if a >= b:
                    break
            if a < b:
                out.append((a, b))
        return [(a, b) for a, b in out if b > t0 and a < t1]

    def planned_s(self, t0: float, t1: float) -> float:
        """Planned production time within [t0, t1) (s): the shifts less the holds that are
        not planned (a demand-response request), an outage staying planned time."""
        shifts = sum(overlap_s(a, b, t0, t1) for a, b in self.shift_windows(t0, t1))
        return shifts - self._held_s(t0, t1, planned=False)

    def held_s(self, t0: float, t1: float) -> float:
        """Shift time within [t0, t1) held by the park's events (s)."""
        return self._held_s(t0, t1, planned=None)

    def _held_s(self, t0: float, t1: float, planned: bool | None) -> float:
        if self.holds is None:
            return 0.0
        wins = self.shift_windows(t0, t1)
        prod = sum(overlap_s(a, b, t0, t1) for a, b in self.windows(t0, t1))
        total = sum(overlap_s(a, b, t0, t1) for a, b in wins) - prod
        if planned is None or total <= 0:
            return total
        same = [(h0, h1) for h0, h1, p in self.holds(t0, t1) if p == planned]
        return min(total, sum(overlap_s(max(a, h0), min(b, h1), t0, t1)
                              for a, b in wins for h0, h1 in same if h0 < b and h1 > a))

    def producing(self, t: float) -> bool:
        """Whether ``t`` lies in a production window."""
        return any(a <= t < b for a, b in self.windows(t, t + 1e-6))

    def next_start(self, t: float) -> float:
        """Start of the first production window at or after ``t`` (inf if none within a year)."""
        for days in (3, 30, 400):
            for a, _ in self.windows(t, t + days * SECONDS_PER_DAY):
                if a >= t:
                    return a
        return math.inf

    def advance(self, t: float, op_s: float) -> float:
        """The time at which ``op_s`` production seconds after ``t`` have passed."""
        while True:
            for a, b in self.windows(t, t + 30 * SECONDS_PER_DAY):
                start = max(a, t)
                if op_s <= b - start:
                    return start + op_s
                op_s -= b - start
                t = b
            nxt = self.next_start(t)
            if math.isinf(nxt):
                return math.inf
            t = nxt

    def on_warm_s(self, t0: float, t1: float) -> tuple[float, float]:
        """Seconds of [t0, t1) the stations are on (windows plus drain), and the oven warms up.

        On-windows closer than the warm-up time stay on through the gap.
        """
        on = warm = 0.0
        cur: list[float] | None = None
        for a, b in self.windows(t0 - self.drain_s - self.warmup_s, t1 + self.warmup_s):
            if cur is not None and a - cur[1] <= self.warmup_s:
                cur[1] = b + self.drain_s
                continue
            if cur is not None:
                on += overlap_s(cur[0], cur[1], t0, t1)
            warm += overlap_s(a - self.warmup_s, a, t0, t1)
            cur = [a, b + self.drain_s]
        if cur is not None:
            on += overlap_s(cur[0], cur[1], t0, t1)
        return on, warm


class Breakdowns:
    """Down intervals of each station, generated lazily from its own random stream."""

    def __init__(self, clock: ShiftClock, mtbf_h: Sequence[float], mttr_min: Sequence[float],
                 rngs: Sequence[np.random.Generator], t_start: float) -> None:
        self.clock = clock
        self.mtbf_s = [m * 3600.0 for m in mtbf_h]
        self.mttr_s = [m * 60.0 for m in mttr_min]
        self.rngs = list(rngs)
        self.starts: list[list[float]] = [[] for _ in mtbf_h]
        self.ends: list[list[float]] = [[] for _ in mtbf_h]
        self._t = [float(t_start)] * len(mtbf_h)

    def _ensure(self, k: int, t: float) -> None:
        if self.mtbf_s[k] <= 0:
            return
        while self._t[k] <= t:
            fail = self.clock.advance(self._t[k], self.rngs[k].exponential(self.mtbf_s[k]))
            if math.isinf(fail):
                self._t[k] = math.inf
                return
            repair = self.rngs[k].exponential(self.mttr_s[k]) if self.mttr_s[k] > 0 else 0.0
            self.starts[k].append(fail)
            self.ends[k].append(fail + repair)
            self._t[k] = fail + repair

    def downs(self, k: int, t0: float, t1: float) -> list[tuple[float, float]]:
        """Down intervals of station ``k`` overlapping [t0, t1)."""
        self._ensure(k, t1)
        starts, ends = self.starts[k], self.ends[k]
        i = bisect_right(ends, t0)
        out = []
        while i < len(starts) and starts[i] < t1:
            out.append((starts[i], ends[i]))
            i += 1
        return out

    def down_s(self, k: int, t0: float, t1: float) -> float:
        """Seconds station ``k`` is down within [t0, t1)."""
        return sum(overlap_s(a, b, t0, t1) for a, b in self.downs(k, t0, t1))

    def finish(self, k: int, t: float, work_s: float) -> float:
        """When ``work_s`` seconds of work started at ``t`` end (paused while down)."""
        end = t + work_s
        for a, b in self.downs(k, t, end + 30 * SECONDS_PER_DAY):
            if a >= end:
                break
            end += b - max(a, t)
        return end


# ----------------------------------------------------------------------------- common
