"""A network planner's studies of the park grid (registered by :mod:`twin.apps.cli`)::

    twin n-1 SOURCE [--all-steps] [--workers N] [--solver lightsim2grid|pandapower] [--top 15]
                    [--csv FILE] [-o FILE.html]
    twin hosting SOURCE [--tech pv,wind,storage,ev] [--feeders] [--n-1]
                        [--csv FILE] [--svg FILE] [-o FILE.html]
    twin short-circuit SOURCE [--csv FILE] [-o FILE.html]

SOURCE is a run's HDF5 file (its steps are studied on the network its scenario builds) or a
scenario YAML (its two design cases: peak load, peak generation).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from twin.apps.cli.common import UserError

SOLVERS = ("lightsim2grid", "pandapower")
N1_COLUMNS = ("contingency", "overloaded", "worst_element", "worst_loading_pct", "worst_time",
              "overload_steps", "vm_min_pu", "vm_max_pu", "voltage_steps", "lost_load_mw")
HOSTING_COLUMNS = ("bus", "vn_kv", "tech", "mw", "binding")
SC_COLUMNS = ("bus", "vn_kv", "ikss_ka", "skss_mva", "ip_ka", "breaker_ka", "use_pct")


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
    p.add_argument("--csv", help="write the table to this CSV file")
    p.add_argument("-o", "--output", help="write an HTML page of the table")
    p.set_defaults(func=cmd_short_circuit)


def _points(path: str, solver: str = "lightsim2grid") -> Any:
    from twin.studies.grid.points import load_points

    return load_points(path, solver)


def _write(args: argparse.Namespace, rows: list[dict[str, Any]], title: str,
           sections: list[tuple[str, str]]) -> None:
    from twin.core.atomic import write_text
    from twin.studies.grid import report

    if args.csv:
        print(f"table: {write_text(args.csv, report.csv_text(rows))}")
    if args.output:
        print(f"page:  {report.page(args.output, title, sections)}")


def cmd_n1(args: argparse.Namespace) -> int:
    """``twin n-1``."""
    if args.top < 1:
        raise UserError(f"--top {args.top}: expected at least 1")
    if not 1 <= args.workers <= 64:
        raise UserError(f"--workers {args.workers}: expected 1 to 64")
    from twin import data
    from twin.studies.grid import contingency, report
    from twin.studies.grid.points import critical_steps

    t0 = time.perf_counter()
    pts = _points(args.source, args.solver)
    steps = None if args.all_steps else critical_steps(
        pts, int(data.load("grid_studies")["critical_per_element"]))
    res = contingency.screen_file(args.source, pts, steps, args.solver, args.workers)
    total = time.perf_counter() - t0
    n_steps = len(res.steps)
    how = ("every step" if steps is None or n_steps == res.n_points else
           "the critical steps: per branch its highest base-case loadings, per bus its "
           "extreme voltages, the extreme import and export (--all-steps for every step)")
    failing = [r for r in res.rows[1:] if r.get("overloaded") or r.get("voltage_steps")]
    lost = [r for r in res.rows[1:] if r.get("lost_load_mw", 0) > 0]
    print(f"N-1 of {pts.source}: {len(res.rows) - 1} contingencies x {n_steps} of "
          f"{res.n_points} steps ({how})")
    print(f"{len(failing)} contingencies overload a branch or put a bus out of band; "
          f"{len(lost)} cut load off (radial)")
    print(report.text_table(res.rows[:args.top + 1], N1_COLUMNS))
    print(f"time: {total:.1f} s (solvers {res.build_s:.1f} s, power flows {res.solve_s:.1f} s)")
    sections = [("Contingencies, worst first", f"<p>{how}; {len(failing)} of "
                 f"{len(res.rows) - 1} contingencies violate a limit.</p>"
                 + report.html_table(res.rows, N1_COLUMNS)),
                ("Every violation", report.html_table(
                    res.violations, ("contingency", "kind", "element", "worst", "time",
                                     "steps")))]
    _write(args, res.rows, f"N-1 screen: {pts.source}", sections)
    return 0


def cmd_hosting(args: argparse.Namespace) -> int:
    """``twin hosting``."""
    from twin.studies.grid import hosting, report

    techs = tuple(t.strip() for t in args.tech.split(",") if t.strip())
    bad = [t for t in techs if t not in hosting.TECHS]
    if bad or not techs:
        raise UserError(f"--tech {args.tech}: expected some of {', '.join(hosting.TECHS)}")
    pts = _points(args.source, args.solver)
    buses = hosting.candidate_buses(pts.net, args.feeders)
    res = hosting.hosting(pts, techs, buses, n1=args.n1, solver=args.solver)
    limits = "thermal, voltage" + (", N-1" if args.n1 else "")
    print(f"hosting capacity of {pts.source}: {len(buses)} buses x {len(techs)} "
          f"technologies, {len(res.steps)} of {len(pts.p_mw)} steps, limits {limits}")
    print(report.text_table(res.rows, HOSTING_COLUMNS))
    print(f"time: {res.seconds:.1f} s")
    svg = report.hosting_map(pts.net, res.rows, f"Hosting capacity ({limits})")
    if args.svg:
        from twin.core.atomic import write_text

        print(f"drawing: {write_text(args.svg, svg)}")
    _write(args, res.rows, f"Hosting capacity: {pts.source}",
           [("Hosting capacity", report.html_table(res.rows, HOSTING_COLUMNS)),
            ("On the network", svg)])
    return 0


def cmd_short_circuit(args: argparse.Namespace) -> int:
    """``twin short-circuit``."""
    from twin.studies.grid import report, shortcircuit
    from twin.studies.grid.points import load_network

    net = load_network(args.source)
    rows, seconds = shortcircuit.levels(net)
    over = [r for r in rows if r["use_pct"] > 100.0]
    print(f"IEC 60909 maximum short-circuit levels of {args.source} (public grid and "
          "converter figures: twin/data/grid_studies.yaml, illustrative)")
    print(report.text_table(rows, SC_COLUMNS))
    print(f"{len(over)} buses above their switchgear's rated breaking current")
    print(f"time: {seconds:.1f} s")
    _write(args, rows, f"Short-circuit levels: {args.source}",
           [("IEC 60909 maximum levels", report.html_table(rows, SC_COLUMNS))])
    return 0


__all__ = ["register"]
