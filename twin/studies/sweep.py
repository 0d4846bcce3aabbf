"""Planners' studies on Dask: every case of a study is a whole scenario run in a worker.

``run_study(study, client)`` sends each case not yet done to the cluster (a
:func:`local_cluster` on this machine, or any scheduler), writes each finished case to its
own file as it arrives (so a study interrupted and restarted skips the cases already done),
and builds the table (Parquet or CSV) and the study report from those files.

A worker runs :func:`run_case`: it rebuilds the case's scenario from the base YAML data
(validated again: a bad value makes an ``invalid`` row), runs it through mosaik
(:func:`twin.cosim.runner.run`) and returns the row: parameters, capacities, every KPI, the
annualised cost and each national criterion with its threshold and margin. An exception in a
run makes a ``failed`` row; it never stops the study.

The cases of one weather year that differ only in the sized assets (wind turbines, PV,
storage: :data:`twin.studies.spec.ASSETS`) share what those never reach: a worker's first
such run computes the weather, the loads and the AOI lines and keeps their blocks, the next
ones take them back (:mod:`adapters.replay`; the same values, exactly, checked block by
block against the inputs) and compute the rest. Each case is still a whole run of its own
scenario, recorded and judged as ``twin run`` would; the cases go to the cluster grouped by
weather year so that a worker holds few years at once.

Cost of a case, CNY per year: ``capex / annuity_factor(rate, lifetime) + opex + energy
cost`` (the energy cost scaled to a year from the run's days).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import os
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from twin.accounting import economics
from twin.scenario import Scenario, ScenarioError
from twin.studies.spec import (
    CAPACITIES,
    CLEAN,
    CORE,
    COST,
    FAILED,
    INVALID,
    OK,
    SEED_PATH,
    Case,
    Job,
    Study,
    case_scenario,
)

log = logging.getLogger(__name__)

COST_DEFINITION = ("annualised cost = capex / annuity factor (discount rate, lifetime) + opex "
                   "+ grid energy cost per year")


# --- in a worker ------------------------------------------------------------------------------


def warm() -> str:
    """Import the simulation stack (run once per worker before the cases)."""
    from twin import runner  # noqa: F401

    return socket.gethostname()


def profiler(on: bool, dask_worker: Any = None) -> bool:
    """Start or stop a worker's statistical profiler (every 10 ms it walks the stack of the
    thread running a case: a quarter of a co-simulation's time); through ``client.run``."""
    callbacks = getattr(dask_worker, "periodic_callbacks", {})
    for name in ("profile", "profile-cycle"):
        if name in callbacks:
            callbacks[name].start() if on else callbacks[name].stop()
    return "profile" in callbacks


def run_case(job: Job, case: Case) -> dict[str, Any]:
    """Run one case; return its row (never raises for a bad value or a failed run)."""
    t0, c0 = time.perf_counter(), time.process_time()
    row: dict[str, Any] = {"case_id": case.case_id, "params": case.params, "status": OK,
                           "error": "", "host": socket.gethostname(), "pid": os.getpid()}
    try:
        s = case_scenario(job, case)
    except ScenarioError as exc:
        return {**row, "status": INVALID, "error": str(exc), "wall_s": time.perf_counter() - t0}
    row.update(seed=s.park.seed, days=s.period.duration_s / 86400.0, **capacities(s))
    try:
        row.update(_simulate(s, job.runs_dir, case.shared))
    except Exception as exc:  # noqa: BLE001 - a case's failure is its row, not the study's end
        log.warning("case %s failed: %s", case.case_id, exc)
        row.update(status=FAILED, error=one_line(exc))
    row["wall_s"] = time.perf_counter() - t0
    row["cpu_s"] = time.process_time() - c0  # the worker process's, over the case
    return row


