"""Benchmark: one simulated year of the reference park, beside the couplings it replaces.

Runs the scenario as ``twin run`` does (block stepping where the run allows it,
:mod:`twin.cosim.blocking`) and prints its wall time against the target, the process's peak
memory, the time per step spent in each simulator's own code beside mosaik's scheduling, and
then, in the same process, the baselines over ``--baseline-days`` extrapolated to the same
period: the same twin stepping one step at a time through mosaik, and the naive coupling
(every element's power written through pandas and one ``pandapower.runpp`` per step:
``benchmarks/bench_grid.py``'s ``NaiveSolver``). Last, how long ``twin run`` takes from the
start of its process to its first recorded step, and the CPU time it spent until then (what a
shared machine's load does not stretch); ``--first-step RUNS`` prints only that, RUNS times.

    .venv/bin/python benchmarks/bench_year.py [SCENARIO] [--days N] [--controller rule|ems]
        [--step S] [--baseline-days 2] [--no-baseline] [--first-step RUNS]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._calibrate import python_loop_s  # noqa: E402
from benchmarks.bench_grid import NaiveSolver  # noqa: E402
from twin import runner, scenario  # noqa: E402
from twin.core.results import Run  # noqa: E402
from twin.cosim import blocking  # noqa: E402
from twin.models.grid import topology  # noqa: E402

#: wall-time targets of a simulated year (s): by controller, and at 1-minute steps
TARGETS = {"rule": 10.0, "ems": 30.0, "minute": 180.0}
MEMORY_TARGET_MB = 1536.0
FIRST_STEP_TARGET_S = 3.0

_FIRST_STEP = """
import os, sys, time
t0 = float(sys.argv[1])
from twin.apps.cli import main  # first, as the twin command imports it (twin.core.lean_imports)
from twin import runner
run = runner.run
def first_step(*args, **kwargs):
    def progress(t):
        cpu = os.times()
        print(f"{time.time() - t0:.3f} {cpu.user + cpu.system:.3f}", flush=True)
        os._exit(0)
    kwargs["progress"] = progress
    return run(*args, **kwargs)
runner.run = first_step
sys.exit(main(["run", sys.argv[2], "--out", sys.argv[3]]))
"""


def _run(s: scenario.Scenario, block_steps: int | None = None
         ) -> tuple[float, runner.RunResult, list[tuple[float, float]], float, float,
                    tuple[int, float]]:
    """Run ``s``: wall time, result, when each step was recorded (perf_counter and this
    process's CPU time), the run's CPU time, the part of it in the run's own thread (the
    rest: worker threads beside it), and the EMS's plans (:func:`_plans`)."""
    recorded: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        t0, c0, m0 = time.perf_counter(), time.process_time(), time.thread_time()
        result = runner.run(s, out_dir=tmp, block_steps=block_steps,
                            progress=lambda _: recorded.append((time.perf_counter(),
                                                                time.process_time())))
        wall, cpu, cpu_main = (time.perf_counter() - t0, time.process_time() - c0,
                               time.thread_time() - m0)
        return wall, result, recorded, cpu, cpu_main, _plans(result.path)


def _plans(path: Path) -> tuple[int, float]:
    """The EMS's plans in the run file ``path``: how many and the seconds their LPs took
    (built, solved and read, as the EMS records them; no EMS: 0, 0)."""
    with Run(path) as run:
        ems = run.entities("ems")
        if not ems:
            return 0, 0.0
        made = run.series(ems[0], "replanned") > 0.5
        return int(made.sum()), float(run.series(ems[0], "solve_ms")[made].sum()) / 1e3


def _per_step(recorded: list[tuple[float, float]]) -> tuple[float, float]:
    """Wall and CPU time per step between a run's first and last recorded step (without the
    fixed costs of starting and ending a run)."""
    n = len(recorded) - 1
    return ((recorded[-1][0] - recorded[0][0]) / n, (recorded[-1][1] - recorded[0][1]) / n)


