"""The line's false-call and escape rates: known with ground truth, unknown without, and
given by the review station's operator."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from types import SimpleNamespace

import cv2
import numpy as np

from twin.models.aoi.line import PERFECT, STATIONS, AOILineSpec, FullLine
from twin.models.aoi.sources import FolderBoards

TZ = dt.timezone(dt.timedelta(hours=8))
SHIFT_START = int(dt.datetime(2027, 1, 4, 8, tzinfo=TZ).timestamp())  # a Monday, 08:00 local
FINDING = SimpleNamespace(box=(0, 0, 4, 4), kind="open", score=1.0)


def _spec(**kw) -> AOILineSpec:
    return dataclasses.replace(AOILineSpec(name="smt", fidelity="full", robot="calibrated"),
                               mtbf_h=(0.0,) * len(STATIONS), **kw)


def _flag_all(board) -> list:
    return [FINDING]


class _Truth:
    """Boards with ground truth: a defect when the line draws a defective board."""

    golden = np.zeros((8, 8, 3), np.uint8)

    def draw(self, index: int, defective: bool):
        defects = (SimpleNamespace(box=(0, 0, 4, 4), kind="open"),) if defective else ()
        return SimpleNamespace(image=self.golden, defects=defects)


def _shift(line, hours: float = 1.0):
    for i in range(int(hours * 6)):
        line.step(SHIFT_START + i * 600, 600)
    return line.summary()


def _good_folder(tmp_path):
    rng = np.random.default_rng(3)
    image = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "golden.png"), image)
    for k in range(3):
        cv2.imwrite(str(tmp_path / f"board{k}.png"), image)
    return FolderBoards(tmp_path)


def test_without_ground_truth_false_calls_are_unknown_not_zero(tmp_path):
    """Good boards from a folder, an inspector that calls every one: the line rejects them
    all; no board passed, so no escape (a known 0); the false-call rate is unknown."""
    line = FullLine(_spec(), SHIFT_START, seed=1, calibration=PERFECT,
                    boards=_good_folder(tmp_path), inspector=_flag_all)
    s = _shift(line)
    assert s.boards_out > 50
    assert s.fpy == 0.0
    assert s.calls_unreviewed == s.boards_out
    assert math.isnan(s.false_call_rate)
    assert s.escape_rate == 0.0
    assert s.false_calls == 0  # not counted as right either


def test_unverified_passes_leave_the_escape_rate_unknown(tmp_path):
    line = FullLine(_spec(), SHIFT_START, seed=1, calibration=PERFECT,
                    boards=_good_folder(tmp_path), inspector=lambda board: [])
    s = _shift(line)
    assert s.fpy == 1.0
    assert s.passes_unverified == s.boards_out
    assert math.isnan(s.escape_rate)
    assert s.false_call_rate == 0.0


def test_the_review_station_operator_gives_the_truth_of_the_calls(tmp_path):
    """The operator overrides every call on the folder's good boards: they leave as good,
    the false-call rate is known (1.0), and the review costs time but no board."""
    verdicts = []

    def operator(sample, findings):
        verdicts.append(len(findings))
        return False

    line = FullLine(_spec(review_s=20.0), SHIFT_START, seed=1, calibration=PERFECT,
                    boards=_good_folder(tmp_path), inspector=_flag_all, reviewer=operator)
    s = _shift(line)
    assert s.boards_out > 50
    assert len(verdicts) == s.boards_out
    assert s.boards_released == s.boards_out
    assert s.boards_rejected == 0
    assert s.false_call_rate == 1.0
    assert s.calls_unreviewed == 0


def test_with_ground_truth_the_rates_are_numbers_and_review_releases_false_calls():
    spec = _spec(p_defect=0.5)
    plain = _shift(FullLine(spec, SHIFT_START, seed=2, calibration=PERFECT, boards=_Truth(),
                            inspector=_flag_all))
    assert plain.calls_unreviewed == plain.passes_unverified == 0
    assert plain.false_calls + plain.boards_defective == plain.boards_out
    assert math.isclose(plain.false_call_rate, plain.false_calls / plain.boards_out)
    assert plain.escape_rate == 0.0
    assert 0.3 < plain.false_call_rate < 0.7
    reviewed = _shift(FullLine(dataclasses.replace(spec, review_s=10.0), SHIFT_START, seed=2,
                               calibration=PERFECT, boards=_Truth(), inspector=_flag_all))
    assert reviewed.boards_released == reviewed.false_calls > 0
    assert reviewed.boards_rejected == reviewed.boards_defective
