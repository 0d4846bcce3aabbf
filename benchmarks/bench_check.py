"""Benchmark: ``twin check`` on the reference park, against its 1.5 s target.

Validating a scenario imports only the schema (``twin.scenario`` and the models' light spec
modules); the heavy libraries come in only with the sections that need them. Runs
``twin check SCENARIO`` as a fresh process ``--runs`` times and prints the best and median
wall time beside the target, then the import of ``twin.scenario`` alone (fresh processes
too) beside a bare interpreter start and beside the model modules the schema imported before
it had light spec modules, and which heavy libraries a check loads.

    .venv/bin/python benchmarks/bench_check.py [SCENARIO] [--runs 10] [--target 1.5]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._calibrate import python_loop_s  # noqa: E402

HEAVY = ("pandapower", "lightsim2grid", "cv2", "torch", "simpy", "pybullet")
# what ``twin.scenario`` imported for its specs and rules before the light spec modules
MODELS = ("twin.models.weather_io", "twin.models.aoi.line", "twin.models.grid.io",
          "twin.models.pv", "twin.models.wind", "twin.models.turbines")
_LOADED = (f"import sys; print(','.join(m for m in {HEAVY!r} if m in sys.modules) or 'none')")


def _twin() -> list[str]:
    """The ``twin`` command of this interpreter's environment."""
    script = Path(sys.executable).parent / "twin"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "twin"]


def _walls(cmd: list[str], runs: int) -> tuple[list[float], str]:
    """Wall times of ``runs`` fresh processes of ``cmd``, and the last one's output."""
    walls, out = [], ""
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        walls.append(time.perf_counter() - t0)
        if proc.returncode:
            sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
        out = proc.stdout.strip()
    return walls, out


def _importtime_s(module: str) -> float:
    """Cumulative import time of ``module`` as ``python -X importtime`` reports it."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    for line in reversed(proc.stderr.splitlines()):
        parts = line.split("|")
        if len(parts) == 3 and parts[2].strip() == module:
            return int(parts[1]) / 1e6
    raise RuntimeError(f"no import time of {module} in the output")


def _row(label: str, walls: list[float], note: str = "") -> str:
    return (f"{label:<34} best {min(walls):6.3f} s   median {statistics.median(walls):6.3f} s"
            + (f"   {note}" if note else ""))


def main() -> None:
    """Run the benchmark and print its lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default="scenarios/park.yaml",
                        help="scenario to check (relative to the repository root)")
    parser.add_argument("--runs", type=int, default=10, help="fresh processes per command")
    parser.add_argument("--target", type=float, default=1.5, help="target wall time (s)")
    args = parser.parse_args()

    calibration = python_loop_s()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine    {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; speed now: 1e7-addition Python loop "
          f"{calibration:.2f} s; load average {load:.2f}")

    check, said = _walls([*_twin(), "check", args.scenario], args.runs)
    bare, _ = _walls([sys.executable, "-c", "pass"], args.runs)
    models, _ = _walls([sys.executable, "-c", f"import {', '.join(MODELS)}"],
                       min(args.runs, 3))
    schema, loaded = _walls([sys.executable, "-c", f"import twin.scenario; {_LOADED}"],
                            args.runs)
    _, loaded_after = _walls([sys.executable, "-c", f"import twin.scenario; twin.scenario.load("
                              f"{args.scenario!r}); {_LOADED}"], 1)
    best = min(check)
    print(f"check      {said}")
    print(f"runs       {args.runs} fresh processes per command, wall time")
    print(_row(f"twin check {Path(args.scenario).name}", check,
               f"target < {args.target:g} s: {'met' if best < args.target else 'NOT met'} "
               f"({best / args.target:.0%} of it)"))
    print(_row("python -c 'import twin.scenario'", schema,
               f"python -X importtime says {_importtime_s('twin.scenario'):.3f} s"))
    print(_row("python -c 'import <the models>'", models,
               "the model modules the schema used to import"))
    print(_row("python -c 'pass'", bare, "the interpreter's own start"))
    print(f"heavy      of {', '.join(HEAVY)}: loaded by import twin.scenario: {loaded}; "
          f"after load({Path(args.scenario).name}): {loaded_after}")


if __name__ == "__main__":
    main()
