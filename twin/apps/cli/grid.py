"""A network planner's studies of the park grid (registered by :mod:`twin.apps.cli`)::

    twin n-1 SOURCE [--all-steps] [--workers N] [--solver lightsim2grid|pandapower] [--top 15]
                    [--csv FILE] [-o FILE.html]
    twin hosting SOURCE [--tech pv,wind,storage,ev] [--feeders] [--n-1]
                        [--csv FILE] [--svg FILE] [-o FILE.html]
    twin short-circuit SOURCE [--against SOURCE] [--csv FILE] [-o FILE.html]

SOURCE is a run's HDF5 file (its steps are studied on the network its scenario builds) or a
scenario YAML (its two design cases: peak load, peak generation).
"""

from __future__ import annotations

import argparse
from typing import Any

from twin.apps.cli.common import UserError

SOLVERS = ("lightsim2grid", "pandapower")


def register(sub: Any) -> None:
    """Add ``n-1``, ``hosting`` and ``short-circuit`` to the ``twin`` command."""
    source = "a run's HDF5 file or a scenario YAML (its design cases)"
    p = sub.add_parser("n-1", help="N-1 screening: every line circuit and transformer out")
    p.add_argument("source", help=source)
    p.add_argument("--all-steps", action="store_true", help="solve every step of the run "
                   "(default: the critical steps the screen selects, and says so)")
    p.add_argument("--workers", type=int, default=1, help="processes sharing the "
                   "contingencies (a run file only)")
    p.add_argument("--solver", choices=SOLVERS, default="lightsim2grid")
    p.add_argument("--top", type=int, default=15, help="contingencies listed (worst first)")
    p.add_argument("--csv", help="write every contingency's row to this CSV file")
    p.add_argument("-o", "--output", help="write an HTML page of the screen")
    p.set_defaults(func=cmd_n1)

    p = sub.add_parser("hosting", help="hosting capacity of PV, wind, storage, EV charging "
                       "per substation (and feeder)")
    p.add_argument("source", help=source)
    p.add_argument("--tech", default="pv,wind,storage,ev", help="technologies, comma-separated")
    p.add_argument("--feeders", action="store_true", help="also every feeder's end bus")
    p.add_argument("--n-1", dest="n1", action="store_true", help="also N-1 on the branches "
                   "between each bus and the public grid")
    p.add_argument("--solver", choices=SOLVERS, default="lightsim2grid")
    p.add_argument("--csv", help="write the table to this CSV file")
    p.add_argument("--svg", help="write the drawing on the network to this SVG file")
    p.add_argument("-o", "--output", help="write an HTML page of the table and the drawing")
    p.set_defaults(func=cmd_hosting)

    p = sub.add_parser("short-circuit", help="IEC 60909 short-circuit levels at the PCC and "
                       "each substation")
    p.add_argument("source", help=source)
    p.add_argument("--against", metavar="SOURCE", help="another run file or scenario whose "
                   "levels stand beside these, bus by bus, with the rise (e.g. a pathway's "
                   "proving run OUT/pathway-roundN.h5 against OUT/pathway-baseline.h5)")
    p.add_argument("--csv", help="write the table to this CSV file")
    p.add_argument("-o", "--output", help="write an HTML page of the table")
    p.set_defaults(func=cmd_short_circuit)


def _write(args: argparse.Namespace, rows: list[dict[str, Any]], title: str,
           sections: list[tuple[str, str]]) -> None:
    from twin.core.atomic import write_text
    from twin.studies.grid import report

    if args.csv:
        print(f"table: {write_text(args.csv, report.csv_text(rows))}")
    if args.output:
        print(f"page:  {report.page(args.output, title, sections)}")


def _report(args: argparse.Namespace, study: Any) -> int:
    for line in study.lines:
        print(line)
    _write(args, study.rows, study.title, study.sections)
    return 0


def cmd_n1(args: argparse.Namespace) -> int:
    """``twin n-1``."""
    if args.top < 1:
        raise UserError(f"--top {args.top}: expected at least 1")
    if not 1 <= args.workers <= 64:
        raise UserError(f"--workers {args.workers}: expected 1 to 64")
    from twin.studies.grid.sections import n1_study

    return _report(args, n1_study(args.source, args.all_steps, args.workers, args.solver,
                                  args.top))


def cmd_hosting(args: argparse.Namespace) -> int:
    """``twin hosting``."""
    from twin.studies.grid import hosting
    from twin.studies.grid.sections import hosting_study

    techs = tuple(t.strip() for t in args.tech.split(",") if t.strip())
    bad = [t for t in techs if t not in hosting.TECHS]
    if bad or not techs:
        raise UserError(f"--tech {args.tech}: expected some of {', '.join(hosting.TECHS)}")
    study = hosting_study(args.source, techs, args.feeders, args.n1, args.solver)
    if args.svg:
        from twin.core.atomic import write_text

        study.lines.append(f"drawing: {write_text(args.svg, study.svg)}")
    return _report(args, study)


def cmd_short_circuit(args: argparse.Namespace) -> int:
    """``twin short-circuit``."""
    from twin.studies.grid.sections import short_circuit_study

    return _report(args, short_circuit_study(args.source, args.against))


__all__ = ["register"]
