"""Benchmark: the park's power flow through lightsim2grid's time-series chain against its bare
solver, in CPU time (stable on a loaded machine, unlike the wall clock).

Two copies of the reference park's network: one solving through the chain (the default,
:class:`twin.models.grid.solver._Chain`), one through the bare solver (the chain switched off,
which redoes the Jacobian's pattern and KLU's symbolic analysis every call). Each solves the
same ``--steps`` states of a random walk of the entities' powers one call per step
(``ParkGrid.step``, as a run one step at a time) and as one block (``ParkGrid.step_block``),
alternately ``--repeats`` times; the median CPU microseconds per step are printed.

    .venv/bin/python benchmarks/bench_chain.py [--steps 960] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._calibrate import python_loop_s  # noqa: E402
from twin import scenario  # noqa: E402
from twin.cosim.network import build_grid  # noqa: E402
from twin.models.grid.topology import ParkGrid  # noqa: E402


def main() -> None:
    """Time both solvers and print their CPU time per step."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=960)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    net = build_grid(scenario.load(ROOT / "scenarios" / "park.yaml")).net
    grids = {"chain": ParkGrid(net), "bare": ParkGrid(net)}
    grids["bare"].topology().solver._chain = None
    rng = np.random.default_rng(1)
    n, k = len(grids["chain"].names), args.steps
    p = np.abs(np.cumsum(rng.normal(0.0, 0.5, (k, n)), axis=0) + rng.uniform(2.0, 10.0, n))
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in grids}
    for _ in range(args.repeats):
        for name, grid in grids.items():
            c0 = time.process_time()
            for row in p:
                grid.step(row, 0.0)
            c1 = time.process_time()
            grid.step_block(p, np.zeros(k))
            times[name].append(((c1 - c0) / k * 1e6, (time.process_time() - c1) / k * 1e6))
    print(f"reference park, {len(net.bus)} buses, {k} states, median of {args.repeats}; speed "
          f"now: 1e7-addition Python loop {python_loop_s():.2f} s")
    for name, rows in times.items():
        one, block = np.median(np.array(rows), axis=0)
        print(f"{name:<6} one call per step {one:6.0f} us CPU per step, in one block "
              f"{block:6.0f} us CPU per step")


if __name__ == "__main__":
    main()
