"""The park as a virtual plant for a real controller: ``twin serve SCENARIO``.

The other half of hardware in the loop (controller in the loop): the park runs in real time
(:class:`hil.pacer.PacerSim`) and serves its entities as devices over Modbus TCP
(pymodbus's server), one unit id per entity, each with a SunSpec map ("SunS" at register
40000, the models, the end model) that pysunspec2's ``scan()`` discovers:

=========  ===========================  =====================================================
unit       entity                       SunSpec models, what a controller reads and writes
=========  ===========================  =====================================================
1          the PCC meter                1, 203: ``W`` (> 0 import), ``TotWhImp``, ``TotWhExp``,
                                        ``Hz``, ``PhV``
10, 11...  the batteries, in order      the battery point list of :mod:`hil.points` (1, 701,
                                        702, 704, 713, 802): ``701.W`` (> 0 discharging),
                                        ``713.SoC``, ``802.SoC``, ``802.Hb``; writable
                                        ``704.WSetEna``, ``704.WSet`` (W, > 0 discharge),
                                        ``704.WSetEnaRvrt``/``WSetRvrt``/``WSetRvrtTms``,
                                        ``802.SetOp`` (2: disconnect)
100, 101.. the PV plants, in order      1, 701, 702, 704: ``701.W``, ``702.WMaxRtg``; writable
                                        ``704.WMaxLimPctEna``, ``704.WMaxLimPct`` (% of WMaxRtg)
=========  ===========================  =====================================================

A battery follows the scenario's controller (what the controller commands its simulated
twin, recorded as ``<name>.twin``, which starts each step from the served battery's state of
charge) until a client enables ``704.WSetEna``: from the next
step the written ``704.WSet`` replaces the controller's command, within the battery's own
limits (power, SOC window: :func:`twin.models.battery.step`), until the client disables it,
or, with ``704.WSetEnaRvrt = 1``, until no setpoint arrived for ``704.WSetRvrtTms`` seconds
(the battery then goes to ``704.WSetRvrt``). A PV plant gives what the weather allows, at most
``704.WMaxLimPct`` of its rating while ``704.WMaxLimPctEna = 1``. The meter shows the power
flow at the PCC of the last step. A write outside the writable points, or outside their
limits, is refused with a Modbus exception (2 illegal address, 3 illegal value), as a real
inverter does. The run is recorded like ``twin run`` (HDF5): each served battery records the
controller's command (``p_cmd_mw``), the client's setpoint (``p_remote_mw``, NaN while none
is in force) and ``remote`` (1 while it is). ``--iec104-port`` serves the same park over IEC
60870-5-104 as well (:mod:`hil.iec104`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
import time as _time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mosaik_api_v3.types import InputData, Meta, SimId
from typing_extensions import override

from adapters.base import Attr, Model, TwinSimulator, total
from hil import points as pts
from hil.pacer import Pacer, PacerSim
from hil.session import IOThread
from twin.core.results import KPI
from twin.models import battery as bat

if TYPE_CHECKING:
    import mosaik

    from twin.cosim.world import Wiring

BASE = 40000
METER_UNIT = 1
BATTERY_UNIT0 = 10
PV_UNIT0 = 100
PV_MODELS = (1, 701, 702, 704)
METER_MODELS = (1, 203)
CONNECT, DISCONNECT = 1, 2  # 802.SetOp


class ServeError(ValueError):
    """A user's mistake in ``twin serve``: nothing to serve, a port in use, a bad option."""


# --- register maps -------------------------------------------------------------------------


def catalog(models: Iterable[int], base: int = BASE) -> pts.PointList:
    """Every point of ``models`` laid out from ``base`` as pysunspec2 defines them, keyed
    ``model.name`` (the first point of a name in a model; repeating groups once)."""
    address = base + 2
    points: dict[str, pts.Point] = {}
    models = tuple(models)
    for model_id in models:
        offset = 0
        for d in pts._walk(pts._model_def(model_id)):
            size = int(d["size"])
            key = f"{model_id}.{d['name']}"
            if key not in points and d["name"] not in ("ID", "L"):
                points[key] = pts.Point(key=key, address=address + offset, type=d["type"],
                                        size=size, model=model_id, name=d["name"],
                                        offset=offset, sf=d.get("sf"),
                                        access=d.get("access", "R"))
            offset += size
        address += pts.model_length(model_id) + 2
    return pts.PointList(protocol="sunspec", points=points, base=base, models=models)


