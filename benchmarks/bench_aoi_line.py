"""Benchmark: the SMT/AOI line's statistical mode over a year, and a full-fidelity shift.

Prints, beside a machine-speed figure,

- the statistical model alone: a simulated year at 15-minute and at hourly steps;
- the model through its mosaik adapter (self-scheduled, hourly) feeding a 15-minute
  time-based sink, against the sink alone: what the line adds to a park run (~75 s a year);
- one full-fidelity shift (8 h): every board generated and inspected, each reject picked by
  the PyBullet Panda (``--no-full`` skips it).

    .venv/bin/python benchmarks/bench_aoi_line.py [--no-full]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

import mosaik
import mosaik_api_v3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._calibrate import python_loop_s  # noqa: E402
from twin.models.aoi.calibration import ImageInspector, SyntheticBoards, load_calibration  # noqa: E402
from twin.models.aoi.line import AOILineSpec, FullLine, StatisticalLine  # noqa: E402

TZ = dt.timezone(dt.timedelta(hours=8))
START = dt.datetime(2027, 1, 1, tzinfo=TZ)
YEAR_S = 365 * 86400
PARK_YEAR_S = 75.0  # the reference park's yearly run, for the share the line adds


class Sink(mosaik_api_v3.Simulator):
    """A time-based reader at 15-minute steps, standing in for the park's simulators."""

    def __init__(self) -> None:
        super().__init__({"api_version": "3.0", "type": "time-based", "models": {
            "Sink": {"public": True, "params": [], "attrs": ["p_mw"], "any_inputs": True}}})
        self.total = 0.0

    def create(self, num: int, model: str, **params: Any) -> list[dict[str, str]]:
        return [{"eid": "sink", "type": "Sink"}]

    def step(self, time: int, inputs: dict, max_advance: int) -> int:
        for values in inputs.get("sink", {}).values():
            self.total += sum(values.values())
        return time + 900

    def get_data(self, outputs: dict) -> dict:
        return {}


def model_year(step_s: int) -> tuple[float, int]:
    """Wall seconds and steps of a statistical year at ``step_s``."""
    t0 = int(START.timestamp())
    line = StatisticalLine(AOILineSpec(name="smt"), t0, seed=1, calibration=load_calibration())
    n = YEAR_S // step_s
    w0 = time.perf_counter()
    for i in range(n):
        line.step(t0 + i * step_s, step_s)
    return time.perf_counter() - w0, n


def mosaik_year(with_line: bool) -> tuple[float, dict[str, float]]:
    """Wall seconds of a mosaik year: the sink alone, or fed by the line's adapter."""
    config = {"AOI": {"python": "adapters.aoi_sim:AOISim"},
              "Sink": {"python": "benchmarks.bench_aoi_line:Sink"}}
    world = mosaik.World(config, skip_greetings=True, configure_logging=False)
    sink = world.start("Sink").Sink.create(1)[0]
    timing: dict[str, float] = {}
    aoi = None
    if with_line:
        aoi = world.start("AOI", start=START.isoformat(), step_s=900, seed=1,
                          duration_s=YEAR_S, line_step_s=3600)
        world.connect(aoi.AOILine.create(1, name="smt")[0], sink, "p_mw")
    w0 = time.perf_counter()
    world.run(until=YEAR_S, print_progress=False, shutdown=False)
    wall = time.perf_counter() - w0
    if aoi is not None:
        timing = aoi.timing()
    world.shutdown()
    return wall, timing


def full_shift() -> tuple[float, Any, float]:
    """Wall seconds of one full-fidelity shift, its summary and the robot's wall share."""
    from twin.models.aoi.robot import RejectRobot

    spec = AOILineSpec(name="smt", fidelity="full")
    t0 = int(dt.datetime(2027, 1, 4, 8, tzinfo=TZ).timestamp())
    boards = SyntheticBoards(spec.board, spec.um_per_px, spec.image_px, seed=1)
    with RejectRobot() as robot:
        robot_wall = [0.0]
        pick = robot.pick_and_place

        def timed(*args: Any, **kwargs: Any) -> Any:
            cycle = pick(*args, **kwargs)
            robot_wall[0] += cycle.wall_s
            return cycle

        robot.pick_and_place = timed  # type: ignore[method-assign]
        line = FullLine(spec, t0, seed=1, calibration=load_calibration(), boards=boards,
                        inspector=ImageInspector(boards.golden, verifier=spec.verifier),
                        robot=robot)
        w0 = time.perf_counter()
        for i in range(8):
            line.step(t0 + i * 3600, 3600)
        wall = time.perf_counter() - w0
    return wall, line.summary(), robot_wall[0]


def main() -> None:
    """Run the benchmarks and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-full", action="store_true", help="skip the full-fidelity shift")
    args = parser.parse_args()
    print(f"speed now: 1e7-addition Python loop {python_loop_s():.2f} s")
    for step_s in (900, 3600):
        wall, n = model_year(step_s)
        print(f"statistical model alone, a year at {step_s:>4} s steps: {wall:6.2f} s "
              f"({n} steps, {wall / n * 1e6:5.1f} us/step)")
    alone, _ = mosaik_year(False)
    fed, timing = mosaik_year(True)
    added = fed - alone
    print(f"mosaik year, 15-min sink alone: {alone:6.2f} s; fed by the AOI adapter (hourly): "
          f"{fed:6.2f} s; the line adds {added:5.2f} s ({added / PARK_YEAR_S:.1%} of a "
          f"{PARK_YEAR_S:.0f} s park year); adapter step {timing.get('step_s', 0):.2f} s "
          f"in {int(timing.get('steps', 0))} steps")
    if args.no_full:
        return
    wall, s, robot_s = full_shift()
    print(f"full fidelity, one 8 h shift: {wall:6.1f} s wall ({s.boards_out} boards generated "
          f"and inspected, {s.boards_rejected} picked by the robot: {robot_s:.1f} s of it); "
          f"{s.throughput_per_h:.0f} boards/h, FPY {s.fpy:.3f}, {s.kwh_per_board:.3f} kWh/board")


if __name__ == "__main__":
    main()
