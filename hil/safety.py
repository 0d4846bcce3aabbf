"""The safety layer between the twin's controller and a device: it holds whatever is asked.

- :class:`Interlock` turns the controller's command into the setpoint actually sent: nothing
  but the safe state (0 MW) unless armed and not emergency-stopped; clamped to the power
  limits; ramp-limited; and, last, no charging above ``soc_max`` nor discharging below
  ``soc_min`` (on the device's own measured SOC). It reports which interlocks acted.
- :class:`Watchdog` trips when no fresh data came for ``stale_after`` seconds: no answer, or
  answers whose heartbeat (or, without one, whose whole reading) stopped changing.

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
    """Setpoint filter with arm/disarm and a latched emergency stop."""

    limits: Limits
    armed: bool = False
    estopped: bool = False
    last_mw: float = SAFE_MW

    def command(self, cmd_mw: float, soc: float | None, dt_s: float) -> tuple[float, set[str]]:
        """The setpoint to send for the controller's ``cmd_mw`` and the interlocks that acted."""
        if self.estopped:
            self.last_mw = SAFE_MW
            return SAFE_MW, {"estop"}
        if not self.armed:
            self.last_mw = SAFE_MW
            return SAFE_MW, {"disarmed"}
        acted: set[str] = set()
        p = float(cmd_mw)
        if not math.isfinite(p):
            p, acted = SAFE_MW, {"invalid"}
        lim = self.limits
        if p > lim.p_max_mw or p < lim.p_min_mw:
            p = min(max(p, lim.p_min_mw), lim.p_max_mw)
            acted.add("clamp")
        if lim.ramp_mw_per_s is not None:
            step = lim.ramp_mw_per_s * dt_s
            ramped = min(max(p, self.last_mw - step), self.last_mw + step)
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
        self.last_mw = p
        return p, acted

    def arm(self) -> None:
        """Allow setpoints (ramping up from the safe state)."""
        if not self.estopped:
            self.armed = True
            self.last_mw = SAFE_MW

    def disarm(self) -> None:
        """Send only the safe state from now on."""
        self.armed = False
        self.last_mw = SAFE_MW

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