@dataclass
class Write:
    """A write a client made: which points, when (wall clock), accepted or why not."""

    unit: int
    points: dict[str, Any]
    wall_s: float
    refused: str | None = None


class ServedDevice:
    """One entity's register map, shared by the co-simulation (which publishes its state and
    reads the client's controls) and the Modbus server (which serves it to clients)."""

    def __init__(self, unit: int, entity: str, kind: str, plist: pts.PointList,
                 raw: Mapping[str, Any], limits: Mapping[str, tuple[float, float]],
                 on_write: Callable[[Write], None] | None = None) -> None:
        self.unit = unit
        self.entity = entity
        self.kind = kind
        self.plist = plist
        self.image = pts.sunspec_image(plist, {k: v for k, v in raw.items()})
        self.limits = dict(limits)  # writable points: SI range
        self.lock = threading.Lock()
        self.on_write = on_write
        self.last_write: dict[str, float] = {}  # point -> monotonic time of the last write
        self.writable = {a: plist[k] for k in self.limits
                         for a in range(plist[k].address, plist[k].address + plist[k].size)}

    @property
    def models(self) -> tuple[int, ...]:
        return self.plist.models

    def raw(self, key: str) -> Any:
        p = self.plist[key]
        i = p.address - self.plist.base
        return pts.decode(p, self.image[i:i + p.size])

    def si(self, key: str) -> float:
        """The value of ``key`` in SI units (raw x 10^sf)."""
        p = self.plist[key]
        sf = self.raw(f"{p.model}.{p.sf}") if isinstance(p.sf, str) else p.sf
        return pts.to_si(self.raw(key), sf)

    def put(self, key: str, raw: Any) -> None:
        p = self.plist[key]
        if p.type not in ("string", "float32", "float64"):
            lo, hi = _RANGE.get(p.type, (-math.inf, math.inf))
            raw = int(min(hi, max(lo, round(raw))))  # saturate, never wrap
        i = p.address - self.plist.base
        self.image[i:i + p.size] = pts.encode(p, raw)

    def publish(self, values: Mapping[str, Any]) -> None:
        """Put raw values (the co-simulation's side), atomically for the clients."""
        with self.lock:
            for key, raw in values.items():
                self.put(key, raw)

    def command(self, values: Mapping[str, float]) -> str | None:
        """Write points in SI units, in order, as a client would (another protocol's
        commands); why one is refused, or None."""
        with self.lock:
            for key, value in values.items():
                p = self.plist[key]
                sf = self.raw(f"{p.model}.{p.sf}") if isinstance(p.sf, str) else p.sf
                refused = self._write(p.address, pts.encode(p, pts.from_si(value, sf, p)))
                if refused is not None:
                    return refused
        return None

    async def action(self, function_code: int, start_address: int, address: int, count: int,
                     current: list[int], values: list[int] | list[bool] | None) -> Any:
        """pymodbus calls this before every request: check and apply writes, serve the image."""
        from pymodbus.constants import ExcCodes

        with self.lock:
            if values:
                refused = self._write(address, [int(v) for v in values])
                if refused is not None:
                    return (ExcCodes.ILLEGAL_ADDRESS if refused.startswith("address")
                            else ExcCodes.ILLEGAL_VALUE)
            offset = self.plist.base - start_address
            current[offset:offset + len(self.image)] = self.image
        return None

    def _write(self, address: int, values: list[int]) -> str | None:
        keys: list[str] = []
        for a in range(address, address + len(values)):
            p = self.writable.get(a)
            if p is None:
                return self._log({}, f"address {a} is not writable on unit {self.unit}")
            if p.key not in keys:
                keys.append(p.key)
        before = list(self.image)
        i = address - self.plist.base
        self.image[i:i + len(values)] = values
        changed = {k: self.raw(k) for k in keys}
        for key in keys:
            lo, hi = self.limits[key]
            value = self.si(key)
            if not lo <= value <= hi:
                self.image[:] = before
                return self._log(changed, f"{key} = {value:g} outside {lo:g}..{hi:g}")
        now = _time.monotonic()
        self.last_write.update(dict.fromkeys(keys, now))
        self._log(changed, None)
        return None

    def _log(self, changed: dict[str, Any], refused: str | None) -> str | None:
        if self.on_write is not None:
            self.on_write(Write(self.unit, changed, _time.monotonic(), refused))
        return refused


