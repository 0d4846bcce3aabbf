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
meter      :class:`ModbusMeter`               :class:`SimMeter` (the twin's load)
camera     :class:`hil.camera.CameraDevice`   :class:`hil.camera.SimCamera`
=========  ================================  =======================================

Swapping one for the other is the binding's ``device:`` line (``modbus://...`` or ``sim``).
"""

from __future__ import annotations

import dataclasses
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


class _ModbusDevice(_Counted):
    """A device over Modbus TCP whose registers its point list (``kind``) gives."""

    kind = "device"

    def __init__(self, url: str, plist: pts.PointList | None = None, timeout_s: float = 0.3,
                 faults: LinkFaults | None = None) -> None:
        super().__init__()
        self.link = Link(url, timeout_s, faults)
        self.client = PointClient(self.link, plist or pts.load(self.kind))

    async def open(self) -> dict[str, Any]:
        self.link.faults.rebooted = False
        return await self._do(self.client.discover())

    async def read(self) -> dict[str, float]:
        return await self._do(self.client.read())

    async def close(self) -> None:
        self.link.close()


class SunSpecBattery(_ModbusDevice):
    """A battery inverter over Modbus TCP speaking SunSpec (models 1, 701, 702, 704, 713, 802)."""

    kind = "battery"

    async def write(self, setpoints: Mapping[str, float]) -> None:
        values = dict(self.client.setpoint_si(k, v) for k, v in setpoints.items())
        await self._do(self.client.write(values))

    async def arm(self, revert_s: float) -> None:
        await self._do(self.client.write({
            "704.WSetMod": WATTS_MODE, "704.WSetRvrt": 0.0, "704.WSetRvrtTms": revert_s,
            "704.WSetEnaRvrt": ENABLED, "704.WSet": 0.0, "704.WSetEna": ENABLED,
            "802.SetOp": CONNECT}))

    async def disarm(self) -> None:
        await self._do(self.client.write({"704.WSet": 0.0, "704.WSetEna": 0}))

    async def safe(self) -> None:
        await self._do(self.client.write({"704.WSet": 0.0}))


class ModbusMeter(ReadOnly, _ModbusDevice):
    """A power meter over Modbus TCP (its point list gives the registers)."""

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
         spec: Any = None, step_s: float = 1.0) -> tuple[Device, LinkFaults]:
    """The device of a binding and the fault injector on its link."""
    faults = LinkFaults()
    plist = pts.load(points or kind) if protocol != "sim" else None
    if protocol == "sim":
        dev: Device = SimBattery(spec, step_s) if kind == "battery" else SimMeter()
    elif kind == "battery":
        dev = SunSpecBattery(device, plist, timeout_s, faults)
    elif kind == "meter":
        dev = ModbusMeter(device, plist, timeout_s, faults)
    else:
        raise ValueError(f"no device of kind {kind!r} over {protocol!r}")
    return dev, faults
