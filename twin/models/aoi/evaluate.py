"""Evaluation of the inspector on a held-out generated set (the ``eval`` seed range).

Rules (one place):

- a finding is *true* when its box overlaps (intersection > 0) a true defect's box;
  precision = true findings / findings;
- a defect is *found* when a finding overlaps it; recall = found / defects; its kind is
  *right* when the finding that overlaps it most carries its kind;
- a good board is *flagged* when it has any finding; a defective board is *passed* when
  none of its defects is found;
- the detection limit of a bare-board kind is the smallest size at which at least 90 % of
  injected defects of that size are found (a sweep of sizes in pixel steps).

The boards of the second generator (:mod:`twin.models.aoi.assembled`) are scored one to one
(:func:`match_one_to_one`): findings in falling score order each take the not yet matched
defect whose box they cover best, when the intersection is at least half of the smaller of
the two boxes (a part-level call on one bad joint, or one spot of a part turned round, counts;
a box that only touches does not); each defect is found at most once and each finding is true
at most once, so a defect reported twice costs precision. The lenient rule above is printed
beside it, never alone.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from twin.models.aoi import dataset
from twin.models.aoi.board import KINDS
from twin.models.aoi.inspect import inspect_detailed

SWEEP_PX = (1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0)  # defect sizes of the sweep, in pixels
SWEEP_KINDS = ("open", "short", "mousebite", "spur", "pin_hole", "spurious_copper")
LIMIT_SHARE = 0.9


@dataclass
class BoardResult:
    """What one board's inspection scored."""

    good: bool
    defects: list[tuple[str, float, bool, bool]]  # kind, size_um, found, kind right
    findings: int
    true_findings: int
    inspect_s: float
    lenient: tuple[int, int] | None = None  # (true findings, defects found) under the lenient rule
    named: list[str | None] = field(default_factory=list)  # kind named per defect (None: missed)


