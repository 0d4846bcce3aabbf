"""Benchmark: one simulated year of the reference park at 15-minute steps.

Prints the wall time of the run, the time per step, and the time per step spent in each
simulator's own ``step``/``get_data`` beside mosaik's scheduling and the start-up, so the
share of coupling overhead is visible.

    .venv/bin/python benchmarks/bench_year.py [SCENARIO] [--days N] [--controller rule|ems]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._calibrate import python_loop_s  # noqa: E402
from twin import runner, scenario  # noqa: E402


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default=str(ROOT / "scenarios" / "park.yaml"))
    parser.add_argument("--days", type=float, default=None, help="shorten the period")
    parser.add_argument("--controller", choices=("rule", "ems"), default=None,
                        help="override the scenario's controller")
    args = parser.parse_args()

    s = scenario.load(args.scenario)
    if args.days:
        s = s.with_days(args.days)
    if args.controller:
        s = dataclasses.replace(s, controller=dataclasses.replace(s.controller,
                                                                  kind=args.controller))
    n_entities = sum(1 for _ in s.entity_names())
    calibration = python_loop_s()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = runner.run(s, out_dir=tmp)
        wall = time.perf_counter() - t0
    steps = result.n_steps
    print(f"scenario   {s.path.name}: {n_entities} entities, {steps} steps of "
          f"{s.period.step_s} s, controller {s.controller.kind}")
    print(f"machine    {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; speed now: 1e7-addition Python loop "
          f"{calibration:.2f} s")
    ph = result.phases_s
    year = ph["build"] + ph["kpis"] * 35040 / steps + ph["simulate"] * 35040 / steps
    print(f"wall       {wall:.1f} s for the run ({ph['simulate'] / steps * 1e3:.3f} ms per "
          f"simulated step), {year:.1f} s per simulated year"
          + ("" if steps == 35040 else " (extrapolated)"))
    print("phases     " + ", ".join(f"{k} {v:.1f} s" for k, v in result.phases_s.items()))
    print()
    print(f"{'simulator':<10} {'step ms':>9} {'get_data ms':>12} {'share':>7}")
    own = 0.0
    for sid, t in sorted(result.timing.items(), key=lambda kv: -kv[1]["step_s"]):
        per = (t["step_s"] + t["get_data_s"]) / steps
        own += per
        print(f"{sid:<10} {t['step_s'] / steps * 1e3:>9.3f} {t['get_data_s'] / steps * 1e3:>12.3f} "
              f"{per * steps / wall:>7.1%}")
    sim = result.phases_s["simulate"]
    rest = sim / steps - own
    print(f"{'adapters':<10} {own * 1e3:>9.3f} {'':>12} {own * steps / wall:>7.1%}")
    print(f"{'mosaik':<10} {rest * 1e3:>9.3f} {'':>12} {rest * steps / wall:>7.1%}"
          "   (scheduling and data flow between the simulators)")
    print(f"ratio      mosaik coupling / model time = {rest / own:.2f}")


if __name__ == "__main__":
    main()
