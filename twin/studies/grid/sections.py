"""The grid studies run for a report: N-1, hosting capacity and short-circuit levels, each with
its one-line summary, its table rows and its HTML sections (what ``twin n-1``, ``twin hosting``
and ``twin short-circuit`` print and write, and what ``twin report --studies`` adds to a run's
report)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twin.studies.grid import report

__all__ = ["HOSTING_COLUMNS", "N1_COLUMNS", "SC_BESIDE_COLUMNS", "SC_COLUMNS", "STUDIES",
           "Study", "beside_section", "hosting_study", "n1_study", "report_sections", "short_circuit_study"]

N1_COLUMNS = ("contingency", "overloaded", "worst_element", "worst_loading_pct", "worst_time",
              "overload_steps", "vm_min_pu", "vm_max_pu", "voltage_steps", "lost_load_mw")
HOSTING_COLUMNS = ("bus", "vn_kv", "tech", "mw", "binding")
SC_COLUMNS = ("bus", "vn_kv", "ikss_ka", "skss_mva", "ip_ka", "breaker_ka", "use_pct")
SC_BESIDE_COLUMNS = ("bus", "vn_kv", "ikss_ka", "before_ka", "rise_ka", "ip_ka", "breaker_ka",
                     "use_pct")
STUDIES = ("n-1", "hosting", "short-circuit")


@dataclass
class Study:
    """One study's result as reported: summary lines, table rows, HTML sections, the drawing
    (hosting) and its run time (s)."""

    title: str
    lines: list[str]
    rows: list[dict[str, Any]]
    sections: list[tuple[str, str]]
    seconds: float
    svg: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def n1_study(source: str, all_steps: bool = False, workers: int = 1,
             solver: str = "lightsim2grid", top: int = 15) -> Study:
    """N-1 of a run file or scenario (:mod:`twin.studies.grid.contingency`)."""
    import time

    from twin import data
    from twin.studies.grid import contingency
    from twin.studies.grid.points import critical_steps, load_points

    t0 = time.perf_counter()
    pts = load_points(source, solver)
    steps = None if all_steps else critical_steps(
        pts, int(data.load("grid_studies")["critical_per_element"]))
    res = contingency.screen_file(source, pts, steps, solver, workers)
    total = time.perf_counter() - t0
    n_steps = len(res.steps)
    how = ("every step" if steps is None or n_steps == res.n_points else
           "the critical steps: per branch its highest base-case loadings, per bus its "
           "extreme voltages, the extreme import and export (--all-steps for every step)")
    failing = [r for r in res.rows[1:] if r.get("overloaded") or r.get("voltage_steps")]
    lost = [r for r in res.rows[1:] if r.get("lost_load_mw", 0) > 0]
    lines = [f"N-1 of {pts.source}: {len(res.rows) - 1} contingencies x {n_steps} of "
             f"{res.n_points} steps ({how})",
             f"{len(failing)} contingencies overload a branch or put a bus out of band; "
             f"{len(lost)} cut load off (radial)",
             report.text_table(res.rows[:top + 1], N1_COLUMNS),
             f"time: {total:.1f} s (solvers {res.build_s:.1f} s, power flows "
             f"{res.solve_s:.1f} s)"] + ([pts.control_note()] if pts.control else [])
    sections = [("Contingencies, worst first", f"<p>{how}; {len(failing)} of "
                 f"{len(res.rows) - 1} contingencies violate a limit. "
                 f"{pts.control_note()}</p>"
                 + report.html_table(res.rows, N1_COLUMNS)),
                ("Every violation", report.html_table(
                    res.violations, ("contingency", "kind", "element", "worst", "time",
                                     "steps")))]
    return Study(f"N-1 screen: {pts.source}", lines, res.rows, sections, total)


def hosting_study(source: str, techs: Sequence[str] = ("pv", "wind", "storage", "ev"),
                  feeders: bool = False, n1: bool = False,
                  solver: str = "lightsim2grid") -> Study:
    """Hosting capacity of a run file or scenario (:mod:`twin.studies.grid.hosting`)."""
    from twin.studies.grid import hosting
    from twin.studies.grid.points import load_points

    pts = load_points(source, solver)
    buses = hosting.candidate_buses(pts.net, feeders)
    res = hosting.hosting(pts, tuple(techs), buses, n1=n1, solver=solver)
    limits = "thermal, voltage" + (", N-1" if n1 else "")
    svg = report.hosting_map(pts.net, res.rows, f"Hosting capacity ({limits})")
    lines = [f"hosting capacity of {pts.source}: {len(buses)} buses x {len(techs)} "
             f"technologies, {len(res.steps)} of {len(pts.p_mw)} steps, limits {limits}",
             report.text_table(res.rows, HOSTING_COLUMNS), f"time: {res.seconds:.1f} s"] \
        + ([pts.control_note()] if pts.control else [])
    return Study(f"Hosting capacity: {pts.source}", lines, res.rows,
                 [("Hosting capacity", report.html_table(res.rows, HOSTING_COLUMNS)),
                  ("On the network", svg)], res.seconds, svg)


def short_circuit_study(source: str, against: str | None = None) -> Study:
    """IEC 60909 levels of a run's or scenario's network (:mod:`twin.studies.grid.
    shortcircuit`); ``against``: another run or scenario whose levels stand beside them, bus
    by bus (a pathway's proving run against its baseline run: what its additions raise)."""
    from twin.studies.grid import shortcircuit
    from twin.studies.grid.points import load_network

    rows, seconds = shortcircuit.levels(load_network(source))
    over = [r for r in rows if r["use_pct"] > 100.0]
    columns, extra = SC_COLUMNS, []
    if against is not None:
        before, s_before = shortcircuit.levels(load_network(against))
        rows, seconds = shortcircuit.beside(rows, before), seconds + s_before
        columns = SC_BESIDE_COLUMNS
        was = sum(r["use_pct"] > 100.0 for r in before)
        risen = [r for r in rows if r["rise_ka"] is not None]
        top = max(risen, key=lambda r: r["rise_ka"], default=None)
        split = sum(r["resplit"] for r in rows)
        extra = [f"beside {against}: {was} buses above their breaking current there; "
                 f"{len(rows) - len(risen) - split} buses new"
                 + (f", {split} sections of busbars split otherwise (not compared)"
                    if split else "")
                 + (f"; the largest rise {top['rise_ka']:+.1f} kA at {top['bus']}"
                    if top is not None else "")]
    summary = f"{len(over)} buses above their switchgear's rated breaking current"
    lines = [f"IEC 60909 maximum short-circuit levels of {source} (public grid and converter "
             "figures: twin/data/grid_studies.yaml, illustrative)",
             report.text_table(rows, columns), summary, *extra, f"time: {seconds:.1f} s"]
    note = "".join(f" {x}." for x in extra)
    return Study(f"Short-circuit levels: {source}", lines, rows,
                 [("IEC 60909 maximum levels", f"<p>{summary}{note} (public grid and "
                   "converter figures illustrative).</p>" + report.html_table(rows, columns))],
                 seconds)


def beside_section(after: str | Path, before: str | Path) -> str:
    """An HTML section: the levels of ``after``'s network (a pathway's acceptance run) beside
    those of ``before``'s (its baseline run), bus by bus, with the command that prints them."""
    from twin.core import html

    study = short_circuit_study(str(after), str(before))
    command = f"twin short-circuit {after} --against {before}"
    return ("<h2>Short-circuit levels after the additions</h2>"
            + "".join(body for _, body in study.sections)
            + f"<p class='note'>IEC 60909, pandapower; <code>{html.esc(command)}</code>.</p>")


def report_sections(source: str, studies: Sequence[str]) -> list[tuple[str, str]]:
    """The HTML sections of ``studies`` (names of :data:`STUDIES`) on a run file, each
    study's headings prefixed with its name, for a run's report."""
    run = {"n-1": n1_study, "hosting": hosting_study, "short-circuit": short_circuit_study}
    out = []
    for name in studies:
        study = run[name](source)
        out += [(f"Grid study — {heading}", body) for heading, body in study.sections]
    return out
