"""Naming a finding's kind by measuring the board, not by the blob's look alone.

    name(ref, aligned, candidate) -> kind

The rules read physical quantities that any board shows the same way, whichever generator
or camera made it (rules on the blob alone, its size, zone and sign, named only a quarter of
the kinds right on boards of a generator they were not written with):

- **On a part** (the candidate touches a part body of the golden, grown by
  :data:`REACH_PX`): the body's golden picture is searched for in the test within
  ± :data:`SEARCH_PX`, as it is, turned by 3–30° either way and turned round (180°):

  * found nowhere (best correlation < :data:`FOUND`): the part is gone; when its two ends
    (the pads) look less alike than in the golden, one is covered by the cap of a part
    standing on it (``tombstone``), else it is ``missing``;
  * found turned round clearly better than as it is (the body with its marks, or, for a
    body alike turned round, with its leads): ``polarity``;
  * found turned clearly better than as it is: ``rotated``;
  * found further than the placement tolerance away: ``shifted``;
  * found at its place: a solder fault: brighter than the golden (solder where there was a
    gap) ``solder_bridge``, darker (no bright fillet) ``insufficient_solder``.
- **On bare copper and board**: copper is what is brighter than the local board (Otsu
  threshold of the golden's neighbourhood); the test's copper is compared with the golden's
  by connectivity: a piece split in two is an ``open``, two pieces joined a ``short``; copper
  added on its own ``spurious_copper``, attached to one piece ``spur``; copper lost at an edge
  ``mousebite``, inside ``pin_hole``.
"""

from __future__ import annotations

import math
import weakref
from typing import Any

import cv2
import numpy as np

SEARCH_PX = 28  # how far a part is looked for, at least (or its body's width: a part shifted
#   by up to ~90 % of its width is still found)
REACH_PX = 32  # a candidate this close to a body is that part's (leads, fillets, bridges)
FOUND = 0.72  # a part's best correlation below this: not on the board as a body
TURNS_DEG = (3, 6, 9, 12, 15, 18, 22, 26, 30)
BETTER = 0.04  # a turn must match this much better than the part as it is
SYMMETRIC = 0.9  # a body matching its half turn this well shows no polarity
MARGIN_PX = 3  # template = body box + this margin
LEADS_PX = 12  # ... and with the leads around a body that looks alike turned round
INSIDE_PX = 2  # ... or without its edge (a marked body: the pads beside it do not turn)

_BOXES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def name(ref: Any, aligned: np.ndarray, cand: Any) -> str:
    """The kind of candidate ``cand`` (golden frame) of a prepared reference ``ref``."""
    x0, y0, x1, y1 = cand.box
    small = max(x1 - x0, y1 - y0) < SMALL_PX and cand.bright < METAL_LEVEL and cand.zone < 0.5
    if not small:
        verdicts = [v for v in (_verdict(ref, aligned, b) for b in _near(ref, cand.box))
                    if v is not None]
        if verdicts:
            return min(verdicts, key=PRIORITY.index)
    if _metal(ref, aligned, cand.box):
        return solder_kind(ref, aligned, cand.box)
    return copper_kind(ref.smooth, aligned, cand.box, cand.signed)


def _near(ref: Any, box: tuple[int, int, int, int]) -> list[tuple[int, int, int, int]]:
    """The part bodies under ``box``, else those within :data:`REACH_PX` of it."""
    under, near = [], []
    for b in _boxes(ref):
        d = math.hypot(max(b[0] - box[2], box[0] - b[2], 0), max(b[1] - box[3], box[1] - b[3], 0))
        if d == 0 and _area(b, box) > 0:
            under.append(b)
        elif d <= REACH_PX:
            near.append(b)
    return under or near


