"""IEC 60870-5-104 beside Modbus in ``twin serve --iec104-port 2404`` (the ``c104`` package).

One station, common address 1, for a SCADA or a controller that speaks 104 rather than
Modbus. Measurements are short floats (``M_ME_NC_1``) sent spontaneously after every step and
answered to a general interrogation; commands are a short-float setpoint (``C_SE_NC_1``) and
a single command (``C_SC_NA_1``). Information object addresses:

=======================  ===================================================================
IOA                      point
=======================  ===================================================================
1                        PCC exchange, MW, > 0 import
100 + 10 i (+0)          battery i (scenario order): power, MW, > 0 discharging
100 + 10 i + 1           battery i: state of charge, 0..1
100 + 10 i + 2           battery i: setpoint command, MW, > 0 discharging (C_SE_NC_1)
100 + 10 i + 3           battery i: 1 the setpoint is in force, 0 the park's controller again
                         (C_SC_NA_1)
=======================  ===================================================================

A command goes through the battery's served SunSpec map (``704.WSet``, ``704.WSetEna``) with
the same limits: one outside them is answered negatively. ``c104`` is optional
(``pip install c104``); without it ``--iec104-port`` is a user's mistake.
"""

import math
from collections.abc import Mapping, Sequence
from typing import Any

COMMON_ADDRESS = 1
PCC_IOA = 1
BATTERY_IOA0 = 100


class IEC104Error(ValueError):
    """c104 missing, or the port cannot be served."""


class IEC104Server:
    """The park's measurements and battery commands over IEC 60870-5-104."""

    def __init__(self, batteries: Sequence[Any], host: str = "127.0.0.1",
                 port: int = 2404) -> None:
        try:
            import c104
        except ImportError:
            raise IEC104Error("--iec104-port needs the c104 package (pip install c104)"
                              ) from None
        self.c104 = c104
        self.server = c104.Server(ip=host, port=port, tick_rate_ms=50)
        station = self.server.add_station(common_address=COMMON_ADDRESS)
        f, sp, sc = c104.Type.M_ME_NC_1, c104.Type.C_SE_NC_1, c104.Type.C_SC_NA_1
        self.measured: dict[tuple[str, str], tuple[Any, float]] = {
            ("pcc", "p_net_mw"): (station.add_point(io_address=PCC_IOA, type=f), 1.0)}
        for i, d in enumerate(batteries):
            ioa = BATTERY_IOA0 + 10 * i
            self.measured[(d.entity, "p_mw")] = (station.add_point(io_address=ioa, type=f),
                                                 -1.0)
            self.measured[(d.entity, "soc")] = (station.add_point(io_address=ioa + 1, type=f),
                                                1.0)
            station.add_point(io_address=ioa + 2, type=sp).on_receive(
                callable=self._setpoint(d))
            station.add_point(io_address=ioa + 3, type=sc).on_receive(
                callable=self._enable(d))
        self.host, self.port = host, port

    def _setpoint(self, device: Any) -> Any:
        c104 = self.c104

        def on_receive(point: c104.Point, previous_info: c104.Information,
                       message: c104.IncomingMessage) -> c104.ResponseState:
            mw = float(point.value)
            ok = math.isfinite(mw) and device.command(
                {"704.WSet": mw * 1e6, "704.WSetMod": 1, "704.WSetEna": 1}) is None
            return c104.ResponseState.SUCCESS if ok else c104.ResponseState.FAILURE
        return on_receive

    def _enable(self, device: Any) -> Any:
        c104 = self.c104

        def on_receive(point: c104.Point, previous_info: c104.Information,
                       message: c104.IncomingMessage) -> c104.ResponseState:
            ok = device.command({"704.WSetEna": 1 if point.value else 0}) is None
            return c104.ResponseState.SUCCESS if ok else c104.ResponseState.FAILURE
        return on_receive

    def start(self) -> None:
        self.server.start()
        if not self.server.is_running:
            raise IEC104Error(f"cannot listen on {self.host}:{self.port} (IEC 104)")

    def stop(self) -> None:
        self.server.stop()

    def __call__(self, time: int, values: Mapping[tuple[str, str], Any]) -> None:
        """After each step (the recorder's observer): update and send the measurements."""
        for (label, attr), (point, sign) in self.measured.items():
            key = (label if (label, attr) in values else "grid", attr)
            value = values.get(key)
            if value is None:
                continue
            point.value = float(value) * sign
            if self.server.has_active_connections:
                point.transmit(cause=self.c104.Cot.SPONTANEOUS)

    def describe(self) -> list[str]:
        n = (len(self.measured) - 1) // 2
        return [f"IEC 60870-5-104 on {self.host}:{self.port}, common address "
                f"{COMMON_ADDRESS}: IOA {PCC_IOA} PCC MW" + (
                    f"; batteries at IOA {BATTERY_IOA0} + 10 i (power, SOC, setpoint, "
                    f"enable) for i < {n}" if n else "")]
