"""Proof by co-simulation, year by year along the road.

The road's first year is the baseline (the scenario as it is); the acceptance year gets the
cheapest portfolio meeting the criteria, built into the scenario, run through
:func:`twin.runner.run` and judged from the run's HDF5 file with the same accounting settings
(:func:`~twin.studies.pathway.settings.judge_file`). Where the run misses a criterion the LP
claimed, that criterion is tightened by the miss times :data:`TIGHTEN_FACTOR` and the LP solved
again. The build-up years between get the part of that portfolio that pays for itself without
the criteria (the LP without its criteria rows, capped by the acceptance portfolio, each year
keeping what the year before built). The years after acceptance keep what is built: on the
same weather the LP would answer the same portfolio, so the acceptance run stands for them.

With several weather years (synthetic seeds and weather files), the LP's criteria hold in
each and every proving run is made in each: the proven value is the worst of them.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from twin import runner
from twin.accounting import assessment, economics
from twin.accounting.carbon import flows_from_run
from twin.core.results import open_run
from twin.scenario import Scenario
from twin.studies.pathway import lp
from twin.studies.pathway.measures import (
    BOUGHT,
    CAPACITY,
    CONTRACTS,
    FLEX,
    HEAT,
    apply,
    measures,
    weather_fields,
)
from twin.studies.pathway.profiles import Profiles, from_run
from twin.studies.pathway.settings import LOWER_IS_BETTER, Accounting, judge_file, totals

log = logging.getLogger(__name__)
TOLERANCE = 1e-4  # a miss smaller than this is rounding
TIGHTEN_FACTOR = 1.5  # a miss tightens its criterion by this much of itself: fewer rounds
COST_TOLERANCE = 1e-3  # the run's assets cost as the LP's at the amounts applied, relative
# the levers that are assets of the run (the rest are programmes and purchases)
ASSETS = ("wind", "pv", "storage_power", "storage_energy", *HEAT)
# the cost kinds of those levers' assets in a run (twin/data/costs.yaml, measures.yaml)
LEVER_KINDS = frozenset({"wind", "pv", "battery", "heat_pump", *HEAT[1:]})


@dataclass
class Round:
    """One solve and its proving run(s)."""

    solution: lp.Solution
    applied: dict[str, float]
    proven: dict[str, float]  # the runs' criteria (worst over the weather years)
    missed: dict[str, float]  # criterion -> how far the run fell short of the threshold
    run_path: Path | None = None
    tighten: dict[str, float] = field(default_factory=dict)  # what this round's LP was asked
    cost_run: dict[str, float] = field(default_factory=dict)  # :func:`run_costs`
    cost_lp: dict[str, float] = field(default_factory=dict)  # :func:`lp_costs`
    flows_run: dict[str, float] = field(default_factory=dict)  # the run's totals (LP keys)


@dataclass
class Year:
    """One year of the road: what is built by then, its co-simulated criteria and costs."""

    year: int
    stage: str  # baseline, build-up, acceptance, after
    portfolio: dict[str, float]  # built by then (bought that year for certificates), LP units
    proven: dict[str, float]
    missed: dict[str, float]
    capex_cny: float  # invested in the year's new measures (one-off)
    opex_cny: float  # fixed O&M, efficiency programme, certificates and contracts
    energy_cny: float  # electricity, demand charge and gas less exports (LP dispatch)
    run_path: Path | None = None


@dataclass
class Pathway:
    """The road: base profiles, the baseline run's criteria, the rounds, the years, the
    waterfall."""

    scenario: Scenario
    profiles: Profiles
    baseline: dict[str, float]
    baseline_path: Path
    acceptance_year: int
    rounds: list[Round] = field(default_factory=list)
    waterfall: list[tuple[str, float]] = field(default_factory=list)  # (step, core after it)
    notes: list[str] = field(default_factory=list)
    years: list[Year] = field(default_factory=list)
    acct: Accounting = field(default_factory=Accounting)
    weather: list[Profiles] = field(default_factory=list)  # profiles of every weather year
    # co-simulations made and reused, seconds in the made ones and in all (:func:`pathway`)
    timing: dict[str, float] = field(default_factory=dict)

    @property
    def final(self) -> Round:
        """The last round."""
        return self.rounds[-1]

    @property
    def proven(self) -> bool:
        """Whether the last round's runs meet every required criterion."""
        return bool(self.rounds) and not self.final.missed


