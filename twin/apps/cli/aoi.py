"""The ``twin aoi`` command group.

    twin aoi inspect GOLDEN.png TEST.png [-o marked.png] [--no-verifier] [--mask MASK.png]
    twin aoi generate DIR [--design N] [--seed S] [--defects open,short] [--gerber]
    twin aoi train [--boards N] [--seed S] [--epochs E] [--workers W]
    twin aoi train --deeppcb PATH [--seed S] [--epochs E] [--limit N] [--out FILE]
    twin aoi evaluate [--boards N] [--seed S] [--gerber] [--no-verifier] [--sweep-boards K]
                      [--tolerance tight|process]
    twin aoi evaluate --assembled [--boards N] [--seed S] [--workers W] [--tolerance T]
    twin aoi evaluate --deeppcb PATH [--weights FILE] [--json FILE]
    twin aoi export-onnx [--out FILE] [--weights FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any


def _user_error(msg: str) -> Exception:
    from twin.apps.cli.common import UserError

    return UserError(msg)


def _read(path: str) -> Any:
    from twin.models.aoi.board import load_image

    try:
        return load_image(path)
    except ValueError as exc:
        raise _user_error(str(exc)) from None


def mark(image: Any, findings: list, colour: tuple[int, int, int] = (255, 32, 32)) -> Any:
    """A copy of ``image`` with each finding's box and label drawn."""
    import cv2

    out = image.copy()
    for f in findings:
        x0, y0, x1, y1 = f.box
        cv2.rectangle(out, (x0 - 2, y0 - 2), (x1 + 1, y1 + 1), colour, 2)
        cv2.putText(out, f"{f.kind} {f.score:.2f}", (x0, max(12, y0 - 6)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
    return out


def cmd_inspect(args: argparse.Namespace) -> int:
    """Inspect a test image against a golden image; print findings, write a marked image."""
    from twin.models.aoi.board import save_image
    from twin.models.aoi.inspect import inspect_detailed

    golden, test = _read(args.golden), _read(args.test)
    mask = None
    if args.mask:
        mask = _read(args.mask).max(axis=2) > 127
    verifier = None if args.no_verifier else "default"
    try:
        r = inspect_detailed(golden, test, mask=mask, verifier=verifier)
    except (ValueError, FileNotFoundError) as exc:
        raise _user_error(str(exc)) from None
    ms = r.timings_s["total"] * 1e3
    print(f"{args.test}: {len(r.findings)} finding(s) in {ms:.0f} ms "
          f"({len(r.candidates)} candidate(s), verifier {'off' if verifier is None else 'on'})")
    for f in r.findings:
        print(f"  {f.kind:<20} score {f.score:.2f}  box x {f.box[0]}..{f.box[2]}  y {f.box[1]}..{f.box[3]}")
    if args.output:
        path = save_image(args.output, mark(test, r.findings))
        print(f"marked: {path}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    """Write a golden board, one sample and its truth (JSON) to a folder."""
    from twin.models.aoi import board, gerber

    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    kinds = [k for k in (args.defects or "").split(",") if k] or None
    try:
        g = gerber.golden() if args.gerber else board.golden(seed=args.design)
        s = board.sample(g, args.seed, defects=kinds, p_defect=0.5)
    except ValueError as exc:
        raise _user_error(str(exc)) from None
    board.save_image(out / "golden.png", g.image)
    board.save_image(out / "test.png", s.image)
    truth = {"defects": [{"kind": d.kind, "box": list(d.box), "size_um": d.size_um}
                         for d in s.defects],
             "variation": {k: v for k, v in s.variation.items() if k != "pose"},
             "um_per_px": s.um_per_px}
    (out / "truth.json").write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    print(f"{out}: golden.png, test.png, truth.json ({len(s.defects)} defect(s))")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train the verifier on generated boards of the training seed range."""
    from twin.models.aoi import verifier

    if args.deeppcb:
        return _train_deeppcb(args)
    t0 = time.perf_counter()
    epochs = args.epochs if args.epochs is not None else 24
    meta = verifier.train(args.boards, args.seed, epochs=epochs, workers=args.workers,
                          out=Path(args.out) if args.out else None,
                          progress=lambda m: print(m, file=sys.stderr))
    print(f"verifier: {args.out or verifier.WEIGHTS} ({time.perf_counter() - t0:.0f} s; "
          f"validation accuracy {meta['validation_accuracy']:.3f} on "
          f"{meta['validation_candidates']} held-back training candidates)")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Score the inspector on held-out boards; print the table."""
    from twin.models.aoi import dataset, evaluate, verifier

    if args.deeppcb:
        return _evaluate_deeppcb(args)
    if args.assembled:
        report = evaluate.evaluate_assembled(args.boards, args.seed, workers=args.workers,
                                             tolerance=args.tolerance or "process")
        print(report.table())
        if args.json:
            Path(args.json).write_text(report.to_json() + "\n", encoding="utf-8")
        return 0
    ver: Any = None if args.no_verifier else "default"
    if ver is not None:
        meta_path = verifier.WEIGHTS.with_suffix(".json")
        if meta_path.is_file():
            lo, hi = json.loads(meta_path.read_text(encoding="utf-8"))["train_seed_range"]
            elo, ehi = dataset.seed_range("eval", args.seed)
            if lo < ehi and elo < hi:
                raise _user_error(f"evaluation seeds {elo}..{ehi} overlap the verifier's "
                                  f"training seeds {lo}..{hi}")
    try:
        report = evaluate.evaluate(args.boards, args.seed, gerber=args.gerber, verifier=ver,
                                   um_per_px_gerber=args.um_per_px, sweep_boards=args.sweep_boards,
                                   workers=args.workers, tolerance=args.tolerance or "tight",
                                   progress=lambda m: print(m, file=sys.stderr))
    except FileNotFoundError as exc:
        raise _user_error(str(exc)) from None
    print(report.table())
    if args.json:
        Path(args.json).write_text(report.to_json() + "\n", encoding="utf-8")
    return 0


def _train_deeppcb(args: argparse.Namespace) -> int:
    """Train the DeepPCB detector's classifier on the training part of a DeepPCB folder."""
    from twin.models.aoi import deeppcb

    try:
        meta = deeppcb.train(args.deeppcb, seed=args.seed,
                             epochs=args.epochs if args.epochs is not None else 5,
                             limit=args.limit, out=args.out,
                             progress=lambda m: print(m, file=sys.stderr))
    except ValueError as exc:
        raise _user_error(str(exc)) from None
    print(f"DeepPCB detector: {args.out or deeppcb.WEIGHTS} ({meta['train_s']:.0f} s; "
          f"{meta['training_pairs']} training pairs, {meta['held_out_pairs']} held out, "
          f"seed {meta['seed']})")
    return 0


def _evaluate_deeppcb(args: argparse.Namespace) -> int:
    """Score the DeepPCB detector on a folder in DeepPCB's layout (the benchmark's rule)."""
    from twin.models.aoi import deeppcb

    try:
        ev = deeppcb.evaluate(args.deeppcb, args.weights)
    except (ValueError, FileNotFoundError) as exc:
        raise _user_error(str(exc)) from None
    print(ev.table(f"AOI evaluation — DeepPCB pairs in {args.deeppcb}"))
    if args.json:
        Path(args.json).write_text(json.dumps({
            "pairs": ev.pairs, "left_out_trained": ev.skipped_trained,
            "ms_per_pair": ev.ms_per_pair, "overall": ev.score.overall,
            "per_class": ev.score.per_class, "lenient": ev.score.lenient}, indent=1) + "\n",
            encoding="utf-8")
    return 0


def cmd_export_onnx(args: argparse.Namespace) -> int:
    """Write the DeepPCB detector's classifier as ONNX with its provenance beside it."""
    from twin.models.aoi import onnx_export

    try:
        path = onnx_export.export(args.out, args.weights)
    except ModuleNotFoundError as exc:
        raise _user_error(f"{exc.name} is not installed: pip install '.[onnx]'") from None
    except (ValueError, FileNotFoundError) as exc:
        raise _user_error(str(exc)) from None
    print(f"{path} ({path.stat().st_size // 1024} KB) and {path.name}.json (provenance); "
          f"run it with OpenCV: twin aoi evaluate --deeppcb PATH --weights {path}")
    return 0


def register_vision(subparsers: Any) -> None:
    """Add the ``aoi`` command group to the ``twin`` parser's subparsers."""
    aoi = subparsers.add_parser("aoi", help="the AOI line's vision: inspect, generate, train, "
                                "evaluate")
    sub = aoi.add_subparsers(dest="aoi_command", required=True)

    p = sub.add_parser("inspect", help="inspect a test image against a golden image")
    p.add_argument("golden", help="golden board image (PNG, JPEG...)")
    p.add_argument("test", help="test board image of the same design and size")
    p.add_argument("-o", "--output", help="write the test image with the findings drawn")
    p.add_argument("--mask", help="image whose bright pixels (golden frame) are not inspected")
    p.add_argument("--no-verifier", action="store_true",
                   help="no CNN verifier: every blob kept, its kind measured")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("generate", help="write a generated golden board, a sample and its truth")
    p.add_argument("dir", help="output folder")
    p.add_argument("--design", type=int, default=0, help="golden design seed")
    p.add_argument("--seed", type=int, default=1, help="sample seed")
    p.add_argument("--defects", help="comma-separated kinds (default: random, half the boards good)")
    p.add_argument("--gerber", action="store_true", help="use the pygerber example board")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("train", help="train the verifier CNN on generated boards")
    p.add_argument("--boards", type=int, default=400, help="training boards")
    p.add_argument("--seed", type=int, default=0, choices=range(1000), metavar="0..999",
                   help="training set seed")
    p.add_argument("--epochs", type=int, default=None, help="epochs (24; DeepPCB: 5)")
    p.add_argument("--workers", type=int, default=2, help="processes generating boards")
    p.add_argument("--out", help="weights file (default: twin/data/aoi/verifier.pt, "
                   "with --deeppcb twin/data/aoi/deeppcb.pt)")
    p.add_argument("--deeppcb", metavar="PATH", help="train the DeepPCB detector on the "
                   "training part of this folder in DeepPCB's layout (20 %% held out by --seed)")
    p.add_argument("--limit", type=int, help="DeepPCB: at most this many training pairs")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="score the inspector on held-out generated boards")
    p.add_argument("--boards", type=int, default=400)
    p.add_argument("--seed", type=int, default=0, choices=range(1000), metavar="0..999",
                   help="evaluation set seed")
    p.add_argument("--gerber", action="store_true", help="the pygerber example board instead")
    p.add_argument("--assembled", action="store_true", help="assembled boards of the second "
                   "generator (wider process variation), inspected with the 'process' "
                   "tolerance, scored one to one")
    p.add_argument("--um-per-px", type=float, default=25.0,
                   help="resolution of the gerber board (1000/N)")
    p.add_argument("--no-verifier", action="store_true",
                   help="no CNN verifier: every blob kept, its kind measured")
    p.add_argument("--tolerance", choices=("tight", "process"),
                   help="the inspector's tolerance profile (default: tight; --assembled: "
                        "process); process is scored one to one")
    p.add_argument("--sweep-boards", type=int, default=4,
                   help="boards per size in the detection-limit sweep (0: no sweep)")
    p.add_argument("--workers", type=int, default=1, help="processes")
    p.add_argument("--json", help="also write the numbers to this JSON file")
    p.add_argument("--deeppcb", metavar="PATH", help="score the DeepPCB detector on this folder "
                   "in DeepPCB's layout (pairs it trained on are left out)")
    p.add_argument("--weights", help="DeepPCB detector weights (default: twin/data/aoi/deeppcb.pt;"
                   " an .onnx file runs in OpenCV's DNN)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("export-onnx", help="write the DeepPCB detector's classifier as ONNX "
                       "(with its provenance) for OpenCV's DNN or onnxruntime")
    p.add_argument("--out", help="ONNX file (default: twin/data/aoi/deeppcb.onnx)")
    p.add_argument("--weights", help="PyTorch weights (default: twin/data/aoi/deeppcb.pt)")
    p.set_defaults(func=cmd_export_onnx)


def calibrate_command(args: argparse.Namespace) -> int:
    """``twin aoi-line calibrate``: measure and write the calibration file."""
    from twin.models.aoi.calibration import calibrate, write_calibration
    from twin.models.aoi.line import AOILineSpec
    from twin.models.aoi.routing import takt_check

    raw = calibrate(n_boards=args.boards, n_picks=args.picks, seed=args.seed,
                    board=args.board, um_per_px=args.um_per_px, image_px=args.image_px,
                    verifier=args.verifier, designs=args.designs)
    path = write_calibration(raw, args.output)
    print(f"{path}: flagged {raw['p_flag_defective']:.3f} of defective boards, "
          f"{raw['p_false_call']:.3f} of good ones; robot cycle "
          f"{raw['robot_cycle_s']['mean']:.2f} s ({raw['robot_cycle_s']['success']}/"
          f"{raw['robot_cycle_s']['picks']} picks in the tray)")
    spec = AOILineSpec(name="aoi")  # the line's defaults (twin/data/aoi_line.yaml)
    picked = spec.p_defect * raw["p_flag_defective"] + (1 - spec.p_defect) * raw["p_false_call"]
    print(takt_check(spec, raw["robot_cycle_s"]["mean"], raw["inspect_wall_s"]["p95"],
                     picked).message() + f" (p95 inspection, {picked:.1%} of boards picked)")
    return 0


def register_line(subparsers: Any) -> None:
    """Add ``aoi-line calibrate`` to the ``twin`` command's subparsers."""
    p = subparsers.add_parser("aoi-line", help="the park's SMT/AOI line")
    sub = p.add_subparsers(dest="aoi_line_command", required=True)
    c = sub.add_parser("calibrate", help="measure the inspector and the reject robot and "
                       "write the calibration that statistical mode samples from")
    c.add_argument("--boards", type=int, default=400, help="boards to inspect (default 400)")
    c.add_argument("--picks", type=int, default=20, help="robot picks (default 20)")
    c.add_argument("--seed", type=int, default=0, help="seed of boards and picks")
    c.add_argument("--board", default="enig", choices=("enig", "hasl"),
                   help="synthetic board finish (twin.models.aoi.board)")
    c.add_argument("--um-per-px", type=float, default=20.0, help="camera resolution")
    c.add_argument("--image-px", type=int, default=512, help="camera frame size (px)")
    c.add_argument("--designs", type=int, default=8, help="golden designs the boards "
                   "come from (default 8)")
    c.add_argument("--verifier", default="none", help="none, default or a verifier file")
    c.add_argument("-o", "--output", help="calibration file (default: the one twin/data/aoi ships)")
    c.set_defaults(func=calibrate_command)


def register(subparsers: Any) -> None:
    """Add ``aoi`` (the vision) and ``aoi-line`` (the line's calibration) to ``twin``."""
    register_vision(subparsers)
    register_line(subparsers)
