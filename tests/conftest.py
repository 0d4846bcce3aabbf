"""Shared fixtures and the tolerances of the test suite, set in one place."""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"

# Tolerances (one place, like pvlib's conftest).
ENERGY_CLOSURE_REL = 1e-4  # energy balance over a run: 0.01 %
BATTERY_ENERGY_ABS_MWH = 1e-9  # per-step battery energy bookkeeping
PV_MODELCHAIN_REL = 5e-3  # PV annual energy vs pvlib ModelChain: 0.5 %

#: A load profile read by mosaik-csv (another package) from ``profile.csv`` beside the
#: scenario, feeding the factory ``plant`` of tests/scenarios/small.yaml (append
#: ``    on_end: ...`` for its policy where it ends before the run).
CSV_PROFILE = """
external:
  - name: profile
    python: mosaik_csv:CSV
    params: {sim_start: "2027-01-01 00:00:00", datafile: profile.csv}
    model: Data
    links:
      - source: profile.Data_0
        target: plant
        attrs: [[P_mw, p_profile_mw]]
"""


def write_profile(folder: Path, values: list[Any], edit: Callable[[list[str]], None] | None = None
                  ) -> Path:
    """``folder/profile.csv`` for :data:`CSV_PROFILE`: ``values`` (MW) every 15 minutes from
    2027-01-01 00:00; ``edit`` may change the rows (text) before they are written."""
    start = datetime.datetime(2027, 1, 1)
    rows = [f"{start + datetime.timedelta(minutes=15 * k):%Y-%m-%d %H:%M:%S},{v}"
            for k, v in enumerate(values)]
    if edit:
        edit(rows)
    path = folder / "profile.csv"
    path.write_text("Date,P_mw\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture
def root() -> Path:
    """The repository root."""
    return ROOT


def interrupt(args: list[str], when: Callable[[str], bool], timeout: float = 120
              ) -> tuple[int, str]:
    """Run ``twin ARGS`` in its own process group, send the group SIGINT (as Ctrl-C does)
    once ``when(stderr so far)`` is true; return the exit code and stderr. The command takes
    SIGINT as from a terminal also where the tests run in the background (a shell starts
    background jobs with SIGINT ignored, and a child inherits that)."""
    proc = subprocess.Popen([sys.executable, "-m", "twin", *args], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
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
