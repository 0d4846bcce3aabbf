"""Protocol clients: a Modbus link (pymodbus, async; TCP or RTU over a serial line) and a
point-list client over it.

:class:`Link` is one connection with a timeout per request, no silent retries, and fault
injection (:class:`hil.faults.LinkFaults`) on every request. Its address is a URL::

    modbus://HOST:PORT?unit=N                                   Modbus TCP
    rtu:///dev/ttyUSB0?baud=19200&parity=N&stopbits=1&unit=N    Modbus RTU on a serial line
                                                                (bytesize=8 by default)

A read-only link (``read_only=True``, a binding's ``mode: read-only``) refuses every write
before it reaches the wire. :class:`PointClient` speaks a point list (:mod:`hil.points`): for
SunSpec it discovers the map ("SunS" at 40000, 0 or 50000, then model by model), checks that
the device has one model of each group the list requires (a battery: 701 or the legacy 103,
and 704), keeps the points of the models it has, reads the static points (identity,
ratings, scale factors) once and the polled ones each cycle in as few requests as their
addresses allow. Every value read is checked against the point list's limits (a corrupt
answer is an error, never a measurement) and every value written is checked before it goes
out (:class:`Refused`; a setpoint whose rating the device does not state is never sent).
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hil import points as pts
from hil.faults import CommError, LinkFaults


class Refused(ValueError):
    """A write the point list does not allow (read-only point, value outside its limits)."""


@dataclass(frozen=True)
class Address:
    """Where a Modbus device is: TCP host and port, or a serial line and its settings."""

    transport: str  # "tcp" or "rtu"
    host: str = "127.0.0.1"
    port: int = 502
    serial: str = ""
    baud: int = 19200
    parity: str = "N"
    stopbits: int = 1
    bytesize: int = 8
    unit: int = 1

    def __str__(self) -> str:
        if self.transport == "rtu":
            return f"{self.serial} ({self.baud} baud {self.bytesize}{self.parity}{self.stopbits})"
        return f"{self.host}:{self.port}"


def parse_address(url: str) -> Address:
    """The :class:`Address` of ``modbus://HOST:PORT?unit=N`` or
    ``rtu:///dev/ttyX?baud=19200&parity=N&stopbits=1&bytesize=8&unit=N``."""
    u = urllib.parse.urlsplit(url)
    q = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query).items()}
    unit = int(q.get("unit", "1"))
    if u.scheme == "rtu":
        return Address("rtu", serial=u.path, baud=int(q.get("baud", "19200")),
                       parity=q.get("parity", "N").upper(), stopbits=int(q.get("stopbits", "1")),
                       bytesize=int(q.get("bytesize", "8")), unit=unit)
    return Address("tcp", host=u.hostname or "127.0.0.1", port=int(u.port or 502), unit=unit)


def parse_url(url: str) -> tuple[str, int, int]:
    """Host, port and unit of ``modbus://HOST:PORT?unit=N`` (serial line, 0, unit for RTU)."""
    a = parse_address(url)
    return (a.serial, 0, a.unit) if a.transport == "rtu" else (a.host, a.port, a.unit)


