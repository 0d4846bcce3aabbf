"""A third-party controller for ``twin serve``: pymodbus only, nothing of the park's code.

It discovers the SunSpec models of the PCC meter and of a battery inverter, reads the meter's
power, writes a battery setpoint (704.WSet, enabled by 704.WSetEna) once the battery's
heartbeat shows the park running, and keeps reading; what it saw goes to a JSON file.
Offsets are SunSpec's (from each model's ID register), as a controller's author would take
them from the model tables.

    python sunspec_controller.py HOST PORT OUT.json --meter 1 --battery 10 --set-w -1000000
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time
from pathlib import Path

from pymodbus.client import ModbusTcpClient

OFFSETS = {  # SunSpec model tables: offset from the model's ID register
    203: {"W": 18, "W_SF": 22},
    701: {"W": 10, "W_SF": 116},
    704: {"WSetEna": 22, "WSetMod": 23, "WSet": 24, "WSet_SF": 55},
    802: {"Hb": 18},
}


def read(client: ModbusTcpClient, unit: int, address: int, count: int) -> list[int]:
    rr = client.read_holding_registers(address, count=count, device_id=unit)
    if rr.isError():
        raise RuntimeError(f"unit {unit}: read {address}+{count}: {rr}")
    return list(rr.registers)


def discover(client: ModbusTcpClient, unit: int) -> dict[int, int]:
    """SunSpec model id -> address of its ID register."""
    if read(client, unit, 40000, 2) != [0x5375, 0x6E53]:
        raise RuntimeError(f"unit {unit}: no SunS marker at 40000")
    models, address = {}, 40002
    while True:
        model_id, length = read(client, unit, address, 2)
        if model_id == 0xFFFF:
            return models
        models[model_id] = address
        address += length + 2


def int16(value: int) -> int:
    return value - 0x10000 if value & 0x8000 else value


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("out")
    ap.add_argument("--meter", type=int, default=1)
    ap.add_argument("--battery", type=int, default=10)
    ap.add_argument("--set-w", type=int, default=-1_000_000, help="> 0 discharge (SunSpec)")
    ap.add_argument("--write-at-beat", type=int, default=3)
    ap.add_argument("--stop-at-beat", type=int, default=9)
    ap.add_argument("--timeout", type=float, default=60.0)
    a = ap.parse_args()

    deadline = time.monotonic() + a.timeout
    client = ModbusTcpClient(a.host, port=a.port, timeout=2)
    while not client.connect():
        if time.monotonic() > deadline:
            print("cannot connect", file=sys.stderr)
            return 1
        time.sleep(0.1)
    meter, bess = discover(client, a.meter), discover(client, a.battery)
    w_at = meter[203] + OFFSETS[203]["W"]
    w_sf = int16(read(client, a.meter, meter[203] + OFFSETS[203]["W_SF"], 1)[0])
    bw_sf = int16(read(client, a.battery, bess[701] + OFFSETS[701]["W_SF"], 1)[0])
    wset_sf = int16(read(client, a.battery, bess[704] + OFFSETS[704]["WSet_SF"], 1)[0])
    seen, written = [], None
    while time.monotonic() < deadline:
        beat = read(client, a.battery, bess[802] + OFFSETS[802]["Hb"], 1)[0]
        seen.append({"t": time.monotonic(), "beat": beat,
                     "pcc_w": int16(read(client, a.meter, w_at, 1)[0]) * 10.0 ** w_sf,
                     "bess_w": int16(read(client, a.battery, bess[701] + OFFSETS[701]["W"],
                                          1)[0]) * 10.0 ** bw_sf})
        if written is None and beat >= a.write_at_beat:
            raw = round(a.set_w / 10.0 ** wset_sf)
            regs = list(struct.unpack(">HH", struct.pack(">i", raw)))
            rr = client.write_registers(bess[704] + OFFSETS[704]["WSet"], regs,
                                        device_id=a.battery)
            rr2 = client.write_registers(bess[704] + OFFSETS[704]["WSetEna"], [1, 1],
                                         device_id=a.battery)  # WSetEna, WSetMod (watts)
            written = {"beat": beat, "t": time.monotonic(), "w": a.set_w,
                       "ok": not rr.isError() and not rr2.isError()}
        if beat >= a.stop_at_beat:
            break
        time.sleep(0.05)
    client.close()
    Path(a.out).write_text(json.dumps({"models": {"meter": sorted(meter),
                                                  "battery": sorted(bess)},
                                       "written": written, "seen": seen}), encoding="utf-8")
    return 0 if written and written["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
