"""The ``twin`` command: the user's surface.

    twin run SCENARIO [--days N] [--out DIR] [--controller rule|ems]
                                                run, show progress and the KPI table
    twin check SCENARIO                         validate only
    twin grid SCENARIO [--export NET.json]      the network the run uses, as pandapower JSON
    twin report RUN.h5 [-o report.html]         the HTML report of a run
    twin appraise SCENARIO [--years 1,10,20]    committee report, cash flows from co-simulated
                                                years with the assets degraded
    twin compare A.h5 B.h5 [...] [--annualise]  several runs side by side (same period)
    twin footprint RUN.h5 PRODUCT               a product's footprint and CBAM exposure
    twin forecast train|evaluate [SCENARIO]     train / evaluate the EMS's forecasters
    twin aoi inspect|generate|train|evaluate    the AOI line's vision (twin/aoi/cli.py)
    twin sweep STUDY.yaml [--scheduler ADDR]    every case of a study on Dask: table, report
    twin size STUDY.yaml [--scheduler ADDR]     cheapest configuration meeting the criteria
    twin pathway SCENARIO [--days N]            cheapest measures meeting the criteria, proven
    twin study-report TABLE                     the HTML report of a study table
    twin demo [SCENARIO] [--speed 600]          the trainers' page: the park live in a browser
    twin replay RUN.h5                          a recorded run on that page, with a slider
    twin plant SCENARIO [--faults F.yaml]       a stand-in plant publishing telemetry (MQTT)
    twin live SCENARIO --telemetry MAP.yaml     the twin beside the live park: alarms, history
    twin n-1 RUN.h5|SCENARIO                    N-1 screening: every line circuit, transformer out
    twin hosting RUN.h5|SCENARIO                hosting capacity of PV, wind, storage, EV charging
    twin short-circuit RUN.h5|SCENARIO          IEC 60909 short-circuit levels at the substations

A user's mistake (bad scenario, missing file) prints one line and exits with code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from twin.core import lean_imports

# the command line's processes load pandapower without matplotlib and plotly (its plotting,
# never used here); a library user's process keeps pandapower's plotting as it is
lean_imports.install()

from twin.apps.cli import aoi, dashboard, grid, hil, live, park, pathway, plant, sweep  # noqa: E402
from twin.core.errors import EXIT_USAGE, UserError  # noqa: E402

# every sub-command, registered here and only here (each module's ``register``)
COMMANDS = (park, aoi, sweep, hil, dashboard, pathway, plant, live, grid)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``twin`` command."""
    parser = argparse.ArgumentParser(prog="twin", description="Digital twin of a zero-carbon "
                                     "industrial park (mosaik co-simulation).")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``twin`` command."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        rc = int(args.func(args))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return _interrupted()
    except Exception as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):  # a clean-up the interrupt broke
            return _interrupted()
        raise
    if rc == EXIT_INTERRUPTED:  # the command said what it kept; its helpers stop quietly
        _hush()
    return rc


EXIT_INTERRUPTED = 130


def _interrupted() -> int:
    """Ctrl-C outside a command's own handling: one line; finished results are whole (a
    run's file replaces the previous one only once complete)."""
    print("interrupted: stopped; finished results are kept, the one in progress is not "
          "written", file=sys.stderr)
    _hush()
    return EXIT_INTERRUPTED


def _hush() -> None:
    """No clean-up noise after Ctrl-C: Dask's shutdown warnings and its exit handlers'
    tracebacks (printed through ``sys.unraisablehook``)."""
    logging.disable(logging.CRITICAL)
    sys.unraisablehook = lambda unraisable: None
