"""Proof by co-simulation: the LP's portfolio built into the scenario, run through
:func:`twin.runner.run`, judged from that run's KPIs; where the run misses a criterion the LP
claimed, that criterion is tightened by the miss and the LP solved again."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path

from twin import runner
from twin.scenario import Scenario
from twin.studies.pathway import lp
from twin.studies.pathway.measures import apply
from twin.studies.pathway.profiles import Profiles, from_run

log = logging.getLogger(__name__)
LOWER_IS_BETTER = {"core_carbon_intensity"}
TOLERANCE = 1e-4  # a miss smaller than this is rounding


@dataclass
class Round:
    """One solve and its proving run."""

    solution: lp.Solution
    applied: dict[str, float]
    proven: dict[str, float]  # the run's criteria
    missed: dict[str, float]  # criterion -> how far the run fell short of the threshold
    run_path: Path | None = None
    tighten: dict[str, float] = field(default_factory=dict)  # what this round's LP was asked


@dataclass
class Pathway:
    """The road: base profiles, the baseline run's criteria, the rounds, the waterfall."""

    scenario: Scenario
    profiles: Profiles
    baseline: dict[str, float]
    baseline_path: Path
    acceptance_year: int
    rounds: list[Round] = field(default_factory=list)
    waterfall: list[tuple[str, float]] = field(default_factory=list)  # (step, core after it)
    notes: list[str] = field(default_factory=list)

    @property
    def final(self) -> Round:
        """The last round."""
        return self.rounds[-1]

    @property
    def proven(self) -> bool:
        """Whether the last round's run meets every criterion."""
        return bool(self.rounds) and not self.final.missed


def judge(result: runner.RunResult) -> dict[str, float]:
    """The computed criteria of a run, from its KPIs (``criterion_*``)."""
    return {c: float(result.kpis[f"criterion_{c}"].value) for c in lp.CRITERIA
            if f"criterion_{c}" in result.kpis}


def misses(proven: dict[str, float], thresholds: dict[str, float]) -> dict[str, float]:
    """How far the run falls short of each national threshold (only the misses)."""
    out = {}
    for c, value in proven.items():
        t = thresholds[c]
        gap = value - t if c in LOWER_IS_BETTER else t - value
        if gap > TOLERANCE:
            out[c] = gap
    return out


def waterfall(p: Profiles, portfolio: dict[str, float]) -> list[tuple[str, float]]:
    """The LP's core indicator from the base (no measure) adding one measure at a time."""
    steps = [("baseline", lp.solve(p, fixed={}, criteria=False).criteria[
        "core_carbon_intensity"])]
    built: dict[str, float] = {}
    for key, amount in portfolio.items():
        if amount <= 1e-9:
            continue
        built[key] = amount
        steps.append((key, lp.solve(p, fixed=dict(built), criteria=False).criteria[
            "core_carbon_intensity"]))
    return steps


def pathway(scenario: Scenario, out_dir: str | Path, days: float | None = None,
            rounds: int = 8, acceptance_year: int = 2027) -> Pathway:
    """Solve, build, co-simulate, tighten, up to ``rounds`` proving runs."""
    out = Path(out_dir)
    base = scenario.with_days(days) if days else scenario
    base_result = runner.run(_named(base, "pathway-baseline"), out)
    profiles = from_run(base_result.path)
    road = Pathway(scenario, profiles, judge(base_result), base_result.path, acceptance_year)
    if base.period.start.year != acceptance_year:
        road.notes.append(f"the scenario's weather year is {base.period.start.year}: the "
                          f"acceptance year {acceptance_year} is co-simulated on that weather")
    national = {"core_carbon_intensity": profiles.core_max,
                "clean_energy_share": profiles.clean_min,
                "direct_line_share": profiles.direct_min}
    tighten: dict[str, float] = {}
    for i in range(max(rounds, 1)):
        sol = lp.solve(profiles, tighten)
        built, applied = apply(scenario, profiles, sol.portfolio, f"pathway-round{i + 1}", days)
        result = runner.run(built, out)
        proven = judge(result)
        missed = misses(proven, national)
        claimed = [c for c in missed if c not in sol.relaxation or sol.relaxation[c] <= 1e-6]
        road.rounds.append(Round(sol, applied, proven, missed, result.path, dict(tighten)))
        log.info("round %d: LP %s, co-simulation %s, missed %s", i + 1, sol.criteria, proven,
                 missed)
        if not missed or sol.status != "optimal" or not claimed:
            break
        for c in claimed:
            tighten[c] = tighten.get(c, 0.0) + missed[c]
    road.waterfall = waterfall(profiles, road.final.solution.portfolio)
    return road


def _named(s: Scenario, name: str) -> Scenario:
    return dataclasses.replace(s, output=dataclasses.replace(s.output, name=name))


__all__ = ["Pathway", "Round", "from_run", "judge", "misses", "pathway", "waterfall"]
