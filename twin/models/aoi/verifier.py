"""The verifier: a small CNN that names each candidate's defect kind or calls it false.

Input per candidate: the golden and the aligned, lighting-corrected test around the blob
(a square of 1.5 x the blob's larger side + 12 px, resized to 32 x 32), their difference
(9 channels in all), and 7 numbers (log2 width and height, fill, peak excess, brightness
change, part/bright-zone share, test brightness). Output: ``false`` or one of
:data:`twin.models.aoi.defects.KINDS`.

Training (:func:`train`, ``twin aoi train``) runs the classic stage of the inspector on
generated boards of the ``train`` seed range (:mod:`twin.models.aoi.dataset`) with 0.75 x the
tolerance (so that it sees more false calls than inspection will), labels each candidate by the true
defect it overlaps (else ``false``), and fits the net with flips and quarter turns. The
weights (float16) and a JSON with their provenance go to ``twin/data/aoi/``.

torch is imported only here, and only when a verifier is loaded or trained.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from twin.models.aoi import dataset
from twin.models.aoi.defects import KINDS
from twin.models.aoi.inspect import Candidate, Reference, inspect_detailed, reference, to_test_box

log = logging.getLogger(__name__)

CLASSES = ("false",) + KINDS
CROP = 32
N_FEATURES = 7
DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "aoi"
WEIGHTS = DATA_DIR / "verifier.pt"
FALSE_THRESHOLD = 0.5  # a candidate is dropped when P(false) is at least this
TRAIN_TOL_SCALE = 0.75  # training sees the candidates of a more sensitive inspector


def features(ref: Reference, aligned: np.ndarray, cands: Sequence[Candidate]
             ) -> tuple[np.ndarray, np.ndarray]:
    """Crops ``(N, 9, CROP, CROP)`` float32 and features ``(N, N_FEATURES)`` of candidates."""
    h, w = aligned.shape[:2]
    x = np.empty((len(cands), 9, CROP, CROP), np.float32)
    f = np.empty((len(cands), N_FEATURES), np.float32)
    for i, c in enumerate(cands):
        x0, y0, x1, y1 = c.box
        bw, bh = x1 - x0, y1 - y0
        side = int(1.5 * max(bw, bh) + 12)
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        sx0, sy0 = cx - side // 2, cy - side // 2
        pads = (max(0, -sy0), max(0, sy0 + side - h), max(0, -sx0), max(0, sx0 + side - w))
        ys = slice(max(0, sy0), min(h, sy0 + side))
        xs = slice(max(0, sx0), min(w, sx0 + side))
        pair = []
        for img in (ref.smooth, aligned):
            patch = img[ys, xs]
            if any(pads):
                patch = cv2.copyMakeBorder(patch, *pads, cv2.BORDER_REPLICATE)
            pair.append(cv2.resize(patch, (CROP, CROP), interpolation=cv2.INTER_AREA))
        g, t = (p.astype(np.float32) / 255.0 for p in pair)
        x[i] = np.concatenate([g - 0.5, t - 0.5, (t - g) * 2.0], axis=2).transpose(2, 0, 1)
        f[i] = (math.log2(bw + 1) / 8, math.log2(bh + 1) / 8, c.area / max(1, bw * bh),
                c.peak / 64.0, c.signed / 64.0, c.zone, c.bright / 255.0)
    return x, f


def conv_block(a: int, b: int) -> Any:
    """3x3 convolution, batch norm, ReLU, 2x2 max pooling: the step of the AOI classifiers."""
    from torch import nn

    return nn.Sequential(nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b),
                         nn.ReLU(inplace=True), nn.MaxPool2d(2))


def _net() -> Any:
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            block = conv_block
            self.body = nn.Sequential(block(9, 16), block(16, 32), block(32, 48), block(48, 64))
            self.head = nn.Sequential(nn.Linear(64 + N_FEATURES, 96), nn.ReLU(inplace=True),
                                      nn.Dropout(0.2), nn.Linear(96, len(CLASSES)))

        def forward(self, x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
            z = self.body(x).mean(dim=(2, 3))
            return self.head(torch.cat([z, f], dim=1))

    return Net()


@dataclass(eq=False)
class Verifier:
    """A loaded verifier net (CPU inference)."""

    net: Any
    meta: dict

    def probabilities(self, x: np.ndarray, f: np.ndarray) -> np.ndarray:
        """Class probabilities ``(N, len(CLASSES))``."""
        import torch

        with torch.inference_mode():
            logits = self.net(torch.from_numpy(x), torch.from_numpy(f))
            return torch.softmax(logits, dim=1).numpy()

    def classify(self, ref: Reference, aligned: np.ndarray, cands: Sequence[Candidate]
                 ) -> list[tuple[str, float]]:
        """(kind or ``false``, defect probability) per candidate."""
        if not cands:
            return []
        p = self.probabilities(*features(ref, aligned, cands))
        out = []
        for row in p:
            defect = 1.0 - float(row[0])
            kind = "false" if row[0] >= FALSE_THRESHOLD else CLASSES[int(np.argmax(row[1:])) + 1]
            out.append((kind, defect))
        return out


def load_weights(path: str, classes: tuple[str, ...], net: Any) -> dict[str, Any]:
    """Load a weights file saved by an AOI classifier's training into ``net`` (eval mode);
    refuse one trained for other classes; return the file's other entries (its provenance)."""
    import torch

    blob = torch.load(path, map_location="cpu", weights_only=True)
    if tuple(blob["classes"]) != classes:
        raise ValueError(f"{path}: trained for classes {blob['classes']}, expected {classes}")
    net.load_state_dict({k: v.float() for k, v in blob["state"].items()})
    net.eval()
    return {k: v for k, v in blob.items() if k != "state"}