_RANGE = {"int16": (-0x7FFF, 0x7FFF), "uint16": (0, 0xFFFE), "enum16": (0, 0xFFFE),
          "acc16": (0, 0xFFFF), "int32": (-0x7FFFFFFF, 0x7FFFFFFF),
          "uint32": (0, 0xFFFFFFFE), "acc32": (0, 0xFFFFFFFF), "enum32": (0, 0xFFFFFFFE)}


def _fit_sf(peak: float, limit: int = 32767) -> int:
    k = -3
    while peak / 10.0 ** k > limit:
        k += 1
    return k


def _common(model: str, serial: str) -> dict[str, Any]:
    return {"1.Mn": "park-twin", "1.Md": model, "1.Vr": "twin serve", "1.SN": serial,
            "1.DA": 0}


def battery_device(unit: int, spec: bat.BatterySpec,
                   on_write: Callable[[Write], None] | None = None) -> ServedDevice:
    """A battery inverter: the battery point list's models, controls of model 704 and 802."""
    plist = catalog(pts.load("battery").models)
    w = spec.p_max_mw * 1e6
    sf = {"701.W_SF": _fit_sf(1.2 * w), "702.W_SF": _fit_sf(w, 65534),
          "713.WH_SF": _fit_sf(spec.e_max_mwh * 1e6, 65534), "802.W_SF": _fit_sf(1.2 * w),
          "713.Pct_SF": -1, "802.SoC_SF": -1, "704.WSet_SF": 0}
    sf = {k: v for k, v in sf.items() if k in plist.points}
    rating = round(w / 10.0 ** sf.get("702.W_SF", 0))
    raw: dict[str, Any] = {**_common("BESS (twin serve)", spec.name), **sf}
    raw.update({"702.WMaxRtg": rating, "702.WChaRteMaxRtg": rating,
                "702.WDisChaRteMaxRtg": rating,
                "713.WHRtg": round(spec.e_max_mwh * 1e6 / 10.0 ** sf.get("713.WH_SF", 0)),
                "713.SoH": 1000, "802.SoCMax": round(spec.soc_max * 1000),
                "802.SoCMin": round(spec.soc_min * 1000), "704.WSetEna": 0,
                "704.WSetMod": 1, "704.WSet": 0, "704.WSetRvrt": 0, "704.WSetEnaRvrt": 0,
                "704.WSetRvrtTms": 60, "802.SetOp": CONNECT, "802.CtrlHb": 0, "802.Hb": 0,
                "701.W": 0, "802.W": 0, "713.SoC": round(spec.soc_init * 1000),
                "802.SoC": round(spec.soc_init * 1000)})
    raw = {k: v for k, v in raw.items() if k in plist.points}
    limits = {"704.WSetEna": (0, 1), "704.WSetMod": (0, 1), "704.WSet": (-w, w),
              "704.WSetRvrt": (-w, w), "704.WSetEnaRvrt": (0, 1),
              "704.WSetRvrtTms": (1, 3600), "802.SetOp": (1, 2), "802.CtrlHb": (0, 65535)}
    return ServedDevice(unit, spec.name, "battery", plist, raw,
                        {k: v for k, v in limits.items() if k in plist.points}, on_write)


def pv_device(unit: int, name: str, p_ac_mw: float,
              on_write: Callable[[Write], None] | None = None) -> ServedDevice:
    """A PV inverter: models 1, 701, 702, 704 with the active power limit of 704."""
    plist = catalog(PV_MODELS)
    w = p_ac_mw * 1e6
    sf = {"701.W_SF": _fit_sf(1.2 * w), "702.W_SF": _fit_sf(w, 65534),
          "704.WMaxLimPct_SF": -1}
    raw = {**_common("PV inverter (twin serve)", name), **sf,
           "702.WMaxRtg": round(w / 10.0 ** sf["702.W_SF"]), "704.WMaxLimPctEna": 0,
           "704.WMaxLimPct": 1000, "701.W": 0}
    return ServedDevice(unit, name, "pv", plist, raw, {"704.WMaxLimPctEna": (0, 1),
                                                       "704.WMaxLimPct": (0, 100)}, on_write)


