"""Where and when the park network leaves its limits: overloads and voltages out of band.

A run's network series are scanned a block of rows at a time (:class:`GridScan`): a minute
year's voltages alone are 450 MB, so a judge holds one block of each at once, never the
three whole; what it finds is what one pass over the whole arrays finds
(:func:`find_violations`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from twin import data

#: the order of the kinds in a list of violations
KINDS = ("not_converged", "line_overload", "trafo_overload", "undervoltage", "overvoltage")


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


class _Tally:
    """One kind's elements over the blocks: first time, steps and worst value of each."""

    def __init__(self, kind: str, names: Sequence[str], worst_of: str) -> None:
        self.kind, self.names, self.worst_of = kind, list(names), worst_of
        n = len(self.names)
        self.first = np.full(n, -1, dtype=np.int64)
        self.steps = np.zeros(n, dtype=np.int64)
        self.worst = np.full(n, -np.inf if worst_of == "max" else np.inf)

    def add(self, time_s: np.ndarray, values: np.ndarray, bad: np.ndarray) -> None:
        for j in np.flatnonzero(bad.any(axis=0)):
            rows = np.flatnonzero(bad[:, j])
            col = values[rows, j]
            if self.first[j] < 0:
                self.first[j] = int(time_s[rows[0]])
            self.steps[j] += len(rows)
            pick = max if self.worst_of == "max" else min
            self.worst[j] = pick(float(self.worst[j]),
                                 float(col.max() if self.worst_of == "max" else col.min()))

    def found(self) -> list[Violation]:
        return [Violation(self.kind, self.names[j], int(self.first[j]), int(self.steps[j]),
                          float(self.worst[j])) for j in np.flatnonzero(self.steps)]


class GridScan:
    """A recorded network's limits and extremes, gathered a block of rows at a time.

    Feed :meth:`add` the blocks in time order; then :meth:`violations` lists every element
    that left its limits, and the attributes hold the extremes over the finite values (NaN
    where there were none), the steps with any violation and those that did not converge.
    NaN (non-converged steps, isolated buses) never counts as a violation.
    """

    def __init__(self, bus_names: Sequence[str], line_names: Sequence[str],
                 trafo_names: Sequence[str]) -> None:
        self.lo, self.hi, self.cap = limits()
        self._tallies = {"line_overload": _Tally("line_overload", line_names, "max"),
                         "trafo_overload": _Tally("trafo_overload", trafo_names, "max"),
                         "undervoltage": _Tally("undervoltage", bus_names, "min"),
                         "overvoltage": _Tally("overvoltage", bus_names, "max")}
        nan = float("nan")  # an extreme not seen yet
        self.vm_min_pu = self.vm_max_pu = nan
        self.line_loading_max_pct = self.trafo_loading_max_pct = nan
        self.violation_steps = 0
        self.not_converged_steps = 0
        self._failed_first: int | None = None

    def add(self, time_s: np.ndarray, vm_pu: np.ndarray, line_loading_pct: np.ndarray,
            trafo_loading_pct: np.ndarray, converged: np.ndarray | None = None) -> None:
        """The next block of rows: (rows, elements) arrays and each row's time (s)."""
        lo, hi, cap = self.lo, self.hi, self.cap
        with np.errstate(invalid="ignore"):
            low, high = vm_pu < lo, vm_pu > hi
            lines, trafos = line_loading_pct > cap, trafo_loading_pct > cap
        self._tallies["line_overload"].add(time_s, line_loading_pct, lines)
        self._tallies["trafo_overload"].add(time_s, trafo_loading_pct, trafos)
        self._tallies["undervoltage"].add(time_s, vm_pu, low)
        self._tallies["overvoltage"].add(time_s, vm_pu, high)
        self.violation_steps += int((low.any(axis=1) | high.any(axis=1) | lines.any(axis=1)
                                     | trafos.any(axis=1)).sum())
        self.vm_min_pu = _extreme(self.vm_min_pu, vm_pu, np.min)
        self.vm_max_pu = _extreme(self.vm_max_pu, vm_pu, np.max)
        self.line_loading_max_pct = _extreme(self.line_loading_max_pct, line_loading_pct, np.max)
        self.trafo_loading_max_pct = _extreme(self.trafo_loading_max_pct, trafo_loading_pct,
                                              np.max)
        if converged is not None:
            failed = np.flatnonzero(np.asarray(converged) < 0.5)
            if len(failed) and self._failed_first is None:
                self._failed_first = int(time_s[failed[0]])
            self.not_converged_steps += int(len(failed))

    def violations(self) -> list[Violation]:
        """Every element that left its limits, worst first within each kind (the steps that
        did not converge one entry, first)."""
        found = [v for t in self._tallies.values() for v in t.found()]
        if self._failed_first is not None:
            found.append(Violation("not_converged", "power flow", self._failed_first,
                                   self.not_converged_steps, float("nan")))
        return sorted(found, key=lambda v: (KINDS.index(v.kind), -v.steps))


def _extreme(seen: float, values: np.ndarray, fn: np.ufunc | object) -> float:
    """``fn`` (np.min, np.max) of ``seen`` and the finite ``values`` (NaN: none yet)."""
    with np.errstate(invalid="ignore"):
        # NaN left aside without a masked copy: a finite answer is the finite values' own
        here = (np.fmin if fn is np.min else np.fmax).reduce(values, axis=None) \
            if values.size and fn in (np.min, np.max) else np.nan
    if not np.isfinite(here):  # none finite, or an infinity: the finite values alone
        with np.errstate(invalid="ignore"):
            finite = values[np.isfinite(values)]
        if not finite.size:
            return seen
        here = fn(finite)  # type: ignore[operator]
    here = float(here)
    return here if seen != seen else float(fn([seen, here]))  # type: ignore[operator]


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
    scan = GridScan(bus_names, line_names, trafo_names)
    scan.add(np.asarray(time_s), vm_pu, line_loading_pct, trafo_loading_pct, converged)
    return scan.violations()
