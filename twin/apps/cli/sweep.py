"""The planners' study commands (registered by :mod:`twin.apps.cli`)::

    twin sweep STUDY.yaml [--scheduler tcp://HOST:8786] [--workers N] [-o table.parquet]
    twin study-report TABLE [-o report.html]
    twin size STUDY.yaml [--scheduler tcp://HOST:8786] [--workers N] [-o table.parquet]

Without ``--scheduler`` the cases run on a Dask local cluster of worker processes (one per
core, one thread each); with it, on that cluster, unchanged.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from twin.apps.cli.common import UserError
from twin.core.numbers import fmt


def register(sub: Any) -> None:
    """Add ``sweep``, ``study-report`` and ``size`` to the ``twin`` command."""
    p = sub.add_parser("sweep", help="run every case of a study on Dask: table and report")
    p.add_argument("study", help="study YAML file")
    _run_options(p)
    p.add_argument("--retry-failed", action="store_true",
                   help="run again the cases that failed before (invalid ones stay)")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("study-report", help="write the HTML report of a study table")
    p.add_argument("table", help="table written by twin sweep (.parquet or .csv)")
    p.add_argument("-o", "--output", help="HTML file (default: beside the table)")
    p.set_defaults(func=cmd_study_report)

    p = sub.add_parser("size", help="search a study's capacities for the cheapest "
                       "configuration meeting the criteria (fewer runs than the grid)")
    p.add_argument("study", help="study YAML file (its parameters are the capacities)")
    _run_options(p)
    p.set_defaults(func=cmd_size)


def _run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scheduler", metavar="tcp://HOST:8786",
                   help="an existing Dask scheduler (default: a local cluster)")
    p.add_argument("--workers", type=int, help="local cluster: worker processes "
                   "(default: one per core)")
    p.add_argument("-o", "--output", help="the table, .parquet or .csv (default: the "
                   "study's options.output)")
    p.add_argument("--days", type=float, help="shorten every run to N days (overrides the "
                   "study's options.days; cases of their own, apart from longer runs)")
    p.add_argument("--criteria", metavar="KEY,KEY", help="criteria to require (overrides the "
                   "study's criteria; the runs are the same, the answer differs)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _study(args: argparse.Namespace) -> Any:
    from twin.studies.spec import StudyError, load, with_criteria, with_days

    try:
        study = load(args.study)
        if args.days is not None:
            study = with_days(study, args.days)
        return with_criteria(study, args.criteria) if args.criteria else study
    except StudyError as exc:
        raise UserError(str(exc)) from None


def _output(args: argparse.Namespace, study: Any) -> Path:
    out = Path(args.output) if args.output else study.output
    if out.suffix.lower() not in (".parquet", ".csv"):
        raise UserError(f"{out}: expected a table ending in .parquet or .csv")
    return out


def _client(args: argparse.Namespace) -> Any:
    import distributed  # noqa: F401 - sets up its logging when first imported

    from twin.studies import sweep

    if not args.verbose:  # Dask's own INFO lines would bury the progress bar
        logging.getLogger("distributed").setLevel(logging.WARNING)
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers {args.workers}: expected 1 or more")
    if args.scheduler and args.workers:
        raise UserError("--workers sizes a local cluster; an existing one (--scheduler) has "
                        "its own workers")
    return sweep.connect(args.scheduler, args.workers)


@contextlib.contextmanager
def _cluster(args: argparse.Namespace) -> Iterator[Any]:
    """The study's Dask client (:func:`_client`); after a Ctrl-C, Dask's own logging is
    hushed before the client closes (workers still busy are killed on the way out: no
    alarm)."""
    with _client(args) as client:
        try:
            yield client
        except KeyboardInterrupt:
            logging.getLogger("distributed").setLevel(logging.CRITICAL)
            raise


def _where(client: Any, scheduler: str | None) -> str:
    n = len(client.scheduler_info().get("workers", {}))
    return f"{'the cluster at ' + scheduler if scheduler else 'a local cluster'} of {n} workers"


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run a study: progress bar over cases, table, report."""
    from twin.studies import sweep

    study = _study(args)
    out = _output(args, study)
    where = sweep.paths(out)
    todo = sweep.pending(study, sweep.CaseStore(where["cases"]), args.retry_failed)
    n = len(study.cases())
    try:
        with _cluster(args) as client:
            print(f"study {study.name}: {n} cases, {n - len(todo)} done before, on "
                  f"{_where(client, args.scheduler)}", file=sys.stderr)
            result = sweep.run_study(study, client, out, args.retry_failed,
                                     progress=not args.quiet)
    except KeyboardInterrupt:  # the cluster's start and the cases' set-up included
        done = n - len(sweep.pending(study, sweep.CaseStore(where["cases"]), args.retry_failed))
        print(f"interrupted: {done} of {n} cases done (kept in {where['cases']}); "
              "the same command goes on from there", file=sys.stderr)
        return 130
    except sweep.SchedulerUnreachable as exc:
        raise UserError(str(exc)) from None
    print(f"ran {result.ran} case(s) in {result.wall_s:.1f} s ({result.skipped} done before); "
          f"{result.failed} of {result.cases} invalid or failed (status and error in the table)")
    print(_answer_line(result.table))
    print(f"table:  {result.table}")
    print(f"report: {result.report}")
    return 0


