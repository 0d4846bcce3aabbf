"""Run = wire + simulate + judge: the one entry point of the CLI, studies, HIL and the pages.

:func:`run` hands the scenario to the co-simulation (:func:`twin.cosim.world.simulate`),
then judges what was recorded: the park's KPIs, the carbon accounts and criteria
(:mod:`twin.accounting`), the EMS's and VPP's tables, the grid's violations. Everything
goes into the run's HDF5 file, and the :class:`RunResult` says what it holds.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin.core.results import (
    KPI,
    Kept,
    ResultsWriteError,
    check_writable,
    estimate_bytes,
    finish,
    kept_series,
    open_run,
    partial_path,
    write_array,
    write_kpis,
    write_table,
)
from twin.cosim.world import Extension, simulate
from twin.models.events import EventBook
from twin.scenario import Scenario

if TYPE_CHECKING:
    from twin.accounting.assessment import Assessment


@dataclass
class RunResult:
    """What a run produced: its file, its KPIs, its wall time and per-simulator timing."""

    path: Path
    kpis: dict[str, KPI]
    wall_s: float
    n_steps: int
    timing: dict[str, dict[str, float]] = field(default_factory=dict)
    phases_s: dict[str, float] = field(default_factory=dict)  # build, simulate, kpis
    assessment: Assessment | None = None  # carbon, criteria, costs (twin.accounting)


def output_path(scenario: Scenario, out_dir: str | Path | None = None) -> Path:
    """Where the run's HDF5 file goes: ``<out_dir>/<scenario stem>.h5``."""
    folder = Path(out_dir) if out_dir is not None else scenario.output.dir
    stem = scenario.output.name or (scenario.path.stem if scenario.path.name != "<memory>"
                                    else "run")
    return folder / f"{stem}.h5"


def run(
    scenario: Scenario,
    out_dir: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
    fast_progress: bool = True,
    events: EventBook | None = None,
    observer: Callable[[int, Mapping[tuple[str, str], Any]], None] | None = None,
    extensions: Sequence[Extension] = (),
    block_steps: int | None = None,
    judge_also: Callable[[Path], None] | None = None,
) -> RunResult:
    """Run a scenario through mosaik; write the HDF5 file and its judgement; return the result.

    ``progress`` is called after each recorded step with the mosaik time (s from start);
    ``events``, ``observer``, ``fast_progress``, ``extensions`` and ``block_steps`` are
    :func:`twin.cosim.world.simulate`'s. ``judge_also(target)`` writes more into the run's
    file (a HIL run's verdicts) after the park's judgement and before the file is published.
    """
    t0 = time.perf_counter()
    path = output_path(scenario, out_dir)
    check_writable(path, estimate_bytes(scenario.n_steps, _series_guess(scenario)))
    sim = simulate(scenario, path, progress, fast_progress, events, observer, extensions,
                   block_steps)
    t2 = time.perf_counter()
    partial = partial_path(sim.path)
    kept = kept_series(partial)  # the series as the recorder wrote them, if it kept them
    with open_run(partial) as recorded:
        n_recorded = len(recorded.time_s)
    if n_recorded < sim.n_steps:
        raise ResultsWriteError(f"{partial}: {n_recorded} of {sim.n_steps} steps recorded; "
                                f"the previous result at {sim.path} is kept")
    judged_box: list[tuple[dict[str, KPI], Assessment]] = []

    def write(target: Path) -> None:
        judged_box.append(judge(partial, scenario, sim.lines, target, kept))
        if judge_also is not None:
            judge_also(target)

    finish(sim.path, write)
    kpis, judged = judged_box[0]
    t3 = time.perf_counter()
    return RunResult(path=sim.path, kpis=kpis, wall_s=t3 - t0, n_steps=sim.n_steps,
                     timing=sim.timing, assessment=judged,
                     phases_s={**sim.phases_s, "kpis": t3 - t2})


def _series_guess(scenario: Scenario) -> int:
    """A generous count of the series a scenario records, for the disk-space check."""
    n = sum(len(getattr(scenario, key, ()) or ()) for key in (
        "pv_plants", "wind_farms", "batteries", "factory_loads", "ev_hubs", "heat_supply"))
    return 40 * (n + 4) + (2000 if scenario.grid is not None else 0)


def judge(path: Path, scenario: Scenario, lines: Mapping[str, Any] | None = None,
          target: Path | None = None, kept: Kept | None = None
          ) -> tuple[dict[str, KPI], Assessment]:
    """The KPIs and tables of the run recorded at ``path``, written into ``target`` (the
    same file if not given); its series from ``kept`` where the recorder kept them
    (:func:`twin.core.results.kept_series`: the same values, not read back)."""
    # imported here, after the run: a run reaches its first step without them
    from twin.accounting.assessment import assess, assessment_kpis, hourly_table
    from twin.accounting.carbon import granular_certificates
    from twin.accounting.kpi import aoi_kpis, grid_violations, park_kpis
    from twin.cosim import ems as ems_setup

    out = path if target is None else target
    with open_run(path, kept) as recorded:
        kpis = park_kpis(recorded)
        kpis.update(aoi_kpis(lines or {}))
        judged = assess(recorded)
        kpis.update(assessment_kpis(judged))
        violations = [dataclasses.asdict(v) for e in recorded.entities("pcc")
                      if recorded.has(e, "vm_pu") for v in grid_violations(recorded, e)]
        control_kpis, requests, forecasts = ems_setup.results(recorded, scenario)
        kpis.update(control_kpis)
    path = out
    write_kpis(path, kpis)
    write_array(path, "carbon/hourly", hourly_table(judged), "the park's accounts per hour: "
                "flows (MWh), emissions (t), energy (tce), 绿电直连 consumed and exported")
    write_array(path, "carbon/certificates", granular_certificates(judged.flows),
                "granular certificates: hour, device, technology, MWh, Wh, consumed in the "
                "park, released from storage")
    if requests:
        write_table(path, "vpp/responses", requests, "grid operator's requests: asked, "
                    "delivered (mean over the window) and largest shortfall, MW")
    if forecasts is not None:
        write_array(path, "ems/forecasts", forecasts, "the EMS's forecasts of each step made "
                    "15 min and 1 h before, beside what happened (MW); columns: "
                    + ", ".join(ems_setup.FORECAST_COLUMNS))
    if scenario.grid is not None:
        write_table(path, "grid/violations", violations,
                    "elements out of their limits: kind, element, first time, steps, worst")
    return kpis, judged