@dataclass
class Report:
    """The evaluation of one set."""

    title: str
    boards: list[BoardResult]
    um_per_px: float
    verifier: str
    limits_um: dict[str, float | None] = field(default_factory=dict)
    rule: str = "lenient (any overlap)"
    show_confusion: bool = False

    def totals(self) -> dict[str, Any]:
        """Recall, precision, flagged and passed shares, counts."""
        defects = [d for b in self.boards for d in b.defects]
        good = [b for b in self.boards if b.good]
        bad = [b for b in self.boards if not b.good]
        findings = sum(b.findings for b in self.boards)
        true = sum(b.true_findings for b in self.boards)
        found = sum(d[2] for d in defects)
        return {
            "boards": len(self.boards), "good_boards": len(good), "defective_boards": len(bad),
            "defects": len(defects), "found": found,
            "recall": found / len(defects) if defects else math.nan,
            "findings": findings, "true_findings": true,
            "precision": true / findings if findings else math.nan,
            "kind_right": (sum(d[3] for d in defects if d[2]) / found) if found else math.nan,
            "good_flagged": sum(b.findings > 0 for b in good) / len(good) if good else math.nan,
            "good_flagged_n": sum(b.findings > 0 for b in good),
            "defective_passed": (sum(not any(d[2] for d in b.defects) for b in bad) / len(bad)
                                 if bad else math.nan),
            "defective_passed_n": sum(not any(d[2] for d in b.defects) for b in bad),
            "median_inspect_ms": 1e3 * statistics.median(b.inspect_s for b in self.boards),
            **self._lenient(findings, len(defects)),
        }

    def _lenient(self, findings: int, defects: int) -> dict[str, float]:
        if not self.boards or any(b.lenient is None for b in self.boards):
            return {}
        true = sum(b.lenient[0] for b in self.boards)
        found = sum(b.lenient[1] for b in self.boards)
        return {"lenient_precision": true / findings if findings else math.nan,
                "lenient_recall": found / defects if defects else math.nan}

    def per_kind(self) -> list[tuple[str, int, float, float, float | None, float | None]]:
        """(kind, n, recall, kind right, smallest found µm, largest missed µm) per kind."""
        rows = []
        for kind in KINDS:
            ds = [d for b in self.boards for d in b.defects if d[0] == kind]
            if not ds:
                continue
            found = [d for d in ds if d[2]]
            missed = [d for d in ds if not d[2]]
            rows.append((kind, len(ds), len(found) / len(ds),
                         sum(d[3] for d in found) / len(found) if found else math.nan,
                         min(d[1] for d in found) if found else None,
                         max(d[1] for d in missed) if missed else None))
        return rows

    def confusion(self) -> dict[tuple[str, str], int]:
        """(true kind, named kind) -> count over the found defects."""
        out: dict[tuple[str, str], int] = {}
        for b in self.boards:
            for d, k in zip(b.defects, b.named, strict=False):
                if k is not None:
                    out[(d[0], k)] = out.get((d[0], k), 0) + 1
        return out

    def confusion_table(self) -> str:
        """The confusion matrix of the found defects' kinds (rows: true, columns: named)."""
        conf = self.confusion()
        if not conf:
            return ""
        kinds = [k for k in KINDS if any(k in pair for pair in conf)]
        head = "true \\ named".ljust(20) + "".join(f"{k[:7]:>8}" for k in kinds)
        rows = [f"{a:<20}" + "".join(f"{conf.get((a, b), 0) or '.':>8}" for b in kinds)
                for a in kinds if any(conf.get((a, b)) for b in kinds)]
        return "\n".join(["kinds named (found defects; rows true, columns named):", head, *rows])

    def table(self) -> str:
        """The printed table."""
        t = self.totals()
        lines = [self.title, "-" * len(self.title),
                 f"boards {t['boards']} ({t['good_boards']} good, {t['defective_boards']} defective), "
                 f"{self.um_per_px:g} µm/px, verifier: {self.verifier}",
                 f"matching: {self.rule}",
                 f"recall     {_f(t['recall'])}  ({t['found']} of {t['defects']} defects found)",
                 f"precision  {_f(t['precision'])}  ({t['true_findings']} of {t['findings']} "
                 "findings on a defect)",
                 f"kind right {_f(t['kind_right'])}  (of the found defects)",
                 f"good boards flagged      {_pct(t['good_flagged'])}  ({t['good_flagged_n']} of "
                 f"{t['good_boards']})",
                 f"defective boards passed  {_pct(t['defective_passed'])}  "
                 f"({t['defective_passed_n']} of {t['defective_boards']})",
                 f"median inspection        {t['median_inspect_ms']:.0f} ms per board",
                 *([f"lenient rule (any overlap; beside, not a score): precision "
                    f"{_f(t['lenient_precision'])}, recall {_f(t['lenient_recall'])}"]
                   if "lenient_precision" in t else []),
                 "",
                 f"{'kind':<20} {'n':>4} {'recall':>7} {'kind ok':>8} {'smallest found':>15} "
                 f"{'largest missed':>15}"]
        for kind, n, rec, ok, small, miss in self.per_kind():
            lines.append(f"{kind:<20} {n:>4} {_f(rec):>7} {_f(ok):>8} {_um(small):>15} "
                         f"{_um(miss):>15}")
        if self.limits_um:
            lines.append("")
            lines.append(f"detection limit (smallest size with ≥ {LIMIT_SHARE:.0%} found, "
                         "size sweep):")
            floor = SWEEP_PX[0] * self.um_per_px  # found at the sweep's smallest size: "≤"
            lines.append("  " + ", ".join(
                f"{k} {'≤ ' if v is not None and v <= floor else ''}{_um(v)}"
                if v is not None else f"{k} > {SWEEP_PX[-1] * self.um_per_px:.0f} µm"
                for k, v in self.limits_um.items()))
        if self.show_confusion and self.confusion():
            lines += ["", self.confusion_table()]
        return "\n".join(lines)

    def meets(self, recall: float = 0.95, precision: float = 0.95, flagged: float = 0.02,
              passed: float = 0.01) -> bool:
        """Whether the targets are met."""
        t = self.totals()
        return (t["recall"] >= recall and t["precision"] >= precision
                and t["good_flagged"] <= flagged and t["defective_passed"] <= passed)

    def to_json(self) -> str:
        """Totals, per-kind rows and limits as JSON."""
        return json.dumps({"title": self.title, "totals": self.totals(),
                           "per_kind": self.per_kind(), "limits_um": self.limits_um,
                           "confusion": [[a, b, n] for (a, b), n in self.confusion().items()]},
                          indent=1)


def _f(x: float) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def _pct(x: float) -> str:
    return "—" if math.isnan(x) else f"{100 * x:5.1f} %"


def _um(x: float | None) -> str:
    return "—" if x is None else f"{x:.0f} µm"


