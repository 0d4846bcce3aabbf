"""The benchmark's couplings solve one power flow per step, no more.

The reference park runs a few steps with each coupling ``benchmarks/bench_grid.py`` and
``benchmarks/bench_year.py`` time: the stock one (elements written through pandas,
``pandapower.runpp``), the twin's runpp reference (whole columns, ``pandapower.runpp``) and
the fast solver. Every call of
``pandapower.runpp`` and of each solver's power flow is counted: the runpp couplings must
call ``runpp`` once per step, the fast one never after building (once, to compile the
network) and its Newton-Raphson once per step (the rows its time-series chain is fed, or the
bare solver's calls), also when the run steps in blocks.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pandapower as pp
import pytest

from benchmarks.bench_grid import NaiveSolver
from twin import runner, scenario
from twin.models.grid import network, topology
from twin.models.grid.solver import FastSolver, RunppSolver, _Chain

ROOT = Path(__file__).resolve().parents[1]
STEPS = 3


@pytest.fixture(scope="module")
def park() -> scenario.Scenario:
    s = scenario.load(ROOT / "scenarios" / "park.yaml")
    return s.with_days(STEPS * s.period.step_s / 86400)


@pytest.mark.parametrize(("solver", "block_steps", "runpp_at_build", "runpp_per_step"), [
    ("naive", 1, 0, 1),
    ("pandapower", 1, 0, 1),
    ("lightsim2grid", 1, 1, 0),
    ("lightsim2grid", None, 1, 0),  # in blocks: one Newton-Raphson per step still
])
def test_each_baseline_solves_once_per_step(park: scenario.Scenario, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch, solver: str,
                                            block_steps: int | None, runpp_at_build: int,
                                            runpp_per_step: int) -> None:
    monkeypatch.setitem(topology.SOLVERS, "naive", NaiveSolver)
    calls = {"runpp": 0, "solve": 0, "chained": 0}
    runpp = pp.runpp

    def counted_runpp(net: Any, **kwargs: Any) -> None:
        calls["runpp"] += 0 if calls["sizing"] else 1
        runpp(net, **kwargs)

    monkeypatch.setattr(pp, "runpp", counted_runpp)
    # the planning rules' design cases (power flows while the network is built) are not steps
    calls["sizing"] = 0
    fit = network.fit_voltages

    def sizing(*args: Any, **kwargs: Any) -> Any:
        calls["sizing"] += 1
        try:
            return fit(*args, **kwargs)
        finally:
            calls["sizing"] -= 1

    monkeypatch.setattr(network, "fit_voltages", sizing)
    # what one step's power flow calls: runpp's solve, or the fast solver's Newton-Raphson
    # (a row of its chain, or a call of the bare solver)
    targets = ((FastSolver, "_newton", 1), (_Chain, "run", 0)) if solver == "lightsim2grid" \
        else ((RunppSolver, "run", 1),)
    for cls, name, one in targets:
        monkeypatch.setattr(cls, name, _counted(getattr(cls, name), one, calls))
    s = dataclasses.replace(park, grid=dataclasses.replace(park.grid, solver=solver))
    result = runner.run(s, out_dir=tmp_path, block_steps=block_steps)
    assert result.n_steps == STEPS
    assert calls["sizing"] == 0
    assert calls["solve"] == STEPS
    assert calls["chained"] == (STEPS if solver == "lightsim2grid" else 0)  # the fast path
    assert calls["runpp"] == runpp_at_build + runpp_per_step * STEPS


def _counted(solve: Any, one: int, calls: dict[str, int]) -> Any:
    """``solve`` counting its Newton-Raphsons: ``one`` a call, or (0) a row of its first
    argument (a chain's injections)."""
    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        if calls["sizing"]:
            return solve(self, *args, **kwargs)
        rows = one or len(args[0])
        calls["solve"] += rows
        calls["chained"] += rows - one
        return solve(self, *args, **kwargs)
    return counted
