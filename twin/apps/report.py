"""Self-contained HTML reports of runs: one file, inline SVG charts, no scripts, no CDN.

``run_report(path)`` describes one run; ``compare_report(paths)`` sets several side by side.
Every figure comes from the run's HDF5 file (series and KPIs) through :mod:`twin.core.results`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from twin.accounting import economics
from twin.accounting.assessment import Assessment, assess
from twin.accounting.economics import Comparison
from twin.core import plots
from twin.core.html import esc as _esc
from twin.core.html import page, table
from twin.core.kinds import LOADS
from twin.core.numbers import fmt
from twin.core.results import KPI, Run, open_run


def _daily(run: Run, entities: Sequence[str], attr: str = "p_mw") -> np.ndarray:
    """Daily energy (MWh) of the summed series of ``entities``."""
    n = len(run.time_s)
    per_day = round(86400 / run.step_s)  # steps per day (a sub-second step is a float)
    total = np.zeros(n)
    for e in entities:
        total += np.nan_to_num(run.series(e, attr))
    days = n // per_day
    return total[: days * per_day].reshape(days, per_day).sum(axis=1) * run.step_s / 3600.0


def section_header(run: Run, a: Assessment) -> str:
    """Title, scenario and provenance of the run."""
    m = run.meta
    start = m.get("start", "")
    try:
        local = dt.datetime.fromisoformat(start).astimezone(ZoneInfo(m.get("timezone", "UTC")))
        start = f"{local:%Y-%m-%d %H:%M} ({m.get('timezone', 'UTC')})"
    except ValueError:
        pass
    days = len(run.time_s) * run.step_s / 86400
    status = ('<span class="ok">complete</span>' if run.complete
              else '<span class="bad">incomplete (the run was interrupted)</span>')
    return (f"<h1>{_esc(m.get('park', 'park'))}</h1><p>Scenario <code>"
            f"{_esc(m.get('scenario_path', ''))}</code>, {days:.1f} days from {_esc(start)} "
            f"at {run.step_s} s steps, seed {_esc(m.get('seed', ''))}, twin "
            f"{_esc(m.get('version', ''))}; {status}. Report written "
            f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.</p>")


def section_kpis(run: Run, a: Assessment) -> str:
    """Every KPI of the run with its unit and meaning."""
    rows = [(name, fmt(k.value), k.unit, k.description) for name, k in run.kpis().items()]
    return "<h2>Key figures</h2>" + table(("KPI", "value", "unit", "meaning"), rows, (1,))


def section_energy(run: Run, a: Assessment) -> str:
    """Daily generation, load and exchange with the public grid."""
    series = {"load": _daily(run, [e for k in LOADS
                                   for e in run.entities(k)]),
              "wind": _daily(run, run.entities("wind")),
              "pv": _daily(run, run.entities("pv"))}
    pcc = run.entities("pcc")
    if pcc:
        series["import"] = _daily(run, pcc, "p_import_mw")
        series["export"] = _daily(run, pcc, "p_export_mw")
    x = np.arange(len(series["load"]))
    return ("<h2>Energy</h2>" + plots.lines(x, series, "MWh per day",
                                           "Daily energy of the park"))


def section_storage(run: Run, a: Assessment) -> str:
    """State of charge of each battery."""
    batteries = run.entities("battery")
    if not batteries:
        return ""
    x = run.time_s / 86400.0
    series = {f"storage {b}": run.series(b, "soc") for b in batteries}
    return ("<h2>Storage</h2>" + plots.lines(x, series, "state of charge",
                                            "State of charge of the batteries"))


def section_grid(run: Run, a: Assessment) -> str:
    """Network extremes per day and the violations table."""
    grid = [e for e in run.entities("pcc") if run.has(e, "vm_min_pu")]
    if not grid:
        return ""
    g = grid[0]
    per_day = round(86400 / run.step_s)  # steps per day (a sub-second step is a float)
    days = len(run.time_s) // per_day

    def daily(attr: str, fn: Callable[..., np.ndarray]) -> np.ndarray:
        v = run.series(g, attr)[: days * per_day].reshape(days, per_day)
        with np.errstate(invalid="ignore"):
            return fn(v, axis=1)

    x = np.arange(days)
    volt = plots.lines(x, {"lowest voltage": daily("vm_min_pu", np.nanmin),
                           "highest voltage": daily("vm_max_pu", np.nanmax)},
                       "p.u.", "Bus voltage extremes per day", hlines={"0.95": 0.95,
                                                                        "1.05": 1.05})
    load = plots.lines(x, {"lines": daily("line_loading_max_pct", np.nanmax),
                           "transformers": daily("trafo_loading_max_pct", np.nanmax)},
                       "%", "Highest loading per day", hlines={"100 %": 100.0})
    rows = [(v["kind"], v["element"], fmt(v["first_time_s"] / 3600.0), int(v["steps"]),
             fmt(v["worst"])) for v in run.table("grid/violations")[:30]]
    tab = (table(("kind", "element", "first (h from start)", "steps", "worst"), rows,
                 (2, 3, 4)) if rows else
           '<p class="ok">No overloads, voltages within 0.95–1.05 p.u., every power flow '
           "converged.</p>")
    return "<h2>Grid</h2>" + volt + load + tab


def _mark(met: bool | None) -> str:
    if met is None:
        return '<span class="muted">not given</span>'
    return '<span class="ok">met</span>' if met else '<span class="bad">not met</span>'


def section_carbon(run: Run, a: Assessment) -> str:
    """National zero-carbon park criteria, what drives the gap, green matching, costs."""
    rows = [(f"{c.name_zh} — {c.name_en}", fmt(c.value) if c.value is not None else "—",
             f"{c.comparison} {c.threshold:g}", c.unit, _mark(c.met),
             fmt(c.margin) if c.margin is not None else "—", c.source, c.note)
            for c in a.criteria]
    crit = ("<h2>National zero-carbon park criteria</h2><p class=\"note\">发改环资〔2025〕910号;"
            f" grid factor {a.factors.grid_t_per_mwh * 1000:.1f} kgCO2/MWh "
            f"({a.factors.region} {a.factors.year}); figures of a run shorter than a year are "
            "scaled where the criterion is annual (see notes). Input criteria come from the "
            "scenario, not from energy flows.</p>"
            + table(("indicator", "value", "threshold", "unit", "status", "margin", "source",
                     "note"), rows, (1, 5)))
    em = a.emissions
    by_entity = sorted(em.by_entity().items(),
                       key=lambda kv: -(kv[1]["scope1_t"] + kv[1]["scope2_location_t"]))[:12]
    drivers = plots.bars([e for e, _ in by_entity],
                         {"gas (scope 1)": [v["scope1_t"] for _, v in by_entity],
                          "import (scope 2, location)": [v["scope2_location_t"]
                                                         for _, v in by_entity]},
                         "tCO2", "What drives the gap: emissions by consumer", stacked=True)
    totals = table(("emissions", "t CO2"), [
        ("Scope 1 (gas)", fmt(em.scope1_total_t)),
        ("Scope 2 location-based", fmt(em.scope2_location_total_t)),
        ("Scope 2 market-based", fmt(em.scope2_market_total_t)),
        ("energy consumption (tce)", fmt(em.energy_total_tce))], (1,))
    cfe = plots.bars(list(a.cfe), {"CFE score": list(a.cfe.values())}, "share of load",
                     "Carbon-free energy: hourly (24/7) against monthly and annual matching")
    dl = a.direct
    per_day = 24
    days = len(dl.hour_s) // per_day
    line = plots.lines(np.arange(days), {
        "wind consumed": dl.consumed_mwh[: days * per_day].reshape(days, 24).sum(axis=1),
        "export of wind": dl.exported_mwh[: days * per_day].reshape(days, 24).sum(axis=1)},
        "MWh per day", f"Direct-line wind: {dl.share:.1%} consumed in the park")
    cost = a.cost
    econ = table(("economics", "value", "unit"), [
        *((f"grid energy, {period}", fmt(cost.by_period_cny.get(period, 0.0)), "CNY")
          for period in cost.by_period_cny),
        ("demand charge", fmt(cost.demand_cny), "CNY"),
        ("export revenue", fmt(cost.export_revenue_cny), "CNY"),
        ("energy cost, total", fmt(cost.total_cny), "CNY"),
        ("investment (capex)", fmt(a.capex_cny), "CNY"),
        ("operation (opex)", fmt(a.opex_cny_per_year), "CNY/yr")], (1,))
    products = ""
    if a.footprints:
        cbam = {x.product: x for x in a.cbam}
        prows = [(f.product, fmt(f.period_units), fmt(f.energy_mwh_per_unit * 1000),
                  fmt(f.total_location_kg_per_unit),
                  fmt(f.total_market_kg_per_unit),
                  fmt(cbam[f.product].cost_eur) if f.product in cbam else "not a CBAM good")
                 for f in a.footprints]
        products = "<h2>Products</h2>" + table(
            ("product", "units", "kWh/unit", "kgCO2/unit location", "kgCO2/unit market",
             "CBAM cost (EUR)"), prows, (1, 2, 3, 4))
    return (crit + "<h2>Emissions</h2>" + totals + drivers + "<h2>Green matching</h2>" + cfe
            + "<h3>绿电直连 (direct line)</h3>" + line
            + f"<p>Green certificates (GEC): {a.gec:,}.</p><h2>Costs</h2>" + econ
            + products)


SECTIONS: tuple[Callable[[Run, Assessment], str], ...] = (
    section_header, section_carbon, section_kpis, section_energy, section_storage,
    section_grid,
)


def run_report(path: str | Path, assessment: Assessment | None = None) -> str:
    """The HTML report of one run (``assessment``: the run's, if already made)."""
    with open_run(path) as run:
        a = assessment if assessment is not None else assess(run)
        return page(f"{run.meta.get('park', 'park')} — run report",
                    [section(run, a) for section in SECTIONS])


def compare_report(paths: Sequence[str | Path]) -> str:
    """Several runs side by side: their KPIs in one table and their daily energy."""
    runs = [open_run(p) for p in paths]
    try:
        names = run_names(paths)
        kpis: list[dict[str, KPI]] = [r.kpis() for r in runs]
        keys = list(dict.fromkeys(k for ks in kpis for k in ks))
        rows = []
        for key in keys:
            unit = next(k[key].unit for k in kpis if key in k)
            rows.append([key, unit, *[fmt(k[key].value) if key in k else "—" for k in kpis]])
        head = f"<h1>Comparison of {len(runs)} runs</h1><p>" + ", ".join(
            f"<b>{_esc(n)}</b>: <code>{_esc(r.meta.get('scenario_path', ''))}</code>"
            for n, r in zip(names, runs, strict=True)) + "</p>"
        tab = "<h2>Key figures</h2>" + table(("KPI", "unit", *names), rows,
                                             range(2, 2 + len(runs)))
        totals = {}
        for key in ("e_import_mwh", "e_export_mwh", "e_wind_mwh", "e_pv_mwh"):
            totals[key.removeprefix("e_").removesuffix("_mwh")] = [
                k[key].value if key in k else 0.0 for k in kpis]
        chart = "<h2>Energy</h2>" + plots.bars(names, totals, "MWh", "Energy over each run")
        return page("Comparison of runs", [head, tab, chart, _appraisal(names, runs)])
    finally:
        for r in runs:
            r.close()


def appraisal(runs: Sequence[Run]) -> list[Comparison]:
    """Each run after the first against the first (the baseline), per year of operation."""
    def annual(run: Run) -> dict[str, float]:
        k = run.kpis()
        years = len(run.time_s) * run.step_s / (365 * 86400)
        return {"capex_cny": k["capex_cny"].value, "opex_cny_per_year": k[
            "opex_cny_per_year"].value, "energy_cost_cny_per_year": k["energy_cost_cny"].value
            / years}

    econ = json.loads(runs[0].meta.get("economics", "{}") or "{}")
    rate = econ.get("discount_rate") or economics.default_discount_rate()
    years = int(econ.get("lifetime_years", 20))
    base = annual(runs[0])
    return [economics.compare_to_baseline(annual(r), base, rate, years) for r in runs[1:]]


def _appraisal(names: Sequence[str], runs: Sequence[Run]) -> str:
    rows = [(n, fmt(c.extra_capex_cny), fmt(c.annual_saving_cny), fmt(c.npv_cny),
             fmt(c.payback_years)) for n, c in zip(names[1:], appraisal(runs), strict=True)]
    return (f"<h2>Appraisal against {_esc(names[0])}</h2><p class=\"note\">Energy costs "
            "of each run scaled to a year; discounted over the baseline's lifetime.</p>"
            + table(("run", "extra capex (CNY)", "annual saving (CNY)", "NPV (CNY)",
                     "simple payback (yr)"), rows, (1, 2, 3, 4)))


def run_names(paths: Sequence[str | Path]) -> list[str]:
    """Short names of runs: file stems, or parent/stem where stems repeat."""
    stems = [Path(p).stem for p in paths]
    if len(set(stems)) == len(stems):
        return stems
    return [f"{Path(p).parent.name}/{Path(p).stem}" for p in paths]


def write(text: str, out: str | Path) -> Path:
    """Write a report to ``out`` and return its path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out