def _overlap(a: Sequence[int], b: Sequence[int]) -> int:
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def score(sample: Any, findings: Sequence[Any], inspect_s: float = 0.0) -> BoardResult:
    """Match one board's findings with its true defects (the rules in the module doc)."""
    defects: list[tuple[str, float, bool, bool]] = []
    named: list[str | None] = []
    for d in sample.defects:
        hits = [(_overlap(f.box, d.box), f) for f in findings if _overlap(f.box, d.box) > 0]
        best = max(hits, key=lambda h: h[0])[1] if hits else None
        defects.append((d.kind, d.size_um, best is not None, best is not None and best.kind == d.kind))
        named.append(None if best is None else best.kind)
    true = sum(any(_overlap(f.box, d.box) > 0 for d in sample.defects) for f in findings)
    return BoardResult(not sample.defects, defects, len(findings), true, inspect_s, named=named)


def _iomin(a: Sequence[int], b: Sequence[int]) -> float:
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return _overlap(a, b) / smaller if smaller > 0 else 0.0


MATCH_SHARE = 0.5


def match_one_to_one(findings: Sequence[Any], defects: Sequence[Any]) -> list[int]:
    """For each finding, the index of the defect it matches one to one, else -1."""
    taken = [False] * len(defects)
    out = [-1] * len(findings)
    for i in sorted(range(len(findings)), key=lambda k: -findings[k].score):
        best, best_v = -1, MATCH_SHARE
        for j, d in enumerate(defects):
            v = _iomin(findings[i].box, d.box)
            if not taken[j] and v >= best_v:
                best, best_v = j, v
        if best >= 0:
            taken[best] = True
            out[i] = best
    return out


def score_one_to_one(sample: Any, findings: Sequence[Any], inspect_s: float = 0.0) -> BoardResult:
    """One board under :func:`match_one_to_one`, with the lenient counts beside."""
    m = match_one_to_one(findings, sample.defects)
    hit = {j: findings[i] for i, j in enumerate(m) if j >= 0}
    defects = [(d.kind, d.size_um, j in hit, j in hit and hit[j].kind == d.kind)
               for j, d in enumerate(sample.defects)]
    lenient = score(sample, findings)
    return BoardResult(not sample.defects, defects, len(findings), sum(j >= 0 for j in m),
                       inspect_s, (lenient.true_findings, sum(d[2] for d in lenient.defects)),
                       [hit[j].kind if j in hit else None for j in range(len(sample.defects))])


def _run(args: tuple[list[dataset.Item], Any, float, list | None, str]) -> list[BoardResult]:
    items, verifier, um_gerber, forced, tolerance = args
    cv2.setNumThreads(1)
    _torch_threads()
    goldens: dict = {}
    out = []
    for k, item in enumerate(items):
        g, s = dataset.build(item, goldens, p_defect=0.5, um_per_px_gerber=um_gerber,
                             defects=None if forced is None else forced[k])
        t0 = time.perf_counter()
        r = inspect_detailed(g, s.image, verifier=verifier, tolerance=tolerance)
        dt = time.perf_counter() - t0
        out.append(score(s, r.findings, dt) if tolerance == "tight" else
                   score_one_to_one(s, r.findings, dt))
    return out


def _torch_threads() -> None:
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


