"""The road to acceptance (registered by :mod:`twin.apps.cli`)::

    twin pathway SCENARIO [--years 2025-2028] [--acceptance 2027] [--days N] [--rounds 8]
                          [--criteria core,clean,direct] [--cfe 0.8] [--emissions location]
                          [--clean certificates,grid] [--gas-kgce 1.33] [--weather-years 3]
                          [--weather-files a.epw,b.csv] [--no-follow-lp]
                          [--out DIR] [-o report.html]

Runs the scenario for its hourly profiles (once per weather year), solves the
capacity-expansion LP for the cheapest portfolio meeting the criteria, co-simulates it,
tightens and re-solves where the run misses a criterion, co-simulates each year of the road
with what is built by then, prints the table and writes the HTML report.
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
    p.add_argument("--years", default="2025-2028", help="the road's years, FIRST-LAST: the "
                   "first is the baseline, those before --acceptance the build-up (measures "
                   "that pay), those after keep what is built")
    p.add_argument("--acceptance", type=int, default=2027, help="the acceptance year")
    p.add_argument("--days", type=float, help="profiles and proving runs over the first N "
                   "days (default: the scenario's period, a year for the real answer)")
    p.add_argument("--rounds", type=int, default=8, help="proving co-simulations at most")
    p.add_argument("--criteria", default="core,clean,direct", help="criteria that must "
                   "hold, among core, clean, direct (default: all three)")
    p.add_argument("--cfe", type=float, help="an hourly carbon-free-energy target, e.g. 0.8 "
                   "(an option, not national)")
    p.add_argument("--emissions", choices=("location", "market"),
                   help="Scope 2 of the core indicator: location-based (the notice's reading) "
                   "or market-based (GECs and contracts lower it); default: the scenario's "
                   "carbon.emissions (location unless it says otherwise)")
    p.add_argument("--clean", default="certificates", help="what counts as clean besides "
                   "local renewables: certificates (bought GECs and green power), grid (the "
                   "grid's non-fossil share), both comma-separated, or none")
    p.add_argument("--gas-kgce", type=float, help="natural gas standard-coal coefficient, "
                   "kgce/Nm3 (GB/T 2589; default 1.33, range 1.1-1.33)")
    p.add_argument("--weather-years", type=int, default=1, help="synthetic weather years "
                   "(park seeds seed, seed+1, ...): the criteria must hold in every one")
    p.add_argument("--weather-files", default="", help="weather files (EPW or CSV, "
                   "comma-separated), each one more weather year in which the criteria must "
                   "hold; checked as the scenario's weather (site, period)")
    p.add_argument("--no-follow-lp", dest="follow_lp", action="store_false",
                   help="the acceptance rounds' runs dispatch the storage by the rule (charge "
                   "on surplus) and the heat by its merit order, not by the LP's hourly "
                   "storage schedule and heat plan (followed where the batteries and heat "
                   "supplies can, the default)")
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


def _accounting(args: argparse.Namespace, emissions: str) -> Any:
    from twin.studies.pathway.settings import SHORT, Accounting

    names = [x.strip() for x in args.criteria.split(",") if x.strip()]
    bad = [x for x in names if x not in SHORT]
    if bad or not names and args.cfe is None:
        raise UserError(f"--criteria {args.criteria}: expected some of core, clean, direct")
    clean = {x.strip() for x in args.clean.split(",") if x.strip()}
    if clean - {"certificates", "grid", "none"}:
        raise UserError(f"--clean {args.clean}: expected certificates, grid, both or none")
    try:
        return Accounting(emissions=args.emissions or emissions,
                          certificates_clean="certificates" in clean,
                          grid_share_clean="grid" in clean, gas_kgce_per_nm3=args.gas_kgce,
                          criteria=tuple(dict.fromkeys(SHORT[x] for x in names)), cfe=args.cfe)
    except ValueError as e:
        raise UserError(f"twin pathway: {e}") from None


def cmd_pathway(args: argparse.Namespace) -> int:
    """``twin pathway``."""
    first, last = _years(args.years, args.acceptance)
    if args.rounds < 1:
        raise UserError(f"--rounds {args.rounds}: expected at least 1")
    if args.days is not None and args.days <= 0:
        raise UserError(f"--days {args.days}: expected a positive number of days")
    if not 1 <= args.weather_years <= 10:
        raise UserError(f"--weather-years {args.weather_years}: expected 1 to 10")
    scenario = load_scenario(args.scenario)
    acct = _accounting(args, scenario.carbon.emissions)
    from twin.studies.pathway import prove, report

    files = tuple(Path(f.strip()) for f in args.weather_files.split(",") if f.strip())
    for f in files:
        if not f.is_file():
            raise UserError(f"--weather-files: no such file: {f}")
    from twin.scenario import ScenarioError

    try:
        road = prove.pathway(scenario, args.out, days=args.days, rounds=args.rounds,
                             acceptance_year=args.acceptance, years=(first, last), acct=acct,
                             weather_years=args.weather_years, weather_files=files,
                             follow_lp=args.follow_lp)
    except ScenarioError as e:  # a weather file that does not fit the scenario
        raise UserError(f"--weather-files: {e}") from None
    print(report.text(road))
    out = report.write(road, args.output or Path(args.out) / "pathway.html")
    print(f"\nreport: {out}")
    return 0
