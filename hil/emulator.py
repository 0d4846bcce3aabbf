"""Device emulators: stand-ins for real hardware on loopback, each in its own process.

``twin emulate battery --port 5020`` serves a battery inverter over Modbus TCP speaking SunSpec
(models 1, 701, 702, 703, 704, 713, 802 of :mod:`hil.points`' list, every mandatory point of
each, or the models ``--models`` names): it has its own state of charge
(:mod:`twin.models.battery` physics), ratings, ramp, response delay and heartbeat (802.Hb,
advancing every second), follows ``704.WSet`` while ``704.WSetEna`` is enabled and it is in
service (``703.ES``), and reverts to ``704.WSetRvrt`` by itself when no setpoint arrives for
``704.WSetRvrtTms`` seconds (IEEE 1547 style reversion: the device's own answer to comm loss).
The controller's heartbeat (``802.CtrlHb``) must change to count as alive: the same value
written :data:`FROZEN_WRITES` times in a row is a comm loss, and the device reverts until it
changes. Writes outside the point list's limits are refused with Modbus exception 3 (illegal
data value), as a real inverter refuses them.

``twin emulate pv`` serves a PV inverter (701/702/703/704, or the legacy ``--models
1,103,123``) producing ``--p-mw`` under its active power limit (704.WMaxLimPct or
123.WMaxLimPct), which reverts to 100 % by itself when no setpoint comes.

``twin emulate meter --port 5021`` serves a power meter (input registers, float32) measuring a
load that varies around ``--p-mw``, with an uptime counter as heartbeat.

Every emulator serves Modbus TCP, or Modbus RTU on a serial line with ``--serial PATH``
(``--baud``): a pseudo-terminal of ``socat`` stands in for the RS-485 adapter in the tests.
Every write the emulator receives, accepted or refused, goes to its own log (``--log``, JSON
lines), so tests can check what reached the device. The state advances lazily, when a request
arrives, in sub-steps of at most 50 ms: the same result as a free-running clock.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hil import points as pts
from twin.models import battery as bat

log = logging.getLogger(__name__)

SUBSTEP_S = 0.05
WATTS_MODE = 1  # 704.WSetMod: WATTS
CONNECT, DISCONNECT = 1, 2  # 802.SetOp
INVERTER_STOPPED = 1  # 802.SetInvState
FROZEN_WRITES = 3  # the same 802.CtrlHb written this many times in a row: controller lost
V_NOMINAL = 800.0  # the emulated battery bank's DC voltage


@dataclass(frozen=True)
class BatteryParams:
    """What the emulated battery inverter is and how it behaves."""

    p_max_mw: float = 2.0
    e_max_mwh: float = 4.0
    soc_init: float = 0.5
    soc_min: float = 0.05
    soc_max: float = 0.95
    ramp_mw_per_s: float | None = None  # None: reaches a setpoint within one sub-step
    delay_s: float = 0.002  # response delay of every request
    serial: str = "EMU-0001"
    models: tuple[int, ...] | None = None  # SunSpec models served (None: the point list's)
    freeze_heartbeat_s: float | None = None  # 802.Hb stops advancing after this long


@dataclass(frozen=True)
class PVParams:
    """What the emulated PV inverter is and what it could produce."""

    p_max_mw: float = 2.0
    p_mw: float = 1.5  # available power (the sun)
    delay_s: float = 0.002
    serial: str = "EMU-PV-0001"
    models: tuple[int, ...] | None = None


@dataclass(frozen=True)
class MeterParams:
    """What the emulated meter measures."""

    p_mw: float = 5.0
    swing: float = 0.1  # relative amplitude of the slow variation
    period_s: float = 600.0
    noise: float = 0.01  # relative noise
    delay_s: float = 0.002
    seed: int = 0


def fit_sf(peak: float, limit: int) -> int:
    """The smallest scale factor k >= -3 with ``peak / 10^k <= limit``."""
    k = -3
    while peak / 10.0 ** k > limit:
        k += 1
    return k


class Log:
    """The emulator's own record of what it received (JSON lines; None: no file)."""

    def __init__(self, path: str | Path | None) -> None:
        self.file = Path(path).open("a", encoding="utf-8") if path else None  # noqa: SIM115

    def write(self, **entry: Any) -> None:
        if self.file is not None:
            self.file.write(json.dumps({"t": time.time(), **entry}) + "\n")
            self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