def _year_s(result: runner.RunResult, recorded: list[tuple[float, float]], steps: int
            ) -> tuple[float, float]:
    """A step-by-step run's time per step between its first and last recorded step, and its
    time extrapolated to ``steps`` steps: its build once, its KPIs in proportion."""
    per_step = _per_step(recorded)[0]
    ph = result.phases_s
    return per_step, ph["build"] + per_step * steps + ph["kpis"] * steps / result.n_steps


def first_step_s(scenario_path: str) -> tuple[float, float]:
    """Seconds from the start of a ``twin run`` process to its first recorded step: wall
    clock, and the process's CPU time (user + system) until then."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        proc = subprocess.run([sys.executable, "-c", _FIRST_STEP, repr(t0), scenario_path, tmp],
                              cwd=ROOT, capture_output=True, text=True, check=False)
    try:
        wall, cpu = proc.stdout.strip().splitlines()[-1].split()
        return float(wall), float(cpu)
    except (ValueError, IndexError):
        sys.exit(f"twin run failed before its first step: {proc.stderr.strip()[-500:]}")


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default=str(ROOT / "scenarios" / "park.yaml"))
    parser.add_argument("--days", type=float, default=None, help="shorten the period")
    parser.add_argument("--controller", choices=("rule", "ems"), default=None,
                        help="override the scenario's controller")
    parser.add_argument("--step", type=int, default=None, help="override the step (s)")
    parser.add_argument("--baseline-days", type=float, default=2.0,
                        help="period of the baseline runs, extrapolated")
    parser.add_argument("--no-baseline", action="store_true", help="only the run itself")
    parser.add_argument("--first-step", type=int, default=0, metavar="RUNS",
                        help="only twin run's time to its first step, RUNS fresh processes")
    args = parser.parse_args()
    if args.first_step:
        _machine_line()
        for _ in range(args.first_step):
            _first_step_line(args.scenario)
        return

    s = scenario.load(args.scenario)
    if args.step:
        s = dataclasses.replace(s, period=dataclasses.replace(s.period, step=args.step))
    if args.days:
        s = s.with_days(args.days)
    if args.controller:
        s = dataclasses.replace(s, controller=dataclasses.replace(s.controller,
                                                                  kind=args.controller))
    n_entities = sum(1 for _ in s.entity_names())
    block = blocking.block_steps(s)
    producers = blocking.producer_steps(s)
    wall, result, recorded, cpu, cpu_main, (n_plans, plans_s) = _run(s)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    steps = result.n_steps
    year_steps = round(365 * 86400 / s.period.step_s)
    target = TARGETS["minute" if s.period.step_s == 60 else s.controller.kind]
    print(f"scenario   {s.path.name}: {n_entities} entities, {steps} steps of "
          f"{s.period.step_s} s, controller {s.controller.kind}, "
          + (f"blocks of {block} steps" if block > 1 else
             f"weather, PV, wind, AOI in blocks of {producers} steps, the rest step by step"
             if producers > 1 else "step by step"))
    _machine_line()
    ph = result.phases_s
    year = wall if steps == year_steps else (
        ph["build"] + (ph["simulate"] + ph["kpis"]) * year_steps / steps)
    print(f"wall       {wall:.1f} s for the run ({result.phases_s['simulate'] / steps * 1e3:.3f} "
          f"ms per simulated step), {year:.1f} s per simulated year"
          + ("" if steps == year_steps else " (extrapolated)")
          + f"; target <= {target:g} s: {'met' if year <= target else 'NOT met'}")
    print("phases     " + ", ".join(f"{k} {v:.1f} s" for k, v in result.phases_s.items()))
    print(f"cpu        {cpu:.1f} s of this process's CPU time for the run, {cpu_main:.1f} s of "
          f"it in the run's thread, {cpu - cpu_main:.1f} s in worker threads beside it (on a "
          "loaded machine the wall time is stretched by the other programs' share of the "
          "cores)")
    print(f"memory     peak {peak_mb:.0f} MB resident (the whole process); target <= "
          f"{MEMORY_TARGET_MB:g} MB: {'met' if peak_mb <= MEMORY_TARGET_MB else 'NOT met'}")
    print()
    print(f"{'simulator':<10} {'step ms':>9} {'get_data ms':>12} {'share':>7} "
          f"{'beside ms':>10}   (beside: wall time per step in a worker thread, the "
          "recorder's writes)")
    own = 0.0
    for sid, t in sorted(result.timing.items(), key=lambda kv: -kv[1]["step_s"]):
        per = (t["step_s"] + t["get_data_s"]) / steps
        own += per
        print(f"{sid:<10} {t['step_s'] / steps * 1e3:>9.3f} {t['get_data_s'] / steps * 1e3:>12.3f} "
              f"{per * steps / wall:>7.1%} {t.get('thread_s', 0.0) / steps * 1e3:>10.3f}")
    if n_plans:
        ems_step = result.timing.get("EMS", {}).get("step_s", 0.0)
        print(f"{'  plans':<10} {plans_s / steps * 1e3:>9.3f} {'':>12} {plans_s / wall:>7.1%}"
              f"   (the LPs of the EMS's {n_plans} plans, {plans_s:.1f} s; its step "
              f"without them {(ems_step - plans_s) / steps * 1e3:.3f} ms)")
    rest = result.phases_s["simulate"] / steps - own
    print(f"{'adapters':<10} {own * 1e3:>9.3f} {'':>12} {own * steps / wall:>7.1%}")
    print(f"{'mosaik':<10} {rest * 1e3:>9.3f} {'':>12} {rest * steps / wall:>7.1%}"
          "   (scheduling, data flow between the simulators, block hand-over)")
    if not args.no_baseline:
        fixed_cpu = cpu - _per_step(recorded)[1] * steps  # build, KPIs: CPU outside the steps
        cpu_year = fixed_cpu + (cpu - fixed_cpu) * year_steps / steps
        _baselines(s, args.baseline_days, year, year_steps, (cpu_year, fixed_cpu))
    _first_step_line(str(s.path))


def _machine_line() -> None:
    calibration, calibration_cpu = python_loop_s(), python_loop_s(clock="cpu")
    print(f"machine    {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; speed now: 1e7-addition Python loop "
          f"{calibration:.2f} s (CPU {calibration_cpu:.2f} s); load average "
          f"{os.getloadavg()[0]:.2f}")


def _first_step_line(scenario_path: str) -> None:
    wall, cpu = first_step_s(scenario_path)
    print(f"first step twin run {Path(scenario_path).name} records its first step {wall:.2f} s "
          f"after its process starts ({cpu:.2f} s of CPU); target < {FIRST_STEP_TARGET_S:g} s: "
          f"{'met' if wall < FIRST_STEP_TARGET_S else 'NOT met'}")


def _baselines(s: scenario.Scenario, days: float, year: float, year_steps: int,
               cpu: tuple[float, float]) -> None:
    """The same scenario over ``days`` step by step, and with the naive coupling; ``cpu``:
    this run's CPU time for the year and the part of it outside the steps."""
    short = s.with_days(days)
    runs = {"step by step": _run(short, block_steps=1)[1:3]}
    if s.grid is not None:
        topology.SOLVERS["naive"] = NaiveSolver
        naive = dataclasses.replace(short, grid=dataclasses.replace(short.grid, solver="naive"))
        runs["naive"] = _run(naive, block_steps=1)[1:3]
    cpu_year, fixed_cpu = cpu
    print()
    print(f"baselines  {days:g} days each, step by step through mosaik, extrapolated to the "
          f"year; ratio = their year / this run's ({year:.1f} s wall, {cpu_year:.1f} s CPU; "
          "a baseline's CPU year: its CPU per step times the year's steps plus this run's "
          f"{fixed_cpu:.1f} s outside the steps)")
    for name, (result, recorded) in runs.items():
        per_step, other = _year_s(result, recorded, year_steps)
        per_cpu = _per_step(recorded)[1]
        other_cpu = fixed_cpu + per_cpu * year_steps
        print(f"{name:<13} {per_step * 1e3:>8.3f} ms per step {other:>9.1f} s per year "
              f"{other / year:>8.1f}x   CPU {per_cpu * 1e3:>8.3f} ms per step "
              f"{other_cpu:>9.1f} s per year {other_cpu / cpu_year:>8.1f}x")


if __name__ == "__main__":
    main()
