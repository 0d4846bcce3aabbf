"""Shared fixtures and the tolerances of the test suite, set in one place."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"

# Tolerances (one place, like pvlib's conftest).
ENERGY_CLOSURE_REL = 1e-4  # energy balance over a run: 0.01 %
BATTERY_ENERGY_ABS_MWH = 1e-9  # per-step battery energy bookkeeping
PV_MODELCHAIN_REL = 5e-3  # PV annual energy vs pvlib ModelChain: 0.5 %


@pytest.fixture
def root() -> Path:
    """The repository root."""
    return ROOT


def interrupt(args: list[str], when: Callable[[str], bool], timeout: float = 120
              ) -> tuple[int, str]:
    """Run ``twin ARGS`` in its own process group, send the group SIGINT (as Ctrl-C does)
    once ``when(stderr so far)`` is true; return the exit code and stderr."""
    proc = subprocess.Popen([sys.executable, "-m", "twin", *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline and not when("".join(lines)):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=60)
    reader.join(timeout=10)
    return proc.returncode, "".join(lines)
