"""Fault injection on the link to a device, scheduled at simulation times.

The scenario's ``hil.faults`` list (:class:`twin.scenario.hil.FaultSpec`) opens windows in which the
link misbehaves the way wires and devices do:

- ``latency``: every request waits ``delay`` more before it goes out;
- ``drop``: requests are lost (the device sees nothing, the client times out);
- ``corrupt``: answers arrive with the high bit of every register flipped (the client's
  plausibility check on the point list's limits must catch them);
- ``stuck``: answers repeat the last ones from before the window (frozen values and
  heartbeat: the watchdog must see stale data);
- ``reboot``: connections are refused for the window; afterwards the client reconnects and
  discovers the device afresh, which comes back disarmed.

``estop``, ``disarm`` and ``arm`` are operator actions at an instant. The faults act on the
client side of the wire, so they work the same with an emulator or real hardware.

:class:`LinkFaults` is also the last stop of a request before the wire: a setpoint write
whose step is over by then (``deadline``, on the run's wall ``clock``) is not sent
(status ``expired``), whatever held it up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from twin.scenario.hil import ACTIONS, WINDOW_FAULTS, FaultSpec


class CommError(Exception):
    """A failed exchange with a device: timeout, refused, exception answer, corrupt data."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status  # timeout, refused, exception, corrupt, dropped, rebooting,
        #                       expired (a setpoint older than its step, not sent)


@dataclass(frozen=True)
class Active:
    """The faults acting on one link during one step."""

    latency_s: float = 0.0
    drop: bool = False
    corrupt: bool = False
    stuck: bool = False
    reboot: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """The active faults' names."""
        return tuple(n for n in WINDOW_FAULTS if getattr(self, n, False)
                     or (n == "latency" and self.latency_s > 0))


def active(faults: Sequence[FaultSpec], entity: str, t_s: float) -> Active:
    """The fault windows covering simulation time ``t_s`` for ``entity``."""
    on = [f for f in faults if f.fault in WINDOW_FAULTS and f.entity in (None, entity)
          and f.at <= t_s < f.at + f.duration]
    return Active(latency_s=sum(f.delay for f in on if f.fault == "latency"),
                  drop=any(f.fault == "drop" for f in on),
                  corrupt=any(f.fault == "corrupt" for f in on),
                  stuck=any(f.fault == "stuck" for f in on),
                  reboot=any(f.fault == "reboot" for f in on))


def actions(faults: Sequence[FaultSpec], entity: str, t_s: float, step_s: float) -> list[str]:
    """Operator actions due in the step ``[t_s, t_s + step_s)`` for ``entity``."""
    return [f.fault for f in sorted(faults, key=lambda f: f.at)
            if f.fault in ACTIONS and f.entity in (None, entity) and t_s <= f.at < t_s + step_s]


class LinkFaults:
    """Applies the active faults to the requests of one link (on its I/O thread)."""

    def __init__(self) -> None:
        self.now = Active()
        self.rebooted = False  # a reboot window ended: rediscover the device
        self._frozen: dict[Hashable, list[int]] = {}
        self._in_reboot = False
        self.clock: Callable[[], float] | None = None  # the run's wall clock
        # the faults active at a wall time: a request of an exchange held past its fault
        # window goes out under the faults of when it goes out, not of when it was started
        self.schedule: Callable[[float], Active] | None = None
        self.deadline: float | None = None  # wall time after which a write is not sent

    def set(self, now: Active) -> None:
        """The faults of the coming exchange."""
        if self._in_reboot and not now.reboot:
            self.rebooted = True
        self._in_reboot = now.reboot
        self.now = now

    def current(self) -> Active:
        """The faults acting now (those set for the exchange without a schedule)."""
        if self.schedule is None or self.clock is None:
            return self.now
        return self.schedule(self.clock())

    async def before(self, key: Hashable, write: bool) -> list[int] | None:
        """Delay, lose or refuse the request; a frozen answer to return instead, or None."""
        now = self.current()
        if now.reboot:
            raise CommError("rebooting", "connection refused: the device is rebooting "
                            "(injected)")
        if now.latency_s > 0:
            await asyncio.sleep(now.latency_s)
        if write and self.deadline is not None and self.clock is not None:
            late = self.clock() - self.deadline
            if late > 0:
                raise CommError("expired", f"setpoint not sent: older than its step by "
                                f"{late * 1e3:.0f} ms")
        if now.drop:
            raise CommError("dropped", "no answer: the request was lost (injected)")
        if now.stuck and not write and key in self._frozen:
            return list(self._frozen[key])
        return None

    def after(self, key: Hashable, registers: list[int]) -> list[int]:
        """The answer as the client sees it."""
        now = self.current()
        if not now.stuck:
            self._frozen[key] = list(registers)
        if now.corrupt:
            return [r ^ 0x8000 for r in registers]
        return registers