def replayed(s: Scenario) -> tuple[str, ...]:
    """The simulators a case's run may take back from an earlier run of its weather year
    (:mod:`adapters.replay`) where the rule controller runs the park in blocks: the weather,
    the loads and the AOI lines, which the sized assets do not reach (not the loads where an
    electric boiler runs on the park's spare power, the generation's), and the PV plants and
    wind farms, scaled to their sizes."""
    from twin.cosim import blocking

    if blocking.block_steps(s) <= 1:
        return ()
    sims = ["Weather"]
    if not any(h.eboiler_mw > 0 for h in s.heat_supply):
        sims.append("Loads")
    sims += ["AOI"] if s.aoi_lines else []
    sims += ["PV"] if s.pv_plants else []
    return (*sims, "Wind") if s.wind_farms else tuple(sims)


def _simulate(s: Scenario, runs_dir: str | None, shared: str = "") -> dict[str, Any]:
    from adapters import replay
    from twin import runner

    with contextlib.ExitStack() as stack:
        out = runs_dir or stack.enter_context(tempfile.TemporaryDirectory(prefix="twin-case-"))
        sims = replayed(s) if shared else ()
        before = replay.stats()
        result = _replaying(s, out, shared, sims) if sims else None
        if result is None:
            result = runner.run(s, out_dir=out)
        after = replay.stats()
    # how the case ran: taking blocks back, computing them first, or without replay
    how = ("alone" if after["mismatched"] > before["mismatched"] else
           "replayed" if after["replayed"] > before["replayed"] else
           "first" if after["computed"] > before["computed"] else "alone")
    a = result.assessment
    assert a is not None
    kpis = {k: float(v.value) for k, v in result.kpis.items()}
    criteria = {}
    elec_mwh_per_year = a.emissions.electricity_total_mwh / (a.years or 1.0)
    for c in a.criteria:
        if c.value is None:
            continue
        ref = abs(c.threshold) if c.threshold else max(elec_mwh_per_year, 1.0)
        criteria[c.key] = {"value": c.value, "threshold": c.threshold, "met": c.met,
                           "margin": c.margin, "ref": ref, "source": c.source}
    return {"kpis": kpis, "criteria": criteria, **costs(s, kpis, a.years),
            "run": str(result.path) if runs_dir else "", "replay": how}


def _replaying(s: Scenario, out: str, shared: str, sims: tuple[str, ...]) -> Any:
    """The run of ``s`` replaying ``sims`` under the key ``shared``; None where a replayed
    block's inputs differ from its first run's (then the run is to be made without)."""
    from adapters import replay
    from twin import runner
    from twin.cosim import blocking

    try:
        with replay.session(shared):  # block_steps given: the extension adds no simulator
            return runner.run(s, out_dir=out, extensions=[replay.Replay(sims)],
                              block_steps=blocking.block_steps(s))
    except Exception as exc:
        if not _caused(exc, replay.ReplayMismatch):
            raise
        log.info("case %s again without replay: %s", s.output.name, one_line(exc))
        return None


def capacities(s: Scenario) -> dict[str, float]:
    """Installed wind (MW), PV (MWp) and storage (MW, MWh) of a scenario."""
    from twin.models.turbines import power_curve

    return {"wind_mw": float(sum(power_curve(w.turbine_type).nominal_mw * w.n_turbines
                                 for w in s.wind_farms)),
            "pv_mwp": float(sum(p.p_dc_mwp for p in s.pv_plants)),
            "storage_mw": float(sum(b.p_max_mw for b in s.batteries)),
            "storage_mwh": float(sum(b.e_max_mwh for b in s.batteries))}


