"""A multi-year appraisal from co-simulated years: ``twin appraise``.

Each sampled appraisal year is co-simulated over the scenario's period with the assets as
they are in that year (:func:`degraded`): the PV plants' output down by the modules'
degradation (their DC losses raised), the batteries' capacity down by their fade, both
restored at a replacement (the lifetimes and yearly rates of ``twin/data/costs.yaml``). The
committee report then takes each sampled year's bill from its run and interpolates the years
between (:meth:`twin.accounting.assessment.Assessment.appraise`), saying which years were
simulated and which interpolated.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from twin import runner
from twin.accounting import economics
from twin.accounting.appraisal import degradation_factors
from twin.accounting.assessment import Assessment, assess
from twin.core.results import open_run
from twin.scenario import Scenario

DEGRADING = ("pv", "battery")  # the cost kinds whose degradation the runs carry


def left_in_year(kind: str, year: int) -> float:
    """Output (PV) or capacity (battery) left in appraisal year ``year`` (1 = new)."""
    c = economics.unit_costs()[kind]
    return float(degradation_factors(c.degradation_per_year, c.lifetime_years, year)[-1])


def default_years(period_years: int) -> list[int]:
    """Year 1, the last year, and the years either side of each replacement of a degrading
    asset within the period (its capacity jumps back there, which interpolation cannot see)."""
    out = {1, period_years}
    for kind in DEGRADING:
        life = economics.unit_costs()[kind].lifetime_years
        out.update(y for k in range(life, period_years, life) for y in (k, k + 1))
    return sorted(y for y in out if 1 <= y <= period_years)


def degraded(s: Scenario, year: int) -> Scenario:
    """The scenario with its PV plants and batteries as they are in appraisal year ``year``;
    its run files are named ``<name>-year<year>``."""
    pv, bat = left_in_year("pv", year), left_in_year("battery", year)
    stem = s.output.name or (s.path.stem if s.path.name != "<memory>" else "run")
    return dataclasses.replace(
        s,
        pv_plants=tuple(dataclasses.replace(
            p, losses_pct=100.0 * (1.0 - (1.0 - p.losses_pct / 100.0) * pv))
            for p in s.pv_plants),
        batteries=tuple(dataclasses.replace(b, e_max_mwh=b.e_max_mwh * bat)
                        for b in s.batteries),
        output=dataclasses.replace(s.output, name=f"{stem}-year{year}"))


def run_years(s: Scenario, years: Sequence[int], out_dir: str | Path | None = None,
              done: Callable[[int, Path], None] | None = None) -> dict[int, Path]:
    """Co-simulate the scenario's period once per sampled year; the run files by year
    (``done(year, path)`` after each)."""
    out = {}
    for y in sorted(set(years)):
        out[y] = runner.run(degraded(s, y), out_dir=out_dir).path
        if done is not None:
            done(y, out[y])
    return out


def judged(paths: Mapping[int, Path]) -> dict[int, Assessment]:
    """The assessment of each sampled year's run."""
    out = {}
    for y, p in paths.items():
        with open_run(p) as run:
            out[y] = assess(run)
    return out



def report(s: Scenario, years: Sequence[int], out_dir: str | Path | None = None,
           done: Callable[[int, Path], None] | None = None) -> tuple[str, str, dict[int, Path]]:
    """Co-simulate the sampled years (year 1 always) and write nothing: the committee report
    of year 1's run with the cash flows from every sampled year, its first page as text, and
    the run files by year."""
    from twin.apps.report import run_report_and_summary

    paths = run_years(s, sorted({1, *years}), out_dir, done)
    by_year = judged(paths)
    text, first = run_report_and_summary(paths[1], by_year[1],
                                         years={y: a for y, a in by_year.items() if y != 1})
    return text, first, paths
