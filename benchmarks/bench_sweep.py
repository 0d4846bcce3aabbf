"""Benchmark: a study on a Dask local cluster against the same runs one after another.

Two studies. By default the reference park (``scenarios/park.yaml``, without the AC power
flow, as the planners' sweeps run it) over ``--cases`` weather years (``park.seed`` 1..N),
each run ``--days`` long: no two cases share a weather year, so nothing is replayed. With
``--study FILE`` (e.g. ``studies/sizing-2027.yaml``) that study's cases: all of them with
``--all``, else ``--cases`` of them, whole configurations spread evenly over the study with
each one's every weather year, runs as long as the study says (or ``--days``).

In this process the benchmark first times cases alone (imports done beforehand, as in a warm
worker): one that computes everything, and for a study whose cases share weather years
(:mod:`adapters.replay`) one that takes the weather, loads and AOI blocks back from it. Then it
starts a LocalCluster of ``--workers`` processes with one thread each, warms them, and times
the cases through ``twin.studies.sweep.run_study`` (table written, every case through the
case store). It prints the machine's calibration before and after, the study's wall time,
the CPU time the workers spent on the cases (by how they ran: first of a weather year,
replayed, alone), and::

    parallel efficiency = the cases' time alone / (workers x study time)

For a subset of a study it extrapolates to the whole study (said so): its runs that compute
everything (at most one per weather year and worker) and those that replay, at the times
measured alone over the workers at the measured efficiency (what this machine's load made
of it), and at the workers' CPU time per case over free cores.

    .venv/bin/python benchmarks/bench_sweep.py [--cases 100] [--days 365] [--workers 2]
    .venv/bin/python benchmarks/bench_sweep.py --study studies/sizing-2027.yaml --cases 12
    .venv/bin/python benchmarks/bench_sweep.py --study studies/sizing-2027.yaml --all
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._calibrate import python_loop_s  # noqa: E402
from twin.studies import spec as sweep_spec  # noqa: E402
from twin.studies import sweep  # noqa: E402

STUDY = """\
name: bench-sweep
base: {base}
fixed: {{grid: null}}
parameters:
  park.seed: {seeds}
