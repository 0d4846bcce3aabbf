"""The road as text and as a self-contained HTML page: the portfolio, the criteria predicted
by the LP beside those the co-simulation proved, the costs per year, the waterfall of the
core indicator, the accounting settings."""

from __future__ import annotations

from pathlib import Path

from twin.core import html, plots
from twin.studies.pathway import lp
from twin.studies.pathway.measures import measures, not_expressible
from twin.studies.pathway.prove import LOWER_IS_BETTER, Pathway

SETTINGS = (
    "core indicator: Scope 1 (gas) + location-based Scope 2 (grid import x regional grid "
    "factor) per tce of energy use, as the notice (发改环资〔2025〕910号) reads; certificates "
    "and contracts do not lower it",
    "clean energy: local wind and PV consumed in the park (directly or through storage) plus "
    "imports covered by green certificates (GEC; 绿电交易 contracts count through their "
    "bundled certificates); the grid's average non-fossil share and natural gas are not counted",
    "绿电直连: share of the direct-line wind's generation consumed in the park; the LP counts "
    "every exported MWh as wind (conservative), the accounting shares exports pro rata with PV",
    "energy use: electricity at 0.1229 kgce/kWh (GB/T 2589), gas at its coefficient in "
    "twin/data/carbon.yaml; the LP ignores storage self-discharge and takes the network's "
    "losses from the base run",
    "the annual net green-electricity balance is the project's own (illustrative) threshold and "
    "is not optimised here",
)


def _fmt(c: str, value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if c == "core_carbon_intensity" else f"{value:.1%}"


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
        rows.append([m.label, shown, shown_applied, m.unit, str(road.acceptance_year),
                     f"{final.solution.cost[key] / 1e6:,.2f}"])
    return rows


def criteria_rows(road: Pathway) -> list[list[str]]:
    """Criterion, threshold, baseline, LP predicted, co-simulation proven, verdict."""
    final = road.final
    rows = []
    national = {"core_carbon_intensity": road.profiles.core_max,
                "clean_energy_share": road.profiles.clean_min,
                "direct_line_share": road.profiles.direct_min}
    for c in lp.CRITERIA:
        t = national[c]
        proven = final.proven.get(c)
        verdict = "-" if proven is None else ("met" if c not in final.missed else "missed")
        rows.append([lp.NAMES[c], f"{'<=' if c in LOWER_IS_BETTER else '>='} {_fmt(c, t)}",
                     _fmt(c, road.baseline.get(c)), _fmt(c, final.solution.criteria[c]),
                     _fmt(c, proven), verdict])
    return rows


def cost_rows(road: Pathway) -> list[list[str]]:
    """Cost item and CNY per year (millions)."""
    sol = road.final.solution
    rows = [[k, f"{v / 1e6:,.2f}"] for k, v in sol.cost.items() if abs(v) > 1e-6]
    rows.append(["total", f"{sol.annual_cost_cny / 1e6:,.2f}"])
    return rows


def headline(road: Pathway) -> str:
    """One paragraph: the answer."""
    final = road.final
    n = len(road.rounds)
    if final.solution.status != "optimal":
        relax = ", ".join(f"{lp.NAMES[c]} by {v:.3g}" for c, v in final.solution.relaxation.items()
                          if v > 1e-6)
        why = (" with the criteria tightened by the co-simulation's misses"
               if final.tighten else "")
        return (f"No portfolio of the levers meets every criterion{why}: binding "
                f"{', '.join(lp.NAMES[c] for c in final.solution.binding)}; the smallest "
                f"relaxation that would: {relax or 'none (tightened rounds)'}"
                f" (after {n} round{'s' * (n > 1)}).")
    if road.proven:
        return (f"The cheapest portfolio meets every computed criterion, proven by "
                f"co-simulation after {n} round{'s' * (n > 1)}; binding in the LP: "
                f"{', '.join(lp.NAMES[c] for c in final.solution.binding) or 'none'}.")
    return (f"The LP's portfolio misses "
            f"{', '.join(lp.NAMES[c] for c in final.missed)} in co-simulation after {n} "
            f"round{'s' * (n > 1)} (the rounds ran out).")


def text(road: Pathway) -> str:
    """The terminal summary."""
    out = [headline(road), ""]

    def tab(header: list[str], rows: list[list[str]]) -> None:
        widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
        for r in [header, *rows]:
            out.append("  ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=True)))
        out.append("")

    tab(["measure", "LP", "applied", "unit", "built", "MCNY/yr"], portfolio_rows(road))
    tab(["criterion", "threshold", "baseline", "LP", "co-sim", ""], criteria_rows(road))
    tab(["cost", "MCNY/yr"], cost_rows(road))
    for i, r in enumerate(road.rounds, 1):
        out.append(f"round {i}: LP {r.solution.status}; co-simulation missed "
                   + (", ".join(f"{lp.NAMES[c]} by {v:.3g}" for c, v in r.missed.items())
                      or "nothing"))
    out.extend(f"note: {n}" for n in road.notes)
    return "\n".join(out)


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
        f"; every measure commissioned in {road.acceptance_year} (staged years not yet).</p>",
        "<h2>Core indicator, baseline to result</h2>",
        plots.waterfall(steps, "tCO2/tce", "core indicator, one bar per measure (LP dispatch)",
                        hlines={f"threshold {core:g}": core}, marks=marks),
        "<h2>Portfolio</h2>",
        html.table(["measure", "LP", "applied", "unit", "built", "MCNY/yr"],
                   portfolio_rows(road), numeric=(1, 2, 5)),
        "<h2>Criteria: predicted and proven</h2>",
        html.table(["criterion", "threshold", "baseline", "LP", "co-simulation", "verdict"],
                   criteria_rows(road), numeric=(2, 3, 4)),
        "<h2>Costs per year</h2>",
        html.table(["item", "MCNY/yr"], cost_rows(road), numeric=(1,)),
        "<h2>Rounds</h2>",
        html.table(["round", "LP", "LP criteria", "co-simulation", "missed"], rounds),
        "<h2>Accounting settings</h2>",
        "<ul>" + "".join(f"<li>{html.esc(s)}</li>" for s in SETTINGS) + "</ul>",
        "<h2>Where the LP and the co-simulation differ</h2>",
        "<ul><li>storage: optimal dispatch with perfect foresight in the LP, the scenario's "
        "controller in the run</li><li>network: the base run's losses as a fixed load</li>"
        "<li>heat: one pooled heat-pump fleet in the LP, each heat supply's own in the run"
        "</li><li>wind: whole turbines when applied</li></ul>",
        "<h2>Levers not yet expressible</h2>",
        "<ul>" + "".join(f"<li>{html.esc(s)}</li>" for s in not_expressible()) + "</ul>",
        "<p class='note'>Costs and lever limits: twin/data/measures.yaml and costs.yaml; most "
        "are labelled illustrative there.</p>",
    ]
    sections += [f"<p class='note'>{html.esc(n)}</p>" for n in road.notes]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html.page("pathway", sections), encoding="utf-8")
    return out
