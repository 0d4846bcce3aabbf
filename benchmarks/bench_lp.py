"""Benchmark: one re-plan of the EMS dispatch LP on the reference park, two ways to call HiGHS.

Builds 50 realistic 24 h horizons (96 steps of 15 min; storages 100 MW/400 MWh and 20 MW/40
MWh; 3 EV hubs; 7 shiftable factory loads of 10-30 MW with 10 % flexibility; PV ~190 MWp and
wind ~420 MW with random weather; the Liaoning time-of-use tariff with demand charge) and solves
each with

- ``highspy``: :func:`twin.ems.dispatch.plan` (model built in CSC form, passed to HiGHS
  through ``highspy.Highs.passModel``), the twin's path;
- ``linprog``: the same model through ``scipy.optimize.linprog(method="highs")``, with
  HiGHS' presolve on (its default) and off (as the twin calls it).

Prints the median and p90 of the whole re-plan (build + solve + unpack) in ms, the model size,
the objectives' largest difference, and the ratio; and the fallback rule's time.

    .venv/bin/python benchmarks/bench_lp.py [--n 50]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import linprog

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._calibrate import python_loop_s  # noqa: E402
from twin import data  # noqa: E402
from twin.accounting import economics  # noqa: E402
from twin.ems import dispatch  # noqa: E402

H = 96
STEP_S = 900


def reference_horizon(rng: np.random.Generator, H: int = H) -> dispatch.PlanInputs:
    """A random 24 h horizon of the reference park, starting at a random hour of a month."""
    dt_h = STEP_S / 3600.0
    hour0, month = int(rng.integers(0, 24)), int(rng.integers(1, 13))
    hour = (hour0 + np.arange(H) * dt_h) % 24
    sun = np.clip(np.sin(np.pi * (hour - 6.0) / 12.0), 0.0, None) ** 1.3
    pv = 190.0 * 0.8 * sun * rng.uniform(0.3, 1.0) * rng.uniform(0.7, 1.0, H)
    wind = np.empty(H)
    w = rng.uniform(0.1, 0.7)
    for k in range(H):
        w = float(np.clip(w + rng.normal(0, 0.04), 0.0, 0.95))
        wind[k] = 420.0 * w
    shape = 0.8 + 0.2 * np.clip(np.sin(np.pi * (hour - 7.0) / 12.0), 0.0, None)
    load = 160.0 * shape * rng.uniform(0.95, 1.05, H)
    t = economics.tariff()
    price = economics.hourly_prices(t, hour, np.full(H, month))
    storages = (
        dispatch.Storage("bess-1", 100.0, 400.0, 0.1, 0.9, 0.95, 0.95, ramp_mw_per_step=50.0),
        dispatch.Storage("bess-2", 20.0, 40.0, 0.1, 0.9, 0.95, 0.95),
    )
    t0 = 0
    evs = []
    for j, (n, p_kw) in enumerate(((40, 60.0), (25, 120.0), (60, 7.0))):
        dep = t0 + rng.uniform(0.5, 14.0, n) * 3600.0
        e = rng.uniform(0.01, 0.08, n) * (1.0 + j)
        arrivals = rng.uniform(0.0, 0.15, H) * np.clip(np.sin(np.pi * (hour - 6) / 14), 0, None)
        evs.append(dispatch.ev_demand(f"ev-{j}", dep, e, p_kw / 1000.0, t0, STEP_S, H,
                                      arrivals, p_hub_max_mw=n * p_kw / 1000.0))
    shiftables = tuple(
        dispatch.Shiftable(f"factory-{i}", base * shape * rng.uniform(0.9, 1.1, H), 0.1, 0.1,
                           ramp_mw_per_step=0.05 * base)
        for i, base in enumerate(np.linspace(10.0, 30.0, 7)))
    return dispatch.PlanInputs(
        dt_h=dt_h, pv_mw=pv, wind_mw=wind, load_mw=load, price_import_cny_per_mwh=price,
        price_export_cny_per_mwh=t.export_price_cny_per_mwh, storages=storages,
        soc0=rng.uniform(0.2, 0.8, 2), evs=tuple(evs), shiftables=shiftables,
        import_limit_mw=400.0, export_limit_mw=100.0,
        demand_charge_cny_per_mw=t.demand_charge_cny_per_kw_month * economics.KW_PER_MW,
        peak_import_so_far_mw=float(rng.uniform(0.0, 150.0)),
        direct_min_share=float(data.load("carbon")["direct_line_consumed_min"]),
        carbon_price_cny_per_t=100.0,
        grid_factor_t_per_mwh=float(data.load("carbon")["grid_co2_northeast_2023"]))


def solve_linprog(inputs: dispatch.PlanInputs, presolve: bool = True) -> float:
    """The same LP through scipy's linprog (rows split into <= and ==); its objective."""
    import scipy.sparse as sp

    m, _, offset = dispatch._build(inputs)
    cost, lb, ub, rlo, rhi, start, index, value = m.csc()
    a = sp.csc_array((value, index, start), shape=(m.n_row, m.n_col)).tocsr()
    eq = rlo == rhi
    up = ~eq & np.isfinite(rhi)
    lo = ~eq & np.isfinite(rlo)
    a_ub = sp.vstack([a[up], -a[lo]])
    b_ub = np.r_[rhi[up], -rlo[lo]]
    res = linprog(cost, A_ub=a_ub, b_ub=b_ub, A_eq=a[eq], b_eq=rlo[eq],
                  bounds=np.c_[lb, np.where(np.isinf(ub), None, ub)], method="highs",
                  options={"time_limit": 10.0, "presolve": presolve})
    if res.status != 0:
        raise RuntimeError(res.message)
    return float(res.fun) + offset


