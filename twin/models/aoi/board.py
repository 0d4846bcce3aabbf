"""Procedural PCB images for the AOI station: golden boards and production samples.

    golden(spec, seed)                         -> Board   the reference picture of one design
    sample(golden_board, seed, defects=None, p_defect=0.5) -> Board   one produced board

A sample differs from its golden board by *normal process variation*, recorded in
``Board.variation`` (pose: shift ≤ 24 px, rotation ≤ 1.5°, scale ±0.8 %; optics: blur;
lighting: gain ±15 %, gradient, vignetting, white balance; sensor noise; the board's own
etch, mask and silkscreen registration, part placement within tolerance, fillet shape and
colour lots) and by *defects*, each with its exact box in the sample's pixels, listed in
``Board.defects``. The box is the bounding box of the pixels the defect changes (found by
drawing its neighbourhood with and without it), mapped through the pose change and grown by
the blur radius.

Everything is deterministic per seed (streams from :func:`twin.core.rng.generator`). Images are
RGB ``uint8``; :func:`load_image` / :func:`save_image` are the only file I/O.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from twin import data
from twin.core.rng import generator
from twin.models.aoi import defects as dfx
from twin.models.aoi.layout import Layout, generate
from twin.models.aoi.render import Jitter, Painter, capture, map_box, random_jitter, render

KINDS = dfx.KINDS
DEFAULT_UM_PER_PX = float(data.load("aoi/footprints")["um_per_px"])


@dataclass(frozen=True)
class BoardSpec:
    """What the generator draws: frame size, resolution, how crowded, surface finish."""

    size_px: int = 1024
    um_per_px: float = DEFAULT_UM_PER_PX
    density: float = 1.0  # parts, buses and vias relative to the default mix
    finish: str = "enig"  # enig (gold pads) or hasl (tin-lead grey pads)

    def __post_init__(self) -> None:
        if not 256 <= self.size_px <= 8192:
            raise ValueError(f"size_px: expected 256..8192, got {self.size_px}")
        if not 5.0 <= self.um_per_px <= 50.0:
            raise ValueError(f"um_per_px: expected 5..50, got {self.um_per_px}")
        if self.finish not in ("enig", "hasl"):
            raise ValueError(f"finish: expected 'enig' or 'hasl', got {self.finish!r}")


@dataclass(frozen=True)
class Defect:
    """A defect: its kind, its box (x0, y0, x1, y1; x1/y1 exclusive) in image px, its size."""

    kind: str
    box: tuple[int, int, int, int]
    size_um: float


@dataclass(frozen=True, eq=False)
class Board:
    """A board picture with its truth: defects, process variation, optional zone masks."""

    image: np.ndarray  # H x W x 3 RGB uint8
    defects: tuple[Defect, ...] = ()
    variation: Mapping[str, Any] = field(default_factory=dict)
    mask_zones: Mapping[str, np.ndarray] | None = None  # golden boards: bool masks per layer
    layout: Any = None  # the design sample() needs (a Layout or gerber.GerberLayers)
    um_per_px: float = DEFAULT_UM_PER_PX
    seed: int | None = None

    @property
    def good(self) -> bool:
        """True when the board has no defect."""
        return not self.defects


def golden(spec: BoardSpec | None = None, seed: int = 0) -> Board:
    """The golden board of design ``seed``: nominal geometry, no pose change, no noise."""
    spec = spec or BoardSpec()
    layout = generate(spec.size_px, spec.um_per_px, spec.density,
                      generator(seed, "aoi-golden"), spec.finish)
    image, _, variation = capture(render(layout), None)
    return Board(image, (), variation, zones(layout), layout, spec.um_per_px, seed)


def sample(golden_board: Board, seed: int, defects: Sequence[str | tuple[str, float]] | None = None,
           p_defect: float = 0.5) -> Board:
    """One produced board of ``golden_board``'s design.

    ``defects=None`` draws a good board with probability ``1 - p_defect``, else one to three
    defects of random kinds; a sequence injects exactly those kinds (a ``(kind, size_um)``
    pair fixes a bare-board defect's size; an empty sequence makes a good board). A kind
    with no target on this design (no bus for a short, no gull-wing part for a bridge) is
    left out and named in ``variation["not_placed"]``. The board's own variation and the
    camera depend on ``seed`` only: ``sample(g, s, defects=())`` is the defect-free twin of
    ``sample(g, s, defects=[...])``.
    """
    layout = golden_board.layout
    if layout is None:
        raise ValueError("sample() needs a golden Board from golden() or gerber.golden()")
    if not isinstance(layout, Layout):
        from twin.models.aoi import gerber

        return gerber.sample(golden_board, seed, defects=defects, p_defect=p_defect)
    # separate streams: the same seed gives the same board variation and camera with or
    # without defects, so that a defect-free twin of any sample can be drawn
    rng = generator(seed, "aoi-sample-defects")
    jitter = random_jitter(layout, generator(seed, "aoi-sample-board"))
    requests = requested(rng, defects, p_defect, KINDS)
    planned, missing = place(layout, rng, requests, *_keepout(layout))
    canvas = render(layout, jitter, dfx.merge([p.ops for p in planned]))
    image, pose, variation = capture(canvas, generator(seed, "aoi-sample-camera"))
    pad = math.ceil(2 * variation["blur_sigma_px"]) + 1
    found = []
    for p in planned:
        box = exact_box(layout, jitter, p)
        if box is None:
            missing.append(p.kind)
            continue
        found.append(Defect(p.kind, map_box(box, pose, pad, image.shape[:2]), round(p.size_um, 1)))
    variation.update(etch_px=jitter.etch_px, mask_shift_px=jitter.mask_shift,
                     silk_shift_px=jitter.silk_shift, not_placed=tuple(missing),
                     placement_max_px=0.6, placement_max_deg=0.25, pose=pose.tolist())
    return Board(image, tuple(found), variation, None, layout, layout.um_per_px, seed)


def requested(rng: np.random.Generator, defects: Sequence[str | tuple[str, float]] | None,
              p_defect: float, kinds: Sequence[str]) -> list[tuple[str, float | None]]:
    """The (kind, size_um or None) list a sample is asked to carry."""
    if defects is None:
        if rng.random() >= p_defect:
            return []
        n = int(rng.choice((1, 2, 3), p=(0.6, 0.3, 0.1)))
        return [(str(k), None) for k in rng.choice(kinds, size=n)]
    out: list[tuple[str, float | None]] = []
    for d in defects:
        kind, size = (d, None) if isinstance(d, str) else (d[0], float(d[1]))
        if kind not in kinds:
            raise ValueError(f"unknown defect kind {kind!r}; expected one of {', '.join(kinds)}")
        out.append((kind, size))
    return out


def place(layout: Layout, rng: np.random.Generator, requests: list[tuple[str, float | None]],
          keep: np.ndarray, silk: np.ndarray) -> tuple[list[dfx.Planned], list[str]]:
    """Plan each requested defect on its own target, apart from the others.

    Copper defects stay off the silkscreen (``silk``, grown by a few px): under a printed
    letter a defect is hidden from any camera, and its true box would be a false promise.
    """
    planned: list[dfx.Planned] = []
    missing: list[str] = []
    for kind, size in requests:
        for _ in range(12):
            p = dfx.plan(layout, rng, kind, keep, size)
            if p is None or any(_clash(p, q) for q in planned):
                continue
            x0, y0, x1, y1 = (max(0, int(v)) for v in p.region)
            if kind in dfx.BARE and silk[y0:y1 + 1, x0:x1 + 1].any():
                continue
            planned.append(p)
            break
        else:
            missing.append(kind)
    return planned, missing


def _clash(a: dfx.Planned, b: dfx.Planned, gap: float = 12.0) -> bool:
    if a.target[0] == "comp" and a.target == b.target:
        return True
    ra, rb = a.region, b.region
    return not (ra[2] + gap < rb[0] or rb[2] + gap < ra[0] or ra[3] + gap < rb[1]
                or rb[3] + gap < ra[1])


def exact_box(layout: Layout, jitter: Jitter, p: dfx.Planned, level: int = 10
              ) -> tuple[int, int, int, int] | None:
    """Bounding box (design px) of the pixels that defect ``p`` changes by ≥ ``level``."""
    n = layout.size_px
    x0, y0, x1, y1 = p.region
    roi = (max(0, int(x0) - 2), max(0, int(y0) - 2), min(n, int(x1) + 3), min(n, int(y1) + 3))
    clean = render(layout, jitter, roi=roi)
    bad = render(layout, jitter, p.ops, roi=roi)
    changed = cv2.absdiff(clean, bad).max(axis=2) >= level
    ys, xs = np.nonzero(changed)
    if len(xs) == 0:
        return None
    return (roi[0] + int(xs.min()), roi[1] + int(ys.min()), roi[0] + int(xs.max()),
            roi[1] + int(ys.max()))


_KEEPOUT: OrderedDict[int, tuple[Layout, np.ndarray, np.ndarray]] = OrderedDict()


def _keepout(layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """(copper, pads and parts; silkscreen grown by 4 px) of a layout, cached."""
    hit = _KEEPOUT.get(id(layout))
    if hit is not None and hit[0] is layout:
        return hit[1], hit[2]
    m = np.zeros((layout.size_px, layout.size_px), np.uint8)
    _draw_silk(Painter(m), layout, (255, 255, 255))
    silk = cv2.dilate(m, np.ones((9, 9), np.uint8)) > 0
    keep = dfx.keepout(layout)
    _KEEPOUT[id(layout)] = (layout, keep, silk)
    while len(_KEEPOUT) > 8:
        _KEEPOUT.popitem(last=False)
    return keep, silk


def _draw_copper(pt: Painter, layout: Layout, w: tuple) -> None:
    for p in layout.pours:
        pt.rect(p.box, w)
    for t in layout.traces:
        pt.track(np.asarray(t.points), t.width, w)
    for v in layout.vias:
        pt.circle(v.cx, v.cy, v.r_ring, w)


def _draw_pads(pt: Painter, layout: Layout, w: tuple) -> None:
    for p in layout.pads:
        pt.rect(p.box, w)
    for f in layout.fiducials:
        pt.circle(f.cx, f.cy, f.r_drill, w)


def _draw_silk(pt: Painter, layout: Layout, w: tuple) -> None:
    for s in layout.silk_lines:
        pt.track(np.asarray(s[0]), s[1], w)
    for t in layout.silk_texts:
        pt.text(t.text, t.org, t.scale, t.thickness, w)


def _draw_parts(pt: Painter, layout: Layout, w: tuple) -> None:
    for c in layout.components:
        pt.poly(dfx._outline(c), w)


def zones(layout: Layout) -> dict[str, np.ndarray]:
    """Bool masks (design px) of copper, pads (mask openings), silkscreen and parts."""
    n = layout.size_px
    out = {}
    for name, draw in (("copper", _draw_copper), ("pads", _draw_pads), ("silk", _draw_silk),
                       ("parts", _draw_parts)):
        m = np.zeros((n, n), np.uint8)
        draw(Painter(m), layout, (255, 255, 255))
        out[name] = m > 127
    return out


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as RGB ``uint8``; ``ValueError`` when it is missing or unreadable."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{p}: no such image file")
    img = cv2.imread(str(p), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{p}: not an image OpenCV can read")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def save_image(path: str | Path, image: np.ndarray) -> Path:
    """Write an RGB ``uint8`` image (PNG by the suffix); returns the path."""
    p = Path(path)
    if not cv2.imwrite(str(p), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise ValueError(f"{p}: could not write the image")
    return p
