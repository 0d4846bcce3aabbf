"""The park's own commands: run, check, grid, report, appraise, compare, footprint, forecast."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from twin.apps.cli.common import UserError, load_scenario
from twin.core.numbers import fmt
from twin.core.results import KPI


def cmd_check(args: argparse.Namespace) -> int:
    """Validate a scenario and say what it contains."""
    s = load_scenario(args.scenario)
    counts = ", ".join(f"{len(getattr(s, key))} {key.replace('_', ' ')}"
                       for key in ("pv_plants", "wind_farms", "batteries", "factory_loads",
                                   "ev_hubs", "heat_supply", "fmus") if getattr(s, key))
    print(f"{s.path}: ok — {s.park.name}; {s.n_steps} steps of {s.period.step_s} s "
          f"from {s.period.start:%Y-%m-%d %H:%M}; {counts or 'no entities'}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run a scenario: progress bar, KPI table, HDF5 file."""
    from tqdm import tqdm

    from twin import runner

    s = load_scenario(args.scenario, args.days)
    if args.controller:  # named after it, so both controllers' runs sit side by side
        import dataclasses

        s = dataclasses.replace(
            s, controller=dataclasses.replace(s.controller, kind=args.controller),
            output=dataclasses.replace(s.output, name=f"{s.output.name or s.path.stem}-"
                                                       f"{args.controller}"))
    step = s.period.step_s
    bar = tqdm(total=s.n_steps, unit="step", desc=s.path.stem, file=sys.stderr,
               disable=args.quiet, mininterval=0.5, smoothing=0.05)
    try:
        result = runner.run(s, out_dir=args.out, progress=lambda t: bar.update(1))
    except KeyboardInterrupt:
        bar.close()
        from twin.core.results import partial_path

        path = runner.output_path(s, args.out)
        print(f"interrupted: the steps so far are in {partial_path(path)} (incomplete); "
              f"{path} is {'the previous run, kept' if path.exists() else 'not written'}",
              file=sys.stderr)
        return 130
    finally:
        bar.close()
    print(format_kpis(result.kpis, title=f"{s.park.name} — {result.n_steps} steps of {step} s"))
    if s.grid is not None:
        from twin.core.results import open_run

        with open_run(result.path) as run:
            print(format_violations(run.table("grid/violations")))
    from twin.apps import report

    html_path = report.write(report.run_report(result.path, result.assessment),
                             result.path.with_suffix(".html"))
    if s.grid is not None:  # the trainers' page's view of the park: `twin replay` opens fast
        from twin.apps.dashboard.replay import keep_view

        try:
            keep_view(result.path)
        except (OSError, ValueError) as exc:  # the replay builds it at its first opening
            print(f"note: the park's view for twin replay not kept ({exc})", file=sys.stderr)
    print(f"\nresults: {result.path}  ({result.wall_s:.1f} s wall, "
          f"{result.wall_s / max(result.n_steps, 1) * 1e3:.2f} ms per step)")
    print(f"report:  {html_path}")
    return 0


def cmd_grid(args: argparse.Namespace) -> int:
    """Build the scenario's network, say what it holds, and export it as pandapower JSON."""
    from twin.cosim import network
    from twin.models.grid import io as grid_io

    s = load_scenario(args.scenario)
    if s.grid is None:
        raise UserError(f"{s.path}: the scenario has no grid section")
    pn = network.build_grid(s)
    net = pn.net
    print(f"{s.path}: {len(net.bus)} buses, {len(net.line)} lines, {len(net.trafo)} "
          f"transformers, {len(net.load)} loads, {len(net.sgen)} static generators; "
          f"{len(pn.elements)} park entities, {len(pn.direct_lines)} direct lines")
    if pn.design_mva:  # built: its planning rules (twin.models.grid.sizing)
        from twin.models.grid.sizing import band_errors, check

        broken = check(net, pn.design_mva, pn.n1_lines) + band_errors(net, pn.storage_loads)
        print("planning rules (N-1 main transformers, N-1 below them, conductors by design "
              "current, voltage band in the design cases): "
              + ("met" if not broken else f"{len(broken)} broken\n  " + "\n  ".join(broken)))
    if args.export:
        path = grid_io.write_network(pn, args.export)
        print(f"written: {path} (pandapower.from_json reads it)")
    return 0


def _runs_exist(paths: Sequence[str]) -> None:
    from pathlib import Path

    for p in paths:
        if not Path(p).is_file():
            raise UserError(f"{p}: no such run file")


def _year_runs(text: str) -> dict[int, Any]:
    """``15=a.h5,20=b.h5`` -> {15: Path('a.h5'), 20: Path('b.h5')} (the files exist)."""
    from pathlib import Path

    out = {}
    for item in filter(None, (x.strip() for x in text.split(","))):
        year, _, path = item.partition("=")
        if not (year.strip().isdigit() and path.strip()):
            raise UserError(f"--years {text}: expected YEAR=RUN.h5 pairs, e.g. 15=park-year15.h5")
        out[int(year)] = Path(path.strip())
    _runs_exist([str(p) for p in out.values()])
    return out


