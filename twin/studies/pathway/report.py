"""The road as text and as a self-contained HTML page: the portfolio, the criteria predicted
by the LP beside those the co-simulation proved, the costs per year, the waterfall of the
core indicator, the accounting settings."""

from __future__ import annotations

from pathlib import Path

from twin.accounting import economics
from twin.core import html, plots
from twin.studies.pathway import lp
from twin.studies.pathway.measures import BOUGHT, measures, not_expressible
from twin.studies.pathway.prove import COST_TOLERANCE, Pathway
from twin.studies.pathway.settings import LOWER_IS_BETTER


def _fmt(c: str, value: float | None) -> str:
    if value is None:
        return "-"
    return (f"{_zero(value, 3):.3f}" if c == "core_carbon_intensity"
            else f"{_zero(value, 3):.1%}")


def _zero(value: float, digits: int) -> float:
    """``value`` rounded to ``digits``, a solver's -0.0 shown as 0.0."""
    return round(value, digits) + 0.0


def _built_in(road: Pathway, key: str) -> str:
    """The first year of the road with ``key`` built."""
    for y in road.years:
        if y.portfolio.get(key, 0.0) > 1e-9:
            return str(y.year)
    return str(road.acceptance_year)


def year_rows(road: Pathway) -> list[list[str]]:
    """Year, stage, each required criterion proven, capex, opex, energy (MCNY)."""
    rows = []
    for y in road.years:
        crit = [_fmt(c, y.proven.get(c)) + ("" if c not in y.missed else " (missed)")
                for c in road.acct.active]
        rows.append([str(y.year), y.stage, *crit, f"{y.capex_cny / 1e6:,.1f}",
                     f"{y.opex_cny / 1e6:,.1f}", f"{y.energy_cny / 1e6:,.1f}"])
    return rows


def year_header(road: Pathway) -> list[str]:
    """Header of :func:`year_rows`."""
    return ["year", "stage", *(lp.NAMES[c] for c in road.acct.active), "capex MCNY",
            "opex MCNY/yr", "energy MCNY/yr"]


def portfolio_rows(road: Pathway) -> list[list[str]]:
    """Measure, LP amount, as applied, unit, commissioning year, annual cost."""
    levers = measures(road.profiles)
    final = road.final
    rows = []
    for key, amount in final.solution.portfolio.items():
        if amount <= 1e-9:
            continue
        m = levers[key]
        shown = f"{amount:.1%}" if m.unit == "share" else f"{amount:,.1f}"
        applied = final.applied.get(key, amount)
        shown_applied = f"{applied:.1%}" if m.unit == "share" else f"{applied:,.1f}"
        rows.append([m.label, shown, shown_applied, m.unit,
                     _built_in(road, key) if key not in BOUGHT
                     else f"yearly from {road.acceptance_year}",
                     f"{final.solution.cost[key] / 1e6:,.2f}"])
    return rows


def criteria_rows(road: Pathway) -> list[list[str]]:
    """Criterion, threshold, baseline, LP predicted, co-simulation proven, verdict."""
    final = road.final
    rows = []
    national = lp.targets(road.profiles, road.acct)
    for c in lp.CRITERIA:
        if c not in national:
            continue
        t = national[c]
        proven = final.proven.get(c)
        verdict = ("not required" if c not in road.acct.active else "-" if proven is None
                   else "met" if c not in final.missed else "missed")
        rows.append([lp.NAMES[c], f"{'<=' if c in LOWER_IS_BETTER else '>='} {_fmt(c, t)}",
                     _fmt(c, road.baseline.get(c)), _fmt(c, final.solution.criteria.get(c)),
                     _fmt(c, proven), verdict])
    return rows


def cost_rows(road: Pathway) -> list[list[str]]:
    """Cost item and CNY per year (millions)."""
    sol = road.final.solution
    rows = [[k, f"{v / 1e6:,.2f}"] for k, v in sol.cost.items() if abs(v) >= 5e3]
    rows.append(["total", f"{sol.annual_cost_cny / 1e6:,.2f}"])
    return rows


def cost_check_rows(road: Pathway) -> list[list[str]]:
    """The acceptance round's annual cost as the LP counts it and as the proving run's own
    accounting counts it (assets beyond the baseline's, energy, certificates), MCNY/yr."""
    final = road.final
    if not final.cost_run:
        return []
    rows = []
    for item in ("assets", "network", "energy", "bought"):
        a, b = final.cost_lp[item], final.cost_run[item]
        rows.append([item, f"{a / 1e6:,.2f}", f"{b / 1e6:,.2f}",
                     f"{(b - a) / abs(a):+.2%}" if abs(a) > 1e3 else "-"])
    total_lp, total_run = sum(final.cost_lp.values()), sum(final.cost_run.values())
    rows.append(["total", f"{total_lp / 1e6:,.2f}", f"{total_run / 1e6:,.2f}",
                 f"{(total_run - total_lp) / abs(total_lp):+.2%}" if abs(total_lp) > 1e3
                 else "-"])
    return rows


