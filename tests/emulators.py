"""Stand-in devices for the HIL tests: ``twin emulate KIND`` in its own process."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Emulator:
    """``twin emulate KIND`` in its own process (TCP, or RTU on ``serial``), with its log."""

    def __init__(self, kind: str, log: Path, *args: str, serial: str | None = None) -> None:
        self.port = free_port()
        self.log = log
        where = ["--serial", serial] if serial else ["--port", str(self.port)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "twin", "emulate", kind, *where, "--log", str(log), *args],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"emulator exited: {self.proc.stderr.read()}")
            if serial:
                if log.exists() and '"boot"' in log.read_text():
                    time.sleep(0.3)  # the server opens the line after booting the device
                    return
            else:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                    return
                except OSError:
                    pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("emulator did not start")

    @property
    def url(self) -> str:
        return f"modbus://127.0.0.1:{self.port}?unit=1"

    def records(self, kind: str) -> list[dict]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [r for r in map(json.loads, lines) if r["kind"] == kind]

    def writes(self) -> list[dict]:
        return self.records("write")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