def meter_device(unit: int, name: str, rating_mw: float) -> ServedDevice:
    """The PCC meter: models 1, 203 (``W`` > 0 import; energies in ``TotWh_SF`` units)."""
    plist = catalog(METER_MODELS)
    raw = {**_common("PCC meter (twin serve)", name), "203.W_SF": _fit_sf(1.5 * rating_mw * 1e6),
           "203.TotWh_SF": 3, "203.Hz_SF": -2, "203.V_SF": -1, "203.Hz": 5000,
           "203.PhV": 2300, "203.W": 0, "203.TotWhImp": 0, "203.TotWhExp": 0}
    return ServedDevice(unit, name, "meter", plist, raw, {})


# --- the Modbus server ---------------------------------------------------------------------


class PlantServer:
    """pymodbus's TCP server for every served device, on a thread of its own."""

    def __init__(self, devices: Iterable[ServedDevice], host: str = "127.0.0.1",
                 port: int = 5020) -> None:
        self.devices = {d.unit: d for d in devices}
        self.host, self.port = host, port
        self.io: IOThread | None = None
        self.server: Any = None

    def start(self) -> None:
        """Listen; :class:`ServeError` when the address cannot be bound."""
        self.io = IOThread("twin-serve")
        try:
            self.io.submit(self._start()).result(10.0)
        except (OSError, RuntimeError) as exc:  # pymodbus: RuntimeError "Could not start..."
            self.stop()
            raise ServeError(f"cannot listen on {self.host}:{self.port} (in use, or not an "
                             f"address of this machine): {exc}") from None

    async def _start(self) -> None:
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        sims = [SimDevice(id=d.unit, simdata=[SimData(address=d.plist.base, count=1,
                                                       values=list(d.image),
                                                       datatype=DataType.REGISTERS)],
                          action=d.action) for d in self.devices.values()]
        self.server = ModbusTcpServer(context=sims, address=(self.host, self.port))
        await self.server.serve_forever(background=True)

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        if self.io is None:
            return
        if self.server is not None:
            with contextlib.suppress(Exception):  # stopping anyway
                self.io.submit(self.server.shutdown()).result(5.0)
            self.server = None
        self.io.close()
        self.io = None

    def describe(self) -> list[str]:
        """One line per unit: what it serves."""
        return [f"unit {u}: {d.kind} {d.entity} (SunSpec models "
                f"{', '.join(map(str, d.models))} at {d.plist.base})"
                for u, d in sorted(self.devices.items())]


# --- the mosaik side -----------------------------------------------------------------------

SERVED_BATTERY = Model(("name", "spec", "unit"), bat.OUTPUTS + (
    Attr("p_cmd_mw", "MW", "command of the scenario's controller (its simulated twin's power)"),
    Attr("p_remote_mw", "MW", "setpoint written by the external controller (NaN: none in "
         "force)"),
    Attr("remote", "1", "1 while the external controller's setpoint is in force"),
), (Attr("p_cmd_mw", "MW", "the controller's command"),
    Attr("skip", "1", "from the pacer (orders the step after its wait)")))
SERVED_PV = Model(("name", "unit"), (
    Attr("p_mw", "MW", "AC power, > 0 generating (after the external limit)"),
    Attr("p_avail_mw", "MW", "what the weather allows (the plant's simulated twin)"),
    Attr("p_limit_mw", "MW", "active power limit written by the external controller (NaN: "
         "none)"),
), (Attr("p_avail_mw", "MW", "the plant's available power"),
    Attr("skip", "1", "from the pacer")))