COST_CHECK = ["cost (acceptance)", "LP MCNY/yr", "co-sim MCNY/yr", "difference"]
COST_NOTE = (f"the run's assets are costed from its recorded specs (twin/data/costs.yaml, the "
             f"heat measures' twin/data/measures.yaml) and match the LP's at the amounts "
             f"applied to {COST_TOLERANCE:.1%}; network: the lines and substations the run's "
             f"network builder sizes for them, which the LP leaves out; energy differs by the "
             f"dispatch (rules in the run, optimum in the LP); certificates and contracts: "
             f"the volumes bought")


# the acceptance round's totals set side by side: key, label, unit divisor, unit
GAP = (("import_mwh", "grid import", 1e3, "GWh"), ("export_mwh", "export", 1e3, "GWh"),
       ("discharge_mwh", "storage discharge", 1e3, "GWh"),
       ("both_mwh", "storage charged and discharged in one hour", 1e3, "GWh"),
       ("electricity_mwh", "electricity consumed", 1e3, "GWh"),
       ("gas_nm3", "gas", 1e6, "M Nm3"), ("energy_tce", "energy use", 1e3, "ktce"),
       ("co2_t", "emissions (core indicator)", 1e3, "ktCO2"))
GAP_HEADER = ["acceptance (totals)", "LP", "co-sim", "unit"]


def gap_rows(road: Pathway) -> list[list[str]]:
    """The acceptance round's totals in the LP and in its proving run (the first weather
    year's), where the two part."""
    lp_flows, run = road.final.solution.flows, road.final.flows_run
    return [[label, f"{_zero(lp_flows[k] / div, 1):,.1f}", f"{_zero(run[k] / div, 1):,.1f}",
             unit]
            for k, label, div, unit in GAP if k in run and k in lp_flows]


def gap_note(road: Pathway) -> str:
    """The core indicator's gap between the run and the LP in parts that add up to it: the
    run's extra emissions from grid import and from gas, each over the run's energy use, and
    the LP's emissions over the difference in energy use. Empty without a run's totals."""
    a, b = road.final.solution.flows, road.final.flows_run
    if not b or a.get("energy_tce", 0.0) <= 0 or b.get("energy_tce", 0.0) <= 0:
        return ""
    gas = road.profiles.gas_t_per_nm3 * (b["gas_nm3"] - a["gas_nm3"]) / b["energy_tce"]
    imp = (b["co2_t"] - a["co2_t"]) / b["energy_tce"] - gas
    use = a["co2_t"] * (1 / b["energy_tce"] - 1 / a["energy_tce"])
    total = b["co2_t"] / b["energy_tce"] - a["co2_t"] / a["energy_tce"]
    total, imp, gas, use = (_zero(x, 3) for x in (total, imp, gas, use))
    return (f"core indicator, run less LP: {total:+.3f} tCO2/tce = {imp:+.3f} from the run's "
            f"grid import ({(b['import_mwh'] - a['import_mwh']) / 1e3:+,.1f} GWh; storage "
            f"discharge {(b['discharge_mwh'] - a['discharge_mwh']) / 1e3:+,.1f} GWh: the "
            f"scenario's controller against the LP's dispatch with foresight), {gas:+.3f} from "
            f"gas, {use:+.3f} from energy use (the run's grid losses and dispatch); the run "
            f"steps at the scenario's step, the LP by the hour"
            + (f"; the LP charges and discharges its storage in the same hour "
               f"({a['both_mwh'] / 1e3:,.1f} GWh): losses that count as energy use and keep "
               f"wind from export, which one battery cannot do and the run's controller does "
               f"not" if a.get("both_mwh", 0.0) > 1e-3 * max(a.get("discharge_mwh", 0.0), 1.0)
               else ""))


def heat_rows(road: Pathway) -> list[list[str]]:
    """Heat delivered by each technology in the LP's answer (GWh over the period)."""
    flows = road.final.solution.flows
    p = road.profiles
    rows = [[name.removeprefix("heat_").removesuffix("_mwh"), f"{_zero(flows[name] / 1e3, 1):,.1f}"]
            for name in lp.HEAT_FLOWS.values() if flows.get(name, 0.0) > 1e-6]
    gas = flows.get("gas_nm3", 0.0) / p.gas_nm3_per_mwh if p.gas_nm3_per_mwh > 0 else 0.0
    rows.append(["gas boilers", f"{_zero(gas / 1e3, 1):,.1f}"])
    return rows


def _by(amounts: dict[str, float]) -> str:
    """'criterion by amount, ...' for the amounts above 1e-6."""
    return ", ".join(f"{lp.NAMES[c]} by {v:.3g}" for c, v in amounts.items() if v > 1e-6)


