"""The road to acceptance (registered by :mod:`twin.apps.cli`)::

    twin pathway SCENARIO [--years 2025-2028] [--acceptance 2027] [--days N] [--rounds 3]
                          [--out DIR] [-o report.html]

Runs the scenario once for its hourly profiles, solves the capacity-expansion LP for the
cheapest portfolio meeting the national criteria, co-simulates that portfolio, tightens and
re-solves where the run misses a criterion, prints the table and writes the HTML report.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from twin.apps.cli.common import UserError, load_scenario


def register(sub: Any) -> None:
    """Add ``pathway`` to the ``twin`` command."""
    p = sub.add_parser("pathway", help="cheapest portfolio of measures meeting the national "
                       "criteria, proven by co-simulation")
    p.add_argument("scenario", help="base scenario YAML (e.g. scenarios/baseline-2025.yaml)")
    p.add_argument("--years", default="2025-2028", help="the road's years, FIRST-LAST "
                   "(staged commissioning is not done yet: listed only)")
    p.add_argument("--acceptance", type=int, default=2027, help="the acceptance year")
    p.add_argument("--days", type=float, help="profiles and proving runs over the first N "
                   "days (default: the scenario's period, a year for the real answer)")
    p.add_argument("--rounds", type=int, default=8, help="proving co-simulations at most")
    p.add_argument("--out", default="results/pathway", help="folder of the runs")
    p.add_argument("-o", "--output", help="HTML report (default: OUT/pathway.html)")
    p.set_defaults(func=cmd_pathway)


def _years(text: str, acceptance: int) -> tuple[int, int]:
    m = re.fullmatch(r"(\d{4})-(\d{4})", text.strip())
    if not m or int(m.group(1)) > int(m.group(2)):
        raise UserError(f"--years {text}: expected FIRST-LAST, e.g. 2025-2028")
    first, last = int(m.group(1)), int(m.group(2))
    if not first <= acceptance <= last:
        raise UserError(f"--acceptance {acceptance}: expected a year within --years {text}")
    return first, last


def cmd_pathway(args: argparse.Namespace) -> int:
    """``twin pathway``."""
    first, last = _years(args.years, args.acceptance)
    if args.rounds < 1:
        raise UserError(f"--rounds {args.rounds}: expected at least 1")
    if args.days is not None and args.days <= 0:
        raise UserError(f"--days {args.days}: expected a positive number of days")
    scenario = load_scenario(args.scenario)
    from twin.studies.pathway import prove, report

    road = prove.pathway(scenario, args.out, days=args.days, rounds=args.rounds,
                         acceptance_year=args.acceptance)
    if (first, last) != (args.acceptance, args.acceptance):
        road.notes.append(f"years {first}-{last}: every measure is built for "
                          f"{args.acceptance}; the staged road year by year is not done yet")
    print(report.text(road))
    out = report.write(road, args.output or Path(args.out) / "pathway.html")
    print(f"\nreport: {out}")
    return 0