def costs(s: Scenario, kpis: dict[str, float], years: float) -> dict[str, float]:
    """Annualised cost of a run (CNY/yr): capex annuity + opex + energy cost per year."""
    from twin.accounting import economics

    rate = s.economics.discount_rate
    rate = economics.default_discount_rate() if rate is None else rate
    annuity = kpis["capex_cny"] / economics.annuity_factor(rate, s.economics.lifetime_years)
    # the energy to a year by the run's length, its monthly demand charge by its months
    demand = kpis.get("demand_charge_cny", 0.0)
    energy = ((kpis["energy_cost_cny"] - demand) / (years or 1.0)
              + demand * 12.0 / months_touched(s))
    return {"capex_annuity_cny_per_year": annuity, "energy_cost_cny_per_year": energy,
            COST: annuity + kpis["opex_cny_per_year"] + energy}


def months_touched(s: Scenario) -> int:
    """Number of local calendar months the scenario's period touches."""
    import zoneinfo

    zone = zoneinfo.ZoneInfo(s.park.timezone)
    start = s.start_utc.astimezone(zone)
    end = (s.start_utc + dt.timedelta(seconds=max(s.period.duration_s - 1, 0))).astimezone(zone)
    return (end.year - start.year) * 12 + end.month - start.month + 1


def _caused(exc: BaseException | None, kind: type[BaseException]) -> bool:
    """Whether ``exc`` is a ``kind``, or was raised while handling or because of one."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kind):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type and first line of message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]


# --- the case store: one file per finished case -----------------------------------------------


class CaseStore:
    """Finished cases, one JSON file each (written whole, then renamed: never half a row)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def rows(self) -> dict[str, dict[str, Any]]:
        """Every finished case's row by case id."""
        out = {}
        for p in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else ():
            try:
                row = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # unreadable: the case runs again
            out[row["case_id"]] = row
        return out

    def put(self, row: dict[str, Any]) -> None:
        """Record a finished case."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{row['case_id']}.json.tmp"
        tmp.write_text(json.dumps(row, default=str), encoding="utf-8")
        tmp.replace(self.folder / f"{row['case_id']}.json")


def paths(table: str | Path) -> dict[str, Path]:
    """Where a study's files go, from its table's path."""
    table = Path(table)
    stem = table.with_suffix("")
    return {"table": table, "cases": Path(f"{stem}.cases"), "runs": Path(f"{stem}.runs"),
            "report": table.with_suffix(".html"), "meta": Path(f"{stem}.study.json")}


# --- the cluster ------------------------------------------------------------------------------


class SchedulerUnreachable(ConnectionError):
    """The Dask scheduler named by the user cannot be reached."""


@contextlib.contextmanager
def connect(scheduler: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """A Dask client: on ``scheduler`` if given, else on a new local cluster of processes
    (``workers`` of them, default one per core, one thread each)."""
    from distributed import Client

    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, ValueError) as exc:
            raise SchedulerUnreachable(f"cannot reach the Dask scheduler at {scheduler}: "
                                       f"{one_line(exc)}") from None
        with client:
            yield client
        return
    with local_cluster(workers) as cluster, Client(cluster) as client:
        yield client


# Dask's statistical profiler samples every worker thread's stack every 10 ms: on long pure-
# Python tasks (a co-simulation) it took a quarter of the time (benchmarks/bench_sweep.py).
# Local clusters start without it; on an existing cluster it is paused while cases run.
WORKER_CONFIG = {"distributed.worker.profile.enabled": False}


def local_cluster(workers: int | None = None) -> Any:
    """A Dask LocalCluster of worker processes with one thread each (one case at a time),
    without the workers' statistical profiler (:data:`WORKER_CONFIG`)."""
    import dask
    from distributed import LocalCluster

    n = workers or os.cpu_count() or 1
    # the workers ignore Ctrl-C: they inherit SIG_IGN while they start (the command stops them
    # itself, and one interrupted while it starts prints tracebacks nobody can silence); a
    # Ctrl-C in these seconds of start-up is not seen
    main = threading.current_thread() is threading.main_thread()
    if main:
        before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with dask.config.set(WORKER_CONFIG):  # the nannies hand this config to their workers
            # a free port: clusters side by side; the workers' own logs only when critical
            # (a case's failure is its row in the table; after Ctrl-C the workers would
            # print heartbeat tracebacks while the scheduler goes away)
            return LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                dashboard_address=":0", silence_logs=logging.CRITICAL)
    finally:
        if main:
            signal.signal(signal.SIGINT, before)


