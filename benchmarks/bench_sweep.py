"""Benchmark: a study on a Dask local cluster against the same runs one after another.

The study is the reference park (``scenarios/park.yaml``, without the AC power flow, as the
planners' sweeps run it) over ``--cases`` weather years (``park.seed`` 1..N), each run
``--days`` long. In this process the benchmark first times one case alone (imports done
beforehand, as in a warm worker), then starts a LocalCluster of ``--workers`` processes with
one thread each, warms them, and times the whole study through ``twin.studies.sweep.run_study``
(table written, every case through the case store). It prints::

    parallel efficiency = cases x single-run time / (workers x study time)

and what 100 one-year cases would take at that efficiency. The target: >= 80 % for 100
one-year cases on 2 cores (the time of 100 runs divided by the workers).

    .venv/bin/python benchmarks/bench_sweep.py [--cases 100] [--days 365] [--workers 2]
"""

from __future__ import annotations

import argparse
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


def _load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    """Time one case alone, then the study on the cluster; print the efficiency."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100, help="cases (weather years)")
    parser.add_argument("--days", type=float, default=365.0, help="length of each run")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    args = parser.parse_args()
    from distributed import Client

    from twin.cosim import world  # noqa: F401 - imports before timing, as in a warm worker

    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        text = STUDY.format(base=ROOT / "scenarios" / "park.yaml",
                            seeds=list(range(1, args.cases + 1)), days=args.days,
                            output=Path(tmp) / "bench.parquet")
        study = sweep_spec.loads(text, Path(tmp) / "bench.yaml")
        print(f"study      reference park without the grid, {args.cases} cases (weather years) "
              f"of {args.days:g} days, {args.workers} workers")
        print(f"machine    {platform.machine()}, {os.cpu_count()} cores, Python "
              f"{platform.python_version()}; speed now: 1e7-addition Python loop "
              f"{python_loop_s():.2f} s; load average {_load()}")
        probe = study.case({"park.seed": 0})  # not a case of the study: nothing is reused
        t0 = time.perf_counter()
        row = sweep.run_case(study.job(), probe)
        single = time.perf_counter() - t0
        assert row["status"] == sweep.OK, row["error"]
        print(f"single run {single:.1f} s in this process")
        t0 = time.perf_counter()
        with sweep.local_cluster(args.workers) as cluster, Client(cluster) as client:
            client.run(sweep.warm)
            started = time.perf_counter() - t0
            t1 = time.perf_counter()
            result = sweep.run_study(study, client, progress=False, report=False)
            wall = time.perf_counter() - t1
            per_case = sweep.read_table(result.table)["wall_s"]
        assert result.failed == 0, f"{result.failed} cases failed"
        efficiency = args.cases * single / (args.workers * wall)
        print(f"study      {wall:.1f} s for {args.cases} cases ({started:.1f} s to start and "
              f"warm the cluster before); ideal {args.cases * single / args.workers:.1f} s")
        busy = args.cases * per_case.mean() / (args.workers * wall)
        print(f"per case   {per_case.mean():.1f} s mean in the workers ({per_case.min():.1f}-"
              f"{per_case.max():.1f} s) against {single:.1f} s alone")
        print(f"efficiency {efficiency:.1%} (target >= 80 %); workers busy {busy:.1%} of the "
              "study (the rest of the loss is runs slowing each other on shared cores)")
        year = single * 365.0 / args.days
        print(f"estimate   100 one-year cases on {args.workers} workers: "
              f"{100 * year / args.workers / efficiency / 60:.0f} min at this efficiency "
              f"(single year ~{year:.0f} s, extrapolated from {args.days:g} days)")
        print(f"after      speed {python_loop_s():.2f} s; load average {_load()}")


if __name__ == "__main__":
    main()