def judge(path: Path, acct: Accounting, contracts: dict[str, float] | None = None
          ) -> dict[str, float]:
    """The criteria of a run, counted with ``acct`` from its HDF5 file, the 绿电交易
    ``contracts`` settled on its import."""
    return judge_file(path, acct, contracts)


def misses(proven: dict[str, float], thresholds: dict[str, float],
           required: tuple[str, ...] | None = None) -> dict[str, float]:
    """How far the run falls short of each required threshold (only the misses)."""
    out = {}
    for c, value in proven.items():
        if c not in thresholds or (required is not None and c not in required):
            continue
        t = thresholds[c]
        gap = value - t if c in LOWER_IS_BETTER else t - value
        if gap > TOLERANCE:
            out[c] = gap
    return out


def _worst(runs: list[dict[str, float]]) -> dict[str, float]:
    keys = [c for c in runs[0] if all(c in r for r in runs)]
    return {c: (max if c in LOWER_IS_BETTER else min)(r[c] for r in runs) for c in keys}


_DISPATCHED: dict[tuple, tuple[tuple[Profiles, ...], lp.Solution]] = {}


def dispatched(p: Profiles | list[Profiles], portfolio: dict[str, float],
               acct: Accounting | None = None) -> lp.Solution:
    """The portfolio dispatched for cost without the criteria: the waterfall's steps and the
    years' costs ask for the same points (a year's LP each): each is solved once."""
    ps = [p] if isinstance(p, Profiles) else list(p)
    key = (tuple(id(x) for x in ps), tuple(sorted((k, round(v, 9)) for k, v in
                                                  portfolio.items() if abs(v) > 1e-12)), acct)
    hit = _DISPATCHED.get(key)
    if hit is None or any(a is not b for a, b in zip(hit[0], ps, strict=True)):
        if len(_DISPATCHED) > 64:
            _DISPATCHED.clear()
        # the profiles are kept with the answer: their ids cannot be reused while cached
        hit = _DISPATCHED[key] = (tuple(ps), lp.solve(ps, fixed=dict(portfolio),
                                                       criteria=False, acct=acct))
    return hit[1]


def waterfall(p: Profiles | list[Profiles], portfolio: dict[str, float],
              acct: Accounting | None = None, final: float | None = None
              ) -> list[tuple[str, float]]:
    """The LP's core indicator from the base (no measure) adding one measure at a time, each
    dispatched for cost; ``final`` (the LP's answer, dispatched under the criteria) closes it
    with a last step, "dispatch for the criteria", so that the bars end at the LP's result."""
    steps = [("baseline", dispatched(p, {}, acct).criteria[
        "core_carbon_intensity"])]
    built: dict[str, float] = {}
    for key, amount in portfolio.items():
        if amount <= 1e-9:
            continue
        built[key] = amount
        steps.append((key, dispatched(p, built, acct).criteria[
            "core_carbon_intensity"]))
    if final is not None and math.isfinite(final) and abs(final - steps[-1][1]) > 1e-6:
        steps.append(("dispatch for the criteria", float(final)))
    return steps


def year_costs(ps: list[Profiles], portfolio: dict[str, float], before: dict[str, float],
               acct: Accounting) -> tuple[float, float, float]:
    """Capex of what is new against ``before``, opex and energy cost (CNY) of a year."""
    levers = measures(ps[0])
    sol = dispatched(ps, portfolio, acct)
    capex = sum(levers[k].capex_cny_per_unit * max(portfolio.get(k, 0.0) - before.get(k, 0.0),
                                                   0.0) for k in CAPACITY)
    opex = sum(levers[k].opex_cny_per_unit * portfolio.get(k, 0.0) for k in CAPACITY)
    opex += sum(sol.cost[k] for k in ("efficiency", *FLEX, *BOUGHT))
    energy = sum(sol.cost[k] for k in ("electricity", "export revenue", "demand charge", "gas"))
    return capex, opex, energy


