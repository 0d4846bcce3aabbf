"""Benchmark: the park with pandapower.runpp per step against the fast power flow.

Runs, in one process and on the same scenario (the reference park), the co-simulation with
the grid simulator solving each step by

- ``naive``: writing each element's power through pandas (``net.load.at[...]``) and calling
  ``pandapower.runpp``: the coupling one writes first;
- ``runpp``: whole-column writes and ``pandapower.runpp`` (the twin's reference solver);
- ``fast``: the twin's fast solver built once from the same network (lightsim2grid's
  Newton-Raphson on pandapower's compiled model, warm-started).

The two runpp couplings run on a shortened period and are extrapolated to a year; the fast
path runs a longer one (``--fast-days``, 30 by default: its start-up, a fixed cost, would
otherwise weigh on a 2-day run's time per step). Every coupling steps the park one step at a
time through mosaik (``bench_year.py`` times block stepping). Prints the grid simulator's time per step, the whole
co-simulation's time per step, and the ratios.

    .venv/bin/python benchmarks/bench_grid.py [--days 2] [--fast-days 30]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._calibrate import python_loop_s  # noqa: E402
from twin import runner, scenario  # noqa: E402
from twin.cosim import network  # noqa: E402
from twin.models.grid import topology  # noqa: E402
from twin.models.grid.solver import RunppSolver  # noqa: E402


class NaiveSolver(RunppSolver):
    """The stock coupling: every element's power written one by one through pandas
    (``net.load.at[...]``), then one ``pandapower.runpp`` (:meth:`RunppSolver.run`)."""

    def write(self, load_p_mw: Any, load_q_mvar: Any, sgen_p_mw: Any, sgen_q_mvar: Any,
              storage_p_mw: Any = None, storage_q_mvar: Any = None) -> None:
        net = self.net
        for k, idx in enumerate(self.load_index):
            net.load.at[idx, "p_mw"] = float(load_p_mw[k])
            net.load.at[idx, "q_mvar"] = float(load_q_mvar[k])
        for k, idx in enumerate(self.sgen_index):
            net.sgen.at[idx, "p_mw"] = float(sgen_p_mw[k])
            net.sgen.at[idx, "q_mvar"] = float(sgen_q_mvar[k])
        for values, col in ((storage_p_mw, "p_mw"), (storage_q_mvar, "q_mvar")):
            if values is not None:
                for k, idx in enumerate(self.storage_index):
                    net.storage.at[idx, col] = float(values[k])


def _run(s: scenario.Scenario, solver: str) -> tuple[float, float, int, Any]:
    grid = dataclasses.replace(s.grid, solver=solver)
    with tempfile.TemporaryDirectory() as tmp:
        result = runner.run(dataclasses.replace(s, grid=grid), out_dir=tmp, block_steps=1)
        from twin.core.results import open_run

        with open_run(result.path) as run:
            net_mw = run.series("grid", "p_net_mw")
    steps = result.n_steps
    t_grid = result.timing["Grid"]["step_s"] / steps
    return t_grid, result.phases_s["simulate"] / steps, steps, net_mw


def main() -> None:
    """Run the three couplings and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=2.0, help="period of the runpp runs")
    parser.add_argument("--fast-days", type=float, default=30.0,
                        help="period of the fast run")
    args = parser.parse_args()
    topology.SOLVERS["naive"] = NaiveSolver
    park = scenario.load(ROOT / "scenarios" / "park.yaml")
    s = park.with_days(args.days)
    results = {"fast": _run(park.with_days(args.fast_days), "lightsim2grid")}
    results.update({name: _run(s, solver) for name, solver in
                    (("runpp", "pandapower"), ("naive", "naive"))})
    buses = len(network.build_grid(s).net.bus)
    print(f"reference park, {buses} buses; runs of {results['fast'][2]} steps of 900 s "
          f"({args.fast_days:g} days, fast) and {results['runpp'][2]} steps ({args.days:g} "
          f"days, runpp); speed now: 1e7-addition Python loop {python_loop_s():.2f} s")
    print(f"{'coupling':<8} {'grid ms/step':>13} {'co-sim ms/step':>15} {'year (s)':>9} "
          f"{'grid ratio':>11} {'co-sim ratio':>13}")
    fast_grid, fast_all = results["fast"][0], results["fast"][1]
    for name, (t_grid, t_all, _, _) in results.items():
        print(f"{name:<8} {t_grid * 1e3:>13.3f} {t_all * 1e3:>15.3f} {t_all * 35040:>9.0f} "
              f"{t_grid / fast_grid:>10.1f}x {t_all / fast_all:>12.1f}x")
    n = len(results["runpp"][3])
    diff = float(np.max(np.abs(results["fast"][3][:n] - results["runpp"][3])))
    print(f"largest difference of the PCC exchange, fast vs runpp: {diff:.2e} MW")


if __name__ == "__main__":
    main()
