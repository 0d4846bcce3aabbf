"""The ``twin`` command: the user's surface.

    twin run SCENARIO [--days N] [--out DIR]    run, show progress and the KPI table
    twin check SCENARIO                         validate only
    twin grid SCENARIO [--export NET.json]      the network the run uses, as pandapower JSON

A user's mistake (bad scenario, missing file) prints one line and exits with code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, Sequence

from twin.results import KPI

EXIT_USAGE = 2


class UserError(Exception):
    """A mistake the user can fix; printed as one line, exit code 2."""


def _scenario(path: str, days: float | None = None):  # noqa: ANN202 - lazy import keeps --help fast
    from twin.scenario import ScenarioError, load

    try:
        scenario = load(path)
        return scenario.with_days(days) if days is not None else scenario
    except ScenarioError as exc:
        raise UserError(str(exc)) from None


def cmd_check(args: argparse.Namespace) -> int:
    """Validate a scenario and say what it contains."""
    s = _scenario(args.scenario)
    counts = ", ".join(f"{len(getattr(s, key))} {key.replace('_', ' ')}"
                       for key in ("pv_plants", "wind_farms", "batteries", "factory_loads",
                                   "ev_hubs", "heat_supply") if getattr(s, key))
    print(f"{s.path}: ok — {s.park.name}; {s.n_steps} steps of {s.period.step_s} s "
          f"from {s.period.start:%Y-%m-%d %H:%M}; {counts or 'no entities'}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run a scenario: progress bar, KPI table, HDF5 file."""
    from tqdm import tqdm

    from twin import world

    s = _scenario(args.scenario, args.days)
    step = s.period.step_s
    bar = tqdm(total=s.n_steps, unit="step", desc=s.path.stem, file=sys.stderr,
               disable=args.quiet, mininterval=0.5, smoothing=0.05)
    try:
        result = world.run(s, out_dir=args.out, progress=lambda t: bar.update(1))
    except KeyboardInterrupt:
        bar.close()
        print(f"interrupted: {world.output_path(s, args.out)} is kept, marked incomplete",
              file=sys.stderr)
        return 130
    finally:
        bar.close()
    print(format_kpis(result.kpis, title=f"{s.park.name} — {result.n_steps} steps of {step} s"))
    if s.grid is not None:
        from twin.results import open_run

        with open_run(result.path) as run:
            print(format_violations(run.table("grid/violations")))
    print(f"\nresults: {result.path}  ({result.wall_s:.1f} s wall, "
          f"{result.wall_s / max(result.n_steps, 1) * 1e3:.2f} ms per step)")
    return 0


def cmd_grid(args: argparse.Namespace) -> int:
    """Build the scenario's network, say what it holds, and export it as pandapower JSON."""
    from twin import world
    from twin.grid import io as grid_io

    s = _scenario(args.scenario)
    if s.grid is None:
        raise UserError(f"{s.path}: the scenario has no grid section")
    pn = world.build_grid(s)
    net = pn.net
    print(f"{s.path}: {len(net.bus)} buses, {len(net.line)} lines, {len(net.trafo)} "
          f"transformers, {len(net.load)} loads, {len(net.sgen)} static generators; "
          f"{len(pn.elements)} park entities, {len(pn.direct_lines)} direct lines")
    if args.export:
        path = grid_io.write_network(pn, args.export)
        print(f"written: {path} (pandapower.from_json reads it)")
    return 0


def format_violations(rows: list[dict], limit: int = 10) -> str:
    """The worst grid violations of a run, one line each."""
    if not rows:
        return "grid: no overloads, voltages within band, every power flow converged"
    lines = [f"grid: {len(rows)} elements out of limits (first {min(limit, len(rows))}):"]
    for r in rows[:limit]:
        lines.append(f"  {r['kind']:<15} {r['element']:<32} first at {r['first_time_s'] / 3600:8.2f} h"
                     f"  {int(r['steps']):>6} steps  worst {r['worst']:.3f}")
    return "\n".join(lines)


def format_kpis(kpis: Mapping[str, KPI], title: str = "") -> str:
    """A plain-text table of KPIs: name, value, unit, meaning."""
    rows = [(name, _fmt(k.value), k.unit, k.description) for name, k in kpis.items()]
    widths = [max(len(r[i]) for r in rows) if rows else 0 for i in range(3)]
    lines = [title, "-" * max(len(title), sum(widths) + 6)] if title else []
    for name, value, unit, doc in rows:
        lines.append(f"{name:<{widths[0]}}  {value:>{widths[1]}}  {unit:<{widths[2]}}  {doc}")
    return "\n".join(lines)


def _fmt(value: float) -> str:
    if value != value:  # NaN
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``twin`` command."""
    parser = argparse.ArgumentParser(prog="twin", description="Digital twin of a zero-carbon "
                                     "industrial park (mosaik co-simulation).")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run a scenario: progress, KPI table, HDF5 file")
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("--days", type=float, help="simulate only the first N days")
    p.add_argument("--out", help="folder for the HDF5 file (default: the scenario's output.dir)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("grid", help="build the scenario's network; export it as pandapower JSON")
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("--export", metavar="NET.json", help="write the network to this file")
    p.set_defaults(func=cmd_grid)

    p = sub.add_parser("check", help="validate a scenario without running it")
    p.add_argument("scenario", help="scenario YAML file")
    p.set_defaults(func=cmd_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``twin`` command."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