def _assets_cny(path: Path, rate: float) -> dict[str, float]:
    """The annual cost (capex annuity + fixed O&M) of a run's assets by cost kind, from its
    recorded specs and the unit costs (``twin/data/costs.yaml``, the heat measures'
    ``twin/data/measures.yaml``): what the run's own accounting invests in."""
    costs = economics.unit_costs()
    with open_run(path) as run:
        found = assessment.assets(run)
    out: dict[str, float] = {}
    for a in found:
        out[a.kind] = out.get(a.kind, 0.0) + (
            economics.capex_cny([a], costs)
            / economics.annuity_factor(rate, costs[a.kind].lifetime_years)
            + economics.opex_cny_per_year([a], costs))
    return out


def run_costs(path: Path, baseline: Path, p: Profiles, certificates: dict[str, float]
              ) -> dict[str, float]:
    """A proving run's annual cost (CNY/yr) as its own accounting counts it: the assets it
    has beyond the baseline run's, annualised, those of the levers (``assets``) and the
    network its builder sized for them (``network``: lines and substations, which the LP
    leaves out); the energy its flows bought (import at the tariff less exports, the demand
    charge on the monthly peaks, gas); the certificates and contracts bought
    (``certificates``: CNY of the period, by lever) - the LP's cost items, to set beside
    :func:`lp_costs`."""
    rate = p.discount_rate
    new, old = _assets_cny(path, rate), _assets_cny(baseline, rate)
    added = {k: new.get(k, 0.0) - old.get(k, 0.0) for k in set(new) | set(old)}
    with open_run(path) as run:
        flows = flows_from_run(run)
        tariff = economics.tariff(str(json.loads(run.meta.get("economics") or "{}").get(
            "tariff", "liaoning-illustrative")))
        peaks = assessment.peak_import_by_month(run, tariff, flows.timezone)
    hour, month = economics.local_hour_month(flows.hour_s, flows.timezone)
    bill = economics.energy_cost(flows.import_mwh, flows.export_mwh, hour, month, tariff, peaks)
    ys = p.year_share
    gas = float(flows.gas_total_nm3.sum()) * p.gas_cny_per_nm3
    return {"assets": sum(v for k, v in added.items() if k in LEVER_KINDS),
            "network": sum(v for k, v in added.items() if k not in LEVER_KINDS),
            "energy": (bill.import_cny - bill.export_revenue_cny + bill.demand_cny + gas) / ys,
            "bought": sum(certificates.values()) / ys}


def lp_costs(sol: lp.Solution, levers: dict, applied: dict[str, float]) -> dict[str, float]:
    """The LP's annual cost in :func:`run_costs`' items, its assets at the amounts applied
    (whole turbines); no network."""
    assets = sum(levers[k].annual_cny_per_unit * applied.get(k, 0.0) for k in ASSETS)
    energy = sum(sol.cost[k] for k in ("electricity", "export revenue", "demand charge", "gas"))
    return {"assets": assets, "network": 0.0, "energy": energy,
            "bought": sum(sol.cost[k] for k in BOUGHT)}


Weather = tuple[str, tuple]  # a weather year: the runs' name suffix, its scenario fields


def weathers(scenario: Scenario, years: int = 1, files: tuple[str | Path, ...] = ()
             ) -> list[Weather]:
    """The weather years: the scenario's own, ``years - 1`` more park seeds (synthetic
    weather) and one per weather file."""
    out: list[Weather] = [("", ())]
    out += [(f"-w{i}", weather_fields(seed=scenario.park.seed + i)) for i in range(1, years)]
    out += [(f"-f{j + 1}", weather_fields(path=f)) for j, f in enumerate(files)]
    return out