def headline(road: Pathway) -> str:
    """One paragraph: the answer."""
    final = road.final
    n = len(road.rounds)
    if road.proven and final.solution.status != "optimal":  # tightened beyond reach
        return (f"The portfolio meets every computed criterion, proven by co-simulation after "
                f"{n} round{'s' * (n > 1)}; the last round's LP could not meet the criteria "
                f"as tightened by the co-simulation's misses and took the least relaxation of "
                f"them (binding {', '.join(lp.NAMES[c] for c in final.solution.binding)}).")
    if final.solution.status != "optimal":
        relax = _by(final.solution.relaxation)
        why = (" with the criteria tightened by the co-simulation's misses"
               if final.tighten else "")
        ran = _by(final.missed)
        ran = (f"; co-simulated, that portfolio misses {ran}" if ran
               else "; co-simulated, that portfolio meets every criterion")
        return (f"No portfolio of the levers meets every criterion{why}: binding "
                f"{', '.join(lp.NAMES[c] for c in final.solution.binding)}; the smallest "
                f"relaxation that would, in the LP: {relax or 'none (tightened rounds)'}"
                f"{ran if final.proven else ''}"
                f" (after {n} round{'s' * (n > 1)}).")
    if road.proven:
        return (f"The cheapest portfolio meets every computed criterion, proven by "
                f"co-simulation after {n} round{'s' * (n > 1)}; binding in the LP: "
                f"{', '.join(lp.NAMES[c] for c in final.solution.binding) or 'none'}.")
    return (f"The LP's portfolio misses "
            f"{', '.join(lp.NAMES[c] for c in final.missed)} in co-simulation after {n} "
            f"round{'s' * (n > 1)} (the rounds ran out).")


def timing(road: Pathway) -> str:
    """The road's time: co-simulations made and reused (kept in --out), the rest (the LPs
    and the accounting). Empty before the road is done."""
    t = road.timing
    if "total_s" not in t:
        return ""
    made, reused = int(t["made"]), int(t["reused"])
    return (f"time: {t['total_s']:.0f} s wall; {made} co-simulation{'s' * (made != 1)} made "
            f"({t['run_s']:.0f} s), {reused} reused from --out (same scenario, files and "
            f"code); the LPs and the accounting {t['total_s'] - t['run_s']:.0f} s")


