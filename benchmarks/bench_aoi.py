"""Benchmark: inspection time of one 1024 x 1024 board on one core, verifier included.

Golden references are prepared once per design (as on the line, where the golden board of
a product is fixed); each board then goes through alignment (phase correlation + masked
pyramid ECC), difference (warp, lighting correction, tolerance comparison, blobs) and the
CNN verifier. OpenCV and torch are held to one thread. Prints median and p90 per stage.

    .venv/bin/python benchmarks/bench_aoi.py [--boards 20] [--gerber | --assembled]
                                             [--tolerance tight|process]

``--tolerance process`` runs the process profile without the verifier (kinds measured on the
board, in the "verifier" row), as ``twin aoi evaluate --assembled`` does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._calibrate import python_loop_s  # noqa: E402
from twin.models.aoi import assembled, dataset  # noqa: E402
from twin.models.aoi.inspect import TOLERANCES, inspect_detailed, reference  # noqa: E402


def main() -> None:
    """Inspect ``--boards`` boards of the development range and print the stage times."""
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boards", type=int, default=20)
    parser.add_argument("--gerber", action="store_true", help="the pygerber board instead")
    parser.add_argument("--assembled", action="store_true",
                        help="the second generator's assembled boards (768 x 768 px)")
    parser.add_argument("--tolerance", choices=tuple(TOLERANCES), default="tight")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    items = dataset.items("dev", args.boards, 0, gerber=args.gerber, per_design=4)
    goldens: dict = {}
    if args.assembled:
        designs = {i.design: assembled.design(i.design) for i in items}
        gold = {k: assembled.golden(d) for k, d in designs.items()}
        pairs = [(gold[i.design], assembled.sample(designs[i.design], i.sample)) for i in items]
    else:
        pairs = [dataset.build(it, goldens) for it in items]
    tol = TOLERANCES[args.tolerance]
    verifier = "default" if args.tolerance == "tight" else None
    for g, _ in pairs:
        reference(g, None, tol)  # once per design, not timed
    inspect_detailed(pairs[0][0], pairs[0][1].image, verifier=verifier, tolerance=tol)
    rows = []
    for g, s in pairs:
        r = inspect_detailed(g, s.image, verifier=verifier, tolerance=tol)
        rows.append(r.timings_s)
    shape = pairs[0][1].image.shape
    what = ("pygerber board" if args.gerber else "assembled boards" if args.assembled
            else "generated boards")
    print(f"AOI inspection, {len(rows)} {what} of {shape[1]} x {shape[0]} px, tolerance "
          f"{args.tolerance!r}, one thread; "
          f"speed now: 1e7-addition Python loop {python_loop_s():.2f} s")
    print(f"{'stage':<11} {'median ms':>10} {'p90 ms':>8}")
    for key in ("align", "difference", "verifier", "total"):
        v = np.array([t[key] for t in rows]) * 1e3
        print(f"{key:<11} {np.median(v):>10.1f} {np.percentile(v, 90):>8.1f}")


if __name__ == "__main__":
    main()