# the code and data a run's flows depend on (the accounting of the pathway reads them anew)
SOURCES = ("adapters", "twin/core", "twin/cosim", "twin/data", "twin/ems", "twin/models",
           "twin/scenario")
# prices and limits that the co-simulation does not read (only the accounting written into
# a run's file, which the pathway recounts): a change of them reuses the runs
PRICED = frozenset({"twin/data/measures.yaml", "twin/data/costs.yaml"})


@functools.cache
def _code_digest() -> str:
    """A digest of the co-simulation's code and data (the .py and .yaml files of
    :data:`SOURCES`)."""
    root = Path(runner.__file__).resolve().parent.parent
    h = hashlib.sha256()
    for name in SOURCES:
        for f in sorted((root / name).rglob("*")):
            rel = f.relative_to(root).as_posix()
            if f.suffix in (".py", ".yaml") and rel not in PRICED and f.is_file():
                h.update(rel.encode())
                h.update(f.read_bytes())
    return h.hexdigest()


def _files(obj: object) -> list[tuple[str, int, int]]:
    """The files a scenario reads (weather, profiles): path, size and modification time."""
    out: list[tuple[str, int, int]] = []
    if isinstance(obj, Path):
        if obj.is_file():
            st = obj.stat()
            out.append((str(obj), st.st_size, st.st_mtime_ns))
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            out += _files(getattr(obj, f.name))
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            out += _files(item)
    return out


def run_key(scenario: Scenario) -> str:
    """What a run's result depends on, hashed: the scenario (every field, the period
    included), the files it reads and the code."""
    text = repr((dataclasses.replace(scenario, text=""), _files(scenario), _code_digest()))
    return hashlib.sha256(text.encode()).hexdigest()


def cached_run(scenario: Scenario, out_dir: str | Path, stats: dict[str, float] | None = None
               ) -> Path:
    """The run's HDF5 file: the one already in ``out_dir`` when it was made from the same
    scenario, files and code (its key beside it, ``NAME.key``), else a new run. A change of a
    price or a limit that the co-simulation does not read (:data:`PRICED`, the accounting
    settings) reuses the runs; the pathway reads only their flows and costs them anew.
    ``stats`` counts the runs ``made`` and ``reused`` and the seconds the made ones took
    (``run_s``)."""
    stats = {} if stats is None else stats
    path = runner.output_path(scenario, out_dir)
    key, key_path = run_key(scenario), path.with_suffix(".key")
    if path.is_file() and key_path.is_file() and key_path.read_text(encoding="utf-8") == key:
        log.info("%s: reused (same scenario, files and code)", path)
        stats["reused"] = stats.get("reused", 0) + 1
        return path
    key_path.unlink(missing_ok=True)
    start = time.perf_counter()
    result = runner.run(scenario, out_dir)
    key_path.write_text(key, encoding="utf-8")
    stats["made"] = stats.get("made", 0) + 1
    stats["run_s"] = stats.get("run_s", 0.0) + time.perf_counter() - start
    return result.path


