"""DeepPCB: real binarised PCB scans, a detector for their six defect classes, and the
benchmark's scoring rule.

DeepPCB (Tang et al., "Online PCB Defect Detector On A New PCB Defect Dataset", 2019, MIT
licence) pairs a defect-free template ``<id>_temp.jpg`` with a tested image ``<id>_test.jpg``
(640 x 640, binarised, aligned, about 48 px/mm) under ``groupNNNNN/NNNNN/``; the truth is
``groupNNNNN/NNNNN_not/<id>.txt``, one defect a line ``x1,y1,x2,y2,type`` (commas or spaces),
type 1 open, 2 short, 3 mousebite, 4 spur, 5 spurious copper, 6 pin hole.

**Scoring** (:func:`score`), the benchmark's rule: a detection is true when its box has
IoU > 0.33 with a ground-truth box of the same class that no higher-confidence detection took
(greedy by confidence, each ground-truth box matched at most once); precision, recall and
F-score 2PR/(P+R) per class and overall; AP per class is the area under the interpolated
precision-recall curve of the confidence-ranked detections (all points, as PASCAL VOC from
2010), mAP their mean. The lenient rule (any overlap, any class) is computed beside it.

**Detector** (:class:`Detector`): the test moved onto the template by the whole-pixel shift
(within 3 px) with the fewest differing pixels, XOR of the two (thresholded at 128), a 3 x 3
opening that removes the one-pixel edge jitter of the scan, connected components of at least
:data:`MIN_AREA` px; each component's box is grown by :data:`MARGIN_PX` on each side, at least
:data:`MIN_HALF_PX` from its centre (measured on the training part: annotated boxes are the
defect's extent plus about 10 px a side, 26 px at least). A small CNN names each candidate
(background or one of the six classes) from a 48 x 48 window of template, test and XOR and
its box size; its confidence is 1 - P(background); overlapping same-class detections are
merged into their union (:func:`merge`: a defect's XOR often falls apart into two blobs).

torch is imported only when the classifier is trained or loaded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

CLASSES = ("open", "short", "mousebite", "spur", "spurious_copper", "pin_hole")  # types 1..6
IOU_MIN = 0.33
MIN_AREA = 8
ALIGN_PX = 3
MARGIN_PX = 10
MIN_HALF_PX = 14
WINDOW = 48
N_FEATURES = 3
DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "aoi"
WEIGHTS = DATA_DIR / "deeppcb.pt"
HELD_OUT_SHARE = 0.2
SEED = 0

Box = tuple[float, float, float, float]


# ----------------------------------------------------------------------------- the layout

@dataclass(frozen=True)
class Pair:
    """One DeepPCB pair: its id, the two images and the annotation file."""

    id: str
    template: Path
    test: Path
    truth: Path


def _pair_from(root: Path, img: str, ann: str) -> Pair:
    stem = img[:-4] if img.endswith(".jpg") else img
    return Pair(Path(stem).name, root / f"{stem}_temp.jpg", root / f"{stem}_test.jpg", root / ann)


def pairs(root: str | Path) -> list[Pair]:
    """The pairs of a folder in DeepPCB's layout, in a fixed order.

    Read from ``trainval.txt`` / ``test.txt`` when present (``group/NNNNN/<id>.jpg
    group/NNNNN_not/<id>.txt`` a line), else found as ``*/*/<id>_test.jpg`` with
    ``<id>_temp.jpg`` beside and ``../NNNNN_not/<id>.txt``. Raises ValueError (one line
    naming the folder and what is missing) when the folder is not in that layout.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder")
    out: list[Pair] = []
    lists = [p for p in (root / "trainval.txt", root / "test.txt") if p.is_file()]
    for lst in lists:
        for n, line in enumerate(lst.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2:
                raise ValueError(f"{lst}:{n}: expected 'IMAGE.jpg ANNOTATION.txt', got {line!r}")
            out.append(_pair_from(root, *parts))
    if not lists:
        for test in sorted(root.glob("*/*/*_test.jpg")):
            stem = test.name[:-len("_test.jpg")]
            out.append(Pair(stem, test.with_name(f"{stem}_temp.jpg"), test,
                            test.parent.parent / f"{test.parent.name}_not" / f"{stem}.txt"))
    if not out:
        raise ValueError(f"{root}: not in DeepPCB's layout (no trainval.txt/test.txt and no "
                         "GROUP/NNNNN/<id>_test.jpg)")
    complete = [p for p in out if all(f.is_file() for f in (p.template, p.test, p.truth))]
    if len(complete) < max(1, len(out) // 2):
        gone = next(f for p in out for f in (p.template, p.test, p.truth) if not f.is_file())
        raise ValueError(f"{root}: not in DeepPCB's layout: {gone.relative_to(root)} is missing")
    return complete


def read_truth(path: str | Path) -> list[tuple[Box, int]]:
    """Boxes and class indices (0..5) of an annotation file."""
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        v = line.replace(",", " ").split()
        try:
            x0, y0, x1, y1, t = (int(float(s)) for s in v)
        except ValueError:
            raise ValueError(f"{path}:{n}: expected 'x1,y1,x2,y2,type', got {line!r}") from None
        if not 1 <= t <= len(CLASSES) or x1 <= x0 or y1 <= y0:
            raise ValueError(f"{path}:{n}: type must be 1..6 and the box non-empty, got {line!r}")
        out.append(((float(x0), float(y0), float(x1), float(y1)), t - 1))
    return out


def read_image(path: Path) -> np.ndarray:
    """A binarised scan as uint8 0/1."""
    im = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if im is None:
        raise ValueError(f"{path}: not an image OpenCV can read")
    return (im > 127).astype(np.uint8)


def split(ids: Sequence[str], seed: int = SEED, share: float = HELD_OUT_SHARE
          ) -> tuple[list[str], list[str]]:
    """(training ids, held-out ids): a seeded permutation, the first ``share`` held out."""
    ids = sorted(ids)
    perm = np.random.default_rng(seed).permutation(len(ids))
    n_out = int(round(share * len(ids)))
    held = sorted(ids[i] for i in perm[:n_out])
    held_set = set(held)
    return [i for i in ids if i not in held_set], held


# ----------------------------------------------------------------------------- scoring

def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class Detection:
    """A found defect: box in the test image's pixels, class index (0..5), confidence."""

    box: Box
    cls: int
    score: float

    @property
    def kind(self) -> str:
        return CLASSES[self.cls]


def match(dets: Sequence[Detection], truth: Sequence[tuple[Box, int]],
          iou_min: float = IOU_MIN) -> list[bool]:
    """Whether each detection is true under the benchmark's rule (one image).

    Detections in falling confidence each take the unmatched ground-truth box of their class
    with the highest IoU, if that IoU exceeds ``iou_min``.
    """
    taken = [False] * len(truth)
    out = [False] * len(dets)
    for i in sorted(range(len(dets)), key=lambda k: -dets[k].score):
        d = dets[i]
        best, best_iou = -1, iou_min
        for j, (box, c) in enumerate(truth):
            if taken[j] or c != d.cls:
                continue
            v = iou(d.box, box)
            if v > best_iou:
                best, best_iou = j, v
        if best >= 0:
            taken[best] = True
            out[i] = True
    return out


def average_precision(scores: Sequence[float], true: Sequence[bool], n_truth: int) -> float:
    """Area under the interpolated precision-recall curve (all points)."""
    if n_truth == 0:
        return math.nan
    if not scores:
        return 0.0
    order = np.argsort(-np.asarray(scores, float), kind="stable")
    tp = np.cumsum(np.asarray(true, float)[order])
    fp = np.cumsum(1.0 - np.asarray(true, float)[order])
    rec = np.concatenate([[0.0], tp / n_truth, [1.0]])
    prec = np.concatenate([[1.0], tp / np.maximum(tp + fp, 1e-12), [0.0]])
    prec = np.maximum.accumulate(prec[::-1])[::-1]
    steps = np.nonzero(rec[1:] != rec[:-1])[0]
    return float(np.sum((rec[steps + 1] - rec[steps]) * prec[steps + 1]))


@dataclass
class Score:
    """Scores of a set of images under the benchmark's rule, and the lenient one beside."""

    per_class: list[dict[str, float]]
    overall: dict[str, float]
    lenient: dict[str, float]
    images: int

    def table(self) -> str:
        o, lz = self.overall, self.lenient
        lines = [f"{'class':<16} {'truth':>6} {'found':>6} {'TP':>5} {'precision':>9} "
                 f"{'recall':>7} {'F':>6} {'AP':>6}"]
        for row in self.per_class:
            lines.append(f"{row['class']:<16} {row['truth']:>6.0f} {row['detections']:>6.0f} "
                         f"{row['tp']:>5.0f} {_f(row['precision']):>9} {_f(row['recall']):>7} "
                         f"{_f(row['f'])!s:>6} {_f(row['ap']):>6}")
        lines.append(f"{'all':<16} {o['truth']:>6.0f} {o['detections']:>6.0f} {o['tp']:>5.0f} "
                     f"{_f(o['precision']):>9} {_f(o['recall']):>7} {_f(o['f']):>6} "
                     f"{_f(o['map']):>6}  (mAP)")
        lines.append("")
        lines.append(f"benchmark rule (IoU > {IOU_MIN}, same class, one to one): "
                     f"F-score {_f(o['f'])}, mAP {_f(o['map'])}")
        lines.append(f"lenient rule (any overlap, any class; shown beside, not a score): "
                     f"precision {_f(lz['precision'])}, recall {_f(lz['recall'])}")
        return "\n".join(lines)


def _f(x: float) -> str:
    return "—" if x is None or math.isnan(x) else f"{x:.3f}"


def _prf(tp: float, n_det: float, n_truth: float) -> tuple[float, float, float]:
    p = tp / n_det if n_det else math.nan
    r = tp / n_truth if n_truth else math.nan
    f = 2 * p * r / (p + r) if n_det and n_truth and p + r > 0 else (
        0.0 if n_det or n_truth else math.nan)
    return p, r, f


def score(results: Iterable[tuple[Sequence[Detection], Sequence[tuple[Box, int]]]]) -> Score:
    """Score (detections, truth) per image under the benchmark's rule."""
    by_cls: dict[int, tuple[list[float], list[bool]]] = {c: ([], []) for c in range(len(CLASSES))}
    n_truth = [0] * len(CLASSES)
    len_tp = len_found = len_det = len_truth = 0
    images = 0
    for dets, truth in results:
        images += 1
        for _, c in truth:
            n_truth[c] += 1
        for d, ok in zip(dets, match(dets, truth), strict=True):
            by_cls[d.cls][0].append(d.score)
            by_cls[d.cls][1].append(ok)
        len_det += len(dets)
        len_truth += len(truth)
        len_tp += sum(any(_overlaps(d.box, b) for b, _ in truth) for d in dets)
        len_found += sum(any(_overlaps(d.box, b) for d in dets) for b, _ in truth)
    rows = []
    for c, name in enumerate(CLASSES):
        s, t = by_cls[c]
        tp = float(sum(t))
        p, r, f = _prf(tp, len(s), n_truth[c])
        rows.append({"class": name, "truth": n_truth[c], "detections": len(s), "tp": tp,
                     "precision": p, "recall": r, "f": f,
                     "ap": average_precision(s, t, n_truth[c])})
    tp = sum(r["tp"] for r in rows)
    n_det = sum(r["detections"] for r in rows)
    p, r, f = _prf(tp, n_det, sum(n_truth))
    aps = [row["ap"] for row in rows if not math.isnan(row["ap"])]
    overall = {"truth": sum(n_truth), "detections": n_det, "tp": tp, "precision": p,
               "recall": r, "f": f, "map": float(np.mean(aps)) if aps else math.nan}
    lenient = {"precision": len_tp / len_det if len_det else math.nan,
               "recall": len_found / len_truth if len_truth else math.nan}
    return Score(rows, overall, lenient, images)


def _overlaps(a: Sequence[float], b: Sequence[float]) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


# ----------------------------------------------------------------------------- candidates

@dataclass(frozen=True)
class Candidate:
    """A difference blob: centre, its own extent, and the annotation-style box."""

    cx: float
    cy: float
    w: int
    h: int
    area: int
    box: Box


def align(template: np.ndarray, test: np.ndarray, radius: int = ALIGN_PX) -> tuple[int, int]:
    """The whole-pixel shift ``(dx, dy)`` within ``radius`` that moves ``test`` onto
    ``template`` with the fewest differing pixels (about a fifth of DeepPCB's pairs are off by
    1-3 px, which leaves thick edges in the XOR)."""
    r = radius
    core = template[r:-r, r:-r]
    h, w = core.shape
    best = (cv2.countNonZero(cv2.bitwise_xor(core, test[r:-r, r:-r])), 0, 0)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if dx or dy:
                moved = test[r - dy:r - dy + h, r - dx:r - dx + w]
                n = cv2.countNonZero(cv2.bitwise_xor(core, moved))
                if n < best[0]:
                    best = (n, dx, dy)
    return best[1], best[2]


def shifted(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``image`` moved by whole pixels (edges repeated)."""
    if not dx and not dy:
        return image
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, m, (image.shape[1], image.shape[0]), flags=cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_REPLICATE)


def candidates(template: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, list[Candidate]]:
    """(XOR map after opening, candidate blobs) of a 0/1 template and an aligned 0/1 test."""
    d = cv2.bitwise_xor(template, test)
    d = cv2.morphologyEx(d, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, _lab, st, _ = cv2.connectedComponentsWithStats(d, connectivity=8)
    out = []
    for i in range(1, n):
        x, y, w, h, a = (int(v) for v in st[i])
        if a < MIN_AREA:
            continue
        cx, cy = x + w / 2, y + h / 2
        hw, hh = max(w / 2 + MARGIN_PX, MIN_HALF_PX), max(h / 2 + MARGIN_PX, MIN_HALF_PX)
        out.append(Candidate(cx, cy, w, h, a, (cx - hw, cy - hh, cx + hw, cy + hh)))
    return d, out


def prepared(template: np.ndarray, test: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, list[Candidate], tuple[int, int]]:
    """(aligned test, XOR map, candidates, shift): the candidate stage of one pair."""
    dx, dy = align(template, test)
    moved = shifted(test, dx, dy)
    diff, cands = candidates(template, moved)
    return moved, diff, cands, (dx, dy)


def crops(template: np.ndarray, test: np.ndarray, diff: np.ndarray,
          cands: Sequence[Candidate]) -> tuple[np.ndarray, np.ndarray]:
    """Windows ``(N, 3, WINDOW, WINDOW)`` float32 and box features ``(N, N_FEATURES)``."""
    r = WINDOW // 2
    stack = np.stack([template, test, diff], axis=0).astype(np.float32)
    stack = np.pad(stack, ((0, 0), (r, r), (r, r)))
    x = np.empty((len(cands), 3, WINDOW, WINDOW), np.float32)
    f = np.empty((len(cands), N_FEATURES), np.float32)
    for i, c in enumerate(cands):
        ix, iy = int(round(c.cx)), int(round(c.cy))
        x[i] = stack[:, iy:iy + WINDOW, ix:ix + WINDOW]
        f[i] = (math.log2(c.w + 1) / 7, math.log2(c.h + 1) / 7, math.log2(c.area + 1) / 12)
    x -= 0.5
    return x, f


# ----------------------------------------------------------------------------- the classifier

def _net() -> Any:
    import torch
    from torch import nn

    from twin.models.aoi.verifier import conv_block as block

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(block(3, 16), block(16, 32), block(32, 64), block(64, 64))
            self.head = nn.Sequential(nn.Linear(64 * 9 + N_FEATURES, 96), nn.ReLU(inplace=True),
                                      nn.Dropout(0.2), nn.Linear(96, 1 + len(CLASSES)))

        def forward(self, x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
            z = self.body(x).flatten(1)
            return self.head(torch.cat([z, f], dim=1))

    return Net()


@dataclass(eq=False)
class Detector:
    """The candidate stage and its classifier (CPU)."""

    net: Any
    meta: dict = field(default_factory=dict)
    threshold: float = 0.5

    def detect(self, template: np.ndarray, test: np.ndarray) -> list[Detection]:
        """Detections in one 0/1 pair."""
        import torch

        moved, diff, cands, (dx, dy) = prepared(template, test)
        if not cands:
            return []
        x, f = crops(template, moved, diff, cands)
        with torch.inference_mode():
            p = torch.softmax(self.net(torch.from_numpy(x), torch.from_numpy(f)), 1).numpy()
        dets = []
        for c, row in zip(cands, p, strict=True):
            conf = 1.0 - float(row[0])
            if conf >= self.threshold:
                x0, y0, x1, y1 = c.box  # back into the test image's pixels
                dets.append(Detection((x0 - dx, y0 - dy, x1 - dx, y1 - dy),
                                      int(np.argmax(row[1:])), conf))
        return merge(dets)


def merge(dets: Sequence[Detection]) -> list[Detection]:
    """One detection per defect: same-class boxes that overlap become their union, with the
    higher confidence (a defect's XOR often falls apart into two or three blobs)."""
    out: list[Detection] = []
    for d in sorted(dets, key=lambda d: -d.score):
        for i, k in enumerate(out):
            if k.cls == d.cls and _overlaps(k.box, d.box):
                out[i] = Detection((min(k.box[0], d.box[0]), min(k.box[1], d.box[1]),
                                    max(k.box[2], d.box[2]), max(k.box[3], d.box[3])),
                                   k.cls, k.score)
                break
        else:
            out.append(d)
    return out


@cache
def _load(path: str) -> Detector:
    from twin.models.aoi.verifier import load_weights

    net = _net()
    load_weights(path, CLASSES, net)
    meta_path = Path(path).with_suffix(".json")
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    return Detector(net, meta)


def load(path: str | Path | None = None) -> Detector:
    """The detector whose weights are at ``path`` (default: the shipped one); an ``.onnx``
    file runs in OpenCV's DNN (:mod:`twin.models.aoi.onnx_export`)."""
    p = Path(path) if path else WEIGHTS
    if p.suffix == ".onnx":
        from twin.models.aoi import onnx_export

        return onnx_export.load(p)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no DeepPCB weights (train with 'twin aoi train --deeppcb')")
    return _load(str(p))


def _labelled(pair: Pair) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tpl, tst = read_image(pair.template), read_image(pair.test)
    truth = read_truth(pair.truth)
    moved, diff, cands, (dx, dy) = prepared(tpl, tst)
    x, f = crops(tpl, moved, diff, cands)
    y = np.zeros(len(cands), np.int64)
    for i, c in enumerate(cands):
        box = (c.box[0] - dx, c.box[1] - dy, c.box[2] - dx, c.box[3] - dy)
        best = max(((iou(box, b), k) for b, k in truth), default=(0.0, -1))
        if best[0] > IOU_MIN:
            y[i] = best[1] + 1
    return x, f, y


def train(root: str | Path, *, seed: int = SEED, epochs: int = 12, limit: int | None = None,
          out: str | Path | None = None, threads: int = 2,
          progress: Callable[[str], None] | None = None) -> dict:
    """Train the classifier on the training part of ``root``; write weights and provenance.

    The held-out part (:func:`split` with ``seed``) is never read here. ``limit`` caps the
    training pairs (a smoke run).
    """
    import torch
    from torch import nn

    say = progress or (lambda _m: None)
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    all_pairs = pairs(root)
    train_ids, held = split([p.id for p in all_pairs], seed)
    keep = set(train_ids)
    train_pairs = [p for p in all_pairs if p.id in keep][:limit]
    xs, fs, ys = zip(*(_labelled(p) for p in train_pairs), strict=True)
    x = torch.from_numpy(np.concatenate(xs))
    f = torch.from_numpy(np.concatenate(fs))
    y = torch.from_numpy(np.concatenate(ys))
    counts = np.bincount(y.numpy(), minlength=1 + len(CLASSES))
    say(f"{len(train_pairs)} training pairs, {len(y)} candidates "
        f"({counts[0]} background) in {time.perf_counter() - t0:.0f} s")
    net = _net()
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    steps = epochs * math.ceil(len(y) / 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=max(1, steps))
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    for ep in range(epochs):
        net.train()
        perm = torch.randperm(len(y), generator=gen)
        total = 0.0
        for k in range(0, len(y), 128):
            idx = perm[k:k + 128]
            xb = x[idx]
            if torch.rand(1, generator=gen).item() < 0.5:  # flips keep the classes
                xb = xb.flip(3)
            if torch.rand(1, generator=gen).item() < 0.5:
                xb = xb.flip(2)
            if torch.rand(1, generator=gen).item() < 0.5:
                xb = xb.transpose(2, 3)
                fb = f[idx][:, [1, 0, 2]]
            else:
                fb = f[idx]
            loss = loss_fn(net(xb, fb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        say(f"epoch {ep + 1}/{epochs}: loss {total / len(y):.4f}")
    net.eval()
    path = Path(out) if out else WEIGHTS
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()}
    torch.save({"classes": list(CLASSES), "state": state}, path)
    _load.cache_clear()
    ids_hash = hashlib.sha256("\n".join(sorted(held)).encode()).hexdigest()[:16]
    meta = {
        "source": "DeepPCB (Tang et al. 2019, MIT licence), trainval split, "
                  "https://github.com/tangsanli5201/DeepPCB",
        "command": f"twin aoi train --deeppcb PATH --seed {seed} --epochs {epochs}"
                   + (f" --limit {limit}" if limit else ""),
        "data": str(Path(root).name), "pairs": len(all_pairs), "seed": seed,
        "held_out_share": HELD_OUT_SHARE, "held_out_pairs": len(held),
        "held_out_sha256_16": ids_hash, "held_out_ids": held,
        "training_pairs": len(train_pairs), "training_ids": [p.id for p in train_pairs],
        "candidates": int(len(y)),
        "candidates_per_class": dict(zip(("background",) + CLASSES,
                                         (int(c) for c in counts), strict=True)),
        "epochs": epochs, "window_px": WINDOW, "margin_px": MARGIN_PX,
        "min_half_px": MIN_HALF_PX, "min_area_px": MIN_AREA,
        "trained": dt.date.today().isoformat(),
        "train_s": round(time.perf_counter() - t0, 1),
    }
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return meta


# ----------------------------------------------------------------------------- evaluation

@dataclass
class Evaluation:
    """A scored folder: the score, timing and which pairs were left out."""

    score: Score
    pairs: int
    skipped_trained: int
    ms_per_pair: float
    weights: str

    def table(self, title: str) -> str:
        head = (f"{title}\n{'-' * len(title)}\n"
                f"pairs scored {self.pairs}"
                + (f" ({self.skipped_trained} left out: the model trained on them)"
                   if self.skipped_trained else "")
                + f", weights {self.weights}\n"
                f"detection {self.ms_per_pair:.1f} ms per pair (median; read, XOR, classify; "
                "one process)\n")
        return head + self.score.table()


def evaluate(root: str | Path, weights: str | Path | None = None, *,
             include_trained: bool = False, threads: int = 1) -> Evaluation:
    """Detect and score every pair of ``root`` that the model did not train on."""
    import torch

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    det = load(weights)
    ps = pairs(root)
    trained: set[str] = set()
    meta = det.meta
    if not include_trained:
        seen = set(meta.get("training_ids", ()))
        trained = {p.id for p in ps if p.id in seen}
    results, times = [], []
    for p in ps:
        if p.id in trained:
            continue
        t0 = time.perf_counter()
        dets = det.detect(read_image(p.template), read_image(p.test))
        times.append(time.perf_counter() - t0)
        results.append((dets, read_truth(p.truth)))
    if not results:
        raise ValueError(f"{root}: every pair was used to train the model")
    name = str(weights) if weights else "twin/data/aoi/deeppcb.pt"
    return Evaluation(score(results), len(results), len(trained),
                      1e3 * float(np.median(times)), name)