def _verdict(ref: Any, aligned: np.ndarray, body: tuple[int, int, int, int]) -> str | None:
    """What is wrong with one part body (the rules in the module doc); ``None``: it is in
    place as it should be."""
    f = measure(ref, aligned, body)
    if not f:
        return None
    if presence(ref, aligned, body) < GONE:
        ends = _terminals(ref, body)
        return "tombstone" if len(ends) == 2 and _stands(ref, aligned, body, ends) \
            else "missing"
    if f["c180"] > max(f["c0"], f["turn"]) + BETTER:  # found turned round, clearly
        return "polarity"
    # the body's inside alone (its marks), without the pads around it, which do not turn;
    # then, for a body alike turned round, with its leads
    for margin in (-INSIDE_PX, LEADS_PX if f["sym"] >= SYMMETRIC else None):
        m = measure(ref, aligned, body, margin, turns=False) if margin is not None else {}
        if m and m["sym"] < SYMMETRIC and m["c180"] > m["c0"] + BETTER:
            return "polarity"
    if f["turn"] > f["c0"] + BETTER and f["turn"] >= FOUND:
        return "rotated"
    limit = max(ref.tolerance.place_px, 0.6) * math.sqrt(2) + 2.0
    if math.hypot(f["dx"], f["dy"]) > limit:
        return "shifted"
    return None


PRIORITY = ("missing", "tombstone", "polarity", "rotated", "shifted")
GONE = 0.4  # a part whose body colour is less than this share of the golden's is gone
#   (measured on development boards: parts gone 0.00-0.11, shifted ones 0.69-1.0)


def presence(ref: Any, aligned: np.ndarray, body: tuple[int, int, int, int]) -> float:
    """How much of a part's body colour is still there: the body-coloured pixels of the test
    around the body (as far as :func:`measure` looks for it) less those of the golden's
    other parts there, over the golden body's own."""
    from twin.models.aoi.inspect import body_colour

    x0, y0, x1, y1 = body
    own = int(np.count_nonzero(body_colour(ref.smooth[y0:y1, x0:x1])))
    if own == 0:
        return 1.0
    s = max(SEARCH_PX, min(x1 - x0, y1 - y0))
    h, w = aligned.shape[:2]
    a0, b0, a1, b1 = max(0, x0 - s), max(0, y0 - s), min(w, x1 + s), min(h, y1 + s)
    test = np.count_nonzero(body_colour(aligned[b0:b1, a0:a1]))
    others = np.count_nonzero(body_colour(ref.smooth[b0:b1, a0:a1])) - own
    return (test - others) / own


def _terminals(ref: Any, body: tuple[int, int, int, int]) -> list[tuple[float, float]]:
    """The centres (golden px) of the metal terminals (leads, end caps with their joints:
    bright, grey regions of the golden) that touch the body: a chip that can stand on one
    end has two, and they give its length's direction."""
    x0, y0, x1, y1 = body
    g = REACH_PX // 4
    h, w = ref.smooth.shape[:2]
    a0, b0, a1, b1 = max(0, x0 - g), max(0, y0 - g), min(w, x1 + g), min(h, y1 + g)
    img = ref.smooth[b0:b1, a0:a1]
    v = img.max(axis=2).astype(np.int16)
    light = ((v > 140) & (v - img.min(axis=2) < 0.22 * v)).astype(np.uint8)
    n, labels, _, centres = cv2.connectedComponentsWithStats(light, connectivity=8)
    ring = np.ones_like(light)
    ring[y0 - b0 + 1:y1 - b0 - 1, x0 - a0 + 1:x1 - a0 - 1] = 0  # the body's own marks
    touching = sorted(set(np.unique(labels[(ring > 0) & (light > 0)]).tolist()) - {0})
    return [(float(centres[i, 0] + a0), float(centres[i, 1] + b0)) for i in touching]


SMALL_PX = 16  # a dim candidate smaller than this off the part zones is a copper fault, even
#   beside a part
METAL_LEVEL = 130  # solder, leads and finish are at least this bright; copper under the mask not


def _boxes(ref: Any) -> tuple[tuple[int, int, int, int], ...]:
    if ref.part_boxes:
        return ref.part_boxes
    boxes = _BOXES.get(ref)
    if boxes is None:
        from twin.models.aoi.inspect import PROCESS, _bodies

        n, _, st, _ = cv2.connectedComponentsWithStats(_bodies(ref.smooth, PROCESS), connectivity=8)
        boxes = _BOXES[ref] = tuple((int(st[i, 0]), int(st[i, 1]), int(st[i, 0] + st[i, 2]),
                                     int(st[i, 1] + st[i, 3])) for i in range(1, n))
    return boxes