# --- running a study --------------------------------------------------------------------------


@dataclass
class StudyRun:
    """What ``run_study`` did."""

    table: Path
    report: Path | None
    cases: int
    skipped: int  # done before
    ran: int
    failed: int  # invalid or failed, over the whole table
    wall_s: float


def pending(study: Study, store: CaseStore, retry_failed: bool = False) -> list[Case]:
    """The cases still to run."""
    done = store.rows()
    return [c for c in study.cases() if c.case_id not in done
            or (retry_failed and done[c.case_id]["status"] == FAILED)]


def run_cases(client: Any, job: Job, cases: Sequence[Case], store: CaseStore,
              on_row: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Run ``cases`` on the cluster; store each row as it arrives; return the rows."""
    from distributed import as_completed

    if not cases:
        return []
    years = {k: i for i, k in enumerate(dict.fromkeys(c.shared for c in cases))}
    cases = sorted(cases, key=lambda c: years[c.shared])  # a weather year's cases together
    client.run(warm)
    paused = [w for w, had in client.run(profiler, False).items() if had]
    # a fresh key per call: a content-hashed key released by the previous round of
    # ``twin size`` can race with its re-scatter and cancel the new tasks
    [job_future] = client.scatter([job], broadcast=True, hash=False)
    futures = {client.submit(run_case, job_future, c, pure=False): c for c in cases}
    rows = []
    try:
        for future in as_completed(futures):
            case = futures[future]
            if future.status == "error":
                row = {"case_id": case.case_id, "params": case.params, "status": FAILED,
                       "error": one_line(future.exception()), "wall_s": math.nan}
            else:
                row = future.result()
            store.put(row)
            rows.append(row)
            if on_row is not None:
                on_row(row)
            future.release()
    except BaseException:
        client.cancel(list(futures))
        raise
    finally:
        if paused:  # the cluster's own settings back as they were
            with contextlib.suppress(Exception):
                client.run(profiler, True, workers=paused)
    return rows


def run_study(study: Study, client: Any, output: str | Path | None = None,
              retry_failed: bool = False, progress: bool = True,
              report: bool = True) -> StudyRun:
    """Run every case not yet done; write the table, its metadata and the report. A Ctrl-C
    (KeyboardInterrupt) goes through: each case finished before it is stored already."""
    from tqdm import tqdm

    t0 = time.perf_counter()
    where = paths(output or study.output)
    store = CaseStore(where["cases"])
    bad = [0]
    cases = study.cases()
    todo = pending(study, store, retry_failed)
    job = study.job(where["runs"] if study.options.keep_runs else None)
    bar = tqdm(total=len(cases), initial=len(cases) - len(todo), unit="case", desc=study.name,
               disable=not progress, smoothing=0.1)

    def on_row(row: dict[str, Any]) -> None:
        bad[0] += row["status"] != OK
        bar.update(1)
        bar.set_postfix(failed=bad[0], refresh=False)

    with bar:
        run_cases(client, job, todo, store, on_row)
    df = write_table(study, store, where)
    html = None
    if report:
        from twin.studies import report as sweep_report

        html = sweep_report.write(df, read_meta(where["table"]), where["report"])
    return StudyRun(table=where["table"], report=html, cases=len(cases),
                    skipped=len(cases) - len(todo), ran=len(todo),
                    failed=int((df["status"] != OK).sum()), wall_s=time.perf_counter() - t0)


# --- the table --------------------------------------------------------------------------------


def flatten(row: dict[str, Any], study: Study) -> dict[str, Any]:
    """A stored row as one table row: parameters, capacities, costs, criteria, KPIs."""
    out: dict[str, Any] = {"case_id": row["case_id"], "status": row["status"],
                           "error": row.get("error", ""), "wall_s": row.get("wall_s", math.nan),
                           "cpu_s": row.get("cpu_s", math.nan), "replay": row.get("replay", "")}
    params = row.get("params", {})
    for p in study.parameters:
        out[p.path] = params.get(p.path)
    out["seed"] = row.get("seed", params.get(SEED_PATH, study.base.park.seed))
    out["days"] = row.get("days", math.nan)
    for key in CAPACITIES:
        out[key] = row.get(key, math.nan)
    for key in ("capex_annuity_cny_per_year", "energy_cost_cny_per_year", COST):
        out[key] = row.get(key, math.nan)
    criteria = row.get("criteria", {})
    ok = row["status"] == OK
    out["criteria_met"] = ok and all(bool(criteria.get(k, {}).get("met")) for k in study.criteria)
    out["shortfall"] = _shortfall(criteria, study.criteria) if ok else math.nan
    for key, c in criteria.items():
        out[f"met_{key}"] = c.get("met")
        out[f"threshold_{key}"] = c.get("threshold")
    kpis = row.get("kpis", {})
    for key in dict.fromkeys((*study.kpis, CLEAN, CORE,
                              *(f"criterion_{k}" for k in study.criteria))):
        out[key] = kpis.get(key, math.nan)
    out["host"] = row.get("host", "")
    return out


def _shortfall(criteria: dict[str, Any], required: Sequence[str]) -> float:
    """Sum over the required criteria of how far each misses, relative to its threshold."""
    total = 0.0
    for key in required:
        c = criteria.get(key)
        if c is None or c.get("margin") is None or c["margin"] != c["margin"]:
            total += 1.0
        else:
            total += max(0.0, -float(c["margin"])) / float(c["ref"])
    return total


def table(study: Study, store: CaseStore) -> pd.DataFrame:
    """The study's table from its stored rows (cases not done yet are left out)."""
    rows = store.rows()
    records = [flatten(rows[c.case_id], study) for c in study.cases() if c.case_id in rows]
    df = pd.DataFrame.from_records(records)
    for p in study.parameters:  # one type per column (Parquet needs it)
        if p.path in df and len({type(v) for v in df[p.path] if v is not None}) > 1:
            if all(isinstance(v, int | float) and not isinstance(v, bool) for v in df[p.path]):
                df[p.path] = df[p.path].astype(float)
            else:
                df[p.path] = df[p.path].astype(str)
    return df


def meta(study: Study) -> dict[str, Any]:
    """What the report needs to know about the study, stored beside the table."""
    return {"name": study.name, "study": str(study.path), "base": str(study.base_path),
            "parameters": [p.path for p in study.parameters], "seed_parameter": SEED_PATH,
            "scaled": [p.path for p in study.parameters if p.scale],
            "criteria": list(study.criteria), "kpis": list(study.kpis),
            "days": study.options.days, "base_days": study.base.period.duration_s / 86400,
            "cost": COST_DEFINITION, "fingerprint": study.fingerprint,
            "description": study.description,
            "tariff": economics.tariff_note(study.base.economics.tariff)}


def write_table(study: Study, store: CaseStore, where: dict[str, Path]) -> pd.DataFrame:
    """Write the table (Parquet, or CSV by extension) and its metadata; return the table."""
    df = table(study, store)
    out = where["table"]
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        df.to_csv(out, index=False)
    else:
        df.to_parquet(out, index=False)
    where["meta"].write_text(json.dumps(meta(study), indent=1), encoding="utf-8")
    return df


def read_table(path: str | Path) -> pd.DataFrame:
    """A study table written by :func:`write_table`."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path)
    return pd.read_parquet(path)


def read_meta(table_path: str | Path) -> dict[str, Any]:
    """The study metadata written beside a table."""
    return json.loads(paths(table_path)["meta"].read_text(encoding="utf-8"))
