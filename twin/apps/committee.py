"""The committee report of a run: a first page to decide on, details, a method page.

Bilingual (Chinese first, English beside it), printable to PDF by the browser (each part
starts a new A4 page), charts by month, one colour per asset. Every figure comes from the
run's HDF5 file through :func:`twin.accounting.assessment.assess`; every cost figure that
``twin/data`` labels illustrative is marked so.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from twin import data
from twin.accounting.appraisal import CashFlows
from twin.accounting.assessment import Assessment
from twin.accounting.carbon import Criterion
from twin.accounting.economics import gas_price_cny_per_nm3, hourly_prices, tariff_note
from twin.accounting.economics import monthly_peak_import_mw as monthly_peaks
from twin.core import plots
from twin.core.html import esc, table
from twin.core.numbers import fmt
from twin.core.results import Run

PRINT_CSS = """
.page{break-after:page;page-break-after:always}
.zh{font-family:'WenQuanYi Zen Hei','Noto Sans CJK SC','Microsoft YaHei',sans-serif}
.en{color:#555;font-size:.9em}
.banner{background:#fff4e5;border-left:4px solid #e66101;padding:.4em .8em;margin:.6em 0}
.money td{min-width:7em}.first h1{margin-top:0}.first{font-size:.86em}
.first h2{margin-top:1em}.first table{margin:.4em 0}
.verdict td{vertical-align:top}
@page{size:A4;margin:12mm}
@media print{body{margin:0;max-width:none;font-size:10pt}h2{margin-top:.8em}
svg{max-height:90mm}}
"""

# readable names of asset kinds (twin/data/costs.yaml keys)
KIND_NAMES = {
    "pv": ("屋顶光伏", "rooftop PV"), "wind": ("风电 (绿电直连)", "wind (direct line)"),
    "battery": ("储能", "battery storage"), "heat_pump": ("地源热泵", "geothermal heat pumps"),
    "gas_boiler": ("燃气锅炉", "gas boilers"), "ev_charger": ("直流充电桩", "DC chargers"),
    "ev_charger_ac": ("交流充电桩", "AC chargers"),
    "direct_line_220kv": ("220 kV 绿电直连线路", "220 kV direct lines"),
    "line_220kv": ("220 kV 并网线路", "220 kV line to the public grid"),
    "line_66kv": ("66 kV 电缆", "66 kV cables"), "line_10kv": ("10 kV 馈线", "10 kV feeders"),
    "substation_220kv": ("220/66 kV 变电站", "220/66 kV substation"),
    "substation_66kv": ("66/10 kV 变电站", "66/10 kV substations"),
}
ASSET_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02",
                 "#a6761d", "#666666", "#1f78b4", "#b2df8a")
MONTHS = "JFMAMJJASOND"


def bi(zh: str, en: str) -> str:
    """A bilingual label: Chinese, then English."""
    return f'<span class="zh">{esc(zh)}</span> <span class="en">{esc(en)}</span>'


def _verdict(c: Criterion) -> str:
    if c.met is None:
        return '<span class="muted">未提供 not given</span>'
    return ('<span class="ok">达标 met</span>' if c.met
            else '<span class="bad">未达标 not met</span>')


def closing(c: Criterion, a: Assessment) -> str:
    """What closes the gap of a criterion that is missed, in the park's own units per year."""
    if c.met is None:
        return "scenario input: give the park's figure (carbon.inputs)"
    if c.met:
        return "—"
    f, em, per_year = a.factors, a.emissions, 1.0 / a.years
    if c.key == "core_carbon_intensity":
        excess = (c.value - c.threshold) * em.energy_total_tce * per_year
        return (f"{excess:,.0f} tCO2/yr too many: about {excess / f.grid_t_per_mwh:,.0f} MWh/yr "
                f"less grid import (local wind or PV consumed, storage), or "
                f"{excess / f.gas_t_per_nm3 / 1e6:,.1f} M Nm³/yr less gas (heat pumps)")
    if c.key == "clean_energy_share":
        short = (c.threshold - c.value) * em.energy_total_tce * per_year / f.elec_tce_per_mwh
        return (f"about {short:,.0f} MWh/yr more clean electricity: local renewables "
                "consumed, or green certificates (GEC) retired")
    if c.key == "direct_line_share":
        need = (c.threshold - c.value) * a.direct.generation_mwh * per_year
        return (f"{need:,.0f} MWh/yr more direct-line wind consumed in the park instead of "
                "exported (storage, flexible loads), or less wind on the line")
    if c.key == "net_annual_balance":
        return f"{-c.value:,.0f} MWh/yr more renewable generation or certificates"
    return "raise the scenario input to the threshold (measures outside the energy model)"


def _value(c: Criterion) -> str:
    if c.value is None:
        return "—"
    return f"{c.value:.1%}" if c.unit == "1" and c.key != "product_energy_vs_grade2" else fmt(
        c.value)


def _threshold(c: Criterion) -> str:
    t = f"{c.threshold:.0%}" if c.unit == "1" and c.key != "product_energy_vs_grade2" else (
        f"{c.threshold:g}")
    return f"{c.comparison.replace('<=', '≤').replace('>=', '≥')} {t}"


def _gap(c: Criterion) -> str:
    if c.margin is None or c.met:
        return "—"
    return f"{-c.margin:.1%}" if c.unit == "1" and c.key != "product_energy_vs_grade2" else (
        f"{fmt(-c.margin)} {c.unit}")


def _illustrative_costs(a: Assessment) -> bool:
    return any(i.illustrative for i in a.investments) or "illustrative" in a.tariff.name


def first_page(run: Run, a: Assessment, cf: CashFlows, period: str) -> str:
    """The verdict per criterion, the gap and what closes it, cost and payback."""
    park = run.meta.get("park", "park")
    rows = [(bi(c.name_zh, c.name_en), _value(c), _threshold(c), _verdict(c), _gap(c),
             closing(c, a)) for c in a.criteria]
    met = sum(1 for c in a.criteria if c.met)
    missed = [c for c in a.criteria if c.met is False]
    headline = ("全部达标 — every criterion given is met" if not missed else
                f"{len(missed)} 项未达标 — {len(missed)} criteria not met: "
                + ", ".join(c.name_en for c in missed))
    short = a.years < 0.99
    warn = (f'<p class="banner">本报告基于 {a.years * 365:.0f} 天的运行，年度数字为折算值 — '
            f"this run covers {a.years * 365:.0f} days: yearly figures are scaled to a year "
            "(a season is not a year).</p>" if short else "")
    ill = ('<p class="banner">成本为示意值 — costs and the tariff are illustrative placeholders '
           "(twin/data/costs.yaml, tariff.yaml), not quotations.</p>"
           if _illustrative_costs(a) else "")
    f = cf.finance
    money = [
        (bi("总投资 (全部资产)", "investment, every asset"), fmt(a.capex_cny / 1e6), "M CNY"),
        (bi("其中: 发电与储能措施", "of which generation and storage"),
         fmt(sum(i.capex_cny for i in a.measures) / 1e6), "M CNY"),
        (bi("年能源费用 (第1年)", "energy bill (grid and gas), year 1"),
         fmt(a.bill.annual_cny() / 1e6),
         "M CNY/yr"),
        (bi("全部从电网购电时", "if every load bought from the grid (same gas)"),
         fmt(a.grid_only.annual_cny() / 1e6), "M CNY/yr"),
        (bi("净现值", "NPV of the measures"), fmt(cf.npv_cny / 1e6), "M CNY"),
        (bi("内部收益率", "IRR (project, after tax)"), _pct(cf.irr), ""),
        (bi("静态/动态回收期", "payback, simple / discounted"),
         f"{years_text(cf.payback_years)} / {years_text(cf.discounted_payback_years)}", "yr"),
        (bi("本地绿电平准化成本", "LCOE of local wind and PV"), fmt(a.lcoe_cny_per_mwh),
         "CNY/MWh"),
    ]
    return (f'<section class="page first"><h1>{bi("零碳园区评估报告", "Committee report")}'
            f"</h1><p><b>{esc(park)}</b> · {esc(period)} · scenario "
            f"<code>{esc(run.meta.get('scenario_path', ''))}</code></p>"
            f'<p class="{"ok" if not missed else "bad"}">{esc(headline)} ({met} met)</p>'
            + warn + f"<h2>{bi('结论', 'Verdict per criterion')}</h2>"
            + '<div class="verdict">' + table(
                ("指标 criterion", "值 value", "门槛 threshold", "结论 verdict", "差距 gap",
                 "如何弥补 what closes it (per year)"), rows, (1, 2)) + "</div>"
            + f"<h2>{bi('成本与回收', 'Cost and payback')}</h2>" + ill
            + '<div class="money">' + table(("", "value", "unit"), money, (1,)) + "</div>"
            + f'<p class="note">Measures (wind, its direct lines, PV, storage) against buying '
            f"the same loads from the grid; {f.years} years at {f.rate:.0%}, replacements, "
            "degradation, tax and debt as on the method page"
            + (f" (energy: {esc(sampled_text(cf))})" if cf.simulated else "")
            + ". <code>twin pathway</code> finds "
            "the cheapest portfolio that closes the gaps.</p></section>")


def sampled_text(cf: CashFlows) -> str:
    """Where the yearly energy lines come from, in words: ``co-simulated years 1, 15, 16,
    20; interpolated 2–14, 17–19``, or year 1 degraded arithmetically."""
    if not cf.simulated:
        return ("year 1 from the co-simulated period (scaled to a year); later years from "
                "the same hours with PV output and storage capacity degrading (restored at "
                "replacement)")
    spans: list[list[int]] = []
    for y in range(1, cf.finance.years + 1):
        if y in cf.simulated:
            continue
        if spans and spans[-1][-1] == y - 1:
            spans[-1].append(y)
        else:
            spans.append([y])
    between = ", ".join(f"{g[0]}" if len(g) == 1 else f"{g[0]}–{g[-1]}" for g in spans)
    return ("co-simulated years " + ", ".join(map(str, cf.simulated))
            + " (the period run with PV output and storage capacity degraded to each year's "
            "state, scaled to a year)" + (f"; interpolated {between}" if between else ""))


def years_text(x: float) -> str:
    """Years to one decimal, or never."""
    return "never" if x == float("inf") else f"{x:.1f}"


def _pct(x: float) -> str:
    return "—" if x != x else f"{x:.1%}"


def monthly(a: Assessment, hourly: np.ndarray) -> np.ndarray:
    """Sum of an hourly series per calendar month present (in order of appearance)."""
    keys = a.flows.local_year * 12 + a.flows.local_month - 1
    _, idx = np.unique(keys, return_inverse=True)
    return np.bincount(idx, weights=np.asarray(hourly, float))


def month_labels(a: Assessment) -> list[str]:
    """``2027-01`` ... of the months the run covers."""
    keys = np.unique(a.flows.local_year * 12 + a.flows.local_month - 1)
    return [f"{k // 12}-{k % 12 + 1:02d}" for k in keys]


def details(run: Run, a: Assessment, cf: CashFlows) -> str:
    """Monthly energy, bill, emissions and storage; the investments; the cash flows."""
    fl, labels = a.flows, month_labels(a)
    energy = plots.bars(labels, {
        "wind 风电": monthly(a, fl.total(fl.wind_mwh)), "pv 光伏": monthly(a, fl.total(
            fl.pv_mwh)), "load 负荷": monthly(a, fl.load_total_mwh),
        "import 购电": monthly(a, fl.import_mwh), "export 上网": monthly(a, fl.export_mwh)},
        "MWh", "月度电量 Energy per month")
    price = hourly_prices(a.tariff, *_hour_month(a))
    demand = [a.bill.peaks_mw.get(int(m[-2:]), 0.0) * 1000 * a.tariff.demand_charge_cny_per_kw_month
              / 1e6 for m in labels] if a.tariff.basic_charge == "demand" else [0.0] * len(labels)
    bill = plots.bars(labels, {
        "import energy 电量电费": monthly(a, price * fl.import_mwh) / 1e6,
        "demand charge 需量电费": demand,
        "export revenue 上网收入": monthly(a, fl.export_mwh) * a.tariff.export_price_cny_per_mwh
        / 1e6}, "M CNY", "月度电费 Grid bill per month", colours={
            "import energy 电量电费": "#d7191c", "demand charge 需量电费": "#fdae61",
            "export revenue 上网收入": "#1a9641"})
    em = a.emissions
    co2 = plots.bars(labels, {"gas (scope 1) 天然气": monthly(a, em.hourly("scope1_t")),
                              "import (scope 2) 外购电": monthly(a, em.hourly(
                                  "scope2_location_t"))}, "tCO2", "月度排放 Emissions per month",
                     stacked=True, colours={"gas (scope 1) 天然气": "#8c510a",
                                            "import (scope 2) 外购电": "#d7191c"})
    storage = _storage(run, a, labels)
    inv_rows = [(esc(i.name), bi(*KIND_NAMES.get(i.kind, (i.kind, i.kind))),
                 f"{fmt(i.size)} {i.size_unit}", fmt(i.capex_cny / 1e6),
                 fmt(i.opex_cny_per_year / 1e6), i.lifetime_years,
                 fmt(i.annualised_cny(cf.finance.rate) / 1e6),
                 "illustrative 示意" if i.illustrative else "sourced")
                for i in a.investments]
    by_kind: dict[str, float] = {}
    for i in a.investments:
        by_kind[i.kind] = by_kind.get(i.kind, 0.0) + i.annualised_cny(cf.finance.rate)
    kind_rows = [(bi(*KIND_NAMES.get(k, (k, k))), fmt(v / 1e6)) for k, v in by_kind.items()]
    flow_rows = [(y, *(fmt(v / 1e6) for v in rest)) for y, *rest in cf.rows()]
    note = "" if a.has_network else (
        '<p class="note">This run has no network model: lines and substations are not '
        "priced.</p>")
    return (f'<section class="page"><h2>{bi("月度能量与电费", "Energy and bill by month")}</h2>'
            + energy + bill + co2 + storage + "</section>"
            + f'<section class="page"><h2>{bi("投资", "Investment")}</h2>' + note
            + table(("asset", "kind 类别", "size", "capex M CNY", "O&M M CNY/yr", "life yr",
                     "annualised M CNY/yr", "cost source"), inv_rows, (2, 3, 4, 5, 6))
            + f"<h3>{bi('按措施的年化成本', 'Annualised cost per measure')}</h3>"
            + table(("measure 措施", "M CNY/yr"), kind_rows, (1,))
            + f"<h3>{bi('逐年现金流', 'Cash flow year by year')} (M CNY)</h3>"
            + f'<p class="note">Energy saving: {esc(sampled_text(cf))}; prices '
            "escalated.</p>"
            + table(("year", "capex", "replacement", "residual", "O&M", "energy saving",
                     "tax", "project", "debt service", "equity"), flow_rows,
                    range(1, 10)) + "</section>")


def _hour_month(a: Assessment) -> tuple[np.ndarray, np.ndarray]:
    return a.bill.hour, a.bill.month


def step_months(run: Run, a: Assessment) -> tuple[np.ndarray, list[str]]:
    """Index of each step's local month (0, 1, ...) and the months' labels."""
    keys = a.flows.local_year * 12 + a.flows.local_month - 1
    per_step = np.repeat(keys, max(1, round(3600 / run.step_s)))[: len(run.time_s)]
    months, idx = np.unique(per_step, return_inverse=True)
    return idx, [f"{k // 12}-{k % 12 + 1:02d}" for k in months]


def _storage(run: Run, a: Assessment, labels: Sequence[str]) -> str:
    batteries = run.entities("battery")
    if not batteries:
        return ""
    idx, _ = step_months(run, a)
    dt_h = run.step_s / 3600.0
    groups = {b: np.bincount(idx, weights=np.maximum(-np.nan_to_num(run.series(b, "p_mw")), 0)
                             * dt_h, minlength=len(labels)) for b in batteries}
    colours = {b: ASSET_COLOURS[i % len(ASSET_COLOURS)] for i, b in enumerate(batteries)}
    return plots.bars(list(labels), groups, "MWh", "储能月度放电 Storage discharged per month",
                      colours=colours)


def method_page(a: Assessment, cf: CashFlows) -> str:
    """Accounting choices, coefficients with standard, default and range, sources, what is
    illustrative."""
    entries = data.entries("carbon")
    em, f = a.emissions, a.factors

    def core(grid: float) -> str:
        tce = em.energy_total_tce
        co2 = em.scope1_total_t + em.scope2_location_total_t * grid / f.grid_t_per_mwh
        return fmt(co2 / tce) if tce > 0 else "—"

    rows = []
    for key, name in (("gas_kgce_per_nm3", "天然气折标煤 natural gas, energy"),
                      ("gas_kgco2_per_nm3", "天然气排放因子 natural gas, CO2"),
                      ("elec_kgce_per_kwh", "电力折标煤 electricity, energy"),
                      (f"grid_co2_{f.region}_{f.year}", "电网排放因子 grid, CO2")):
        e = entries.get(key, {})
        lo_hi = e.get("range")
        rng = f"{lo_hi[0]:g}–{lo_hi[1]:g}" if lo_hi else "—"
        if key == "gas_kgce_per_nm3" and lo_hi:
            effect = "; ".join(f"core {fmt(core_at_gas(a, g))} at {g:g}"
                               for g in (e["value"], e["reference"], lo_hi[0]))
        elif key.startswith("grid_co2") and lo_hi:
            effect = f"core {core(lo_hi[0])}–{core(lo_hi[1])}"
        else:
            effect = "—"
        rows.append((name, f"{e.get('value', '')} {e.get('unit', '')}",
                     e.get("standard", ""), rng, effect, " ".join(str(e.get("source", "")).split())))
    coef = table(("coefficient 系数", "default used", "standard", "range", "effect on the core "
                  "indicator (tCO2/tce)", "source"), rows)
    t = a.tariff
    cost_entries = data.entries("costs")
    fin_rows = [(bi(zh, en), " ".join(str(cost_entries[k]["source"]).split()))
                for k, zh, en in (("discount_rate", "折现率", "discount rate"),
                                  ("escalation", "价格变化", "escalation"),
                                  ("tax", "所得税", "income tax"),
                                  ("financing", "融资", "financing"))]
    ill = sorted({KIND_NAMES.get(i.kind, (i.kind, i.kind))[1] for i in a.investments
                  if i.illustrative})
    return (f'<section><h2>{bi("方法说明", "Method")}</h2><ol class="note">'
            "<li>Hourly accounts from the co-simulation (15-minute steps); the monthly demand "
            f"charge on the month's highest {t.demand_window_min}-minute mean import.</li>"
            f"<li>Energy bill: the grid's (tariff below) and the boilers' natural gas at "
            f"{gas_price_cny_per_nm3():g} CNY/Nm³ (twin/data/costs.yaml gas_price, "
            "illustrative); the grid-only reference buys every load's energy from the grid and "
            "burns the same gas.</li>"
            "<li>单位能耗碳排放 = (Scope 1 + location-based Scope 2) ÷ energy consumption in "
            "tce (发改环资〔2025〕910号); electricity at its energy-equivalent value.</li>"
            "<li>Clean-energy share: local renewables consumed plus green certificates; the "
            "grid's non-fossil share is not counted.</li>"
            "<li>Appraisal: year 0 investment, replacements at the end of each lifetime within "
            f"the {cf.finance.years} years, residual value at the end, PV and storage "
            f"degradation (energy: {esc(sampled_text(cf))}), real prices discounted at "
            f"{cf.finance.rate:.1%}; "
            f"{cf.finance.tax_rate:.0%} income tax on the saving less O&M and depreciation; "
            f"{cf.finance.debt_share:.0%} debt at {cf.finance.debt_rate:.2%} over "
            f"{cf.finance.debt_years} years.</li>"
            f"<li>Tariff <code>{esc(t.name)}</code>: time-of-use with critical peak, demand "
            f"charge {t.demand_charge_cny_per_kw_month:g} CNY/kW/month (or capacity "
            f"{t.capacity_charge_cny_per_kva_month:g} CNY/kVA/month), 绿电直连 fee "
            f"{t.direct_line_fee_cny_per_mwh:g} CNY/MWh; Liaoning's published figures were not "
            "found: illustrative, following the national rule (发改价格〔2021〕1093号).</li>"
            "</ol>" + f"<h3>{bi('系数', 'Coefficients')}</h3>" + coef
            + f"<h3>{bi('财务参数', 'Financial parameters')}</h3><p class=\"note\">The "
            "defaults and their sources; a scenario's <code>economics</code> may set the "
            "discount rate, period, tax and debt (the values used are in item 5).</p>"
            + table(("parameter", "value and source"), fin_rows)
            + f"<h3>{bi('示意值', 'What is illustrative')}</h3><p class=\"note\">Unit costs of: "
            + esc(", ".join(ill) or "none") + "; the tariff's prices and charges; the park's "
            "sizes (scenario). Sources: twin/data/costs.yaml, tariff.yaml, carbon.yaml.</p>"
            "</section>")


def core_at_gas(a: Assessment, gas_kgce_per_nm3: float) -> float:
    """The core indicator with natural gas counted at another coefficient (kgce/Nm3)."""
    em, f = a.emissions, a.factors
    tce = em.energy_total_tce + float(a.flows.gas_total_nm3.sum()) * (
        gas_kgce_per_nm3 / 1000.0 - f.gas_tce_per_nm3)
    return em.total_location_t / tce if tce > 0 else float("nan")


def summary(a: Assessment, cf: CashFlows, period: str) -> str:
    """The first page in the terminal: verdicts, cost and payback, the settings behind them."""
    lines = [f"period: {period}" + ("" if a.years >= 0.99 else
                                    " (yearly figures scaled to a year)"), ""]
    width = max(len(c.name_en) for c in a.criteria)
    for c in a.criteria:
        verdict = "not given" if c.met is None else "met" if c.met else "NOT MET"
        lines.append(f"{c.name_en:<{width}}  {_value(c):>10}  {_threshold(c):>8}  {verdict}")
    fl, t, bill = a.flows, a.tariff, a.bill
    hourly = sum(monthly_peaks(fl.import_mwh, fl.local_month).values()) * 1000 * (
        t.demand_charge_cny_per_kw_month) if t.basic_charge == "demand" else float("nan")
    gas = data.entries("carbon")["gas_kgce_per_nm3"]
    m = 1e6
    lines += [
        "",
        f"investment, every asset        {a.capex_cny / m:12,.1f} M CNY"
        + (" (illustrative unit costs)" if any(i.illustrative for i in a.investments) else ""),
        f"  of which wind, lines, PV, storage {sum(i.capex_cny for i in a.measures) / m:9,.1f}"
        " M CNY",
        tariff_note(t.name),
        f"energy bill (grid, gas), yr 1  {bill.annual_cny() / m:12,.1f} M CNY/yr",
        f"  demand charge ({t.demand_window_min}-min means)  "
        f"{a.cost.demand_cny * 12 / bill.months / m:9,.2f} M CNY/yr (on hourly means: "
        f"{hourly * 12 / bill.months / m:,.2f})",
        f"if every load bought from grid {a.grid_only.annual_cny() / m:12,.1f} M CNY/yr",
        f"measures, {cf.finance.years} yr at {cf.finance.rate:.0%}: NPV {cf.npv_cny / m:,.1f} "
        f"M CNY, IRR {_pct(cf.irr)}, payback {years_text(cf.payback_years)} yr (discounted "
        f"{years_text(cf.discounted_payback_years)})",
        f"  energy saving: {sampled_text(cf)}",
        f"LCOE of local wind and PV      {a.lcoe_cny_per_mwh:12,.1f} CNY/MWh",
        f"core indicator with gas at {gas['value']:g} kgce/Nm3 (default): "
        f"{core_at_gas(a, gas['value']):.3f}; at {gas['reference']:g} (GB/T 2589 reference): "
        f"{core_at_gas(a, gas['reference']):.3f}; at {gas['range'][0]:g}: "
        f"{core_at_gas(a, gas['range'][0]):.3f} tCO2/tce",
    ]
    return "\n".join(lines)
