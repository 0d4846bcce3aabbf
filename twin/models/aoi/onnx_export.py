"""The DeepPCB detector's classifier as an ONNX file, with its provenance beside it.

    export(out=None, weights=None) -> Path      write ``deeppcb.onnx`` and ``deeppcb.onnx.json``
    load(path=None) -> deeppcb.Detector        the detector running the ONNX file in OpenCV's DNN

The ONNX graph takes ``windows`` (N x 3 x 48 x 48 float32: template, test and their XOR
around each candidate) and ``features`` (N x 3: log width, height, area) and gives ``logits``
(N x 7: background and the six classes); the candidate stage and the merge stay in Python
(:mod:`twin.models.aoi.deeppcb`). Production reads it with OpenCV's DNN module
(``cv2.dnn.readNetFromONNX``, no PyTorch) or onnxruntime. The JSON records the weights'
provenance (data, split, seed, held-out figures, from ``deeppcb.json``), the export (opset,
PyTorch version, input and output names) and the file's SHA-256.

Exporting needs the ``onnx`` package (``pip install .[onnx]``); running needs only OpenCV.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from twin.models.aoi import deeppcb

ONNX = deeppcb.WEIGHTS.with_suffix(".onnx")
OPSET = 17
INPUTS = ("windows", "features")


def _meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def export(out: str | Path | None = None, weights: str | Path | None = None) -> Path:
    """Write the classifier of ``weights`` (default: the shipped one) as ONNX, with its
    provenance in ``<out>.json``; returns the ONNX path."""
    import torch

    path = Path(out) if out else ONNX
    det = deeppcb.load(weights)
    net = det.net.eval()
    x = torch.zeros(2, 3, deeppcb.WINDOW, deeppcb.WINDOW)
    f = torch.zeros(2, deeppcb.N_FEATURES)
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated, still works
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(net, (x, f), str(path), input_names=list(INPUTS),
                          output_names=["logits"], opset_version=OPSET, dynamo=False,
                          dynamic_axes={"windows": {0: "n"}, "features": {0: "n"},
                                        "logits": {0: "n"}})
    meta = {
        "what": "DeepPCB detector classifier (candidates -> background or one of six classes)",
        "onnx": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "opset": OPSET, "torch": torch.__version__,
        "inputs": {"windows": ["n", 3, deeppcb.WINDOW, deeppcb.WINDOW],
                   "features": ["n", deeppcb.N_FEATURES]},
        "outputs": {"logits": ["n", 1 + len(deeppcb.CLASSES)]},
        "classes": ["background", *deeppcb.CLASSES],
        "exported": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": "twin aoi export-onnx",
        "weights": str(Path(weights).name if weights else deeppcb.WEIGHTS.name),
        "provenance": det.meta,
    }
    _meta_path(path).write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return path


class OnnxNet:
    """The exported classifier in OpenCV's DNN, called like the PyTorch net."""

    def __init__(self, path: Path) -> None:
        import cv2

        self.net = cv2.dnn.readNetFromONNX(str(path))

    def logits(self, x: np.ndarray, f: np.ndarray) -> np.ndarray:
        """Logits (N x 7) of windows ``x`` and features ``f`` (float32)."""
        self.net.setInput(np.ascontiguousarray(x, np.float32), INPUTS[0])
        self.net.setInput(np.ascontiguousarray(f, np.float32), INPUTS[1])
        return self.net.forward()

    def __call__(self, x: Any, f: Any) -> Any:
        import torch

        return torch.from_numpy(self.logits(np.asarray(x), np.asarray(f)))


def load(path: str | Path | None = None) -> deeppcb.Detector:
    """The detector with the ONNX classifier at ``path`` (default: the shipped one); its
    provenance JSON is checked against the file's SHA-256."""
    p = Path(path) if path else ONNX
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no ONNX file (write it with 'twin aoi export-onnx')")
    meta_path = _meta_path(p)
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    if meta and meta.get("sha256") != hashlib.sha256(p.read_bytes()).hexdigest():
        raise ValueError(f"{p}: does not match the SHA-256 in {meta_path.name}")
    return deeppcb.Detector(OnnxNet(p), meta.get("provenance", {}))