class ServeSim(TwinSimulator):
    """Served entities: publish the park's state into their maps, read the client's controls."""

    MODELS = {"Battery": SERVED_BATTERY, "PV": SERVED_PV}

    def setup(self, server: PlantServer | None = None) -> None:
        if server is None:
            raise TypeError("ServeSim needs the plant's server (hil.serve.PlantServer)")
        self.server = server

    def make_entity(self, model: str, eid: str, params: Mapping[str, Any]) -> Any:
        device = self.server.devices[int(params["unit"])]
        if model == "Battery":
            spec = params["spec"]
            return {"device": device, "spec": spec, "state": bat.initial_state(spec),
                    "beat": 0}
        return {"device": device}

    def step_entities(self, time: int, epoch_s: int, inputs: InputData) -> None:
        for eid, e in self.entities.items():
            data = inputs.get(eid, {})
            model = self.model_of[eid]
            if model == "Battery":
                self.out[eid] = self._battery(e, total(data.get("p_cmd_mw")))
            else:
                self.out[eid] = self._pv(e, total(data.get("p_avail_mw")))

    def _battery(self, e: dict[str, Any], cmd: float) -> dict[str, Any]:
        d: ServedDevice = e["device"]
        spec: bat.BatterySpec = e["spec"]
        now = _time.monotonic()
        with d.lock:
            remote = None
            if d.raw("802.SetOp") == DISCONNECT:
                remote = 0.0
            elif d.raw("704.WSetEna") == 1:
                remote = -d.si("704.WSet") * 1e-6
                last = max(d.last_write.get("704.WSet", 0.0),
                           d.last_write.get("704.WSetEna", 0.0))
                if (d.raw("704.WSetEnaRvrt") == 1
                        and now - last > d.raw("704.WSetRvrtTms")):
                    remote = -d.si("704.WSetRvrt") * 1e-6
        p_set = cmd if remote is None else remote
        e["state"], r = bat.step(spec, e["state"], p_set, float(self.step_s))
        e["beat"] = (e["beat"] + 1) & 0xFFFF
        w = -r.p_mw * 1e6
        connected = d.raw("802.SetOp") != DISCONNECT
        values = {"701.W": w / 10.0 ** d.raw("701.W_SF"), "802.W": w / 10.0 ** d.raw("802.W_SF"),
                  "713.SoC": r.soc * 1000, "802.SoC": r.soc * 1000,
                  "713.WHAvail": r.e_mwh * 1e6 / 10.0 ** d.raw("713.WH_SF"),
                  "802.Hb": e["beat"], "701.St": int(connected), "701.ConnSt": int(connected),
                  "701.InvSt": 3 if connected and abs(r.p_mw) > 0 else 7,
                  "802.State": 3 if connected else 1, "713.Sta": 0}
        d.publish({k: v for k, v in values.items() if k in d.plist.points})
        return {**{a.name: getattr(r, a.name) for a in bat.OUTPUTS}, "p_cmd_mw": cmd,
                "p_remote_mw": math.nan if remote is None else remote,
                "remote": 0.0 if remote is None else 1.0}

    def _pv(self, e: dict[str, Any], avail: float) -> dict[str, Any]:
        d: ServedDevice = e["device"]
        with d.lock:
            limit = (d.si("704.WMaxLimPct") / 100.0 * d.si("702.WMaxRtg") * 1e-6
                     if d.raw("704.WMaxLimPctEna") == 1 else None)
        p = avail if limit is None else min(avail, limit)
        d.publish({"701.W": p * 1e6 / 10.0 ** d.raw("701.W_SF"),
                   "701.St": 1, "701.ConnSt": 1, "701.InvSt": 3 if p > 0 else 7})
        return {"p_mw": p, "p_avail_mw": avail,
                "p_limit_mw": math.nan if limit is None else limit}


class MeterFeed:
    """Publishes the PCC's recorded exchange into the meter's map after each step (the
    recorder's observer: the PCC is wired after the extensions)."""

    def __init__(self, device: ServedDevice, step_s: float) -> None:
        self.device = device
        self.step_s = step_s
        self.e_imp_wh = self.e_exp_wh = 0.0

    def __call__(self, time: int, values: Mapping[tuple[str, str], Any]) -> None:
        net = next((float(v) for (label, attr), v in values.items()
                    if attr == "p_net_mw" and label in ("pcc", "grid")), None)
        if net is None or not math.isfinite(net):
            return
        d = self.device
        self.e_imp_wh += max(net, 0.0) * 1e6 * self.step_s / 3600.0
        self.e_exp_wh += max(-net, 0.0) * 1e6 * self.step_s / 3600.0
        d.publish({"203.W": net * 1e6 / 10.0 ** d.raw("203.W_SF"),
                   "203.TotWhImp": self.e_imp_wh / 1e3, "203.TotWhExp": self.e_exp_wh / 1e3})