def pathway(scenario: Scenario, out_dir: str | Path, days: float | None = None,
            rounds: int = 8, acceptance_year: int = 2027,
            years: tuple[int, int] | None = None, acct: Accounting | None = None,
            weather_years: int = 1, weather_files: tuple[str | Path, ...] = (),
            follow_lp: bool = True) -> Pathway:
    """Acceptance (solve, build, co-simulate, tighten, up to ``rounds`` rounds), then the road
    to it and after it: baseline, build-up, acceptance and later years, each co-simulated.
    The weather years: the scenario's, ``weather_years - 1`` more park seeds and
    ``weather_files`` (each checked as the scenario's weather before anything runs).
    ``follow_lp``: the acceptance rounds' runs follow the LP's hourly storage schedule and
    heat plan where the batteries and heat supplies can (:func:`follow`); ``False``: the rule
    controller and the heat supplies' merit order dispatch them."""
    out = Path(out_dir)
    acct = acct or Accounting()
    start = time.perf_counter()
    stats: dict[str, float] = {"made": 0, "reused": 0, "run_s": 0.0}
    first, last = years or (acceptance_year, acceptance_year)
    base = scenario.with_days(days) if days else scenario
    variants = weathers(scenario, max(weather_years, 1), tuple(weather_files))
    baselines = [apply(scenario, None, {}, f"pathway-baseline{w}", days, fields)[0]
                 for w, fields in variants]
    results = [cached_run(s, out, stats) for s in baselines]
    ps = [from_run(r) for r in results]
    profiles = ps[0]
    base_judged = [judge(r, acct) for r in results]
    road = Pathway(scenario, profiles, _worst(base_judged), results[0], acceptance_year,
                   acct=acct, weather=ps, timing=stats)
    if base.period.start.year != acceptance_year:
        road.notes.append(f"the scenario's weather year is {base.period.start.year}: every "
                          "year of the road is co-simulated on that weather")
    if len(variants) > 1:
        files = "".join(f", weather file {Path(f).name}" for f in weather_files)
        road.notes.append(f"{len(variants)} weather years (park seeds {scenario.park.seed}-"
                          f"{scenario.park.seed + max(weather_years, 1) - 1}{files}): the LP's "
                          "criteria hold in every one (for fewer than ten years, P90 is the "
                          "worst year) and each proving run is made in each; the worst is shown")
    if follow_lp and scenario.controller.kind == "rule":
        road.notes.append("the acceptance rounds' runs follow the LP's hourly plan where they "
                          "can: the storage its schedule, taking each step's deviation from "
                          "the hour's planned grid exchange; the heat pumps, electric boilers "
                          "and heat store theirs (--no-follow-lp: the rule and the heat "
                          "supplies' merit order)")
    thresholds = lp.targets(profiles, acct)
    required = acct.active

    def prove_runs(portfolio: dict[str, float], name: str, sol: lp.Solution | None = None
                   ) -> tuple[dict[str, float], dict[str, float], Path]:
        # the run's scenario holds the GECs bought; the contracts are settled on its import
        contracts = {k: portfolio[k] for k in CONTRACTS if portfolio.get(k, 0.0) > 0}
        judged, path = [], None
        for k, (w, fields) in enumerate(variants):
            built, applied = apply(scenario, profiles, portfolio, f"{name}{w}", days, fields,
                                   certificates_mwh=portfolio.get("gec", 0.0))
            if sol is not None and follow_lp:
                built = follow(built, sol, k)
            result = cached_run(built, out, stats)
            judged.append(judge(result, acct, contracts) if contracts else judge(result, acct))
            path = path or result
        assert path is not None
        return _worst(judged), applied, path

    tighten: dict[str, float] = {}
    for i in range(max(rounds, 1)):
        sol = lp.solve(ps, tighten, acct=acct)
        proven, applied, path = prove_runs(sol.portfolio, f"pathway-round{i + 1}", sol)
        missed = misses(proven, thresholds, required)
        claimed = [c for c in missed if sol.relaxation.get(c, 0.0) <= 1e-6]
        bought = {k: sol.cost[k] * profiles.year_share for k in BOUGHT}
        contracts = {k: sol.portfolio[k] for k in CONTRACTS if sol.portfolio[k] > 0}
        road.rounds.append(Round(sol, applied, proven, missed, path, dict(tighten),
                                 run_costs(path, results[0], profiles, bought),
                                 lp_costs(sol, measures(profiles), applied),
                                 totals(path, acct, contracts)))
        log.info("round %d: LP %s, co-simulation %s, missed %s", i + 1, sol.criteria, proven,
                 missed)
        if not missed or sol.status != "optimal" or not claimed:
            break
        for c in claimed:
            tighten[c] = tighten.get(c, 0.0) + TIGHTEN_FACTOR * missed[c]
    # the build-up years: the part of the acceptance portfolio that pays for itself without
    # the criteria, kept from year to year
    accepted = {k: v for k, v in road.final.solution.portfolio.items() if k in CAPACITY}
    built: dict[str, float] = {}
    stages: list[tuple[int, str, dict[str, float]]] = []
    for y in range(first + 1, acceptance_year):
        sol = lp.solve(ps, criteria=False, floor=built, cap=accepted, acct=acct)
        built = {k: sol.portfolio[k] for k in CAPACITY if sol.portfolio[k] > 1e-9}
        stages.append((y, "build-up", dict(built)))
    final = road.final.solution.portfolio
    road.waterfall = waterfall(ps, final, acct,
                               road.final.solution.criteria.get("core_carbon_intensity"))
    _years(road, scenario, ps, first, last, stages, prove_runs)
    road.timing = {**stats, "total_s": time.perf_counter() - start}
    return road


