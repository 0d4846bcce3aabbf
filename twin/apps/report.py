"""Self-contained HTML reports of runs: one file, inline SVG charts, no scripts, no CDN.

``run_report(path)`` is the committee report of one run (:mod:`twin.apps.committee`: first page,
monthly details, method page, then criteria, grid and every key figure);
``compare_report(paths)`` sets several runs of one period side by side and appraises them
against the first. Every figure comes from the run's HDF5 file (series and KPIs) through
:mod:`twin.core.results`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from twin.accounting.appraisal import CashFlows
from twin.accounting.assessment import Assessment, assess
from twin.accounting.economics import tariff_note
from twin.apps import committee
from twin.core import plots
from twin.core.html import esc as _esc
from twin.core.html import page, table
from twin.core.numbers import fmt
from twin.core.results import KPI, Run, open_run


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
    """Every KPI of the run by its meaning and unit (the HDF5 key in small print)."""
    rows = [(k.description[:1].upper() + k.description[1:], fmt(k.value), k.unit,
             f'<span class="muted">{_esc(name)}</span>') for name, k in run.kpis().items()]
    return ("<h2>All key figures 全部指标</h2>"
            + table(("figure", "value", "unit", "key in the run file"), rows, (1,)))


def section_grid(run: Run, a: Assessment) -> str:
    """Network extremes per month and the violations table."""
    grid = [e for e in run.entities("pcc") if run.has(e, "vm_min_pu")]
    if not grid:
        return ""
    g = grid[0]
    idx, labels = committee.step_months(run, a)

    def monthly(attr: str, fn: Callable[..., float]) -> np.ndarray:
        v = run.series(g, attr)[: idx.size]
        with np.errstate(invalid="ignore"):
            return np.array([fn(v[idx == m]) if np.isfinite(v[idx == m]).any() else np.nan
                             for m in range(len(labels))])

    volt = plots.bars(labels, {"lowest voltage": monthly("vm_min_pu", np.nanmin),
                               "highest voltage": monthly("vm_max_pu", np.nanmax)},
                      "p.u.", "母线电压极值 Bus voltage extremes per month (band 0.95–1.05)",
                      colours={"lowest voltage": "#2b8cbe", "highest voltage": "#d7191c"})
    load = plots.bars(labels, {"lines": monthly("line_loading_max_pct", np.nanmax),
                               "transformers": monthly("trafo_loading_max_pct", np.nanmax)},
                      "%", "最高负载率 Highest loading per month (limit 100 %)",
                      colours={"lines": "#1b9e77", "transformers": "#7570b3"})
    rows = [(v["kind"], v["element"], fmt(v["first_time_s"] / 3600.0), int(v["steps"]),
             fmt(v["worst"])) for v in run.table("grid/violations")[:30]]
    tab = (table(("kind", "element", "first (h from start)", "steps", "worst"), rows,
                 (2, 3, 4)) if rows else
           '<p class="ok">No overloads, voltages within 0.95–1.05 p.u., every power flow '
           "converged.</p>")
    return "<h2>Grid 电网</h2>" + volt + load + tab


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
    labels = committee.month_labels(a)
    line = plots.bars(labels, {
        "wind consumed": committee.monthly(a, dl.consumed_mwh),
        "export of wind": committee.monthly(a, dl.exported_mwh)},
        "MWh", f"Direct-line wind per month: {dl.share:.1%} consumed in the park",
        colours={"wind consumed": "#2b8cbe", "export of wind": "#1a9641"})
    cost = a.cost
    econ = table(("economics", "value", "unit"), [
        *((f"grid energy, {period}", fmt(cost.by_period_cny.get(period, 0.0)), "CNY")
          for period in cost.by_period_cny),
        (f"demand charge ({a.tariff.demand_window_min}-minute maximum demand)",
         fmt(cost.demand_cny), "CNY"),
        ("绿电直连 fee", fmt(cost.direct_line_fee_cny), "CNY"),
        ("export revenue", fmt(cost.export_revenue_cny), "CNY"),
        ("energy cost, total", fmt(cost.total_cny), "CNY"),
        ("investment (capex), every asset" + (" — illustrative" if any(
            i.illustrative for i in a.investments) else ""), fmt(a.capex_cny), "CNY"),
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
    section_header, section_carbon, section_grid, section_kpis,
)


def run_report(path: str | Path, assessment: Assessment | None = None) -> str:
    """The committee report of one run (``assessment``: the run's, if already made): a first
    page with the verdict, gaps, cost and payback; details by month; a method page."""
    return run_report_and_summary(path, assessment)[0]


def run_report_and_summary(path: str | Path, assessment: Assessment | None = None,
                           studies: Sequence[str] = (),
                           years: Mapping[int, Assessment] | None = None) -> tuple[str, str]:
    """The committee report of one run and its first page as text (for the terminal);
    ``studies``: grid studies added as sections (:mod:`twin.studies.grid.sections`);
    ``years``: co-simulated later appraisal years (:mod:`twin.apps.appraise`) whose bills
    the cash flows take instead of this run's hours degraded arithmetically."""
    grid = []
    if studies:
        from twin.studies.grid.sections import report_sections

        grid = [f"<h2>{_esc(h)}</h2>{body}" for h, body in report_sections(str(path),
                                                                                studies)]
    with open_run(path) as run:
        a = assessment if assessment is not None else assess(run)
        cf = a.appraise(years=years)
        first = committee.first_page(run, a, cf, period_text(run))
        details = committee.details(run, a, cf)
        rest = [section(run, a) for section in SECTIONS]
        text = page(f"{run.meta.get('park', 'park')} — run report",
                    [f"<style>{committee.PRINT_CSS}</style>", first, details,
                     '<section class="page">', *rest, *grid, "</section>",
                     committee.method_page(a, cf)])
        return text, committee.summary(a, cf, period_text(run))


def period(run: Run) -> tuple[str, float]:
    """The run's first local day (YYYY-MM-DD) and its length in days."""
    m = run.meta
    days = len(run.time_s) * run.step_s / 86400
    try:
        start = dt.datetime.fromisoformat(m.get("start", "")).astimezone(
            ZoneInfo(m.get("timezone", "UTC")))
        return f"{start:%Y-%m-%d}", days
    except ValueError:
        return "?", days


def period_text(run: Run) -> str:
    """``2027-01-01 + 365 days`` (the run's period, in words)."""
    start, days = period(run)
    return f"{start} + {days:g} days"


def check_periods(runs: Sequence[Run], names: Sequence[str], annualise: bool) -> str:
    """Refuse runs of different periods unless ``annualise``; return the note to print.

    Periods differ when the lengths differ, or, for runs shorter than a year, when they start
    on different calendar days (a January month is not a July month).
    """
    periods = [period(r) for r in runs]
    start0, days0 = periods[0]

    def same(p: tuple[str, float]) -> bool:
        return abs(p[1] - days0) < 1e-6 and (days0 >= 365 or p[0][5:] == start0[5:])

    if all(same(p) for p in periods):
        return ""
    listed = "; ".join(f"{n}: {period_text(r)}" for n, r in zip(names, runs, strict=True))
    if not annualise:
        raise ValueError(f"compare: the runs cover different periods ({listed}); compare runs "
                         "of the same period, or pass --annualise to scale each to a year")
    return (f"The runs cover different periods ({listed}): each run's energy bill is scaled "
            "to a year (--annualise), the monthly demand charge by the months it covers; "
            "seasons differ, so the comparison is indicative only.")


def appraisal(runs: Sequence[Run]) -> list[CashFlows]:
    """Each run after the first against the first (the baseline): the year-by-year cash flows
    of its extra investment and its energy saving over the baseline's appraisal period."""
    return appraised(runs)[1]


def appraised(runs: Sequence[Run]) -> tuple[list[Assessment], list[CashFlows]]:
    """Each run's assessment, and :func:`appraisal`'s cash flows."""
    judged = [assess(r) for r in runs]
    return judged, [a.appraise(judged[0]) for a in judged[1:]]


def compare_report(paths: Sequence[str | Path], annualise: bool = False) -> str:
    """Several runs side by side: their periods, KPIs in one table, energy and the appraisal
    against the first; runs of different periods only with ``annualise`` (and it says so)."""
    return compare_report_and_summary(paths, annualise)[0]


def compare_report_and_summary(paths: Sequence[str | Path],
                               annualise: bool = False) -> tuple[str, str]:
    """The comparison report and its appraisal as text (for the terminal)."""
    runs = [open_run(p) for p in paths]
    try:
        names = run_names(paths)
        note = check_periods(runs, names, annualise)
        kpis: list[dict[str, KPI]] = [r.kpis() for r in runs]
        keys = list(dict.fromkeys(k for ks in kpis for k in ks))
        rows = []
        for key in keys:
            first = next(k[key] for k in kpis if key in k)
            rows.append([first.description[:1].upper() + first.description[1:], first.unit,
                         *[fmt(k[key].value) if key in k else "—" for k in kpis],
                         f'<span class="muted">{_esc(key)}</span>'])
        head = f"<h1>Comparison of {len(runs)} runs</h1><p>" + ", ".join(
            f"<b>{_esc(n)}</b>: <code>{_esc(r.meta.get('scenario_path', ''))}</code>, "
            f"{_esc(period_text(r))}" for n, r in zip(names, runs, strict=True)) + "</p>"
        if note:
            head += f'<p class="bad">{_esc(note)}</p>'
        tab = "<h2>Key figures</h2>" + table(("figure", "unit", *names, "key in the run file"),
                                             rows, range(2, 2 + len(runs)))
        totals = {}
        for key in ("e_import_mwh", "e_export_mwh", "e_wind_mwh", "e_pv_mwh"):
            totals[key.removeprefix("e_").removesuffix("_mwh")] = [
                k[key].value if key in k else 0.0 for k in kpis]
        chart = "<h2>Energy</h2>" + plots.bars(names, totals, "MWh", "Energy over each run")
        judged, flows = appraised(runs)
        tariffs = "; ".join(dict.fromkeys(tariff_note(a.tariff.name) for a in judged))
        lines = [f"against {names[0]}" + (" (each run scaled to a year: --annualise)"
                                          if note else "") + ":"]
        lines += [f"  {n}: extra capex {c.capex[0] / 1e6:,.1f} M CNY, saving in year 1 "
                  f"{c.energy[1] / 1e6:,.1f} M CNY, NPV {c.npv_cny / 1e6:,.1f} M CNY, IRR "
                  f"{_pct(c.irr)}, payback {committee.years_text(c.payback_years)} yr"
                  for n, c in zip(names[1:], flows, strict=True)]
        lines.append(tariffs)
        return (page("Comparison of runs", [head, tab, chart,
                                            _appraisal(names, flows, note, tariffs)]),
                "\n".join(lines))
    finally:
        for r in runs:
            r.close()


def _appraisal(names: Sequence[str], flows: Sequence[CashFlows], note: str,
               tariffs: str) -> str:
    rows = [(n, fmt(c.capex[0]), fmt(c.energy[1]), fmt(c.npv_cny), _pct(c.irr),
             fmt(c.payback_years), fmt(c.discounted_payback_years))
            for n, c in zip(names[1:], flows, strict=True)]
    f = flows[0].finance if flows else None
    how = (f"discounted at {f.rate:.1%} over {f.years} years, tax {f.tax_rate:.0%}, "
           f"{f.debt_share:.0%} debt at {f.debt_rate:.2%} over {f.debt_years} years; "
           if f else "")
    return (f"<h2>Appraisal against {_esc(names[0])}</h2><p class=\"note\">Year-by-year cash "
            f"flows of the extra investment (replacements and residual value included) and the "
            f"energy saving, PV and storage degrading; {how}costs from twin/data/costs.yaml "
            f"(illustrative); {_esc(tariffs)}. "
            + (_esc(note) if note else "Runs of the same period: no scaling between them.")
            + "</p>"
            + table(("run", "extra capex (CNY)", "saving, year 1 (CNY)", "NPV (CNY)", "IRR",
                     "payback (yr)", "discounted payback (yr)"), rows, (1, 2, 3, 4, 5, 6)))


def _pct(x: float) -> str:
    return "—" if x != x else f"{x:.1%}"


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