class Link:
    """One Modbus connection to a device, TCP or RTU (use on one event loop only)."""

    def __init__(self, url: str, timeout_s: float = 0.3, faults: LinkFaults | None = None,
                 read_only: bool = False):
        self.url = url
        self.address = parse_address(url)
        self.host, self.port, self.unit = parse_url(url)
        self.timeout_s = timeout_s
        self.faults = faults or LinkFaults()
        self.read_only = read_only
        self.client: Any = None
        self.requests = 0
        self.writes = 0

    async def connect(self) -> None:
        """Open the connection if it is not open; :class:`CommError` if it cannot be."""
        from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

        if self.client is not None and self.client.connected:
            return
        if self.client is not None:
            self.client.close()
        a = self.address
        if a.transport == "rtu":
            self.client = AsyncModbusSerialClient(
                a.serial, baudrate=a.baud, parity=a.parity, stopbits=a.stopbits,
                bytesize=a.bytesize, timeout=self.timeout_s, retries=0, reconnect_delay=0)
        else:
            self.client = AsyncModbusTcpClient(a.host, port=a.port, timeout=self.timeout_s,
                                               retries=0, reconnect_delay=0)
        try:
            ok = await asyncio.wait_for(self.client.connect(), self.timeout_s + 0.1)
        except (TimeoutError, OSError):
            ok = False
        if not ok:
            self.close()
            raise CommError("refused", f"cannot connect to {a}")

    async def read(self, address: int, count: int, table: str = "holding") -> list[int]:
        """``count`` registers from ``address`` (holding or input registers)."""
        key = (table, address, count)
        frozen = await self.faults.before(key, write=False)
        if frozen is not None:
            return frozen
        await self.connect()
        fn = (self.client.read_input_registers if table == "input"
              else self.client.read_holding_registers)
        answer = await self._call(fn(address, count=count, device_id=self.unit), "read", address)
        return self.faults.after(key, list(answer.registers))

    async def write(self, address: int, registers: list[int]) -> None:
        """Write registers from ``address`` (function 16); :class:`Refused` on a read-only
        link, before anything goes out."""
        if self.read_only:
            raise Refused(f"read-only binding: no write to {address} ({self.address})")
        await self.faults.before(("write", address), write=True)
        self.writes += 1
        await self.connect()
        await self._call(self.client.write_registers(address, registers, device_id=self.unit),
                         "write", address)

    async def _call(self, request: Any, what: str, address: int) -> Any:
        from pymodbus.exceptions import ModbusException

        self.requests += 1
        try:
            answer = await asyncio.wait_for(request, self.timeout_s + 0.1)
        except (TimeoutError, ModbusException, OSError) as exc:
            self.close()
            raise CommError("timeout", f"{what} at {address}: no answer ({exc or 'timeout'})"
                            ) from None
        if answer.isError():
            code = getattr(answer, "exception_code", "?")
            raise CommError("exception", f"{what} at {address}: exception answer {code}")
        return answer

    def close(self) -> None:
        """Close the connection (the next request reconnects)."""
        if self.client is not None:
            self.client.close()
            self.client = None


