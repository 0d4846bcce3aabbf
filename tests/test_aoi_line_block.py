"""A board-by-board AOI line in block stepping: the block gives what the steps give."""

from __future__ import annotations

import dataclasses
import datetime as dt

import cv2
import numpy as np
import pytest

from adapters.aoi_sim import AOISim
from adapters.blocks import BlockAOISim
from tests.conftest import ROOT
from tests.test_aoi_line import SHIFT_START, TZ
from twin import scenario
from twin.cosim.blocking import block_steps
from twin.models.aoi.calibration import SyntheticBoards

STEP_S, STEPS = 300, 3


@pytest.fixture(scope="module")
def line(tmp_path_factory) -> dict:
    """A board-by-board line inspecting the images of a folder (a camera's stand-in: the
    boards are inspected, not generated), one in three defective."""
    folder = tmp_path_factory.mktemp("boards")
    boards = SyntheticBoards(seed=3)
    images = (boards.golden, boards.draw(0, False).image, boards.draw(1, True).image,
              boards.draw(2, False).image)
    for name, img in zip(("golden", "b0", "b1", "b2"), images, strict=True):
        cv2.imwrite(str(folder / f"{name}.png"), np.ascontiguousarray(img[:, :, ::-1]))
    return {"name": "smt", "fidelity": "full", "robot": "calibrated", "verifier": "none",
            "camera": f"folder:{folder}"}


def _sim(cls, spec, **block):
    sim = cls()
    sim.init("AOI-0", 1.0, start=dt.datetime.fromtimestamp(SHIFT_START, TZ).isoformat(),
             step_s=STEP_S, line_step_s=STEP_S, seed=3, **block)
    eid = sim.create(1, "AOILine", **spec)[0]["eid"]
    return sim, eid


def test_a_board_by_board_line_in_a_block_gives_what_its_steps_give(line):
    attrs = ["p_mw", "e_kwh", "boards_out", "boards_rejected", "boards_escaped", "p_flex_mw"]
    sim, eid = _sim(AOISim, line)
    steps = []
    for k in range(STEPS):
        sim.step(k * STEP_S, {}, 10 ** 9)
        steps.append(sim.get_data({eid: attrs})[eid])
    block, beid = _sim(BlockAOISim, line, block_steps=STEPS, n_steps=STEPS)
    assert block.step(0, {}, 10 ** 9) == STEPS * STEP_S  # one mosaik step for the block
    got = block.get_data({beid: attrs})[beid]
    assert sum(s["boards_out"] for s in steps) > 5
    assert sum(s["boards_rejected"] for s in steps) > 0
    for a in attrs:
        assert list(got[a]) == [s[a] for s in steps], a
    assert block.summary() == sim.summary()


def test_a_run_with_a_board_by_board_line_steps_in_blocks():
    s = scenario.load(ROOT / "scenarios" / "park.yaml").with_days(2)
    assert s.aoi_lines
    assert s.controller.kind == "rule"
    full = dataclasses.replace(s, aoi_lines=tuple(dataclasses.replace(a, fidelity="full")
                                                  for a in s.aoi_lines))
    assert block_steps(full) == block_steps(s) > 1