class ServePacerSim(PacerSim):
    """The real-time pacer at ``speed`` times real time (1: real time)."""

    @override
    def init(self, sid: SimId, time_resolution: float = 1.0,
             start: str = "2027-01-01T00:00:00+08:00", step_s: int = 1,
             session: Any = None, policy: str | None = None,
             max_lateness_s: float | None = None, speed: float = 1.0) -> Meta:
        meta = super().init(sid, time_resolution, start, step_s, session, policy,
                            max_lateness_s)
        wall_step = float(self.step_s) / speed  # step_s in seconds, at any tick
        self.pacer = Pacer(wall_step)
        if max_lateness_s is None:
            self.max_lateness_s = wall_step
        return meta


class ServeExtension:
    """Wires the served entities into the park (:class:`twin.cosim.world.Extension`): the
    pacer, and each battery and PV plant as a served entity fed by its simulated twin."""

    def __init__(self, server: PlantServer, units: Mapping[str, int], speed: float = 1.0):
        self.server = server
        self.units = dict(units)
        self.speed = speed

    def sim_config(self) -> dict[str, dict[str, str]]:
        return {"ServePacer": {"python": f"{__name__}:ServePacerSim"},
                "Serve": {"python": f"{__name__}:ServeSim"}}

    def build(self, world: mosaik.World, s: Any, wiring: Wiring,
              factories: dict[str, Any], path: Path) -> None:
        from twin.cosim.world import retire, start

        factories["Pacer"] = start(world, s, "ServePacer", policy="warn", speed=self.speed)
        pacer = factories["Pacer"].Pacer.create(1, name="pacer")[0]
        wiring.add("pacer", pacer, "pacer", PacerSim.MODELS["Pacer"].outputs)
        for b in s.batteries:
            sim = self._sim(world, s, factories, "battery")
            twin = retire(wiring, b.name, f"{b.name}.twin", "battery-twin")
            served = sim.Battery.create(1, name=b.name, spec=b, unit=self.units[b.name])[0]
            wiring.add(b.name, served, "battery", SERVED_BATTERY.outputs,
                       {**dataclasses.asdict(b), "unit": self.units[b.name]})
            world.connect(twin, served, ("p_mw", "p_cmd_mw"))
            world.connect(pacer, served, "skip")
            # the controller works on the served battery's state (which a client may have moved)
            world.connect(served, twin, ("soc", "soc_measured"), time_shifted=True,
                          initial_data={"soc": math.nan})
        for p in s.pv_plants:
            sim = self._sim(world, s, factories, "pv")
            twin = retire(wiring, p.name, f"{p.name}.twin", "pv-twin")
            served = sim.PV.create(1, name=p.name, unit=self.units[p.name])[0]
            wiring.add(p.name, served, "pv", SERVED_PV.outputs,
                       {**dataclasses.asdict(p), "unit": self.units[p.name]})
            world.connect(twin, served, ("p_mw", "p_avail_mw"))
            world.connect(pacer, served, "skip")

    def _sim(self, world: mosaik.World, s: Any, factories: dict[str, Any], kind: str) -> Any:
        from twin.cosim.world import start

        key = f"Serve:{kind}"  # one simulator per kind: no same-step cycle through the rule
        if key not in factories:
            factories[key] = start(world, s, "Serve", server=self.server)
        return factories[key]


# --- a served run --------------------------------------------------------------------------


def assign_units(s: Any) -> dict[str, int]:
    """Unit ids: the PCC meter 1, batteries 10, 11, ..., PV plants 100, 101, ..."""
    units = {"pcc": METER_UNIT}
    units.update({b.name: BATTERY_UNIT0 + i for i, b in enumerate(s.batteries)})
    units.update({p.name: PV_UNIT0 + i for i, p in enumerate(s.pv_plants)})
    if len(s.batteries) > PV_UNIT0 - BATTERY_UNIT0 or len(s.pv_plants) > 247 - PV_UNIT0:
        raise ServeError(f"{s.path}: too many batteries or PV plants to serve (at most "
                         f"{PV_UNIT0 - BATTERY_UNIT0} and {247 - PV_UNIT0})")
    return units


