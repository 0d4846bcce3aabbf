"""The DeepPCB detector as an ONNX file run by OpenCV's DNN, with its provenance beside it."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from twin.models.aoi import deeppcb as D
from twin.models.aoi import onnx_export

DATA = Path(__file__).parent / "data" / "deeppcb"


def test_shipped_onnx_gives_the_detections_of_the_pytorch_weights():
    meta = json.loads(Path(str(onnx_export.ONNX) + ".json").read_text(encoding="utf-8"))
    assert meta["sha256"] == hashlib.sha256(onnx_export.ONNX.read_bytes()).hexdigest()
    assert meta["provenance"]["seed"] == json.loads(D.WEIGHTS.with_suffix(".json").read_text())["seed"]
    assert meta["provenance"]["held_out_metrics"]["f_score"] >= 0.95
    torch_det, onnx_det = D.load(), D.load(onnx_export.ONNX)
    n = 0
    for pair in D.pairs(DATA):
        t, s = D.read_image(pair.template), D.read_image(pair.test)
        a, b = torch_det.detect(t, s), onnx_det.detect(t, s)
        assert [(d.box, d.cls) for d in a] == [(d.box, d.cls) for d in b]
        assert np.allclose([d.score for d in a], [d.score for d in b], atol=1e-4)
        n += len(a)
    assert n >= 20


def test_a_changed_onnx_file_is_refused(tmp_path):
    path = tmp_path / "deeppcb.onnx"
    shutil.copy(onnx_export.ONNX, path)
    shutil.copy(str(onnx_export.ONNX) + ".json", str(path) + ".json")
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256"):
        onnx_export.load(path)


def test_export_round_trip(tmp_path):
    pytest.importorskip("onnx")
    import torch

    path = onnx_export.export(tmp_path / "d.onnx")
    meta = json.loads((tmp_path / "d.onnx.json").read_text(encoding="utf-8"))
    assert meta["inputs"]["windows"] == ["n", 3, D.WINDOW, D.WINDOW]
    assert len(meta["provenance"]["held_out_ids"]) == meta["provenance"]["held_out_pairs"]
    rng = np.random.default_rng(0)
    x = rng.random((5, 3, D.WINDOW, D.WINDOW), np.float32)
    f = rng.random((5, D.N_FEATURES), np.float32)
    with torch.inference_mode():
        ref = D.load().net.eval()(torch.from_numpy(x), torch.from_numpy(f)).numpy()
    assert np.allclose(onnx_export.OnnxNet(path).logits(x, f), ref, atol=1e-4)