def _timed(f, arg) -> tuple[float, float]:  # noqa: ANN001
    t0 = time.perf_counter()
    out = f(arg)
    return time.perf_counter() - t0, out


def main() -> None:
    """Solve the horizons both ways and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50, help="number of horizons")
    args = parser.parse_args()
    rng = np.random.default_rng(20250101)
    cases = [reference_horizon(rng) for _ in range(args.n)]
    dispatch.plan(cases[0])  # warm-up (imports, first HiGHS instance)
    solve_linprog(cases[0])
    t_hs, t_lp, t_lp0, diffs, status = [], [], [], [], set()
    for inp in cases:
        dt, p = _timed(dispatch.plan, inp)
        t_hs.append(dt)
        status.add(p.status)
        dt, obj = _timed(solve_linprog, inp)
        t_lp.append(dt)
        dt, _ = _timed(lambda x: solve_linprog(x, presolve=False), inp)
        t_lp0.append(dt)
        diffs.append(abs(obj - p.cost_cny) / max(1.0, abs(obj)))
    m, _, _ = dispatch._build(cases[0])
    print(f"reference park, {H} steps of {STEP_S} s, {args.n} horizons: {m.n_col} variables, "
          f"{m.n_row} constraints, {sum(len(v) for v in m.v)} non-zeros; plan status "
          f"{sorted(status)}; speed now: 1e7-addition Python loop {python_loop_s():.2f} s")
    t_rule = [_timed(dispatch.rule_plan, inp)[0] for inp in cases]
    print(f"{'path':<20} {'median ms':>10} {'p90 ms':>8} {'ratio':>7}")
    med_hs = float(np.median(t_hs))
    for name, t in (("highspy (plan)", t_hs), ("linprog", t_lp), ("linprog presolve off", t_lp0),
                    ("rule_plan (fallback)", t_rule)):
        print(f"{name:<20} {np.median(t) * 1e3:>10.1f} {np.percentile(t, 90) * 1e3:>8.1f} "
              f"{float(np.median(t)) / med_hs:>6.2f}x")
    print(f"largest relative difference of the objectives: {max(diffs):.1e}"
          f" (model build alone: {_build_ms(cases):.1f} ms median)")


def _build_ms(cases: list[dispatch.PlanInputs]) -> float:
    t = []
    for inp in cases:
        t0 = time.perf_counter()
        dispatch._build(inp)[0].csc()
        t.append(time.perf_counter() - t0)
    return float(np.median(t)) * 1e3 if t else math.nan


if __name__ == "__main__":
    main()
