"""The second, independent board generator and the tolerance-aware inspector on its boards."""

from __future__ import annotations

import dataclasses
import importlib
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from twin.models.aoi import assembled, dataset, inspect
from twin.models.aoi.evaluate import match_one_to_one, score_one_to_one

inspect_mod = importlib.import_module("twin.models.aoi.inspect")
align_mod = importlib.import_module("twin.models.aoi.align")

# a design from the held-out evaluation range (the 'process' tolerance was tuned on dev seeds)
DESIGN = dataset.items("eval", 1, 7, per_design=4)[0].design
SAMPLES = [dataset.BASE["eval"] + 7000 + 500_000 + k for k in range(4)]


@pytest.fixture(scope="module")
def board() -> tuple[assembled.Design, object]:
    d = assembled.design(DESIGN)
    return d, assembled.golden(d)


def _f(box, score=1.0):
    return SimpleNamespace(box=box, score=score, kind="open")


def _d(box):
    return SimpleNamespace(box=box, kind="open", size_um=0.0)


def test_one_to_one_matching_on_hand_made_cases():
    truth = [_d((10, 10, 30, 30)), _d((100, 100, 160, 200))]
    # two findings on one defect: one is true, the other costs precision
    assert match_one_to_one([_f((12, 12, 28, 28), 0.9), _f((11, 11, 29, 29), 0.8)], truth) == [0, -1]
    # a box that only touches (less than half of the smaller box inside the other) is no match
    assert match_one_to_one([_f((25, 25, 45, 45))], truth) == [-1]
    # a small call inside a large defect (one spot of a part turned round) matches
    assert match_one_to_one([_f((120, 150, 130, 160))], truth) == [1]
    # the higher score chooses first
    assert match_one_to_one([_f((10, 10, 31, 31), 0.2), _f((10, 10, 30, 30), 0.9)],
                            truth[:1]) == [-1, 0]
    r = score_one_to_one(SimpleNamespace(defects=truth),
                         [_f((12, 12, 28, 28)), _f((11, 11, 29, 29))])
    assert (r.true_findings, [d[2] for d in r.defects], r.lenient) == (1, [True, False], (2, 1))


def test_variation_is_labelled_apart_and_within_its_tolerances(board):
    d, _ = board
    for seed in SAMPLES[:2]:
        v = assembled.variation(d, np.random.default_rng(seed))
        assert max(abs(x) for x in v.silk) <= 1.5
        place = np.asarray(v.place)
        assert np.abs(place[:, :2]).max() <= 1.5
        assert np.abs(place[:, 2]).max() <= 1.0
        fillet = np.asarray(v.fillet)
        assert fillet[:, 0].min() >= 0.25
        assert fillet[:, 0].max() <= 0.5
    good = assembled.sample(d, SAMPLES[0], defects=())
    assert good.good
    assert good.variation["not_placed"] == ()
    assert abs(good.variation["silk_shift_px"][0]) <= 1.5


def test_each_defect_changes_pixels_only_inside_its_box(board):
    d, _ = board
    bad = assembled.sample(d, SAMPLES[1], defects=list(assembled.KINDS))
    clean = assembled.sample(d, SAMPLES[1], defects=())  # same variation and camera
    assert len(bad.defects) >= 8, bad.variation["not_placed"]
    diff = cv2.absdiff(bad.image, clean.image).max(axis=2) >= 12
    inside = np.zeros_like(diff)
    for defect in bad.defects:
        x0, y0, x1, y1 = defect.box
        assert diff[y0:y1, x0:x1].any(), defect
        inside[y0:y1, x0:x1] = True
    assert np.count_nonzero(diff & ~inside) <= 3


def test_process_tolerance_holds_on_good_boards_where_the_tight_one_does_not(board):
    d, g = board
    goods = [assembled.sample(d, s, defects=()) for s in SAMPLES[1:]]
    tight = [inspect(g, s.image, verifier=None) for s in goods]
    process = [inspect(g, s.image, verifier=None, tolerance="process") for s in goods]
    assert sum(len(f) for f in tight) >= 3  # calls at part and silkscreen edges
    assert process == [[], [], []]


def test_process_tolerance_finds_the_defects_one_to_one(board):
    d, g = board
    found = total = false = right = 0
    for seed, kinds in ((SAMPLES[2], assembled.KINDS[:5]), (SAMPLES[3], assembled.KINDS[5:])):
        s = assembled.sample(d, seed, defects=list(kinds))
        r = score_one_to_one(s, inspect(g, s.image, verifier=None, tolerance="process"))
        found += sum(x[2] for x in r.defects)
        right += sum(x[3] for x in r.defects)
        total += len(r.defects)
        false += r.findings - r.true_findings
    assert total >= 8
    assert found >= total - 1
    assert false <= 1
    # kinds measured on the board, named right on a generator the rules were not written with
    assert right >= found - 1  # each of the ten kinds once (all ten right when written)


def test_unknown_tolerance_is_refused(board):
    _, g = board
    with pytest.raises(ValueError, match="tolerance"):
        inspect(g, g.image, tolerance="loose")