def park_rating_mw(s: Any) -> float:
    """A generous bound of the power at the PCC (for the meter's scale factor)."""
    total_mw = 0.0
    for key in ("pv_plants", "wind_farms", "factory_loads", "ev_hubs", "heat_supply",
                "batteries", "aoi_lines"):
        for spec in getattr(s, key, ()):
            d = dataclasses.asdict(spec)
            total_mw += max((float(v) for f, v in d.items() if f.startswith("p_")
                             and isinstance(v, int | float) and math.isfinite(v)), default=0.0)
            total_mw += 10.0 * float(d.get("n_turbines", 0))  # a generous turbine rating
    return max(1.0, total_mw)


def prepare(s: Any, duration_s: int | None = None, step_s: int | None = None) -> Any:
    """The scenario of a served run: the step and duration given (or ``hil.step`` and
    ``hil.duration``, or 1 s and 10 min), every entity simulated (HIL bindings inactive)."""
    if not s.batteries and not s.pv_plants:
        raise ServeError(f"{s.path}: nothing to serve: the scenario has no battery and no PV "
                         "plant (the PCC meter alone controls nothing)")
    h = s.hil
    step = step_s or (h.step if h is not None else 1)
    step = int(step) if float(step).is_integer() else float(step)  # hil.step 100ms: ms ticks
    duration = int(duration_s or (h.duration if h is not None else 600))
    # a sub-second step divides a second (twin.scenario.hil): whole seconds are whole steps
    duration = max(step, duration // step * step) if isinstance(step, int) else max(1, duration)
    name = s.output.name or (s.path.stem if s.path.name != "<memory>" else "serve")
    return dataclasses.replace(
        s, hil=dataclasses.replace(h, active=False) if h is not None else None,
        output=dataclasses.replace(s.output, name=name + "-serve"),
        period=dataclasses.replace(s.period, step=step, duration=duration))


@dataclass
class ServeResult:
    """What a served run produced."""

    path: Path
    units: list[str]
    kpis: dict[str, KPI]
    writes: list[Write] = field(default_factory=list)

    @property
    def refused(self) -> int:
        return sum(w.refused is not None for w in self.writes)


def serve(s: Any, host: str = "127.0.0.1", port: int = 5020,
          out_dir: str | Path | None = None, speed: float = 1.0,
          progress: Callable[[int], None] | None = None,
          ready: Callable[[list[str]], None] | None = None,
          iec104_port: int | None = None) -> ServeResult:
    """Run a prepared scenario in real time (``speed`` times) and serve it on ``host:port``
    until the end of its period; ``ready`` gets the unit lines once the server listens.
    ``iec104_port``: IEC 60870-5-104 as well (:mod:`hil.iec104`)."""
    from twin import runner

    if not speed > 0 or not math.isfinite(speed):
        raise ServeError(f"--speed: expected a positive number, got {speed}")
    units = assign_units(s)
    writes: list[Write] = []
    devices = [meter_device(METER_UNIT, "pcc", park_rating_mw(s))]
    devices += [battery_device(units[b.name], b, writes.append) for b in s.batteries]
    devices += [pv_device(units[p.name], p.name, p.p_ac_mw, writes.append)
                for p in s.pv_plants]
    server = PlantServer(devices, host, port)
    ext = ServeExtension(server, units, speed)
    observers: list[Callable[[int, Mapping[tuple[str, str], Any]], None]] = [
        MeterFeed(devices[0], float(s.period.step_s))]
    iec = None
    if iec104_port is not None:
        from hil.iec104 import IEC104Error, IEC104Server

        try:
            iec = IEC104Server([d for d in devices if d.kind == "battery"], host, iec104_port)
        except IEC104Error as exc:
            raise ServeError(str(exc)) from None
        observers.append(iec)

    def observe(time: int, values: Mapping[tuple[str, str], Any]) -> None:
        for o in observers:
            o(time, values)

    server.start()
    lines = server.describe()
    try:
        if iec is not None:
            try:
                iec.start()
            except IEC104Error as exc:
                raise ServeError(str(exc)) from None
            lines += iec.describe()
        if ready is not None:
            ready(lines)
        result = runner.run(s, out_dir=out_dir, progress=progress, observer=observe,
                            extensions=[ext])
    finally:
        if iec is not None:
            iec.stop()
        server.stop()
    return ServeResult(result.path, lines, dict(result.kpis), writes)