def _area(a: Any, b: Any) -> int:
    if a is None:
        return -1
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def _grey(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


def measure(ref: Any, aligned: np.ndarray, body: tuple[int, int, int, int],
            margin: int = MARGIN_PX, turns: bool = True) -> dict[str, float]:
    """How the golden body (with ``margin`` px around it) is found in the test: correlation
    as it is (``c0``, at ``dx``, ``dy``), best over the turns (``turn``, at ``deg``; with
    ``turns``), turned round (``c180``), and how alike it is to its own half turn (``sym``);
    the search is clipped at the image's edges."""
    g, t = _grey(ref.smooth), _grey(aligned)
    h, w = g.shape
    x0, y0, x1, y1 = body
    m, s = margin, max(SEARCH_PX, min(x1 - x0, y1 - y0))
    bw, bh = x1 - x0 + 2 * m, y1 - y0 + 2 * m
    r = math.ceil(0.5 * math.hypot(bw, bh)) + 2  # room for turning the template
    cx, cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
    tx0, ty0 = round(cx - bw / 2), round(cy - bh / 2)
    if tx0 < 0 or ty0 < 0 or tx0 + bw > w or ty0 + bh > h:
        return {}
    ax0, ay0 = max(0, tx0 - s), max(0, ty0 - s)
    area = t[ay0:min(h, ty0 + bh + s), ax0:min(w, tx0 + bw + s)]
    big = cv2.copyMakeBorder(g, r, r, r, r, cv2.BORDER_REPLICATE)
    px, py = round(cx) + r, round(cy) + r
    win = big[py - r - bh // 2:py + r + bh - bh // 2, px - r - bw // 2:px + r + bw - bw // 2]
    centre = (r + bw // 2 - 0.5 * ((bw + 1) % 2), r + bh // 2 - 0.5 * ((bh + 1) % 2))

    def best(deg: float) -> tuple[float, int, int]:
        rot = cv2.warpAffine(win, cv2.getRotationMatrix2D(centre, deg, 1.0), win.shape[::-1],
                             flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        templ = rot[r:r + bh, r:r + bw]
        if float(templ.std()) < 1.0:
            return 0.0, 0, 0
        res = cv2.matchTemplate(area, templ, cv2.TM_CCOEFF_NORMED)
        _, v, _, (bx, by) = cv2.minMaxLoc(res)
        return float(v), bx + ax0 - tx0, by + ay0 - ty0

    c0, dx, dy = best(0.0)
    turn, deg = max((best(sign * d)[0], sign * d) for d in TURNS_DEG for sign in (-1, 1)) \
        if turns else (0.0, 0)
    c180 = best(180.0)[0]
    templ = g[ty0:ty0 + bh, tx0:tx0 + bw]
    sym = float(cv2.matchTemplate(templ, cv2.rotate(templ, cv2.ROTATE_180),
                                  cv2.TM_CCOEFF_NORMED)[0, 0]) if templ.std() > 1 else 1.0
    return {"c0": c0, "dx": float(dx), "dy": float(dy), "turn": turn, "deg": float(deg),
            "c180": c180, "sym": sym}


def _stands(ref: Any, aligned: np.ndarray, body: tuple[int, int, int, int],
            ends: list[tuple[float, float]]) -> bool:
    """Whether the part's two ends (its place with both terminals: the body's box reached
    out along its length, from one terminal ``ends`` to the other) look less alike in the
    test than in the golden: a part gone leaves two like pads, one standing on an end covers
    one of them with its cap."""
    x0, y0, x1, y1 = body
    h, w = aligned.shape[:2]
    (ax, ay), (bx, by) = ends
    along = 1 if abs(bx - ax) >= abs(by - ay) else 0  # a tan body can be wider than long
    ext = round(0.6 * ((x1 - x0) if along else (y1 - y0))) + 2
    if along:
        x0, x1 = max(0, x0 - ext), min(w, x1 + ext)
    else:
        y0, y1 = max(0, y0 - ext), min(h, y1 + ext)
    t, g = _grey(aligned)[y0:y1, x0:x1], _grey(ref.smooth)[y0:y1, x0:x1]
    return _ends(t, along) < _ends(g, along) - STANDS


STANDS = 0.1  # a standing part's two ends correlate this much less than the golden's


def _ends(a: np.ndarray, along: int) -> float:
    """Correlation of the first third of ``a`` along axis ``along`` (1: x) with its last
    third mirrored: how alike a part's two ends are."""
    n = a.shape[along] // 3
    if n < 2:
        return 1.0
    first = np.take(a, range(n), axis=along)
    last = cv2.flip(np.take(a, range(a.shape[along] - n, a.shape[along]), axis=along), along)
    if first.std() < 1 or last.std() < 1:
        return 1.0
    return float(cv2.matchTemplate(first, last, cv2.TM_CCOEFF_NORMED)[0, 0])


def _excess(ref: Any, aligned: np.ndarray, box: tuple[int, int, int, int]
            ) -> tuple[np.ndarray, np.ndarray]:
    """Within ``box``: the pixels brighter than the golden's band and those darker (bool),
    by more than the tolerance, worst channel."""
    x0, y0, x1, y1 = box
    t = aligned[y0:y1, x0:x1].astype(np.int16)
    tol = ref.tol[y0:y1, x0:x1].astype(np.int16)
    up = (t - ref.hi[y0:y1, x0:x1]).max(axis=2) > tol
    down = (ref.lo[y0:y1, x0:x1] - t).max(axis=2) > tol
    return up, down


def _metal(ref: Any, aligned: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """Whether what changed in ``box`` is metal (solder, a lead, a pad's finish): bright in
    the golden where the test went darker, or bright in the test where it went brighter."""
    up, down = _excess(ref, aligned, box)
    x0, y0, x1, y1 = box
    tv = aligned[y0:y1, x0:x1].mean(axis=2)
    gv = ref.smooth[y0:y1, x0:x1].mean(axis=2)
    if np.count_nonzero(up) >= np.count_nonzero(down):
        return bool(up.any()) and float(np.median(tv[up])) >= METAL_LEVEL
    return float(np.median(gv[down])) >= METAL_LEVEL


def solder_kind(ref: Any, aligned: np.ndarray, box: tuple[int, int, int, int]) -> str:
    """Metal that appeared where the golden shows none is solder bridging a gap; metal that
    went dark is a joint without its fillet."""
    up, down = _excess(ref, aligned, box)
    return "solder_bridge" if np.count_nonzero(up) > np.count_nonzero(down) else \
        "insufficient_solder"


def copper_kind(golden: np.ndarray, aligned: np.ndarray, box: tuple[int, int, int, int],
                signed: float = 0.0) -> str:
    """A bare-board defect's kind from the copper's connectivity around ``box``: the
    golden's copper is what is brighter than its neighbourhood's board (Otsu threshold over
    the pixels darker than metal); the test's copper is the same threshold applied to the
    test near ``box`` (the golden's copper elsewhere); when as much copper came as went
    (a faint change), ``signed`` (test less golden) says which."""
    h, w = golden.shape[:2]
    pad = 14
    x0, y0 = max(0, box[0] - pad), max(0, box[1] - pad)
    x1, y1 = min(w, box[2] + pad), min(h, box[3] + pad)
    g = _grey(golden[y0:y1, x0:x1]).astype(np.int16)
    t = _grey(aligned[y0:y1, x0:x1]).astype(np.int16)
    dim = g[g < METAL_LEVEL].astype(np.uint8)
    thr = cv2.threshold(dim.reshape(1, -1), 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[0] \
        if dim.size > 8 and dim.std() > 2 else 255
    gc = ((g > thr) & (g < METAL_LEVEL)).astype(np.uint8)
    inner = np.zeros_like(gc)
    inner[box[1] - y0:box[3] - y0, box[0] - x0:box[2] - x0] = 1
    near = cv2.dilate(inner, np.ones((5, 5), np.uint8)) > 0
    tc = np.where(near, (t > thr) & (t < METAL_LEVEL), gc > 0).astype(np.uint8)
    lost, added = gc & (1 - tc), tc & (1 - gc)
    ng = cv2.connectedComponents(gc, connectivity=8)[0]
    nt = cv2.connectedComponents(tc, connectivity=8)[0]
    n_add, n_lost = np.count_nonzero(added), np.count_nonzero(lost)
    if n_add > n_lost or (n_add == n_lost and signed > 0):
        if nt < ng:
            return "short"
        ring = cv2.dilate(added, np.ones((3, 3), np.uint8)) & gc
        return "spur" if np.count_nonzero(ring) else "spurious_copper"
    if nt > ng:
        return "open"
    ring = cv2.dilate(lost, np.ones((3, 3), np.uint8)) & (1 - gc)
    return "mousebite" if np.count_nonzero(ring) else "pin_hole"

