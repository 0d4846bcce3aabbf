"""A third-party IEC 60870-5-104 client for ``twin serve --iec104-port``: c104 only.

It waits for the PCC measurement, sends a battery setpoint (C_SE_NC_1, MW, > 0 discharging)
after ``--after`` measurements, and writes what it saw to a JSON file.

    python iec104_controller.py HOST PORT OUT.json --set-mw -1.0
"""

import argparse
import json
import sys
import time
from pathlib import Path

import c104


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("out")
    ap.add_argument("--set-mw", type=float, default=-1.0)
    ap.add_argument("--after", type=int, default=3, help="measurements before the command")
    ap.add_argument("--total", type=int, default=10, help="measurements before it stops")
    ap.add_argument("--timeout", type=float, default=40.0)
    a = ap.parse_args()

    client = c104.Client(tick_rate_ms=50)
    conn = client.add_connection(ip=a.host, port=a.port, init=c104.Init.ALL)
    station = conn.add_station(common_address=1)
    pcc = station.add_point(io_address=1, type=c104.Type.M_ME_NC_1)
    power = station.add_point(io_address=100, type=c104.Type.M_ME_NC_1)
    setpoint = station.add_point(io_address=102, type=c104.Type.C_SE_NC_1)
    seen: list[dict[str, float]] = []

    def on_pcc(point: c104.Point, previous_info: c104.Information,
               message: c104.IncomingMessage) -> c104.ResponseState:
        seen.append({"t": time.monotonic(), "pcc_mw": float(point.value),
                     "bess_mw": float(power.value)})
        return c104.ResponseState.SUCCESS

    pcc.on_receive(callable=on_pcc)
    client.start()
    deadline = time.monotonic() + a.timeout
    while not conn.is_connected and time.monotonic() < deadline:  # the server may start later
        time.sleep(0.5)
        if conn.state == c104.ConnectionState.CLOSED:
            conn.connect()
    if conn.is_connected and conn.is_muted:  # a connect() of our own starts muted
        conn.unmute()
    print(f"connection {conn.state}", file=sys.stderr)
    written = None
    while time.monotonic() < deadline and len(seen) < a.total:
        if written is None and len(seen) >= a.after:
            setpoint.value = a.set_mw
            written = {"after": len(seen), "mw": a.set_mw,
                       "ok": bool(setpoint.transmit(cause=c104.Cot.ACTIVATION))}
        time.sleep(0.02)
    client.stop()
    print(f"seen {len(seen)}, written {written}", file=sys.stderr)
    Path(a.out).write_text(json.dumps({"written": written, "seen": seen}), encoding="utf-8")
    return 0 if written and written["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
