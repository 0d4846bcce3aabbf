"""Validating a scenario imports only the schema: none of the models' heavy libraries."""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import ROOT
from twin.scenario import load

HEAVY = ("pandapower", "lightsim2grid", "cv2", "torch", "simpy", "pybullet")
PARK = ROOT / "scenarios" / "park.yaml"


def _heavy_loaded(code: str = "pass") -> list[str]:
    """The heavy libraries in ``sys.modules`` of a fresh interpreter after ``import
    twin.scenario`` and ``code``."""
    script = (f"import sys, twin.scenario; {code}; "
              f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return ast.literal_eval(proc.stdout.strip().splitlines()[-1])


def test_importing_the_schema_loads_no_heavy_library():
    assert _heavy_loaded() == []


def test_validating_the_reference_park_loads_no_heavy_library():
    # its grid is built from parameters: checking it needs no pandapower (a JSON network would)
    assert load(PARK).grid.source == "build"
    assert _heavy_loaded(f"twin.scenario.load({str(PARK)!r})") == []
