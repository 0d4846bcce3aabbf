"""Shared fixtures and the tolerances of the test suite, set in one place."""

from __future__ import annotations

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
