"""The device interface and its implementations: one real and one simulated per kind.

Every device offers the same small interface (all I/O methods are coroutines; real devices
run them on an I/O thread, never on mosaik's event loop)::

    await open()               connect, discover; identity and ratings
    await read()               measurements in the twin's names and units (p_mw, soc, ...)
    await write(setpoints)     setpoints in the twin's names and units ({"p_set_mw": 1.5})
    await arm(revert_s) / disarm() / safe()     enable setpoints / disable / go to 0 MW
    health()                   online, answers, errors, last error
    await close()

=========  ================================  =======================================
kind       real                              simulated
=========  ================================  =======================================
battery    :class:`SunSpecBattery` (Modbus)   :class:`SimBattery` (:mod:`twin.models.battery`)
pv         :class:`SunSpecPV` (Modbus)        -
meter      :class:`ModbusMeter` (Modbus map   :class:`SimMeter` (the twin's load)
           or SunSpec 201-204 / 701)
camera     :class:`hil.camera.CameraDevice`   :class:`hil.camera.SimCamera`
=========  ================================  =======================================

Swapping one for the other is the binding's ``device:`` line (``modbus://...``,
``rtu:///dev/ttyX?baud=19200&unit=1`` or ``sim``).

SunSpec devices are bound by what they have: discovery finds the models, and the device uses
the ones there (a battery's control is 704, with 802's connect and controller heartbeat
where the device has 802; a PV inverter's curtailment is 704's WMaxLimPct or the legacy 123's).
A read-only device (``read_only=True``, the binding's ``mode: read-only``) reads and never
writes: ``write``, ``arm``, ``disarm`` and ``safe`` do nothing, and its link refuses any
write that would get past them. A device whose heartbeat stays the same over
``frozen_reads`` reads and longer than twice its period (SunSpec: the heartbeat advances
every second) is not alive: the read fails with status ``stale``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from hil import points as pts
from hil.faults import CommError, LinkFaults
from hil.modbus import Link, PointClient, Refused
from twin.models import battery as bat

ENABLED, WATTS_MODE, CONNECT = 1, 1, 1


@dataclass
class Health:
    """How a device has been answering."""

    online: bool = False
    answers: int = 0
    errors: int = 0
    last_error: str = ""


class Device(Protocol):
    """The interface every bound device offers."""

    kind: str

    async def open(self) -> dict[str, Any]: ...

    async def read(self) -> dict[str, float]: ...

    async def write(self, setpoints: Mapping[str, float]) -> None: ...

    async def arm(self, revert_s: float) -> None: ...

    async def disarm(self) -> None: ...

    async def safe(self) -> None: ...

    def health(self) -> Health: ...

    async def close(self) -> None: ...


class _Counted:
    """Bookkeeping of answers and errors shared by the real devices."""

    def __init__(self) -> None:
        self._health = Health()

    async def _do(self, coro: Any) -> Any:
        try:
            result = await coro
        except CommError as exc:
            self._health = dataclasses.replace(self._health, online=False,
                                               errors=self._health.errors + 1,
                                               last_error=str(exc))
            raise
        self._health = dataclasses.replace(self._health, online=True,
                                           answers=self._health.answers + 1)
        return result

    def health(self) -> Health:
        return self._health


class ReadOnly:
    """What a device that only measures does with commands: refuse setpoints, nothing to arm."""

    kind = "device"

    async def write(self, setpoints: Mapping[str, float]) -> None:
        if setpoints:
            raise Refused(f"a {self.kind} takes no setpoints, got {sorted(setpoints)}")

    async def arm(self, revert_s: float) -> None:
        return None

    async def disarm(self) -> None:
        return None

    async def safe(self) -> None:
        return None


class HeartbeatCheck:
    """A device's heartbeat must change to count as alive: unchanged over ``reads`` reads
    and longer than ``2 * period_s`` is a fault (the first read only sets the value)."""

    def __init__(self, reads: int = 3, period_s: float = 1.0,
                 clock: Any = time.monotonic) -> None:
        self.reads = reads
        self.period_s = period_s
        self.clock = clock
        self.value: float | None = None
        self.same = 0
        self.changed_s = 0.0

    def check(self, value: float | None) -> None:
        """Take a read heartbeat; :class:`CommError` ``stale`` when it is frozen."""
        if value is None:
            return
        now = self.clock()
        if value != self.value:
            self.value, self.same, self.changed_s = value, 0, now
            return
        self.same += 1
        if self.same >= self.reads and now - self.changed_s > 2 * self.period_s:
            raise CommError("stale", f"heartbeat frozen at {value:g} over {self.same + 1} "
                            f"reads ({now - self.changed_s:.1f} s)")

    def reset(self) -> None:
        self.value, self.same = None, 0


class _ModbusDevice(_Counted):
    """A device over Modbus (TCP or RTU) whose registers its point list (``kind``) gives."""

    kind = "device"

    def __init__(self, url: str, plist: pts.PointList | None = None, timeout_s: float = 0.3,
                 faults: LinkFaults | None = None, read_only: bool = False,
                 frozen_reads: int = 3, heartbeat_s: float = 1.0) -> None:
        super().__init__()
        self.read_only = read_only
        self.link = Link(url, timeout_s, faults, read_only=read_only)
        self.client = PointClient(self.link, plist or pts.load(self.kind))
        self.heartbeat = HeartbeatCheck(frozen_reads, heartbeat_s)

    async def open(self) -> dict[str, Any]:
        self.link.faults.rebooted = False
        self.heartbeat.reset()
        info = await self._do(self.client.discover())
        return {**info, "read_only": self.read_only}

    async def read(self) -> dict[str, float]:
        return await self._do(self._read())

    async def _read(self) -> dict[str, float]:
        reading = await self.client.read()
        self.heartbeat.check(reading.get("heartbeat"))
        return reading

    async def _control(self, values: Mapping[str, float]) -> None:
        """Write the values the device has points for (none when read-only)."""
        if self.read_only:
            return
        present = {k: v for k, v in values.items() if self.client.has(k)}
        if present:
            await self._do(self.client.write(present))

    async def close(self) -> None:
        self.link.close()


class SunSpecBattery(_ModbusDevice):
    """A battery inverter speaking SunSpec: measurement 701 (or 103), control 704, and where
    the device has them 702 ratings, 713 storage capacity, 802 battery (connect, heartbeat)."""

    kind = "battery"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ctrl_beat = 0
        self.ctrl_beat_s = -math.inf

    async def write(self, setpoints: Mapping[str, float]) -> None:
        if self.read_only:
            return
        values = dict(self.client.setpoint_si(k, v) for k, v in setpoints.items())
        now = time.monotonic()
        if self.client.has("802.CtrlHb") and now - self.ctrl_beat_s >= 1.0:  # every second
            self.ctrl_beat = (self.ctrl_beat + 1) & 0xFFFF
            self.ctrl_beat_s = now
            values["802.CtrlHb"] = self.ctrl_beat
        await self._do(self.client.write(values))

    async def arm(self, revert_s: float) -> None:
        await self._control({
            "704.WSetMod": WATTS_MODE, "704.WSetRvrt": 0.0, "704.WSetRvrtTms": revert_s,
            "704.WSetEnaRvrt": ENABLED, "704.WSet": 0.0, "704.WSetEna": ENABLED,
            "802.SetOp": CONNECT})

    async def disarm(self) -> None:
        await self._control({"704.WSet": 0.0, "704.WSetEna": 0})

    async def safe(self) -> None:
        await self._control({"704.WSet": 0.0})


class SunSpecPV(_ModbusDevice):
    """A PV inverter speaking SunSpec: measurement 701 (or 103), curtailment by the active
    power limit WMaxLimPct of 704 (or the legacy 123). Setpoints: ``p_limit_pct`` (percent of
    the rating) or ``p_limit_mw`` (needs the rating: 702.WMaxRtg or 120.WRtg). The device
    reverts to 100 % (no limit) by itself when no setpoint comes; its safe state is 0 %."""

    kind = "pv"

    async def write(self, setpoints: Mapping[str, float]) -> None:
        if self.read_only:
            return
        pct = dict(setpoints)
        if "p_limit_mw" in pct:
            rating = next((self.client.ratings[k] for k in ("702.WMaxRtg", "120.WRtg")
                           if self.client.ratings.get(k)), None)
            if rating is None:
                raise Refused("p_limit_mw needs the inverter's rating (702.WMaxRtg or "
                              "120.WRtg), which it does not state; use p_limit_pct")
            pct["p_limit_pct"] = 100.0 * pct.pop("p_limit_mw") * 1e6 / rating
        values = dict(self.client.setpoint_si(k, v) for k, v in pct.items())
        await self._do(self.client.write(values))

    async def arm(self, revert_s: float) -> None:
        await self._control({"704.WMaxLimPctRvrt": 100.0, "704.WMaxLimPctRvrtTms": revert_s,
                             "704.WMaxLimPctEnaRvrt": ENABLED, "704.WMaxLimPct": 100.0,
                             "704.WMaxLimPctEna": ENABLED, "123.WMaxLimPct_RvrtTms": revert_s,
                             "123.WMaxLimPct": 100.0, "123.WMaxLim_Ena": ENABLED})

    async def disarm(self) -> None:
        await self._control({"704.WMaxLimPctEna": 0, "123.WMaxLim_Ena": 0})

    async def safe(self) -> None:
        await self._control({"704.WMaxLimPct": 0.0, "123.WMaxLimPct": 0.0})


class ModbusMeter(ReadOnly, _ModbusDevice):
    """A power meter over Modbus (its point list gives the registers; SunSpec 201-204 or 701
    with protocol sunspec)."""

    kind = "meter"


class SimBattery:
    """The simulated battery behind the same interface (the twin's own model)."""

    kind = "battery"

    def __init__(self, spec: bat.BatterySpec, step_s: float = 1.0) -> None:
        self.spec = spec
        self.step_s = step_s
        self.state = bat.initial_state(spec)
        self.p_set_mw = 0.0
        self.armed = False
        self.last = bat.BatteryStep(0.0, 0.0, spec.soc_init, self.state.e_mwh, 0.0)
        self.beat = 0

    def reset(self, soc: float | None) -> None:
        """Start from ``soc`` (the device's last measured state) when taking over."""
        if soc is not None:
            e = min(max(soc, 0.0), 1.0) * self.spec.e_max_mwh
            self.state = dataclasses.replace(self.state, e_mwh=e)
            self.last = dataclasses.replace(self.last, soc=e / self.spec.e_max_mwh, e_mwh=e)

    def advance(self, dt_s: float) -> bat.BatteryStep:
        """Run the model over ``dt_s`` with the present setpoint."""
        p = self.p_set_mw if self.armed else 0.0
        self.state, self.last = bat.step(self.spec, self.state, p, dt_s)
        self.beat += 1
        return self.last

    async def open(self) -> dict[str, Any]:
        return {"identity": {"Md": "simulated battery (twin.models.battery)"},
                "ratings": {"p_max_mw": self.spec.p_max_mw, "e_max_mwh": self.spec.e_max_mwh}}

    async def read(self) -> dict[str, float]:
        r = self.last
        return {"p_mw": r.p_mw, "soc": r.soc, "e_mwh": r.e_mwh, "heartbeat": float(self.beat),
                "p_set_mw": self.p_set_mw}

    async def write(self, setpoints: Mapping[str, float]) -> None:
        self.p_set_mw = float(setpoints.get("p_set_mw", self.p_set_mw))
        self.advance(self.step_s)

    async def arm(self, revert_s: float) -> None:
        self.armed = True

    async def disarm(self) -> None:
        self.armed = False
        self.p_set_mw = 0.0

    async def safe(self) -> None:
        self.p_set_mw = 0.0

    def health(self) -> Health:
        return Health(online=True)

    async def close(self) -> None:
        return None


class SimMeter(ReadOnly):
    """The simulated meter: it reads the twin's own model of the load."""

    kind = "meter"

    def __init__(self) -> None:
        self.p_mw = 0.0
        self.beat = 0

    def feed(self, p_mw: float) -> None:
        """The twin's load this step."""
        self.p_mw = float(p_mw)
        self.beat += 1

    async def open(self) -> dict[str, Any]:
        return {"identity": {"Md": "simulated meter (the twin's load model)"}, "ratings": {}}

    async def read(self) -> dict[str, float]:
        return {"p_mw": self.p_mw, "heartbeat": float(self.beat)}

    def health(self) -> Health:
        return Health(online=True)

    async def close(self) -> None:
        return None


def make(kind: str, device: str, protocol: str, points: str | None, timeout_s: float,
         spec: Any = None, step_s: float = 1.0, *, read_only: bool = False
         ) -> tuple[Device, LinkFaults]:
    """The device of a binding and the fault injector on its link (``read_only``: the
    binding's ``mode: read-only``; the device never writes)."""
    faults = LinkFaults()
    if protocol == "sim":
        dev: Device = SimBattery(spec, step_s) if kind == "battery" else SimMeter()
        return dev, faults
    default = "meter-sunspec" if (kind, protocol) == ("meter", "sunspec") else kind
    plist = pts.load(points or default)
    frozen_reads = max(3, math.ceil(2.0 / step_s) + 1)
    cls = {"battery": SunSpecBattery, "pv": SunSpecPV, "meter": ModbusMeter}.get(kind)
    if cls is None:
        raise ValueError(f"no device of kind {kind!r} over {protocol!r}")
    dev = cls(device, plist, timeout_s, faults, read_only=read_only, frozen_reads=frozen_reads)
    return dev, faults
