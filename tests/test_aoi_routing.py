"""From the vision result to the robot: routing, the pick where the camera saw the board, takt."""

from __future__ import annotations

import dataclasses
import math

import pytest

from tests.test_aoi_line import SHIFT_START, _robot, _run
from twin.models.aoi.calibration import ImageInspector, OracleInspector, SyntheticBoards
from twin.models.aoi.line import PERFECT, STATIONS, AOILineSpec, FullLine
from twin.models.aoi.robot import RobotCycle, RobotScene
from twin.models.aoi.routing import (
    REWORK_KINDS,
    SCRAP_KINDS,
    VisionResult,
    board_offset_px,
    burst_absorbed,
    pick_xy,
    route,
    takt_check,
)


@dataclasses.dataclass(frozen=True)
class _F:
    kind: str
    box: tuple[int, int, int, int] = (0, 0, 4, 4)
    score: float = 1.0


def test_routing_from_the_findings():
    assert route([]) == "pass"
    for kind in REWORK_KINDS:
        assert route([_F(kind)]) == "rework"
    for kind in SCRAP_KINDS:
        assert route([_F("shifted"), _F(kind)]) == "scrap"  # any bare-board fault scraps
    assert route([_F("something new")]) == "rework"  # a person looks at what is not known


def test_the_camera_finds_the_board_where_it_lies():
    boards = SyntheticBoards(seed=3)
    inspector = ImageInspector(boards.golden)
    for i in range(3):
        sample = boards.draw(i, False)
        seen = inspector(sample)
        true = board_offset_px(sample.variation["pose"], sample.image.shape[:2])
        assert math.hypot(true[0], true[1]) > 0.5  # the board did move
        assert seen.offset_px == pytest.approx(true[:2], abs=1.0)
        assert seen.turn_deg == pytest.approx(true[2], abs=0.1)


def test_the_robot_picks_where_the_vision_says_and_misses_when_it_is_wrong():
    with _robot() as robot:
        board = (0.55, 0.04)
        rework = robot.pick_and_place(board, pick_xy=board, tray="rework")
        off = robot.pick_and_place(board, pick_xy=(0.55, board[1] - 0.07), tray="scrap")
        in_rework = robot.in_tray(rework.board_xyz_m, "rework")
        in_scrap = robot.in_tray(rework.board_xyz_m, "scrap")
    assert rework.success
    assert in_rework
    assert not in_scrap
    assert not off.success  # the cup landed beside the board: it stays on the belt
    assert off.board_xyz_m[:2] == pytest.approx(board, abs=0.01)


class _Shifted(OracleInspector):
    """The oracle's findings, with the board seen ``px`` pixels away from where it lies."""

    def __init__(self, px: float) -> None:
        self.px = px

    def __call__(self, board):
        out = VisionResult(super().__call__(board))
        out.offset_px = (self.px, 0.0)
        return out


class _Robot:
    """Stands in for the PyBullet cell in the line (its physics has a test of its own): the
    cup holds when it lands within the board's outline."""

    scene = RobotScene()

    def __init__(self) -> None:
        self.picks: list[tuple] = []

    def pick_and_place(self, board_xy, render_every=0, pick_xy=None, tray="scrap"):
        half = [d / 2 - self.scene.cup_margin_m for d in self.scene.board_size_m[:2]]
        ok = all(abs(p - b) <= h for p, b, h in zip(pick_xy, board_xy, half, strict=True))
        self.picks.append((board_xy, pick_xy, tray))
        return RobotCycle(4.0, ok, (*board_xy, 0.1))


@pytest.mark.parametrize(("px", "missed"), [(0.0, False), (4000.0, True)])
def test_the_line_s_robot_picks_from_the_vision_result(px, missed):
    spec = AOILineSpec(name="smt", fidelity="full", p_defect=0.6)
    events, robot = [], _Robot()
    line = FullLine(spec, SHIFT_START, seed=7, calibration=PERFECT,
                    boards=SyntheticBoards(seed=7, pool=3),
                    inspector=_Shifted(px), robot=robot, on_board=events.append)
    _run(line, SHIFT_START, 0.5, step_s=900)
    rejected = [e for e in events if e.rejected]
    assert len(rejected) == len(robot.picks) > 3
    assert all(e.route == route(e.findings) != "pass" for e in rejected)
    assert [t for _, _, t in robot.picks] == [
        "rework" if e.route == "rework" else "scrap" for e in rejected]
    assert line.totals["rework"] + line.totals["scrap"] == len(rejected)
    assert line.totals["picks_missed"] == (len(rejected) if missed else 0)
    assert all(e.picked != missed for e in rejected)
    nx, ny = robot.scene.conveyor_xy_m
    for board_xy, at, _ in robot.picks:  # the hand goes where the camera saw the board,
        assert at == pytest.approx((nx, ny + px * 20e-6))  # not where the board lies
        assert board_xy != pytest.approx(at, abs=1e-6)
    assert pick_xy((nx, ny), None, 20.0) == (nx, ny)