def _answer_line(table: Path) -> str:
    from twin.studies import sweep
    from twin.studies.analysis import answer, configurations

    a = answer(configurations(sweep.read_table(table), sweep.read_meta(table)))
    if a.config is None:
        return "answer: no case ran"
    c = a.config
    head = ("cheapest configuration meeting every criterion" if a.passes else
            "no configuration meets every criterion; closest")
    return (f"answer: {head}: {c['label']} (wind {fmt(c['wind_mw'])} MW, PV "
            f"{fmt(c['pv_mwp'])} MWp, storage {fmt(c['storage_mw'])} MW / "
            f"{fmt(c['storage_mwh'])} MWh) at {fmt(c[sweep.COST] / 1e6)} M CNY/yr")


def cmd_study_report(args: argparse.Namespace) -> int:
    """Rewrite the HTML report of a study table."""
    from twin.studies import report as sweep_report
    from twin.studies import sweep

    table = Path(args.table)
    meta = sweep.paths(table)["meta"]
    if not table.is_file():
        raise UserError(f"{table}: no such study table")
    if not meta.is_file():
        raise UserError(f"{table}: no {meta.name} beside it (twin sweep writes both)")
    out = args.output or sweep.paths(table)["report"]
    path = sweep_report.write(sweep.read_table(table), sweep.read_meta(table), out)
    print(f"report: {path}")
    return 0


def cmd_size(args: argparse.Namespace) -> int:
    """Search the study's capacities for the cheapest configuration meeting the criteria."""
    from tqdm import tqdm

    from twin.studies import report as sweep_report
    from twin.studies import sweep
    from twin.studies.size import StudyEvaluator, dimensions, search
    from twin.studies.spec import StudyError

    study = _study(args)
    out = _output(args, study)
    where = sweep.paths(out)
    try:
        dimensions(study)
    except StudyError as exc:
        raise UserError(str(exc)) from None
    try:
        with _cluster(args) as client:
            bar = tqdm(unit="run", desc=f"size {study.name}", disable=args.quiet)
            evaluator = StudyEvaluator(
                study, client, sweep.CaseStore(where["cases"]), on_row=lambda row: bar.update(1),
                job=study.job(where["runs"] if study.options.keep_runs else None))
            dims = ", ".join(f"{d.path} x{len(d.values)}" for d in evaluator.dims)
            print(f"size {study.name}: {dims}; {len(evaluator.seeds)} weather year(s); on "
                  f"{_where(client, args.scheduler)}", file=sys.stderr)
            with bar:
                result = search(evaluator.shape, evaluator)
    except KeyboardInterrupt:
        print(f"interrupted: the runs done are kept in {where['cases']}; the same command "
              "goes on from there", file=sys.stderr)
        return 130
    except sweep.SchedulerUnreachable as exc:
        raise UserError(str(exc)) from None
    config = evaluator.config(result.best)
    years = len(evaluator.seeds)
    o = result.outcome
    verdict = ("meets every criterion in every weather year" if o.feasible else
               f"NO configuration found that meets every criterion; closest (shortfall "
               f"{o.shortfall:.3g})")
    shown = ", ".join(f"{d.path} ×{config[d.path]:g}" if d.scale else f"{d.path}={config[d.path]}"
                      for d in evaluator.dims)
    print(f"answer: {shown}: {verdict}; "
          f"{fmt(o.cost / 1e6)} M CNY/yr")
    print("        " + evaluator.criteria_text(result.best))
    print(f"runs:   {result.evaluations} configuration(s) x {years} year(s) = "
          f"{result.evaluations * years} runs ({evaluator.runs} new), "
          f"{result.share_of_grid:.0%} of the full grid's {result.grid_size * years}")
    df = sweep.write_table(study, sweep.CaseStore(where["cases"]), where)
    report = sweep_report.write(df, sweep.read_meta(where["table"]), where["report"])
    print(f"table:  {where['table']} (the cases run so far)")
    print(f"report: {report}")
    return 0
