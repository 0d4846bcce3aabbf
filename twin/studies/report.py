"""The study report: one self-contained HTML file (inline SVG, no scripts) from a study table.

It answers the planner's question: the cheapest configuration that meets every national
criterion the twin judges (or, said plainly, that none does and which comes closest), the
Pareto fronts of cost against the clean-energy share and against the core indicator, and how
the answer spreads across weather years. Every figure comes from the table
(:func:`twin.studies.sweep.read_table`) and its metadata (:func:`twin.studies.sweep.read_meta`).
"""

from __future__ import annotations

import datetime as dt
import html
from pathlib import Path
from typing import Any

import pandas as pd

from twin.core import plots
from twin.core.html import page, table
from twin.core.numbers import fmt
from twin.studies.analysis import Answer, answer, by_year, config_columns, configurations, pareto
from twin.studies.analysis import spread as year_spread
from twin.studies.spec import CLEAN, CORE, COST, OK

MCNY = 1e6
CAPACITY_COLUMNS = (("wind_mw", "wind MW"), ("pv_mwp", "PV MWp"), ("storage_mw", "storage MW"),
                    ("storage_mwh", "storage MWh"))


def _esc(value: object) -> str:
    return html.escape(str(value))


def _m(value: float) -> str:
    return fmt(value / MCNY)


def _span(ok: bool, yes: str = "met", no: str = "not met") -> str:
    return f'<span class="ok">{yes}</span>' if ok else f'<span class="bad">{no}</span>'


def study_report(df: pd.DataFrame, meta: dict[str, Any]) -> str:
    """The HTML report of a study table."""
    configs = configurations(df, meta)
    a = answer(configs)
    sections = [_header(df, meta), _answer(df, meta, a), _fronts(configs, a),
                _years(df, meta, a), _configurations(configs), _failures(df, meta)]
    return page(f"{meta['name']} — study report", sections)