def follow(s: Scenario, sol: lp.Solution, w: int) -> Scenario:
    """Scenario ``s`` with the rule controller following weather year ``w``'s hourly storage
    schedule of answer ``sol`` (charge less discharge, MWh per hour = MW; with the hour's
    planned net export, so that the storage takes the steps' deviations from the hour's plan
    where it can), clipped to the batteries' limits, and its heat supplies the answer's hourly heat plan (the heat pumps'
    heat, the electric boilers' power, the heat store's net charge) where they can;
    unchanged where an EMS dispatches or the answer has no hours."""
    if s.controller.kind != "rule" or w >= len(sol.hourly):
        return s
    h = sol.hourly[w]

    def hours(x) -> tuple[float, ...]:  # noqa: ANN001
        return tuple(round(float(v), 6) for v in x)

    pumps = sum((h[k] for k in ("qhp", "qa", "qw") if k in h), np.zeros(len(h["ch"])))
    store = h["tc"] - h["td"] if "tc" in h else ()
    return dataclasses.replace(s, controller=dataclasses.replace(
        s.controller, storage_schedule_mw=hours(h["ch"] - h["dis"]),
        grid_schedule_mw=hours(h["exp"] - h["imp"]),
        eboiler_schedule_mw=hours(h.get("peb", ())), heat_pump_schedule_mw=hours(pumps),
        heat_store_schedule_mw=hours(store)))


def _years(road: Pathway, scenario: Scenario, ps: list[Profiles], first: int, last: int,
           stages: list[tuple[int, str, dict[str, float]]], prove_runs) -> None:  # noqa: ANN001
    """Fill ``road.years``: each year co-simulated with what is built by then."""
    acct, acc = road.acct, road.acceptance_year
    thresholds = lp.targets(road.profiles, acct)
    required = acct.active
    prev: dict[str, float] = {}
    final = {k: v for k, v in road.final.solution.portfolio.items() if v > 1e-9}
    if first < acc:
        road.years.append(Year(first, "baseline", {}, road.baseline,
                               misses(road.baseline, thresholds, required),
                               *year_costs(ps, {}, {}, acct), road.baseline_path))
    for y, stage, port in stages:
        proven, _, path = prove_runs(port, f"pathway-{y}")
        road.years.append(Year(y, stage, port, proven, misses(proven, thresholds, required),
                               *year_costs(ps, port, prev, acct), path))
        prev = port
    road.years.append(Year(acc, "acceptance", final, road.final.proven, road.final.missed,
                           *year_costs(ps, final, prev, acct), road.final.run_path))
    # every year is co-simulated on the same weather: after acceptance the LP (the same rows,
    # what is built as its floor) answers the acceptance portfolio again, so it is not solved
    # again (a year's criteria LP) and its run stands
    for y in range(acc + 1, last + 1):
        note = f"{y}: the acceptance portfolio again on the same weather: its run stands"
        if note not in road.notes:
            road.notes.append(note)
        road.years.append(Year(y, "after", dict(final), road.final.proven, road.final.missed,
                               *year_costs(ps, final, final, acct), road.final.run_path))

__all__ = ["Pathway", "Round", "Year", "from_run", "judge", "misses", "pathway", "waterfall",
           "year_costs"]