def test_takt_check_names_the_bottleneck():
    spec = AOILineSpec(name="smt")
    pace = spec.takt_s / spec.performance
    ok = takt_check(spec, robot_cycle_s=4.0, vision_s=0.1, picked_share=0.1)
    assert ok.holds
    assert ok.bottleneck == "placement"
    assert ok.per_board_s["robot"] == pytest.approx(0.4)
    assert "holds" in ok.message()
    slow_robot = pace / 0.1 * 1.5  # a pick longer than ten boards' pace, one board in ten
    robot = takt_check(spec, robot_cycle_s=slow_robot, picked_share=0.1)
    assert not robot.holds
    assert robot.bottleneck == "robot"
    assert robot.per_board_s["robot"] == pytest.approx(1.5 * pace)
    assert "robot is the bottleneck" in robot.message()
    vision = takt_check(spec, robot_cycle_s=4.0, vision_s=2 * pace, picked_share=0.1)
    assert vision.bottleneck == "aoi"
    assert not vision.holds
    assert set(ok.per_board_s) == set(STATIONS)
    with pytest.raises(ValueError, match="picked_share"):
        takt_check(spec, 4.0, picked_share=1.5)


def test_calibration_says_whether_the_line_keeps_its_takt(tmp_path, capsys):
    from twin.apps.cli import main

    out = tmp_path / "cal.json"
    assert main(["aoi-line", "calibrate", "--boards", "4", "--designs", "1", "--picks", "1",
                 "-o", str(out)]) == 0
    text = capsys.readouterr().out
    spec = AOILineSpec(name="aoi")
    assert f"takt {spec.takt_s / spec.performance:.1f} s holds; the busiest station is " \
        "placement" in text
    assert out.is_file()


def _puts_delayed(pace_s: float, robot_s: float, buffer: int, n: int) -> bool:
    """A SimPy store of ``buffer`` boards before a robot: n rejects put one every pace_s;
    whether any put had to wait (the AOI stopped)."""
    import simpy

    env = simpy.Environment()
    store = simpy.Store(env, buffer)
    late = []

    def aoi():
        for k in range(n):
            yield env.timeout(max(0.0, k * pace_s - env.now))
            yield store.put(k)
            late.append(env.now > k * pace_s + 1e-9)

    def robot():
        while True:
            yield store.get()
            yield env.timeout(robot_s)

    env.process(aoi())
    env.process(robot())
    env.run(until=n * (pace_s + robot_s) + 1)
    return any(late)


def test_reject_bursts_against_a_simpy_buffer():
    """The longest run of rejects the robot's buffer absorbs, checked on a SimPy store; the
    check says how often a longer run comes."""
    for pace, robot_s, buffer in ((30.0, 60.0, 4), (31.6, 40.0, 4), (30.0, 95.0, 2)):
        n = burst_absorbed(pace, robot_s, buffer)
        assert not _puts_delayed(pace, robot_s, buffer, n)
        assert _puts_delayed(pace, robot_s, buffer, n + 1)
    assert burst_absorbed(30.0, 29.0, 4) is None  # a robot within the pace takes any run
    spec = AOILineSpec(name="smt")
    slow = takt_check(spec, robot_cycle_s=3 * spec.takt_s, picked_share=0.05)
    assert slow.holds  # on the mean, 0.15 takt per board
    n = slow.burst_boards
    assert n == burst_absorbed(spec.takt_s / spec.performance, 3 * spec.takt_s,
                               spec.buffer_boards[3])
    assert slow.burst_every_boards() == pytest.approx(1 / (0.95 * 0.05 ** (n + 1)))
    assert f"more than {n} rejects in a row" in slow.message()