def _map(items: list[dataset.Item], verifier: Any, um_gerber: float, workers: int,
         forced: list | None = None, tolerance: str = "tight") -> list[BoardResult]:
    if workers <= 1:
        return _run((items, verifier, um_gerber, forced, tolerance))
    chunks = [(items[i::workers], verifier, um_gerber,
               None if forced is None else forced[i::workers], tolerance) for i in range(workers)]
    with ProcessPoolExecutor(workers) as pool:
        parts = list(pool.map(_run, chunks))
    return [r for i in range(len(items)) for r in [parts[i % workers][i // workers]]]


def evaluate(boards: int = 400, seed: int = 0, *, gerber: bool = False, verifier: Any = "default",
             um_per_px_gerber: float = 25.0, sweep_boards: int = 0, workers: int = 1,
             role: str = "eval", progress: Callable[[str], None] | None = None,
             tolerance: str = "tight") -> Report:
    """Inspect ``boards`` held-out boards (half good) and score them; optional size sweep.

    ``role="dev"`` draws from the development range instead (for tuning, which must never
    look at the ``eval`` range). ``tolerance="process"`` inspects with the wider process
    profile and scores one to one (the lenient rule beside); ``"tight"`` scores leniently.
    """
    items = dataset.items(role, boards, seed, gerber=gerber)
    results = _map(items, verifier, um_per_px_gerber, workers, tolerance=tolerance)
    um = um_per_px_gerber if gerber else 20.0
    vname = "none (kinds measured)" if verifier is None else (
        "twin/data/aoi/verifier.pt" if verifier == "default" else str(verifier))
    if tolerance != "tight":
        vname += f", tolerance {tolerance!r}"
    lo, hi = dataset.seed_range(role, seed)
    title = (f"AOI evaluation — {'pygerber example board' if gerber else 'generated boards'}, "
             f"{role} seeds {lo}..{hi - 1}")
    report = Report(title, results, um, vname, show_confusion=True)
    if tolerance != "tight":
        report.rule = (f"one to one, intersection ≥ {MATCH_SHARE:g} of the smaller box "
                       "(lenient beside)")
    if sweep_boards:
        if progress:
            progress(f"size sweep: {len(SWEEP_KINDS)} kinds x {len(SWEEP_PX)} sizes x "
                     f"{sweep_boards} boards")
        report.limits_um = sweep(sweep_boards, seed, gerber=gerber, verifier=verifier,
                                 um_per_px_gerber=um_per_px_gerber, workers=workers, role=role,
                                 tolerance=tolerance)
    return report


def sweep(per_size: int, seed: int = 0, *, gerber: bool = False, verifier: Any = "default",
          um_per_px_gerber: float = 25.0, workers: int = 1, role: str = "eval",
          tolerance: str = "tight") -> dict[str, float | None]:
    """Detection limit per bare-board kind: inject each size on ``per_size`` boards."""
    um = um_per_px_gerber if gerber else 20.0
    cells = [(k, px * um) for k in SWEEP_KINDS for px in SWEEP_PX]
    n = len(cells) * per_size
    items = dataset.items(role, n, min(dataset.MAX_SEED, seed + 500), gerber=gerber)
    forced = [[(k, size)] for k, size in cells for _ in range(per_size)]
    results = _map(items, verifier, um_per_px_gerber, workers, forced, tolerance)
    limits: dict[str, float | None] = {}
    for i, kind in enumerate(SWEEP_KINDS):
        limits[kind] = None
        for j, px in enumerate(SWEEP_PX):
            chunk = results[(i * len(SWEEP_PX) + j) * per_size:(i * len(SWEEP_PX) + j + 1) * per_size]
            placed = [d for r in chunk for d in r.defects]
            if placed and np.mean([d[2] for d in placed]) >= LIMIT_SHARE:
                limits[kind] = px * um
                break
    return limits


ASSEMBLED_PER_DESIGN = 4


def _run_assembled(args: tuple[list[dataset.Item], str]) -> list[BoardResult]:
    from twin.models.aoi import assembled

    items, tolerance = args
    cv2.setNumThreads(1)
    out = []
    cache: dict[int, Any] = {}
    for item in items:
        if item.design not in cache:
            d = assembled.design(item.design)
            cache = {item.design: (d, assembled.golden(d))}
        d, g = cache[item.design]
        s = assembled.sample(d, item.sample)
        t0 = time.perf_counter()
        r = inspect_detailed(g, s.image, verifier=None, tolerance=tolerance)
        out.append(score_one_to_one(s, r.findings, time.perf_counter() - t0))
    return out


def evaluate_assembled(boards: int = 200, seed: int = 0, *, role: str = "eval",
                       tolerance: str = "process", workers: int = 1) -> Report:
    """The inspector (classic stage, ``tolerance`` profile) on boards of the second generator.

    Designs and samples come from ``role``'s seed range (four boards per design, half of
    them defective); the profile was tuned on the ``dev`` range only; scored one to one.
    """
    items = dataset.items(role, boards, seed, per_design=ASSEMBLED_PER_DESIGN)
    if workers <= 1:
        results = _run_assembled((items, tolerance))
    else:
        chunks = [(items[i::workers], tolerance) for i in range(workers)]
        with ProcessPoolExecutor(workers) as pool:
            parts = list(pool.map(_run_assembled, chunks))
        results = [parts[i % workers][i // workers] for i in range(len(items))]
    lo, hi = dataset.seed_range(role, seed)
    title = (f"AOI evaluation — second generator's assembled boards, {role} seeds "
             f"{lo}..{hi - 1}, {len({i.design for i in items})} design(s)")
    return Report(title, results, 20.0, f"none (kinds measured, tolerance {tolerance!r})",
                  rule=f"one to one, intersection ≥ {MATCH_SHARE:g} of the smaller box "
                       "(lenient beside)", show_confusion=True)
