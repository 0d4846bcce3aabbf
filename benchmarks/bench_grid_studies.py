"""Benchmark: the planner's grid studies on a recorded run of the reference park.

Times, on one run file (a year of ``scenarios/park.yaml`` for the README's figures):

- loading the run's steps and rebuilding its network;
- the critical steps' selection (one block of power flows over every step);
- N-1 on the critical steps (every line circuit and transformer out);
- N-1 on every step: ``--sample K`` contingencies on every step, extrapolated to all of them
  (``--sample 0`` solves them all), and how far the critical steps' worst cases fall short of
  every step's on those contingencies;
- the hosting capacity of PV, wind, storage and EV charging at every substation;
- the IEC 60909 short-circuit levels.

    .venv/bin/python -m twin run scenarios/park.yaml --out results/year
    .venv/bin/python benchmarks/bench_grid_studies.py results/year/park.h5 [--sample 8]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from twin import data  # noqa: E402
from twin.studies.grid import contingency, hosting, shortcircuit  # noqa: E402
from twin.studies.grid.points import critical_steps, load_points  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="a run's HDF5 file")
    ap.add_argument("--sample", type=int, default=8, help="contingencies timed on every "
                    "step and extrapolated (0: all)")
    args = ap.parse_args()

    t = time.perf_counter()
    pts = load_points(args.run)
    print(f"load the run and its network: {time.perf_counter() - t:6.1f} s  "
          f"({len(pts.p_mw)} steps, {len(pts.net.bus)} buses)")
    t = time.perf_counter()
    steps = critical_steps(pts, int(data.load("grid_studies")["critical_per_element"]))
    print(f"critical steps:              {time.perf_counter() - t:6.1f} s  ({len(steps)})")
    every = contingency.outages(pts.net)
    t = time.perf_counter()
    crit = contingency.screen(pts, steps)
    res = crit
    print(f"N-1, critical steps:         {time.perf_counter() - t:6.1f} s  ({len(every)} "
          f"contingencies; solvers {res.build_s:.1f} s, power flows {res.solve_s:.1f} s)")
    sample = every if args.sample <= 0 else every[::max(1, len(every) // args.sample)]
    t = time.perf_counter()
    res = contingency.screen(pts, None, only=sample)
    took = time.perf_counter() - t
    per = took / (len(sample) + 1)  # the base case is solved too
    print(f"N-1, every step:             {per * (len(every) + 1):6.1f} s  (measured "
          f"{took:.1f} s on {len(sample)} contingencies x {len(pts.p_mw)} steps, "
          f"{1e3 * per / len(pts.p_mw):.3f} ms per power flow)")
    worst = {r["contingency"]: r.get("worst_loading_pct", 0.0) for r in crit.rows}
    gap = max(r.get("worst_loading_pct", 0.0) - worst[r["contingency"]] for r in res.rows)
    missed = sum(bool(r.get("overloaded")) and not any(
        c.get("overloaded") for c in crit.rows if c["contingency"] == r["contingency"])
        for r in res.rows)
    print(f"  the critical steps against every step, on those contingencies: worst loading "
          f"higher by {gap:.2f} points at most, {missed} overloaded contingencies missed")
    res = hosting.hosting(pts)
    print(f"hosting capacity:            {res.seconds:6.1f} s  ({len(res.buses)} substations x "
          f"{len(hosting.TECHS)} technologies, {len(res.steps)} steps)")
    rows, seconds = shortcircuit.levels(pts.net)
    print(f"short-circuit levels:        {seconds:6.1f} s  ({len(rows)} buses)")


if __name__ == "__main__":
    main()