@cache
def _load(path: str) -> Verifier:
    net = _net()
    return Verifier(net, load_weights(path, CLASSES, net))


def load(path: str | Path | None = None) -> Verifier:
    """The verifier at ``path`` (default: the shipped ``twin/data/aoi/verifier.pt``)."""
    p = Path(path) if path is not None else WEIGHTS
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no verifier weights; run `twin aoi train`")
    return _load(str(p.resolve()))


# --- training ----------------------------------------------------------------------------

def _overlap(a: Sequence[int], b: Sequence[int]) -> int:
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def label(cand_box_test: tuple[int, int, int, int], defects: Sequence[Any]) -> int:
    """Class index of a candidate: the defect it overlaps most, else 0 (false)."""
    best, idx = 0, 0
    for d in defects:
        o = _overlap(cand_box_test, d.box)
        if o > best:
            best, idx = o, CLASSES.index(d.kind)
    return idx


def _collect(items: list[dataset.Item]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crops, features and labels from the classic stage on ``items`` (one worker's share)."""
    cv2.setNumThreads(1)
    goldens: dict = {}
    xs, fs, ys = [], [], []
    for item in items:
        g, s = dataset.build(item, goldens, defects=dataset.training_defects(item))
        r = inspect_detailed(g, s.image, verifier=None, tol_scale=TRAIN_TOL_SCALE)
        if r.candidates:
            x, f = features(reference(g), r.aligned, r.candidates)
            y = [label(to_test_box(c.box, r.warp, s.image.shape[:2]), s.defects)
                 for c in r.candidates]
            xs.append(x.astype(np.float16))
            fs.append(f)
            ys.append(np.asarray(y, np.int64))
    if not xs:
        return (np.empty((0, 9, CROP, CROP), np.float16), np.empty((0, N_FEATURES), np.float32),
                np.empty(0, np.int64))
    return np.concatenate(xs), np.concatenate(fs), np.concatenate(ys)


def collect(items: list[dataset.Item], workers: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_collect` spread over ``workers`` processes."""
    if workers <= 1:
        return _collect(items)
    chunks = [items[i::workers] for i in range(workers)]
    with ProcessPoolExecutor(workers) as pool:
        parts = list(pool.map(_collect, chunks))
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]


def _augment(x: Any, f: Any, gen: Any) -> tuple[Any, Any]:
    import torch

    if torch.rand(1, generator=gen).item() < 0.5:
        x = x.flip(3)
    if torch.rand(1, generator=gen).item() < 0.5:
        x = x.flip(2)
    if torch.rand(1, generator=gen).item() < 0.5:
        x = x.transpose(2, 3)
        f = f.clone()
        f[:, [0, 1]] = f[:, [1, 0]]
    return x, f


def fit(x: np.ndarray, f: np.ndarray, y: np.ndarray, *, epochs: int = 24, seed: int = 0,
        progress: Callable[[str], None] | None = None) -> tuple[Any, dict]:
    """Train the net on crops ``x``, features ``f``, labels ``y``; returns (net, stats)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    n = len(y)
    perm = torch.randperm(n, generator=gen).numpy()
    n_val = max(1, n // 8)
    val, tr = perm[:n_val], perm[n_val:]
    xt, ft, yt = (torch.from_numpy(np.ascontiguousarray(a)) for a in (x, f, y))
    xt = xt.float()
    counts = np.bincount(y[tr], minlength=len(CLASSES)).astype(np.float64)
    weights = torch.tensor(1.0 / np.sqrt(np.maximum(counts, 1.0)), dtype=torch.float32)
    weights = weights / weights.mean()
    net = _net()
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = epochs * math.ceil(len(tr) / 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss(weight=weights)
    for epoch in range(epochs):
        net.train()
        order = tr[torch.randperm(len(tr), generator=gen).numpy()]
        total = 0.0
        for i in range(0, len(order), 128):
            b = order[i:i + 128]
            xb, fb = _augment(xt[b], ft[b], gen)
            loss = loss_fn(net(xb, fb), yt[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(b)
        if progress and (epoch % 4 == 3 or epoch == epochs - 1):
            progress(f"epoch {epoch + 1}/{epochs}: loss {total / len(tr):.3f}, "
                     f"validation accuracy {_accuracy(net, xt[val], ft[val], yt[val]):.3f}")
    net.eval()
    stats = {"validation_accuracy": round(_accuracy(net, xt[val], ft[val], yt[val]), 4),
             "validation_candidates": int(n_val), "training_candidates": int(len(tr))}
    return net, stats


def _accuracy(net: Any, x: Any, f: Any, y: Any) -> float:
    import torch

    net.eval()
    with torch.inference_mode():
        pred = net(x, f).argmax(dim=1)
    return float((pred == y).float().mean())


def train(boards: int = 800, seed: int = 0, *, gerber_share: float = 0.15, epochs: int = 24,
          out: Path | None = None, workers: int = 2,
          progress: Callable[[str], None] | None = None) -> dict:
    """Generate training boards, collect candidates, fit, save weights and provenance."""
    import torch

    t0 = time.perf_counter()
    torch.set_num_threads(max(1, workers))
    n_g = round(boards * gerber_share)
    items = dataset.items("train", boards - n_g, seed) + (
        dataset.items("train", n_g, seed, gerber=True) if n_g else [])
    x, f, y = collect(items, workers)
    t1 = time.perf_counter()
    if progress:
        counts = dict(zip(CLASSES, np.bincount(y, minlength=len(CLASSES)).tolist(), strict=True))
        progress(f"{len(y)} candidates from {boards} boards in {t1 - t0:.0f} s: {counts}")
    net, stats = fit(x, f, y, epochs=epochs, seed=seed, progress=progress)
    t2 = time.perf_counter()
    out = Path(out) if out is not None else WEIGHTS
    out.parent.mkdir(parents=True, exist_ok=True)
    lo, hi = dataset.seed_range("train", seed)
    meta = {
        "command": f"twin aoi train --boards {boards} --seed {seed} --epochs {epochs}",
        "boards": boards, "gerber_boards": n_g, "seed": seed, "train_seed_range": [lo, hi],
        "classes": list(CLASSES), "crop_px": CROP, "epochs": epochs,
        "candidates_per_class": dict(zip(CLASSES, np.bincount(y, minlength=len(CLASSES)).tolist(),
                                         strict=True)),
        **stats, "collect_s": round(t1 - t0, 1), "fit_s": round(t2 - t1, 1),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "torch": torch.__version__, "opencv": cv2.__version__, "numpy": np.__version__,
    }
    state = {k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()}
    torch.save({"state": state, "classes": list(CLASSES), "crop": CROP,
                "train_seed_range": [lo, hi]}, out)
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    _load.cache_clear()
    return meta