def test_cli_evaluate_assembled(tmp_path, capsys):
    from twin.apps.cli import main

    out = tmp_path / "r.json"
    assert main(["aoi", "evaluate", "--assembled", "--boards", "2", "--seed", "7",
                 "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "one to one" in text
    assert "lenient rule" in text
    assert '"totals"' in out.read_text(encoding="utf-8")


def test_anomaly_model_learned_from_good_boards_only(board):
    """The band widened to good boards of the design (no defect sample) calls less on other
    good boards than the golden alone, and still finds a missing part."""
    from twin.models.aoi.anomaly import learn

    d, g = board
    goods = [assembled.sample(d, 45_000_000 + j, defects=()).image for j in range(4)]
    ref = learn(g, goods)
    test = assembled.sample(d, SAMPLES[1], defects=())
    plain = inspect(g, test.image, verifier=None)
    learned = inspect(ref, test.image, verifier=None)
    assert len(learned) < len(plain) / 2
    bad = assembled.sample(d, SAMPLES[2], defects=["missing"])
    found = score_one_to_one(bad, inspect(ref, bad.image, verifier=None))
    assert found.defects[0][2]
    with pytest.raises(ValueError, match="no good boards"):
        learn(g, [])


def test_process_undoes_a_camera_that_zooms(board):
    """A good board seen 0.8 % larger: a rigid fit keeps the scale at 1 and calls the edges;
    'process' measures the scale from the tiles' shifts, undoes it and calls nothing."""
    _, g = board
    h, w = g.image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 0.3, 1.008)
    m[:, 2] += (3.0, -2.0)
    zoomed = cv2.warpAffine(g.image, m, (w, h), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    rigid = dataclasses.replace(inspect_mod.PROCESS, scale=False)
    warps = {}
    for name, tol in (("rigid", rigid), ("process", inspect_mod.PROCESS)):
        warps[name] = inspect_mod.align(inspect_mod.reference(g, None, tol), zoomed)
    assert float(np.linalg.svd(warps["rigid"][:, :2])[1].mean()) == pytest.approx(1.0, abs=1e-6)
    assert float(np.linalg.svd(warps["process"][:, :2])[1].mean()) == pytest.approx(1.008,
                                                                                   abs=0.0005)
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], float)
    assert np.abs(corners @ warps["process"].T - corners @ m.T).max() < 0.6
    assert len(inspect(g, zoomed, verifier=None, tolerance=rigid)) > 0
    assert inspect(g, zoomed, verifier=None, tolerance="process") == []


def test_process_keeps_the_scale_of_a_defective_board_at_one(board):
    """Parts gone, shifted or turned are outliers among the tiles, not a pull on the scale."""
    d, g = board
    bad = assembled.sample(d, SAMPLES[1], defects=list(assembled.KINDS))
    ref = inspect_mod.reference(g, None, inspect_mod.PROCESS)
    tiles = align_mod._similarity(ref.grey[0], _half(bad.image), ref.grey_mask[0],
                                  align_mod.align(ref, bad.image), -1.0)
    assert float(np.sqrt(abs(np.linalg.det(tiles[:, :2])))) == pytest.approx(1.0, abs=0.001)


def _half(img):
    return cv2.pyrDown(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY))


def test_process_holds_on_the_first_generators_zoomed_good_boards():
    """The first generator's camera zooms by up to ± 0.8 % and its boards carry vias and a
    mask colour lot: 'process' (scale undone, vias not parts, balance on neutral cells)
    calls nothing on good boards of a held-out design that a rigid fit calls at the edges."""
    from twin.models.aoi import board

    item = dataset.items("eval", 16, 11)[8]
    g = board.golden(seed=item.design)
    rigid = dataclasses.replace(inspect_mod.PROCESS, scale=False)
    zoomed = [board.sample(g, seed, defects=()) for seed in (item.sample, item.sample + 5)]
    assert min(abs(s.variation["scale"] - 1) for s in zoomed) > 0.007
    assert [inspect(g, s.image, verifier=None, tolerance="process") for s in zoomed] == [[], []]
    assert sum(len(inspect(g, s.image, verifier=None, tolerance=rigid)) for s in zoomed) > 0


def test_process_lets_a_silkscreen_line_move_off_a_via_ring(monkeypatch):
    """A good development board of the first generator whose 0.15 mm silkscreen line runs
    past a via ring: the line moves by its registration and a gap of mask opens between
    them. Its stroke (9-10 px wide once blurred) is silkscreen to 'process', so nothing is
    called; taken as a pad (a 9 px opening), the gap is called at the ring's edge."""
    from twin.models.aoi import board

    item = dataset.items("dev", 120, 8)[58]
    g = board.golden(seed=item.design)
    s = board.sample(g, item.sample)
    assert not s.defects
    assert inspect(g, s.image, verifier=None, tolerance="process") == []
    monkeypatch.setattr(inspect_mod, "SILK_OPEN", 9)
    as_pad = inspect_mod.prepare(g, None, inspect_mod.PROCESS)
    calls = inspect(as_pad, s.image, verifier=None)
    assert len(calls) == 1
    assert calls[0].box[2] - calls[0].box[0] < 15