def cmd_report(args: argparse.Namespace) -> int:
    """Write the committee report of a recorded run; print its first page."""
    from pathlib import Path

    from twin.apps import report

    _runs_exist([args.run])
    studies = [s.strip() for s in args.studies.split(",") if s.strip()]
    if studies:
        from twin.studies.grid.sections import STUDIES

        bad = [s for s in studies if s not in STUDIES]
        if bad:
            raise UserError(f"--studies {args.studies}: expected some of {', '.join(STUDIES)}")
    out = args.output or str(Path(args.run).with_suffix(".html"))
    years = _year_runs(args.years)
    try:
        judged = None
        if years:
            from twin.apps import appraise

            judged = appraise.judged(years)
        text, first_page = report.run_report_and_summary(args.run, studies=studies,
                                                         years=judged)
        path = report.write(text, out)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    print(first_page)
    print(f"\nreport: {path}")
    return 0


def cmd_appraise(args: argparse.Namespace) -> int:
    """Co-simulate sample years with the assets degraded; write the committee report."""
    from twin.apps import appraise
    from twin.apps import report as html

    s = load_scenario(args.scenario, args.days)
    n = s.economics.lifetime_years
    try:
        years = ([int(y) for y in args.years.split(",") if y.strip()] if args.years
                 else appraise.default_years(n))
    except ValueError:
        raise UserError(f"--years {args.years}: expected years like 1,10,20") from None
    if not years or not all(1 <= y <= n for y in years):
        raise UserError(f"--years {args.years}: expected years within 1..{n} (the scenario's "
                        "economics.lifetime_years)")
    print(f"co-simulating appraisal years {', '.join(map(str, sorted({1, *years})))} "
          f"({s.period.duration_s / 86400:g} days each)")
    try:
        text, first, paths = appraise.report(
            s, years, args.out, lambda y, p: print(f"  year {y}: {p}", flush=True))
        path = html.write(text, args.output or paths[1].with_suffix(".html"))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    print(first)
    print("\nruns: " + ", ".join(str(p) for p in paths.values()) + f"\nreport: {path}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Set several runs side by side: KPI table in the terminal, HTML report."""
    from twin.apps import report
    from twin.core.results import open_run

    if len(args.runs) < 2:
        raise UserError("compare: give two or more run files")
    _runs_exist(args.runs)
    try:
        # refuses runs of different periods unless --annualise
        text, summary = report.compare_report_and_summary(args.runs, args.annualise)
        print(report_table(args.runs, open_run))
        print(f"\n{summary}")
        path = report.write(text, args.output)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    print(f"\nreport: {path}")
    return 0


def report_table(paths: Sequence[str], open_run: Any) -> str:
    """The KPIs of several runs, one column per run."""
    from twin.apps.report import run_names

    kpis = []
    for p in paths:
        with open_run(p) as run:
            kpis.append(run.kpis())
    from twin.apps.report import period_text

    periods = []
    for p in paths:
        with open_run(p) as run:
            periods.append(period_text(run))
    names = run_names(paths)
    keys = list(dict.fromkeys(k for ks in kpis for k in ks))
    width = max(len(k) for k in keys) if keys else 10
    lines = [f"{n}: {p}" for n, p in zip(names, periods, strict=True)] + [""]
    lines += [f"{'KPI':<{width}}  " + "  ".join(f"{n:>14}" for n in names)]
    for key in keys:
        lines.append(f"{key:<{width}}  " + "  ".join(
            f"{fmt(k[key].value) if key in k else '—':>14}" for k in kpis))
    return "\n".join(lines)


def cmd_footprint(args: argparse.Namespace) -> int:
    """The carbon footprint of a product over the run, and its CBAM exposure."""
    from twin.accounting.assessment import assess
    from twin.core.results import open_run

    _runs_exist([args.run])
    with open_run(args.run) as run:
        a = assess(run)
    found = {f.product: f for f in a.footprints}
    if args.product not in found:
        raise UserError(f"{args.run}: no product {args.product!r}; the run has "
                        f"{', '.join(found) or 'none'}")
    f = found[args.product]
    print(f"{f.product}: {f.period_units:,.0f} units over {a.years * 365:.0f} days")
    print(f"  electricity      {f.energy_mwh_per_unit * 1000:10.2f} kWh/unit")
    print(f"  location-based   {f.total_location_kg_per_unit:10.2f} kgCO2/unit"
          " (scope 1, process and location-based scope 2)")
    print(f"  market-based     {f.total_market_kg_per_unit:10.2f} kgCO2/unit"
          " (scope 1, process and market-based scope 2)")
    for x in a.cbam:
        if x.product == f.product:
            print(f"  CBAM {x.year}: embedded {x.embedded_t:,.1f} t, certificates "
                  f"{x.certificates_t:,.1f} t at {x.eua_eur_per_t:.1f} EUR/t = "
                  f"{x.cost_eur:,.0f} EUR")
    return 0


def cmd_forecast(args: argparse.Namespace) -> int:
    """Train or evaluate the EMS's forecasters (the work is in :mod:`twin.studies.learned`)."""
    from twin.studies import learned

    s = load_scenario(args.scenario, args.days)
    say = functools.partial(print, file=sys.stderr)  # progress apart from the table
    try:
        if args.action == "train":
            if args.train_seed == args.eval_seed:
                raise UserError("forecast train: --train-seed and --eval-seed must differ")
            table = learned.train_command(s, args.train_seed, args.eval_seed, None,
                                          args.epochs, args.output, say=say)
        else:
            table = learned.evaluate_command(s, args.seed, None, args.model, say=say)
    except (ValueError, FileNotFoundError) as exc:
        raise UserError(f"forecast {args.action}: {exc}") from None
    print(table)
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
    rows = [(name, fmt(k.value), k.unit, k.description) for name, k in kpis.items()]
    widths = [max(len(r[i]) for r in rows) if rows else 0 for i in range(3)]
    lines = [title, "-" * max(len(title), sum(widths) + 6)] if title else []
    for name, value, unit, doc in rows:
        lines.append(f"{name:<{widths[0]}}  {value:>{widths[1]}}  {unit:<{widths[2]}}  {doc}")
    return "\n".join(lines)


def register(sub: Any) -> None:
    """Add the park's own commands to the ``twin`` command."""
    p = sub.add_parser("run", help="run a scenario: progress, KPI table, HDF5 file")
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("--days", type=float, help="simulate only the first N days")
    p.add_argument("--out", help="folder for the HDF5 file (default: the scenario's output.dir)")
    p.add_argument("--controller", choices=("rule", "ems"),
                   help="override the scenario's controller (the run is named <scenario>-<kind>)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("report", help="write the HTML report of a recorded run")
    p.add_argument("run", help="run file (HDF5) written by twin run")
    p.add_argument("-o", "--output", help="HTML file (default: beside the run file)")
    p.add_argument("--studies", default="", help="grid studies added as sections, "
                   "comma-separated: n-1, hosting, short-circuit (as their own commands with "
                   "their defaults)")
    p.add_argument("--years", default="", help="later appraisal years co-simulated with the "
                   "assets degraded (twin appraise's run files), YEAR=RUN.h5 comma-separated: "
                   "the cash flows take their bills, interpolating between")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("appraise", help="committee report with the appraisal's cash flows "
                       "from co-simulated years (assets degraded to each year's state)")
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("--years", default="", help="appraisal years to co-simulate, "
                   "comma-separated (default: 1, the last, and either side of each "
                   "replacement of PV or storage); the years between are interpolated")
    p.add_argument("--days", type=float, help="simulate only the first N days of each year")
    p.add_argument("--out", help="folder for the run files (default: the scenario's output.dir)")
    p.add_argument("-o", "--output", help="HTML file (default: beside year 1's run file)")
    p.set_defaults(func=cmd_appraise)

    p = sub.add_parser("compare", help="set several runs side by side (KPIs, HTML report)")
    p.add_argument("runs", nargs="+", help="run files (HDF5)")
    p.add_argument("-o", "--output", default="compare.html", help="HTML file")
    p.add_argument("--annualise", action="store_true",
                   help="compare runs of different periods, each scaled to a year (the report "
                        "says so); without it such runs are refused")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("footprint", help="a product's carbon footprint and CBAM exposure")
    p.add_argument("run", help="run file (HDF5)")
    p.add_argument("product", help="product name from the scenario's products")
    p.set_defaults(func=cmd_footprint)

    p = sub.add_parser("grid", help="build the scenario's network; export it as pandapower JSON")
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("--export", metavar="NET.json", help="write the network to this file")
    p.set_defaults(func=cmd_grid)

    p = sub.add_parser("forecast", help="train or evaluate the EMS's PV, wind and load forecasts")
    fsub = p.add_subparsers(dest="action", required=True)
    for action, doc in (("train", "build a training and an evaluation year, train, save"),
                        ("evaluate", "evaluate persistence, smart persistence, the shipped model")):
        q = fsub.add_parser(action, help=doc)
        q.add_argument("scenario", nargs="?", default="scenarios/park.yaml",
                       help="scenario YAML file (default: scenarios/park.yaml)")
        q.add_argument("--days", type=float, help="only the first N days of each year")
        q.set_defaults(func=cmd_forecast)
    q = fsub.choices["train"]
    q.add_argument("--train-seed", type=int, default=1, help="weather year to train on")
    q.add_argument("--eval-seed", type=int, default=2, help="weather year to evaluate on")
    q.add_argument("--epochs", type=int, default=30, help="training epochs per target")
    q.add_argument("-o", "--output", help="folder for forecast.npz and forecast.json "
                   "(default: the shipped ones in twin/data/forecast/)")
    q = fsub.choices["evaluate"]
    q.add_argument("--seed", type=int, default=2, help="weather year to evaluate on")
    q.add_argument("--model", help="folder with forecast.npz/.json (default: the shipped ones)")

    p = sub.add_parser("check", help="validate a scenario without running it")
    p.add_argument("scenario", help="scenario YAML file")
    p.set_defaults(func=cmd_check)
