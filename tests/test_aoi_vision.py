"""The AOI vision: board generator, gerber board, inspector, verifier, evaluation, CLI."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from twin.models.aoi import Finding, board, gerber, inspect
from twin.models.aoi.evaluate import evaluate, score
from twin.models.aoi.render import COLOURS

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pygerber")  # pyparsing names

DESIGNS = (11, 12)  # development designs (not the training or evaluation seed ranges)


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.fixture(scope="module")
def goldens() -> dict[int, board.Board]:
    return {d: board.golden(seed=d) for d in DESIGNS}


@pytest.fixture(scope="module")
def pcb() -> board.Board:
    return gerber.golden()


def test_generator_is_deterministic(goldens):
    again = board.golden(seed=DESIGNS[0])
    assert np.array_equal(again.image, goldens[DESIGNS[0]].image)
    a = board.sample(goldens[DESIGNS[0]], 5, defects=["open", "missing"])
    b = board.sample(goldens[DESIGNS[0]], 5, defects=["open", "missing"])
    assert np.array_equal(a.image, b.image)
    assert a.defects == b.defects
    assert not np.array_equal(a.image, board.sample(goldens[DESIGNS[0]], 6).image)


def test_variation_is_labelled_apart_from_defects(goldens):
    s = board.sample(goldens[DESIGNS[0]], 8, defects=())
    assert s.good
    assert s.defects == ()
    for key in ("dx_px", "rot_deg", "scale", "gain", "noise_sigma", "blur_sigma_px", "etch_px"):
        assert key in s.variation
    assert abs(s.variation["rot_deg"]) <= 1.5
    assert abs(s.variation["dx_px"]) <= 24


@pytest.mark.parametrize("design", DESIGNS)
def test_every_defect_changes_pixels_inside_its_box(goldens, design):
    g = goldens[design]
    bad = board.sample(g, 21, defects=list(board.KINDS))
    clean = board.sample(g, 21, defects=())  # the defect-free twin: same variation and camera
    assert len(bad.defects) >= 10
    diff = cv2.absdiff(bad.image, clean.image).max(axis=2)
    outside = np.ones_like(diff, bool)
    for d in bad.defects:
        x0, y0, x1, y1 = d.box
        assert 0 <= x0 < x1 <= 1024
        assert 0 <= y0 < y1 <= 1024
        assert diff[y0:y1, x0:x1].max() >= 20, d
        outside[y0:y1, x0:x1] = False
    assert diff[outside].max() <= 2  # nothing changes outside the boxes


def test_identical_and_shifted_golden_give_no_findings(goldens):
    g = goldens[DESIGNS[0]]
    assert inspect(g, g.image, verifier=None) == []
    m = np.float32([[1, 0, 13.25], [0, 1, -7.5]])
    moved = cv2.warpAffine(g.image, m, (1024, 1024), borderMode=cv2.BORDER_REFLECT)
    assert inspect(g, moved) == []


def test_each_defect_kind_is_found(goldens):
    missed = []
    for kind in board.KINDS:
        for design in DESIGNS:
            s = board.sample(goldens[design], 100 + len(kind), defects=[kind])
            for d in s.defects:
                found = inspect(goldens[design], s.image)
                if not any(_overlap(f.box, d.box) for f in found):
                    missed.append((kind, design))
    assert not missed


def test_boxes_are_in_test_image_coordinates(goldens):
    g = goldens[DESIGNS[1]]
    s = board.sample(g, 31, defects=["missing", "spurious_copper"])
    extra = cv2.getRotationMatrix2D((511.5, 511.5), 1.2, 1.0)
    extra[:, 2] += (30.0, -20.0)
    test = cv2.warpAffine(s.image, extra, (1024, 1024), borderMode=cv2.BORDER_REFLECT)
    found = inspect(g, test)
    for d in s.defects:
        pts = np.array([[d.box[0], d.box[1]], [d.box[2], d.box[1]], [d.box[2], d.box[3]],
                        [d.box[0], d.box[3]]], float) @ extra[:, :2].T + extra[:, 2]
        box = (*pts.min(axis=0), *pts.max(axis=0))
        hits = [f for f in found if _overlap(f.box, box)]
        assert hits, d
        assert all(isinstance(f, Finding) for f in hits)
        f = hits[0]
        inter = (min(f.box[2], box[2]) - max(f.box[0], box[0])) * (min(f.box[3], box[3]) - max(f.box[1], box[1]))
        area = (f.box[2] - f.box[0]) * (f.box[3] - f.box[1])
        assert inter / area > 0.5  # the finding lies on the moved defect, not where it was


def test_gerber_board_has_copper_and_mask_in_place(pcb):
    lay = pcb.layout
    img = pcb.image.astype(float)
    inner = cv2.erode(np.ones_like(lay.copper), np.ones((5, 5), np.uint8)) > 0

    def median(sel):
        sel = sel & inner
        sel = cv2.erode(sel.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        assert sel.sum() > 200
        return np.median(img[sel], axis=0)

    cu, op, paste = lay.copper > 250, lay.opening > 250, lay.paste > 250
    # pads: F_Cu flashes where F_Mask opens; tin where no paste is printed, grey paste on it
    assert np.allclose(median(cu & op & ~paste & (lay.holes == 0)), COLOURS["hasl"], atol=8)
    assert np.allclose(median(cu & op & paste), COLOURS["paste"], atol=8)
    assert np.allclose(median(cu & ~op & (lay.silk == 0)), COLOURS["mask_cu"], atol=8)
    assert np.allclose(median(~cu & ~op & (lay.silk == 0) & (lay.board > 0) & (lay.copper == 0)),
                       COLOURS["mask"], atol=8)
    assert median(lay.silk > 250).min() > 200  # white silkscreen


@pytest.mark.parametrize(("kind", "seed"), [("open", 3), ("short", 4), ("solder_bridge", 5),
                                            ("pin_hole", 6)])
def test_injected_defect_on_gerber_board_is_found(pcb, kind, seed):
    s = board.sample(pcb, seed, defects=[kind])
    assert [d.kind for d in s.defects] == [kind]
    found = inspect(pcb, s.image)
    assert any(_overlap(f.box, s.defects[0].box) for f in found)
    assert score(s, found).true_findings == len(found)  # and nothing else


def test_cli_inspect_writes_a_marked_image(goldens, tmp_path):
    from twin.apps.cli import main

    g = goldens[DESIGNS[0]]
    s = board.sample(g, 41, defects=["missing"])
    board.save_image(tmp_path / "golden.png", g.image)
    board.save_image(tmp_path / "test.png", s.image)
    out = tmp_path / "marked.png"
    assert main(["aoi", "inspect", str(tmp_path / "golden.png"), str(tmp_path / "test.png"),
                 "-o", str(out)]) == 0
    marked = board.load_image(out)
    x0, y0, x1, y1 = s.defects[0].box
    ring = marked[max(0, y0 - 3):y1 + 3, max(0, x0 - 3):x1 + 3].reshape(-1, 3).astype(int)
    assert np.any((ring[:, 0] > 200) & (ring[:, 1] < 80))  # the red box is drawn
    assert main(["aoi", "inspect", str(tmp_path / "nope.png"), str(tmp_path / "test.png")]) == 2


def test_held_out_evaluation_meets_targets():
    report = evaluate(boards=48, seed=1)
    t = report.totals()
    # a small set: the full targets (0.95 / 0.95 / 2 % / 1 %) loosened by one board or defect
    assert t["recall"] >= 0.93, report.table()
    assert t["precision"] >= 0.93, report.table()
    assert t["good_flagged_n"] <= 1, report.table()
    assert t["defective_passed_n"] <= 1, report.table()


def test_verifier_provenance_is_disjoint_from_evaluation():
    from twin.models.aoi import dataset, verifier

    meta = json.loads(verifier.WEIGHTS.with_suffix(".json").read_text(encoding="utf-8"))
    for key in ("command", "date", "torch", "train_seed_range", "boards"):
        assert key in meta
    lo, hi = meta["train_seed_range"]
    for seed in (0, 1, 999):
        elo, ehi = dataset.seed_range("eval", seed)
        assert hi <= elo or ehi <= lo
    assert verifier.WEIGHTS.stat().st_size < 1_000_000
