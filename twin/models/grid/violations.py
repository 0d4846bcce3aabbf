"""Where and when the park network leaves its limits: overloads and voltages out of band."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from twin import data


@dataclass(frozen=True)
class Violation:
    """One element out of its limit: when first, for how many steps, how far at worst."""

    kind: str  # line_overload, trafo_overload, undervoltage, overvoltage, not_converged
    element: str
    first_time_s: int
    steps: int
    worst: float


def limits() -> tuple[float, float, float]:
    """(vm_min_pu, vm_max_pu, loading_max_pct) from ``twin/data/grid.yaml``."""
    g = data.load("grid")
    lo, hi = g["vm_band_pu"]
    return float(lo), float(hi), float(g["loading_max_pct"])


def _scan(kind: str, values: np.ndarray, names: Sequence[str], time_s: np.ndarray,
          bad: np.ndarray, worst_of: str) -> list[Violation]:
    out = []
    for j in np.flatnonzero(bad.any(axis=0)):
        rows = np.flatnonzero(bad[:, j])
        col = values[rows, j]
        worst = float(col.max() if worst_of == "max" else col.min())
        out.append(Violation(kind, names[j], int(time_s[rows[0]]), int(len(rows)), worst))
    return out


def find_violations(
    time_s: np.ndarray,
    vm_pu: np.ndarray,
    bus_names: Sequence[str],
    line_loading_pct: np.ndarray,
    line_names: Sequence[str],
    trafo_loading_pct: np.ndarray,
    trafo_names: Sequence[str],
    converged: np.ndarray,
) -> list[Violation]:
    """Every element that left its limits, worst first within each kind.

    ``vm_pu`` etc. are (steps, elements) arrays; NaN (non-converged steps, isolated buses)
    never counts as a violation. Non-converged steps are reported as one entry.
    """
    lo, hi, cap = limits()
    with np.errstate(invalid="ignore"):
        found = [
            *_scan("line_overload", line_loading_pct, line_names, time_s,
                   line_loading_pct > cap, "max"),
            *_scan("trafo_overload", trafo_loading_pct, trafo_names, time_s,
                   trafo_loading_pct > cap, "max"),
            *_scan("undervoltage", vm_pu, bus_names, time_s, vm_pu < lo, "min"),
            *_scan("overvoltage", vm_pu, bus_names, time_s, vm_pu > hi, "max"),
        ]
    failed = np.flatnonzero(np.asarray(converged) < 0.5)
    if len(failed):
        found.append(Violation("not_converged", "power flow", int(time_s[failed[0]]),
                               int(len(failed)), float("nan")))
    order = {"not_converged": 0, "line_overload": 1, "trafo_overload": 2, "undervoltage": 3,
             "overvoltage": 4}
    return sorted(found, key=lambda v: (order[v.kind], -v.steps))


def violation_steps(vm_pu: np.ndarray, line_loading_pct: np.ndarray,
                    trafo_loading_pct: np.ndarray) -> int:
    """Number of steps with at least one violation."""
    lo, hi, cap = limits()
    with np.errstate(invalid="ignore"):
        bad = ((vm_pu < lo) | (vm_pu > hi)).any(axis=1)
        bad |= (line_loading_pct > cap).any(axis=1)
        bad |= (trafo_loading_pct > cap).any(axis=1)
    return int(bad.sum())