def text(road: Pathway) -> str:
    """The terminal summary."""
    out = [headline(road), ""]

    def tab(header: list[str], rows: list[list[str]]) -> None:
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        for r in [header, *rows]:
            out.append("  ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=True)))
        out.append("")

    tab(["measure", "LP", "applied", "unit", "built", "MCNY/yr"], portfolio_rows(road))
    if road.years:
        tab(year_header(road), year_rows(road))
    tab(["criterion", "threshold", "baseline", "LP", "co-sim", ""], criteria_rows(road))
    tab(["cost", "MCNY/yr"], cost_rows(road))
    if road.final.cost_run:
        tab(COST_CHECK, cost_check_rows(road))
        out[-1:] = [f"note: {COST_NOTE}", ""]
    if road.final.flows_run:
        tab(GAP_HEADER, gap_rows(road))
        out[-1:] = [f"note: {gap_note(road)}", ""]
    tab(["heat (LP)", "GWh"], heat_rows(road))
    for i, r in enumerate(road.rounds, 1):
        out.append(f"round {i}: LP {r.solution.status}; co-simulation missed "
                   + (_by(r.missed) or "nothing"))
    out.extend(f"accounting: {line}" for line in road.acct.lines())
    out.extend(f"note: {n}" for n in road.notes)
    if timing(road):
        out.append(timing(road))
    return "\n".join(out)


def criteria_figure(road: Pathway) -> str:
    """The required criteria year by year (co-simulated), with their thresholds."""
    labels = [f"{y.year} {y.stage}" for y in road.years]
    national = lp.targets(road.profiles, road.acct)
    figs = []
    for c in road.acct.active:
        values = [y.proven.get(c, float("nan")) for y in road.years]
        name = lp.NAMES[c].replace("绿电直连", "direct-line")  # the figures' font is Latin
        figs.append(plots.bars(labels, {name: values}, name,
                               f"{name} by year (co-simulation; threshold "
                               f"{'<=' if c in LOWER_IS_BETTER else '>='} {_fmt(c, national[c])})"))
    return "".join(figs)


def short_circuit(road: Pathway) -> str:
    """The short-circuit levels (IEC 60909) at the PCC and each substation of the network the
    acceptance portfolio's additions give, beside the baseline's; empty without a grid."""
    if road.scenario.grid is None or road.final.run_path is None:
        return ""
    from twin.studies.grid.sections import beside_section

    return beside_section(road.final.run_path, road.baseline_path)


def write(road: Pathway, out: str | Path) -> Path:
    """The HTML report."""
    out = Path(out)
    core = road.profiles.core_max
    steps = [(("baseline (LP)" if k == "baseline" else k), v) for k, v in road.waterfall]
    marks = {}
    if "core_carbon_intensity" in road.final.proven:
        marks["co-simulation"] = road.final.proven["core_carbon_intensity"]
    rounds = [[str(i), r.solution.status,
               ", ".join(f"{lp.NAMES[c]} {_fmt(c, v)}" for c, v in r.solution.criteria.items()),
               ", ".join(f"{lp.NAMES[c]} {_fmt(c, v)}" for c, v in r.proven.items()),
               ", ".join(lp.NAMES[c] for c in r.missed) or "none"]
              for i, r in enumerate(road.rounds, 1)]
    sections = [
        f"<h1>The road to acceptance: {html.esc(road.scenario.park.name)}</h1>",
        f"<p>{html.esc(headline(road))}</p>",
        f"<p class='note'>Period of the profiles and proving runs: {road.profiles.n_hours / 24:g}"
        f" days{'' if road.profiles.n_hours >= 8760 else ' (a short run: figures are not a year)'}"
        f"; acceptance year {road.acceptance_year}.</p>",
        "<h2>The road year by year</h2>",
        html.table(year_header(road), year_rows(road)) if road.years else "",
        criteria_figure(road) if road.years else "",
        "<h2>Core indicator, baseline to result</h2>",
        plots.waterfall(steps, "tCO2/tce", "core indicator, one bar per measure (LP, each dispatched for cost; then for the criteria)",
                        hlines={f"threshold {core:g}": core}, marks=marks),
        "<h2>Portfolio</h2>",
        html.table(["measure", "LP", "applied", "unit", "built", "MCNY/yr"],
                   portfolio_rows(road), numeric=(1, 2, 5)),
        "<h2>Criteria: predicted and proven</h2>",
        html.table(["criterion", "threshold", "baseline", "LP", "co-simulation", "verdict"],
                   criteria_rows(road), numeric=(2, 3, 4)),
        "<h2>Costs per year</h2>",
        html.table(["item", "MCNY/yr"], cost_rows(road), numeric=(1,)),
        html.table(COST_CHECK, cost_check_rows(road), numeric=(1, 2, 3))
        + f"<p class='note'>{html.esc(COST_NOTE)}</p>" if road.final.cost_run else "",
        "<h2>Where the run and the LP part (acceptance)</h2>"
        + html.table(GAP_HEADER, gap_rows(road), numeric=(1, 2))
        + f"<p class='note'>{html.esc(gap_note(road))}</p>" if road.final.flows_run else "",
        "<h2>Heat supply (LP)</h2>",
        html.table(["technology", "GWh"], heat_rows(road), numeric=(1,)),
        short_circuit(road),
        "<h2>Rounds</h2>",
        html.table(["round", "LP", "LP criteria", "co-simulation", "missed"], rounds),
        "<h2>Accounting settings</h2>",
        "<ul>" + "".join(f"<li>{html.esc(s)}</li>" for s in road.acct.lines()) + "</ul>",
        "<h2>Where the LP and the co-simulation differ</h2>",
        "<ul><li>storage: optimal dispatch with perfect foresight in the LP (one direction "
        "per hour, as one battery), the scenario's controller in the run</li><li>network: the base run's losses as a fixed load</li>"
        "<li>heat: one pooled fleet per technology in the LP, each heat supply's own share "
        "(pro rata to its design load) in the run; the LP dispatches heat pumps, electric "
        "boilers and the heat store at optimum, the run in a fixed merit order (waste heat, "
        "ground-source, air-source, then electric boilers on the park's spare power "
        "(generation less the other loads: the rule controller's surplus, taken before the "
        "batteries) filling the store, the store drawn first in hours without spare power, "
        "gas boilers last)</li>"
        "<li>绿电交易 contracts: counted month by month (三者取小) on the LP's imports in the "
        "LP, on the run's own imports in the run</li>"
        "<li>flexible load: shifted at optimum within the day in the LP, by the EMS in the "
        "run</li><li>wind: whole turbines when applied</li></ul>",
        "<h2>Levers not yet expressible</h2>",
        "<ul>" + "".join(f"<li>{html.esc(s)}</li>" for s in not_expressible()) + "</ul>",
        "<p class='note'>Costs and lever limits: twin/data/measures.yaml and costs.yaml; most "
        "are labelled illustrative there; the "
        + html.esc(economics.tariff_note(road.scenario.economics.tariff)) + ".</p>",
    ]
    sections += [f"<p class='note'>{html.esc(n)}</p>" for n in road.notes]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html.page("pathway", sections), encoding="utf-8")
    return out
