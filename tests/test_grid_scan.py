"""The network's limits scanned a block of rows at a time give what one pass over the whole
arrays gives, and a run's judge reads its network series in blocks of rows."""

from __future__ import annotations

import numpy as np
import pytest

from twin.accounting import kpi
from twin.models.grid.violations import GridScan, Violation, _extreme, find_violations, limits


def _network(rows: int = 500, seed: int = 7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    vm = rng.normal(1.0, 0.04, (rows, 6))
    lines = rng.uniform(20.0, 115.0, (rows, 5))
    trafos = rng.uniform(30.0, 104.0, (rows, 2))
    converged = (rng.uniform(size=rows) > 0.03).astype(float)
    for a in (vm, lines, trafos):
        a[converged < 0.5] = np.nan
    vm[:, 5] = np.nan  # an isolated bus
    return {"time_s": np.arange(rows) * 900, "vm": vm, "lines": lines, "trafos": trafos,
            "converged": converged}


def _by_hand(n: dict[str, np.ndarray]) -> list[tuple[str, str, int, int, float]]:
    """The violations by a plain loop over every value."""
    lo, hi, cap = limits()
    out = []
    for kind, key, bad, pick in (("line_overload", "lines", lambda x: x > cap, max),
                                 ("trafo_overload", "trafos", lambda x: x > cap, max),
                                 ("undervoltage", "vm", lambda x: x < lo, min),
                                 ("overvoltage", "vm", lambda x: x > hi, max)):
        values = n[key]
        for j in range(values.shape[1]):
            hits = [(i, float(values[i, j])) for i in range(len(values))
                    if not np.isnan(values[i, j]) and bad(values[i, j])]
            if hits:
                out.append((kind, f"{key}{j}", int(n["time_s"][hits[0][0]]), len(hits),
                            pick(v for _, v in hits)))
    return out


def test_blocks_of_rows_give_the_whole_arrays_answer():
    n = _network()
    names = {k: [f"{k}{j}" for j in range(n[k].shape[1])] for k in ("vm", "lines", "trafos")}
    whole = find_violations(n["time_s"], n["vm"], names["vm"], n["lines"], names["lines"],
                            n["trafos"], names["trafos"], n["converged"])
    expected = _by_hand(n)
    assert len(expected) > 5
    assert sorted((v.kind, v.element, v.first_time_s, v.steps, v.worst) for v in whole
                  if v.kind != "not_converged") == sorted(expected)
    failed = np.flatnonzero(n["converged"] < 0.5)
    assert whole[0] == Violation("not_converged", "power flow", int(n["time_s"][failed[0]]),
                                 len(failed), whole[0].worst)
    for rows in (1, 7, 100, 499):
        scan = GridScan(names["vm"], names["lines"], names["trafos"])
        for i in range(0, len(n["time_s"]), rows):
            scan.add(n["time_s"][i:i + rows], n["vm"][i:i + rows], n["lines"][i:i + rows],
                     n["trafos"][i:i + rows], n["converged"][i:i + rows])
        assert [dataclass_tuple(v) for v in scan.violations()] == [dataclass_tuple(v)
                                                                   for v in whole]
        lo, hi, cap = limits()
        with np.errstate(invalid="ignore"):
            steps = ((n["vm"] < lo) | (n["vm"] > hi)).any(axis=1) | (
                n["lines"] > cap).any(axis=1) | (n["trafos"] > cap).any(axis=1)
        assert scan.violation_steps == int(steps.sum())
        assert scan.not_converged_steps == len(failed)
        assert scan.vm_min_pu == np.nanmin(n["vm"])
        assert scan.vm_max_pu == np.nanmax(n["vm"])
        assert scan.line_loading_max_pct == np.nanmax(n["lines"])
        assert scan.trafo_loading_max_pct == np.nanmax(n["trafos"])


def dataclass_tuple(v: Violation) -> tuple:
    return (v.kind, v.element, v.first_time_s, v.steps, "nan" if v.worst != v.worst else v.worst)


class _Run:
    """A recorded network as plain arrays, counting the rows each read takes."""

    def __init__(self, n: dict[str, np.ndarray]) -> None:
        self.time_s = n["time_s"]
        self.data = {"vm_pu": n["vm"], "line_loading_pct": n["lines"],
                     "trafo_loading_pct": n["trafos"], "converged": n["converged"]}
        self.read_rows: list[int] = []

    def has(self, entity: str, attr: str) -> bool:
        return attr in self.data

    def info(self, entity: str, attr: str):
        return type("Info", (), {"columns": tuple(f"{attr}{j}" for j in
                                                  range(self.data[attr].shape[1]))})

    def series(self, entity: str, attr: str) -> np.ndarray:
        self.read_rows.append(len(self.data[attr]))
        return self.data[attr]

    def rows(self, entity: str, attr: str, start: int, stop: int) -> np.ndarray:
        part = self.data[attr][start:stop]
        self.read_rows.append(len(part))
        return part


def test_judge_reads_the_network_in_blocks_of_rows(monkeypatch):
    n = _network(rows=300, seed=3)
    monkeypatch.setattr(kpi, "SCAN_ROWS", 64)
    run = _Run(n)
    found = kpi.grid_violations(run, "pcc")
    k = kpi.grid_kpis(run, "pcc")
    vectors = run.read_rows[1:]  # the first read: the scalar convergence flags
    assert vectors
    assert max(vectors) <= 64
    assert sum(vectors) == 3 * 300  # each row of the three once: KPIs and violations share it
    whole = _Run(n)
    monkeypatch.setattr(kpi, "SCAN_ROWS", 10_000)
    assert [dataclass_tuple(v) for v in kpi.grid_violations(whole, "pcc")] == [
        dataclass_tuple(v) for v in found]
    assert k["grid_vm_min_pu"].value == pytest.approx(np.nanmin(n["vm"]), abs=0)
    assert k["grid_violation_steps"].value == kpi.grid_kpis(whole, "pcc")[
        "grid_violation_steps"].value > 0


def test_extremes_skip_nan_and_infinities():
    """The extremes are the finite values' (NaN, +-inf left aside), as a masked copy gives."""
    rng = np.random.default_rng(11)
    for fill in ([], [np.nan], [np.inf], [-np.inf], [np.nan, np.inf, -np.inf]):
        v = rng.random((50, 7)).astype(np.float32)
        v.flat[rng.choice(v.size, 5 * len(fill), replace=False)] = np.repeat(fill, 5)
        for fn in (np.min, np.max):
            want = float(fn(v[np.isfinite(v)]))
            assert _extreme(float("nan"), v, fn) == want
            assert _extreme(0.5, v, fn) == float(fn([0.5, want]))
    assert np.isnan(_extreme(float("nan"), np.full((3, 2), np.nan), np.min))
    assert _extreme(0.9, np.full((3, 2), np.inf), np.max) == 0.9