class PointClient:
    """Reads and writes a device through its point list."""

    def __init__(self, link: Link, plist: pts.PointList) -> None:
        self.link = link
        self.plist = plist
        self.points: dict[str, pts.Point] = dict(plist.points)  # addresses as discovered
        self.raw: dict[str, Any] = {}  # last raw values (static ones from discovery)
        self.ratings: dict[str, float] = {}

    async def discover(self) -> dict[str, Any]:
        """Find the points on the device; read identity, ratings and scale factors."""
        layout: dict[int, int] = {}
        if self.plist.protocol == "sunspec":
            layout = await self._sunspec_layout()
            missing = self.plist.missing(layout)
            if missing:
                raise CommError("exception", f"{self.link.address}: the device lacks SunSpec "
                                f"model {' and '.join(missing)} (it has "
                                f"{', '.join(map(str, layout))})")
            self.points = dict(pts.relocate(self.plist, layout).points)
        static = [p for p in self.points.values() if not p.poll]
        si = await self._read(static, check=False)
        self.ratings = {k: v for k, v in si.items() if v is not None}
        return {"identity": {p.name or k: self.raw.get(k) for k, p in self.points.items()
                             if p.type == "string"},
                "models": {str(m): a for m, a in layout.items()},
                "ratings": {self.points[k].twin: v * self.points[k].factor
                            for k, v in self.ratings.items() if self.points[k].twin}}

    def has(self, key: str) -> bool:
        """Whether the device has the point ``key`` (its model was discovered)."""
        return key in self.points

    async def _sunspec_layout(self) -> dict[int, int]:
        for base in dict.fromkeys((self.plist.base, 40000, 0, 50000)):
            try:
                head = await self.link.read(base, 4)
            except CommError as exc:
                if exc.status != "exception":
                    raise
                continue
            if tuple(head[:2]) == pts.SUNS_MARKER:
                break
        else:
            raise CommError("exception", f"{self.link.address}: no SunSpec map ('SunS' at "
                            "40000, 0 or 50000)")
        layout: dict[int, int] = {}
        address, (model_id, length) = base + 2, head[2:4]
        while model_id != pts.SUNS_END and len(layout) < 64:
            layout.setdefault(model_id, address)
            address += length + 2
            model_id, length = await self.link.read(address, 2)
        return layout

    def sf(self, p: pts.Point) -> int | None:
        """The scale factor of a point (read from the device for SunSpec)."""
        if p.sf is None or isinstance(p.sf, int):
            return p.sf
        raw = self.raw.get(f"{p.model}.{p.sf}")
        if raw is None or not pts.implemented(self.points[f"{p.model}.{p.sf}"], raw):
            raise CommError("corrupt", f"scale factor {p.model}.{p.sf} of {p.key} not read")
        return int(raw)

    async def _read(self, points: list[pts.Point], check: bool) -> dict[str, float | None]:
        for address, count, members in pts.blocks(points):
            regs = await self.link.read(address, count, self.plist.table)
            for p in members:  # every raw value first: scale factors may come after
                self.raw[p.key] = pts.decode(p, regs[p.address - address:
                                                     p.address - address + p.size])
        out: dict[str, float | None] = {}
        for p in points:
            raw = self.raw[p.key]
            if p.type == "string":
                continue
            if not pts.implemented(p, raw) or p.type == "sunssf":
                out[p.key] = None if p.type != "sunssf" else raw
                continue
            out[p.key] = value = pts.to_si(raw, self.sf(p))
            limits = pts.limits_si(p, self.ratings)
            if check and limits and not limits[0] <= value <= limits[1]:
                raise CommError("corrupt", f"corrupt answer: {p.key} = {value:g} {p.unit} "
                                f"outside {limits[0]:g}..{limits[1]:g}")
        return out

    async def read(self) -> dict[str, float]:
        """The polled points, as the twin's names and units (``p_mw``, ``soc``, ...)."""
        si = await self._read([p for p in self.points.values() if p.poll], check=True)
        return {p.twin: si[k] * p.factor + 0.0 for k, p in self.points.items()
                if p.twin and si.get(k) is not None}

    async def write(self, values: Mapping[str, float]) -> dict[str, float]:
        """Write SI values by point key (contiguous points in one request); returns them."""
        encoded = []
        for key, value in values.items():
            p = self.points.get(key)
            if p is None:
                raise Refused(f"the device has no point {key}")
            if not p.writable:
                raise Refused(f"{key} is read-only")
            limits = pts.limits_si(p, self.ratings)
            if limits is None and p.limits_of is not None:
                raise Refused(f"{key}: the device states none of its ratings "
                              f"({p.limits_of.replace('|', ', ')}); not sent")
            if limits and not limits[0] - 1e-9 <= value <= limits[1] + 1e-9:
                raise Refused(f"{key} = {value:g} {p.unit} outside {limits[0]:g}..{limits[1]:g}")
            encoded.append((p.address, pts.encode(p, pts.from_si(value, self.sf(p), p))))
        encoded.sort()
        merged: list[tuple[int, list[int]]] = []
        for address, regs in encoded:
            if merged and merged[-1][0] + len(merged[-1][1]) == address:
                merged[-1] = (merged[-1][0], merged[-1][1] + regs)
            else:
                merged.append((address, regs))
        for address, regs in merged:
            await self.link.write(address, regs)
        return dict(values)

    def setpoint_si(self, twin_name: str, value: float) -> tuple[str, float]:
        """The point key and SI value of a twin setpoint (``p_set_mw`` -> ``704.WSet`` W)."""
        p = next((p for p in self.points.values() if p.twin == twin_name and p.writable), None)
        if p is None:
            raise Refused(f"the point list has no writable point for {twin_name}")
        return p.key, value / p.factor