class RegisterDevice:
    """A register image served over Modbus: the part shared by the emulators."""

    def __init__(self, plist: pts.PointList, image: list[int], start: int, delay_s: float,
                 log_path: str | Path | None, clock: Callable[[], float] = time.monotonic):
        self.plist = plist
        self.image = image
        self.start = start
        self.delay_s = delay_s
        self.log = Log(log_path)
        self.clock = clock
        self.t_boot = clock()
        self.writable = {a: p for p in plist.points.values() if p.writable
                         for a in range(p.address, p.address + p.size)}

    def raw(self, key: str, default: Any = None) -> Any:
        """The raw value of a point (``default`` where the device does not have it)."""
        p = self.plist.points.get(key)
        if p is None:
            return default
        return pts.decode(p, self.image[p.address - self.start:p.address - self.start + p.size])

    def has(self, key: str) -> bool:
        return key in self.plist.points

    def put(self, key: str, raw: Any) -> None:
        """Set a point (nothing where the device does not have it)."""
        p = self.plist.points.get(key)
        if p is not None:
            self.image[p.address - self.start:p.address - self.start + p.size] = pts.encode(
                p, raw)

    def advance(self, now: float) -> None:
        """Bring the state up to ``now`` (monotonic seconds)."""

    def accept(self, changed: dict[str, Any], now: float) -> str | None:
        """Check and apply written points; return why they are refused (None: accepted)."""
        return "read-only device"

    async def action(self, function_code: int, start_address: int, address: int, count: int,
                     current: list[int], values: list[int] | list[bool] | None) -> Any:
        """pymodbus calls this before every request: delay, advance, check writes, serve."""
        from pymodbus.constants import ExcCodes

        if self.delay_s > 0:
            await asyncio.sleep(self.delay_s)
        now = self.clock()
        self.advance(now)
        if values:
            refused = self._write(address, [int(v) for v in values], now)
            if refused is not None:
                return ExcCodes.ILLEGAL_ADDRESS if refused.startswith("address") \
                    else ExcCodes.ILLEGAL_VALUE
        offset = start_address - self.start
        current[offset:offset + len(self.image)] = self.image
        return None

    def _write(self, address: int, values: list[int], now: float) -> str | None:
        keys = []
        for a in range(address, address + len(values)):
            p = self.writable.get(a)
            if p is None:
                reason = f"address {a} is not writable"
                self.log.write(kind="write", address=address, registers=values, accepted=False,
                               reason=reason)
                return reason
            if p.key not in keys:
                keys.append(p.key)
        before = list(self.image)
        self.image[address - self.start:address - self.start + len(values)] = values
        changed = {k: self.raw(k) for k in keys}
        reason = self.accept(changed, now)
        if reason is not None:
            self.image[:] = before
        self.log.write(kind="write", address=address, registers=values, points=changed,
                       accepted=reason is None, reason=reason)
        return reason


class SunSpecDevice(RegisterDevice):
    """A register image laid out as a SunSpec map of the models served."""

    def __init__(self, plist: pts.PointList, models: tuple[int, ...] | None,
                 raw: dict[str, Any], delay_s: float, log_path: str | Path | None,
                 clock: Callable[[], float]) -> None:
        problems = pts.check_sunspec(plist)
        if problems:
            raise pts.PointListError("; ".join(problems))
        models = tuple(models or plist.models)
        if not models or models[0] != 1:
            raise pts.PointListError(f"a SunSpec map starts with model 1, got {list(models)}")
        plist = pts.relocate(plist, pts.layout(models, plist.base))
        served = {k: v for k, v in raw.items() if k in plist.points}
        super().__init__(plist, pts.sunspec_image(plist, served), plist.base, delay_s,
                         log_path, clock)

    @staticmethod
    def static(plist: pts.PointList, sf: dict[str, int]) -> dict[str, Any]:
        """Identity and fixed scale factors of the point list ("auto" ones from ``sf``)."""
        return {k: (sf.get(k, 0) if pt.value == "auto" else pt.value)
                for k, pt in plist.points.items() if pt.value is not None}

    def ratings_si(self) -> dict[str, float]:
        return {}

    def check_limits(self, changed: dict[str, Any]) -> str | None:
        ratings = self.ratings_si()
        for key, raw in changed.items():
            p = self.plist[key]
            sf = self.raw(f"{p.model}.{p.sf}") if isinstance(p.sf, str) else p.sf
            limits = pts.limits_si(p, ratings)
            value = pts.to_si(raw, sf)
            if limits is not None and not limits[0] <= value <= limits[1]:
                return f"{key} = {value:g} {p.unit} outside {limits[0]:g}..{limits[1]:g}"
        return None