def write(df: pd.DataFrame, meta: dict[str, Any], out: str | Path) -> Path:
    """Write the study report to ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(study_report(df, meta), encoding="utf-8")
    return out


def _header(df: pd.DataFrame, meta: dict[str, Any]) -> str:
    counts = df["status"].value_counts().to_dict() if len(df) else {}
    days = meta.get("days") or meta.get("base_days")
    season = ("" if days is None or days >= 365 else
              f' <span class="bad">Each run covers {days:g} days: costs and annual criteria '
              "are scaled to a year, and a season is not a year.</span>")
    params = ", ".join(f"<code>{_esc(p)}</code>" for p in meta["parameters"])
    return (f"<h1>Study {_esc(meta['name'])}</h1><p>{_esc(meta.get('description', ''))}</p>"
            f"<p>Base scenario <code>{_esc(meta['base'])}</code>; parameters {params}; "
            f"{len(df)} cases: {counts.get(OK, 0)} ran, {counts.get('invalid', 0)} invalid, "
            f"{counts.get('failed', 0)} failed.{season}</p>"
            f"<p class=\"note\">Cost: {_esc(meta['cost'])} (CNY/yr, shown in M CNY/yr; "
            f"unit costs illustrative in twin/data/costs.yaml; {_esc(meta.get('tariff', ''))}). "
            "Criteria required: " + ", ".join(meta["criteria"]) + " (the national criteria the "
            "twin computes from energy flows; a configuration passes when it meets all of them "
            f"in every weather year). Report written {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} "
            "UTC.</p>")


def _capacities(row: pd.Series) -> str:
    return ", ".join(f"{label} {fmt(row[c])}" for c, label in CAPACITY_COLUMNS
                     if c in row and row[c] == row[c])


def _answer(df: pd.DataFrame, meta: dict[str, Any], a: Answer) -> str:
    out = ["<h2>The answer</h2>"]
    if a.config is None:
        return out[0] + '<p class="bad">No case ran: there is no answer (see the failures).</p>'
    c = a.config
    if a.passes:
        out.append(f'<p class="ok">Cheapest configuration that meets every criterion in every '
                   f"weather year ({a.n_passing} of {_n_configs(df, meta)} do):</p>")
    else:
        out.append('<p class="bad">No configuration in this study meets every criterion in '
                   "every weather year. The closest one (smallest total shortfall, each miss "
                   "relative to its threshold, worst year) is:</p>")
    out.append(f"<p><b>{_esc(c['label'])}</b> — {_capacities(c)}; cost {_m(c[COST])} M CNY/yr "
               f"(mean over {int(c['years'])} weather year(s), {_m(c['cost_min'])}–"
               f"{_m(c['cost_max'])}).</p>")
    cases = year_spread(df, meta, c)
    rows = []
    for key in meta["criteria"]:
        col = f"criterion_{key}"
        if col not in cases:
            continue
        met = _truth(cases.get(f"met_{key}", pd.Series(dtype=object)), False)
        thr = cases.get(f"threshold_{key}", pd.Series([float("nan")]))
        rows.append((key, fmt(cases[col].min()), fmt(cases[col].max()),
                     fmt(float(thr.iloc[0])) if len(thr) else "—",
                     _span(bool(met.all()), f"met in {int(met.sum())}/{len(met)}",
                           f"met in {int(met.sum())}/{len(met)}")))
    out.append(table(("criterion", "lowest", "highest", "threshold", "status"), rows,
                     (1, 2, 3)))
    out.append(_inputs(cases, meta))
    return "".join(out)


def _inputs(cases: pd.DataFrame, meta: dict[str, Any]) -> str:
    """The criteria the scenario gives as inputs and which no capacity changes."""
    missed = [c.removeprefix("met_") for c in cases.columns if c.startswith("met_")
              and c.removeprefix("met_") not in meta["criteria"]
              and f"criterion_{c.removeprefix('met_')}" not in cases
              and not _truth(cases[c], True).all()]
    if not missed:
        return ""
    return ('<p class="note">Criteria the scenario gives as inputs (not from energy flows, not '
            "changed by this study) that are not met: " + ", ".join(missed) + ".</p>")


def _truth(values: pd.Series, missing: bool) -> pd.Series:
    """Booleans of a column of True, False and missing values."""
    return values.map(lambda v: missing if v is None or v != v else bool(v)).astype(bool)


def _n_configs(df: pd.DataFrame, meta: dict[str, Any]) -> int:
    return len(configurations(df, meta))


def _fronts(configs: pd.DataFrame, a: Answer) -> str:
    if configs.empty:
        return ""
    out = ["<h2>Pareto fronts</h2><p class=\"note\">Each point is a configuration (mean cost "
           "over the weather years; worst-year clean share and core indicator). On the front no "
           "other configuration is both cheaper and better.</p>"]
    x = configs[COST] / MCNY
    for key, name, maximise, thr in (
            (CLEAN, "clean-energy share", True, "threshold_clean_energy_share"),
            (CORE, "core indicator (tCO2/tce)", False, "threshold_core_carbon_intensity")):
        front = pareto(configs, COST, key, maximise)
        limit = _threshold(configs, thr)
        out.append(plots.scatter(
            {"configurations": (x, configs[key]), "Pareto front": (front[COST] / MCNY,
                                                                     front[key])},
            "cost (M CNY/yr)", name, f"Cost against {name}", connect=("Pareto front",),
            hlines={"threshold": limit} if limit is not None else None,
            marks=({"the answer": (a.config[COST] / MCNY, a.config[key])}
                   if a.config is not None else None)))
        out.append(f"<h3>Front: cost against {name}</h3>" + table(
            ("configuration", "cost M CNY/yr", name, "passes"),
            [(r["label"], _m(r[COST]), fmt(r[key]), _span(bool(r["passes"]), "yes", "no"))
             for _, r in front.iterrows()], (1, 2)))
    return "".join(out)


def _threshold(configs: pd.DataFrame, column: str) -> float | None:
    values = configs[column].dropna() if column in configs else ()
    return float(values.iloc[0]) if len(values) else None


def _years(df: pd.DataFrame, meta: dict[str, Any], a: Answer) -> str:
    out = ["<h2>Weather years</h2>"]
    ok = df[df["status"] == OK]
    seeds = sorted(ok["seed"].dropna().unique()) if len(ok) else []
    if len(seeds) < 2:
        return (out[0] + f"<p>One weather year only (seed {seeds[0] if seeds else '—'}): vary "
                "<code>park.seed</code> to see how the answer spreads.</p>")
    per = by_year(df, meta)
    cols = config_columns(meta)
    out.append(f"<p>{len(seeds)} weather years (seeds {', '.join(str(int(s)) for s in seeds)})."
               " The answer if each year were the only one:</p>")
    out.append(table(("seed", "configuration", "passes", "cost M CNY/yr", "clean share",
                      "core tCO2/tce"),
                     [(int(r["seed"]), r["configuration"], _span(bool(r["passes"]), "yes", "no"),
                       _m(r[COST]), fmt(r[CLEAN]), fmt(r[CORE])) for _, r in per.iterrows()],
                     (3, 4, 5)))
    distinct = per["configuration"].nunique() if len(per) else 0
    out.append(f"<p>{distinct} different answer(s) over {len(per)} years"
               + ("; parameters of the answers: "
                  + "; ".join(f"{c} {_range(per[c])}" for c in cols) if cols else "") + ".</p>")
    if a.config is not None:
        cases = year_spread(df, meta, a.config)
        out.append(f"<h3>The answer ({_esc(a.config['label'])}) year by year</h3>" + table(
            ("seed", "cost M CNY/yr", "clean share", "core tCO2/tce", "all criteria"),
            [(int(r["seed"]), _m(r[COST]), fmt(r[CLEAN]), fmt(r[CORE]),
              _span(bool(r["criteria_met"]), "met", "not met")) for _, r in cases.iterrows()],
            (1, 2, 3)))
        if len(cases) > 1:
            out.append(plots.bars([str(int(s)) for s in cases["seed"]],
                                  {"clean share": list(cases[CLEAN])}, "share",
                                  "Clean-energy share of the answer by weather year (seed)"))
    return "".join(out)


def _range(values: pd.Series) -> str:
    lo, hi = values.min(), values.max()
    return f"{lo}" if lo == hi else f"{lo}–{hi}"


def _configurations(configs: pd.DataFrame, limit: int = 60) -> str:
    if configs.empty:
        return ""
    rows = [(r["label"], _capacities(r), _m(r[COST]), fmt(r[CLEAN]), fmt(r[CORE]),
             f"{r['pass_share']:.0%}") for _, r in configs.head(limit).iterrows()]
    more = (f'<p class="note">The {limit} cheapest of {len(configs)} shown; the table has them '
            "all.</p>" if len(configs) > limit else "")
    return ("<h2>Configurations by cost</h2>" + table(
        ("configuration", "capacities", "cost M CNY/yr", "clean share (worst year)",
         "core tCO2/tce (worst year)", "years passing"), rows, (2, 3, 4, 5)) + more)


def _failures(df: pd.DataFrame, meta: dict[str, Any]) -> str:
    bad = df[df["status"] != OK]
    if bad.empty:
        return "<h2>Failed cases</h2><p class=\"ok\">None: every case ran.</p>"
    rows = [(r["case_id"], r["status"], ", ".join(f"{p}={r[p]}" for p in meta["parameters"]),
             r["error"]) for _, r in bad.iterrows()]
    return ("<h2>Failed cases</h2><p>Reported here and in the table; they did not stop the "
            "study.</p>" + table(("case", "status", "parameters", "error"), rows))
