"""The safety layer between the twin's controller and a device: it holds whatever is asked.

- :class:`Interlock` turns the controller's command into the setpoint actually sent: nothing
  but the safe state (0 MW) unless armed and not emergency-stopped; clamped to the power
  limits; ramp-limited; and, last, no charging above ``soc_max`` nor discharging below
  ``soc_min`` (on the device's own measured SOC). It reports which interlocks acted.
- :class:`Watchdog` trips when no fresh data came for ``stale_after`` seconds: no answer, or
  answers whose heartbeat (or, without one, whose whole reading) stopped changing.
- :class:`Follower` tells when a device does not follow its setpoint: measured power outside
  a band around what was sent, for longer than a window.

Both are pure: they see numbers and wall times, never sockets, so a replayed trace drives
them to the same decisions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SAFE_MW = 0.0


@dataclass(frozen=True)
class Limits:
    """What the safety layer allows: power window, ramp, SOC window."""

    p_min_mw: float
    p_max_mw: float
    ramp_mw_per_s: float | None = None
    soc_min: float | None = None
    soc_max: float | None = None


@dataclass
class Interlock:
    """Setpoint filter with arm/disarm and a latched emergency stop.

    The ramp limit holds in wall-clock time at the device: a new setpoint may differ from what
    the device may hold now by at most ``ramp_mw_per_s`` times the wall seconds since a
    setpoint last (possibly) reached it (at most one step's worth) - not times the simulation
    step, so steps that run back to back after a stall change the setpoint little. What the device may hold is the
    interval ``[lo_mw, hi_mw]``: one value after a confirmed write (:meth:`confirm`), wider
    after a write whose fate is unknown (:meth:`maybe`), and including the safe state once
    the device's own reversion (``revert_s``) may have acted. Without wall times (``now_s``
    None) the step ``dt_s`` is the time since the last command, as in a simulation.
    """

    limits: Limits
    armed: bool = False
    estopped: bool = False
    revert_s: float | None = None
    lo_mw: float = SAFE_MW
    hi_mw: float = SAFE_MW
    last_s: float | None = None  # wall time of the last (possible) write
    confirmed_s: float | None = None  # wall time of the last confirmed write

    @property
    def last_mw(self) -> float:
        """The setpoint the device holds (the middle of what it may hold)."""
        return 0.5 * (self.lo_mw + self.hi_mw)

    def command(self, cmd_mw: float, soc: float | None, dt_s: float,
                now_s: float | None = None) -> tuple[float, set[str]]:
        """The setpoint to send for the controller's ``cmd_mw`` and the interlocks that acted.

        ``now_s``: the wall time it goes out (earliest); then the caller reports what became of
        it with :meth:`confirm` or :meth:`maybe`."""
        if self.estopped:
            return self._held(SAFE_MW, now_s), {"estop"}
        if not self.armed:
            return self._held(SAFE_MW, now_s), {"disarmed"}
        acted: set[str] = set()
        p = float(cmd_mw)
        if not math.isfinite(p):
            p, acted = SAFE_MW, {"invalid"}
        lim = self.limits
        if p > lim.p_max_mw or p < lim.p_min_mw:
            p = min(max(p, lim.p_min_mw), lim.p_max_mw)
            acted.add("clamp")
        if lim.ramp_mw_per_s is not None:
            lo, hi, elapsed = self._reference(now_s, dt_s)
            step = lim.ramp_mw_per_s * elapsed
            low, high = hi - step, lo + step
            # what the device holds is unsure and wide: the end nearest the safe state
            ramped = min(max(p, low), high) if low <= high else min((low, high), key=abs)
            if ramped != p:
                p = ramped
                acted.add("ramp")
        # the SOC guard comes last: a full (empty) battery is not charged (discharged) further,
        # not even while ramping down
        if p > 0 and (soc is None or (lim.soc_max is not None and soc >= lim.soc_max)):
            p = SAFE_MW
            acted.add("soc_guard")
        if p < 0 and (soc is None or (lim.soc_min is not None and soc <= lim.soc_min)):
            p = SAFE_MW
            acted.add("soc_guard")
        return self._held(p, now_s), acted

    def _held(self, p: float, now_s: float | None) -> float:
        if now_s is None:  # no wall clock: the command counts as sent at once
            self.lo_mw = self.hi_mw = p
        return p

    def _reference(self, now_s: float | None, dt_s: float) -> tuple[float, float, float]:
        """What the device may hold and the seconds since it may have changed."""
        if now_s is None:
            return self.lo_mw, self.hi_mw, dt_s
        if self.last_s is None:
            return self.lo_mw, self.hi_mw, 0.0
        elapsed = max(0.0, now_s - self.last_s)
        lo, hi = self.lo_mw, self.hi_mw
        sure = self.confirmed_s if self.confirmed_s is not None else self.last_s
        if self.revert_s is not None and now_s - sure >= self.revert_s:  # may have reverted
            lo, hi = min(lo, SAFE_MW), max(hi, SAFE_MW)
        return lo, hi, min(elapsed, dt_s)  # after a stall: no bigger jump than a step's

    def confirm(self, p_mw: float, at_s: float) -> None:
        """The device answered after ``p_mw`` was written (``at_s``: latest it landed)."""
        self.lo_mw = self.hi_mw = float(p_mw)
        self.last_s = self.confirmed_s = at_s

    def maybe(self, p_mw: float, at_s: float) -> None:
        """``p_mw`` may have reached the device (the exchange failed after sending it)."""
        self.lo_mw, self.hi_mw = min(self.lo_mw, p_mw), max(self.hi_mw, p_mw)
        self.last_s = at_s

    def arm(self, at_s: float | None = None) -> None:
        """Allow setpoints (ramping up from the safe state, written at ``at_s``)."""
        if not self.estopped:
            self.armed = True
            self.lo_mw = self.hi_mw = SAFE_MW
            self.last_s = self.confirmed_s = at_s

    def disarm(self) -> None:
        """Send only the safe state from now on."""
        self.armed = False

    def estop(self) -> None:
        """Emergency stop: safe state, disarmed, latched for the rest of the run."""
        self.estopped = True
        self.disarm()


@dataclass
class Watchdog:
    """Trips when data stops being fresh for longer than ``stale_after_s``."""

    stale_after_s: float
    last_ok_s: float | None = None  # wall time of the last answer
    last_change_s: float | None = None  # wall time the heartbeat (or reading) last changed
    last_beat: Any = None
    started_s: float | None = None

    def update(self, wall_s: float, ok: bool, reading: Mapping[str, float] | None) -> str | None:
        """Take one exchange; return why the data is not fresh (None: it is)."""
        if self.started_s is None:
            self.started_s = wall_s
        if ok and reading is not None:
            beat = reading.get("heartbeat", tuple(sorted(reading.items())))
            if self.last_ok_s is None or beat != self.last_beat:
                self.last_change_s = wall_s
            self.last_beat = beat
            self.last_ok_s = wall_s
        since_ok = wall_s - (self.last_ok_s if self.last_ok_s is not None else self.started_s)
        if since_ok > self.stale_after_s:
            return f"no answer for {since_ok:.2f} s"
        if self.last_change_s is not None and wall_s - self.last_change_s > self.stale_after_s:
            what = "heartbeat" if reading is not None and "heartbeat" in reading else "reading"
            return f"stale data: {what} unchanged for {wall_s - self.last_change_s:.2f} s"
        return None


@dataclass
class Follower:
    """Whether a device follows its setpoints: the measured power may lag one setpoint (it is
    judged against the last two sent) and stray ``band_mw``; outside that for ``window_s``
    of wall time it does not follow."""

    band_mw: float
    window_s: float
    since_s: float | None = None  # wall time the power left the band
    off: bool = False
    prev_mw: float | None = None

    def update(self, wall_s: float, sent_mw: float | None, p_mw: float | None
               ) -> tuple[str, float] | None:
        """Take one step's setpoint (None: none went out) and measurement (None: no answer);
        ``("not_following", seconds)`` or ``("following", seconds)`` when that changes."""
        if sent_mw is None or p_mw is None or not math.isfinite(p_mw):
            return None
        ref = (sent_mw, sent_mw if self.prev_mw is None else self.prev_mw)
        self.prev_mw = sent_mw
        if min(ref) - self.band_mw <= p_mw <= max(ref) + self.band_mw:
            since, self.since_s = self.since_s, None
            if self.off:
                self.off = False
                return "following", wall_s - (since if since is not None else wall_s)
            return None
        if self.since_s is None:
            self.since_s = wall_s
        if not self.off and wall_s - self.since_s >= self.window_s:
            self.off = True
            return "not_following", wall_s - self.since_s
        return None

    def reset(self) -> None:
        """Forget the history (after a takeover or a re-arm)."""
        self.since_s, self.off, self.prev_mw = None, False, None