class BatteryEmulator(SunSpecDevice):
    """A battery inverter speaking SunSpec, with its own state of charge."""

    def __init__(self, params: BatteryParams, plist: pts.PointList | None = None,
                 log_path: str | Path | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        plist = plist or pts.load("battery")
        self.params = p = params
        self.spec = bat.BatterySpec(name="emulator", p_max_mw=p.p_max_mw, e_max_mwh=p.e_max_mwh,
                                    soc_min=p.soc_min, soc_max=p.soc_max, soc_init=p.soc_init)
        self.state = bat.initial_state(self.spec)
        self.p_mw = 0.0  # at the AC terminals, > 0 charging
        self.last_ctrl = clock()
        self.reverted = False
        self.ctrl_hb: int | None = None
        self.ctrl_hb_same = 0
        w = p.p_max_mw * 1e6
        self.sf = {"701.W_SF": fit_sf(1.2 * w, 32767), "702.W_SF": fit_sf(w, 65535),
                   "713.WH_SF": fit_sf(p.e_max_mwh * 1e6, 65535),
                   "802.W_SF": fit_sf(1.2 * w, 32767), "802.WHRtg_SF": fit_sf(
                       p.e_max_mwh * 1e6, 65535), "802.WChaDisChaMax_SF": fit_sf(w, 65535),
                   "802.A_SF": fit_sf(1.2 * w / V_NOMINAL, 32767),
                   "802.AHRtg_SF": fit_sf(p.e_max_mwh * 1e6 / V_NOMINAL, 65535)}
        raw = self.static(plist, self.sf)
        raw.update({k: v for k, v in self.sf.items() if k in raw})
        raw["1.SN"] = p.serial
        raw.update(self._ratings())
        raw.update({"704.WSetEna": 0, "704.WSetMod": WATTS_MODE, "704.WSet": 0,
                    "704.WSetRvrt": 0, "704.WSetEnaRvrt": 0, "704.WSetRvrtTms": 60,
                    "802.SetOp": CONNECT, "802.CtrlHb": 0, "703.ES": 1, "802.LocRemCtl": 0,
                    "802.SetInvState": 3, "802.AlmRst": 0, "802.Evt1": 0, "802.Evt2": 0,
                    "802.EvtVnd1": 0, "802.EvtVnd2": 0, "701.Alrm": 0})
        self.rated_w = w
        super().__init__(plist, p.models, raw, p.delay_s, log_path, clock)
        self.advance(self.t_boot)
        self.log.write(kind="boot", p_max_mw=p.p_max_mw, e_max_mwh=p.e_max_mwh,
                       soc=self.state.e_mwh / p.e_max_mwh, models=list(self.plist.models))

    def _ratings(self) -> dict[str, int]:
        p, sf = self.params, self.sf
        w, wh = p.p_max_mw * 1e6, p.e_max_mwh * 1e6
        rating = int(round(w / 10.0 ** sf["702.W_SF"]))
        bank = int(round(w / 10.0 ** sf["802.WChaDisChaMax_SF"]))
        return {"702.WMaxRtg": rating, "702.WChaRteMaxRtg": rating,
                "702.WDisChaRteMaxRtg": rating,
                "713.WHRtg": int(round(wh / 10.0 ** sf["713.WH_SF"])),
                "713.SoH": 1000, "802.SoCMax": int(round(p.soc_max * 1000)),
                "802.SoCMin": int(round(p.soc_min * 1000)),
                "802.WHRtg": int(round(wh / 10.0 ** sf["802.WHRtg_SF"])),
                "802.AHRtg": int(round(wh / V_NOMINAL / 10.0 ** sf["802.AHRtg_SF"])),
                "802.WChaRteMax": bank, "802.WDisChaRteMax": bank}

    def ratings_si(self) -> dict[str, float]:
        return {"702.WMaxRtg": self.rated_w, "802.WDisChaRteMax": self.rated_w}

    def setpoint_mw(self, now: float) -> float:
        """The power the device is asked for now (> 0 charging), after reversion."""
        if (self.raw("802.SetOp", CONNECT) == DISCONNECT or self.raw("703.ES", 1) == 0
                or self.raw("802.SetInvState", 3) == INVERTER_STOPPED):
            return 0.0
        rvrt_s = self.raw("704.WSetRvrtTms", 0)
        frozen = self.ctrl_hb_same >= FROZEN_WRITES
        if self.raw("704.WSetEnaRvrt") == 1 and (now - self.last_ctrl > rvrt_s or frozen):
            if not self.reverted:
                self.reverted = True
                self.log.write(kind="reverted", after_s=round(now - self.last_ctrl, 3),
                               to_w=self.raw("704.WSetRvrt"),
                               reason="controller heartbeat frozen" if frozen else "timeout")
            return -self.raw("704.WSetRvrt") * 1e-6
        if self.raw("704.WSetEna") != 1 or frozen:
            return 0.0
        return -self.raw("704.WSet") * 10.0 ** self.raw("704.WSet_SF", 0) * 1e-6

    def advance(self, now: float) -> None:
        t = getattr(self, "_t", now)
        while t < now:
            dt = min(SUBSTEP_S if now - t < 60 else 1.0, now - t)
            target = self.setpoint_mw(t + dt)
            ramp = self.params.ramp_mw_per_s
            if ramp is None:
                self.p_mw = target
            else:
                self.p_mw += max(-ramp * dt, min(ramp * dt, target - self.p_mw))
            self.state, r = bat.step(self.spec, self.state, self.p_mw, dt)
            self.p_mw = r.p_mw
            t += dt
        self._t = now
        self._publish(now)

    def heartbeat(self, now: float) -> int:
        """802.Hb: seconds since boot (stops at ``freeze_heartbeat_s`` when set)."""
        up = now - self.t_boot
        if self.params.freeze_heartbeat_s is not None:
            up = min(up, self.params.freeze_heartbeat_s)
        return int(up) & 0xFFFF

    def _publish(self, now: float) -> None:
        sf, soc = self.sf, self.state.e_mwh / self.spec.e_max_mwh
        w = -self.p_mw * 1e6
        self.put("701.W", int(round(w / 10.0 ** sf["701.W_SF"])))
        self.put("802.W", int(round(w / 10.0 ** sf["802.W_SF"])))
        self.put("802.V", int(round(V_NOMINAL * 10)))
        self.put("802.A", int(round(w / V_NOMINAL / 10.0 ** sf["802.A_SF"])))
        self.put("713.SoC", int(round(soc * 1000)))
        self.put("802.SoC", int(round(soc * 1000)))
        self.put("713.WHAvail", int(round(self.state.e_mwh * 1e6 / 10.0 ** sf["713.WH_SF"])))
        self.put("802.Hb", self.heartbeat(now))
        remaining = max(0.0, self.raw("704.WSetRvrtTms", 0) - (now - self.last_ctrl))
        self.put("704.WSetRvrtRem", int(math.ceil(remaining)))
        connected = self.raw("802.SetOp", CONNECT) != DISCONNECT and self.raw("703.ES", 1) == 1
        running = connected and abs(self.p_mw) > 0
        self.put("701.St", 1 if connected else 0)
        self.put("701.ConnSt", 1 if connected else 0)
        self.put("701.InvSt", 3 if running else 7)  # RUNNING or STANDBY
        self.put("802.State", 3 if connected else 1)  # CONNECTED or DISCONNECTED
        self.put("713.Sta", 0)

    def accept(self, changed: dict[str, Any], now: float) -> str | None:
        reason = self.check_limits(changed)
        if reason is not None:
            return reason
        if "802.CtrlHb" in changed:
            beat = changed["802.CtrlHb"]
            self.ctrl_hb_same = self.ctrl_hb_same + 1 if beat == self.ctrl_hb else 0
            if self.ctrl_hb_same == FROZEN_WRITES:
                self.log.write(kind="fault", reason=f"controller heartbeat frozen at {beat} "
                               f"over {FROZEN_WRITES + 1} writes")
            self.ctrl_hb = beat
        if changed.keys() & {"704.WSet", "704.WSetEna"} or (
                "802.CtrlHb" in changed and self.ctrl_hb_same == 0):
            self.last_ctrl = now
            if self.ctrl_hb_same < FROZEN_WRITES:
                self.reverted = False
        return None


class PVEmulator(SunSpecDevice):
    """A PV inverter speaking SunSpec: it produces what the sun gives (``p_mw``) under its
    active power limit (704.WMaxLimPct, or the legacy 123.WMaxLimPct)."""

    def __init__(self, params: PVParams, plist: pts.PointList | None = None,
                 log_path: str | Path | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        plist = plist or pts.load("pv")
        self.params = p = params
        w = p.p_max_mw * 1e6
        self.rated_w = w
        self.sf = {"701.W_SF": fit_sf(1.2 * w, 32767), "103.W_SF": fit_sf(1.2 * w, 32767),
                   "702.W_SF": fit_sf(w, 65535), "120.WRtg_SF": fit_sf(w, 65535)}
        raw = self.static(plist, self.sf)
        raw["1.SN"] = p.serial
        raw.update({"702.WMaxRtg": int(round(w / 10.0 ** self.sf["702.W_SF"])),
                    "120.WRtg": int(round(w / 10.0 ** self.sf["120.WRtg_SF"])),
                    "703.ES": 1, "704.WMaxLimPctEna": 0, "704.WMaxLimPct": 1000,
                    "704.WMaxLimPctRvrt": 1000, "704.WMaxLimPctEnaRvrt": 0,
                    "704.WMaxLimPctRvrtTms": 60, "123.Conn": 1, "123.WMaxLimPct": 1000,
                    "123.WMaxLimPct_RvrtTms": 0, "123.WMaxLim_Ena": 0})
        self.last_ctrl = clock()
        super().__init__(plist, p.models, raw, p.delay_s, log_path, clock)
        self.advance(self.t_boot)
        self.log.write(kind="boot", p_max_mw=p.p_max_mw, models=list(self.plist.models))

    def ratings_si(self) -> dict[str, float]:
        return {"702.WMaxRtg": self.rated_w, "120.WRtg": self.rated_w}

    def limit_pct(self, now: float) -> float:
        """The active power limit in force (percent of the rating)."""
        since = now - self.last_ctrl
        if self.has("704.WMaxLimPct"):
            sf = 10.0 ** self.raw("704.WMaxLimPct_SF", 0)
            if self.raw("704.WMaxLimPctEnaRvrt") == 1 and since > self.raw(
                    "704.WMaxLimPctRvrtTms"):
                return self.raw("704.WMaxLimPctRvrt") * sf
            if self.raw("704.WMaxLimPctEna") == 1:
                return self.raw("704.WMaxLimPct") * sf
        elif self.has("123.WMaxLimPct") and self.raw("123.WMaxLim_Ena") == 1:
            rvrt = self.raw("123.WMaxLimPct_RvrtTms")
            if not (rvrt and since > rvrt):
                return self.raw("123.WMaxLimPct") * 10.0 ** self.raw("123.WMaxLimPct_SF", 0)
        return 100.0

    def advance(self, now: float) -> None:
        on = self.raw("703.ES", 1) == 1 and self.raw("123.Conn", 1) == 1
        w = min(self.params.p_mw * 1e6, self.limit_pct(now) / 100.0 * self.rated_w) if on else 0
        for key in ("701.W", "103.W"):
            self.put(key, int(round(w / 10.0 ** self.sf[key[:4] + "W_SF"])))
        for key in ("701.St", "103.St"):
            self.put(key, (1 if on else 0) if key == "701.St" else (4 if on else 1))
        self.put("701.InvSt", 3 if w > 0 else 7)

    def accept(self, changed: dict[str, Any], now: float) -> str | None:
        reason = self.check_limits(changed)
        if reason is None:
            self.last_ctrl = now
        return reason


class MeterEmulator(RegisterDevice):
    """A power meter measuring a load that varies slowly around ``p_mw``."""

    def __init__(self, params: MeterParams, plist: pts.PointList | None = None,
                 log_path: str | Path | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        import numpy as np

        plist = plist or pts.load("meter")
        self.params = params
        self.rng = np.random.default_rng(params.seed)
        self.e_import_kwh = 0.0
        start = min(p.address for p in plist.points.values())
        end = max(p.address + p.size for p in plist.points.values())
        super().__init__(plist, [0] * (end - start), start, params.delay_s, log_path, clock)
        self.put("V1", 230.0)
        self.put("Hz", 50.0)
        self.put("kWhExp", 0.0)
        self.advance(self.t_boot)
        self.log.write(kind="boot", p_mw=params.p_mw)

    def power_w(self, t: float) -> float:
        p = self.params
        slow = 1.0 + p.swing * math.sin(2 * math.pi * (t - self.t_boot) / p.period_s)
        return p.p_mw * 1e6 * (slow + p.noise * float(self.rng.standard_normal()))

    def advance(self, now: float) -> None:
        t = getattr(self, "_t", now)
        w = self.power_w(now)
        self.e_import_kwh += max(w, 0.0) * (now - t) / 3.6e6
        self._t = now
        self.put("W", w)
        self.put("kWhImp", self.e_import_kwh)
        self.put("Uptime", int(now - self.t_boot))


async def serve(device: RegisterDevice, host: str, port: int, unit: int,
                ready: Callable[[], None] | None = None, serial: str | None = None,
                baud: int = 19200) -> None:
    """Serve ``device`` over Modbus TCP, or Modbus RTU on the serial line ``serial``, until
    cancelled."""
    from pymodbus import FramerType
    from pymodbus.server import ModbusSerialServer, ModbusTcpServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    sim = SimDevice(id=unit, simdata=[SimData(address=device.start, count=1,
                                              values=list(device.image),
                                              datatype=DataType.REGISTERS)],
                    action=device.action)
    server: Any
    if serial:
        server = ModbusSerialServer(context=sim, framer=FramerType.RTU, port=serial,
                                    baudrate=baud)
    else:
        server = ModbusTcpServer(context=sim, address=(host, port))
    await server.serve_forever(background=True)
    if ready is not None:
        ready()
    try:
        await asyncio.Event().wait()
    finally:
        await server.shutdown()
        device.log.close()


def run(kind: str, host: str, port: int, unit: int, log_path: str | None,
        say: Callable[[str], None], serial: str | None = None, baud: int = 19200,
        **params: Any) -> None:
    """Start an emulator and serve until interrupted (``twin emulate``)."""
    device: RegisterDevice
    if kind == "battery":
        device = BatteryEmulator(BatteryParams(**params), log_path=log_path)
        what = (f"battery inverter {params.get('p_max_mw', 2.0):g} MW / "
                f"{params.get('e_max_mwh', 4.0):g} MWh, SunSpec models "
                f"{', '.join(map(str, device.plist.models))} at {device.plist.base}")
    elif kind == "pv":
        device = PVEmulator(PVParams(**params), log_path=log_path)
        what = (f"PV inverter {params.get('p_max_mw', 2.0):g} MW, SunSpec models "
                f"{', '.join(map(str, device.plist.models))} at {device.plist.base}")
    else:
        device = MeterEmulator(MeterParams(**params), log_path=log_path)
        what = f"power meter around {params.get('p_mw', 5.0):g} MW (input registers)"
    where = f"serial line {serial} (RTU, {baud} baud)" if serial else f"{host}:{port}"

    def ready() -> None:
        say(f"emulating a {what} on {where}, unit {unit}; Ctrl-C stops")

    try:
        asyncio.run(serve(device, host, port, unit, ready, serial, baud))
    except KeyboardInterrupt:
        say("emulator stopped")