options: {{days: {days}, output: {output}}}
"""


def _machine(when: str) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{when:<10} {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; speed now: 1e7-addition Python loop "
          f"{python_loop_s():.2f} s (CPU {python_loop_s(clock='cpu'):.2f} s); "
          f"load average {load}")


def _spread(cases: list[sweep_spec.Case], n: int) -> list[sweep_spec.Case]:
    """About ``n`` of ``cases``: whole configurations (a case's every weather year) spread
    evenly over the study."""
    configs: dict[str, list[sweep_spec.Case]] = {}
    for c in cases:
        key = repr({k: v for k, v in c.params.items() if k != sweep_spec.SEED_PATH})
        configs.setdefault(key, []).append(c)
    groups = list(configs.values())
    m = max(1, min(len(groups), round(n / len(groups[0]))))
    return [c for j in range(m) for c in groups[j * len(groups) // m]]


def _alone(study: sweep_spec.Study, cases: list[sweep_spec.Case]) -> dict[str, tuple[float, float]]:
    """Wall and CPU time of cases run alone in this process, by how they ran: the first of a
    weather year (computing everything), then one replaying from it."""
    from adapters import replay

    replay.forget()
    job = study.job()
    first = cases[0]
    again = next((c for c in cases[1:] if c.shared == first.shared), None)
    out = {}
    for case in (first, again):
        if case is None:
            continue
        t0, c0 = time.perf_counter(), time.process_time()
        row = sweep.run_case(job, case)
        assert row["status"] == sweep.OK, row["error"]
        out[row["replay"]] = (time.perf_counter() - t0, time.process_time() - c0)
    replay.forget()
    return out


def main() -> None:
    """Time cases alone, then the study on the cluster; print the efficiency."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, default=None,
                        help="a study file (default: weather years of the reference park)")
    parser.add_argument("--all", action="store_true", help="every case of --study")
    parser.add_argument("--cases", type=int, default=100, help="cases to run")
    parser.add_argument("--days", type=float, default=None,
                        help="length of each run (default: the study's; 365 without --study)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    args = parser.parse_args()
    from distributed import Client

    from twin.cosim import world  # noqa: F401 - imports before timing, as in a warm worker

    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        output = Path(tmp) / "bench.parquet"
        if args.study is None:
            days = args.days or 365.0
            text = STUDY.format(base=ROOT / "scenarios" / "park.yaml",
                                seeds=list(range(1, args.cases + 1)), days=days, output=output)
            study = sweep_spec.loads(text, Path(tmp) / "bench.yaml")
            what = (f"reference park without the grid, {args.cases} weather years of "
                    f"{days:g} days")
        else:
            study = sweep_spec.load(args.study)
            if args.days:
                study = sweep_spec.with_days(study, args.days)
            study = dataclasses.replace(study, options=dataclasses.replace(
                study.options, output=output, keep_runs=False))
            days = study.options.days or study.base.period.duration_s / 86400
            what = f"{args.study.name}, {{n}} of its {len(study.cases())} cases of {days:g} days"
        everything = study.cases()
        cases = everything if args.study is None or args.all else _spread(everything,
                                                                          args.cases)
        print(f"study      {what.format(n=len(cases))}, {args.workers} workers")
        _machine("machine")
        # alone: cases of the study's own (a fresh process state: nothing kept before)
        alone = _alone(study, cases)
        for how, (wall, cpu) in alone.items():
            print(f"alone      {how:<9} {wall:.1f} s wall, {cpu:.1f} s CPU in this process")
        t0, c0 = time.perf_counter(), time.process_time()
        with sweep.local_cluster(args.workers) as cluster, Client(cluster) as client:
            client.run(sweep.warm)
            started = time.perf_counter() - t0
            t1 = time.perf_counter()
            store = sweep.CaseStore(sweep.paths(output)["cases"])
            sweep.run_cases(client, study.job(), cases, store)
            wall = time.perf_counter() - t1
        df = sweep.table(study, store)
        failed = int((df["status"] != sweep.OK).sum())
        assert failed == 0, f"{failed} cases failed: {df['error'].iloc[0]}"
        print(f"study      {wall:.1f} s wall for {len(cases)} cases ({started:.1f} s to start "
              f"and warm the cluster before); this process {time.process_time() - c0:.1f} s "
              "CPU")
        ideal = 0.0
        for how, part in df.groupby("replay"):
            ref = alone.get(how, alone.get("first", alone.get("alone")))
            ideal += len(part) * ref[0]
            print(f"per case   {how:<9} {len(part):>4} cases: {part['wall_s'].mean():.1f} s "
                  f"wall ({part['wall_s'].min():.1f}-{part['wall_s'].max():.1f}), "
                  f"{part['cpu_s'].mean():.1f} s CPU mean in the workers")
        print(f"cpu        {df['cpu_s'].sum():.1f} s of the workers' CPU time for the cases "
              f"(wall x workers {wall * args.workers:.1f} s)")
        efficiency = ideal / (args.workers * wall)
        print(f"efficiency {efficiency:.1%}: the cases' time alone {ideal:.1f} s / "
              f"({args.workers} workers x {wall:.1f} s)")
        if len(cases) < len(everything):
            in_workers = {how: float(part["cpu_s"].mean()) for how, part in df.groupby("replay")}
            _extrapolate(everything, alone, in_workers, args.workers, efficiency, len(cases))
        _machine("after")


def _extrapolate(everything: list[sweep_spec.Case], alone: dict[str, tuple[float, float]],
                 in_workers: dict[str, float], workers: int, efficiency: float,
                 measured: int) -> None:
    """The whole study's time, from the times alone and the measured efficiency, and from
    the workers' CPU time per case over free cores."""
    years = len({c.shared for c in everything})
    firsts = min(len(everything), years * workers) if "replayed" in alone else len(everything)
    rest = len(everything) - firsts
    first = alone.get("first", alone.get("alone"))
    assert first is not None
    again = alone.get("replayed", first)
    total = firsts * first[0] + rest * again[0]
    cpu_first = in_workers.get("first", in_workers.get("alone", math.nan))
    cpu = firsts * cpu_first + rest * in_workers.get("replayed", cpu_first)
    print(f"estimate   all {len(everything)} cases, EXTRAPOLATED from {measured}: {firsts} "
          f"computing everything, {rest} replaying")
    print(f"           at the times alone ({first[0]:.1f} s, {again[0]:.1f} s wall) over "
          f"{workers} workers at the {efficiency:.0%} measured: "
          f"{total / workers / efficiency / 60:.1f} min wall (this machine's load included)")
    print(f"           at the workers' CPU per case ({cpu_first:.1f} s, "
          f"{in_workers.get('replayed', cpu_first):.1f} s): {cpu:.0f} s of CPU, "
          f"{cpu / workers / 60:.1f} min on {workers} free cores (the cluster's start aside)")


if __name__ == "__main__":
    main()
