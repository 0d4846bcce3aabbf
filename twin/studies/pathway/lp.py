"""The capacity-expansion LP of the pathway: the cheapest portfolio meeting the criteria.

Over the profiles' hours (a year at hourly resolution for the real answer), HiGHS chooses the
added capacity of each lever (continuous) and the hourly dispatch: import, export (at most the
hour's own generation), storage charge, discharge and content; the heat balance of each hour:
ground-source, air-source (COP by air and supply temperature, none below its lowest air
temperature) and waste-heat heat pumps, electric boilers (with the park's generation:
boilers and export together at most the hour's generation, while storage or import may
serve the other loads; in a park without generation, in the rule's hours) heating directly
or filling a heat store with losses, gas boilers the rest; flexible factory load and EV charging moved within each day (EMS scenarios only); the
certificates of 绿电交易 contracts, each delivering its volume in a shape (flat, wind, solar),
counted month by month as the smaller of delivery and grid import. The criteria are
linear rows computing the quantities of :mod:`twin.accounting.carbon.criteria`:

- core: Scope 1 (gas) + location-based Scope 2 (import x grid factor)
  <= threshold x energy use (electricity consumed at 0.1229 tce/MWh + gas in tce);
- market-based (an option): import not covered by certificates x residual factor;
- clean share: (electricity consumed - import + certificates) in tce >= 0.9 x energy use
  (local renewables consumed = consumption not imported; gas not clean; the grid's non-fossil
  share not counted);
- 绿电直连: export <= (1 - 0.6) x direct-line wind generation (conservative: every exported MWh
  is counted as wind, where the ledger shares exports pro rata with PV).

Electricity consumed = loads (factories less efficiency, shifted) + heat-pump compressors +
electric boilers + circulation pumps + the base run's network losses + storage losses; hourly
CFE counts a contract's delivery against the import of the same hour. The objective is the
annualised cost of the period: capex annuity + fixed O&M of what is added, energy bought at
the tariff less exports, demand charge, gas, certificates and contract premiums.

Each criterion row carries a slack (in the criterion's own unit, against the base run's energy
use or wind): zero when the criteria must hold; minimised when no portfolio meets them, which
gives the smallest relaxation and names the binding criteria.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import highspy
import numpy as np
from scipy import sparse

from twin.studies.pathway.measures import BOUGHT, CONTRACTS, ORDER, Measure, measures, shapes
from twin.studies.pathway.profiles import Profiles
from twin.studies.pathway.settings import CRITERIA, NAMES, NATIONAL, Accounting

INF = highspy.kHighsInf
FEASIBLE = 2  # HiGHS's solution status 'feasible' (kSolutionStatusFeasible)
# heat delivered by each technology (the LP's columns) in Solution.flows, MWh
HEAT_FLOWS = {"qhp": "heat_ground_mwh", "qa": "heat_air_mwh", "qw": "heat_waste_mwh",
              "qd": "heat_eboiler_mwh", "td": "heat_store_mwh"}
# the penalised solve's least relaxation is exact to this (criterion units; reports print
# three digits): a year's penalty per row unit is then ~1/3 of its largest cost coefficient
# (at 1e-5, ~1e6x before the slacks took their rows' units: 127 s CPU and a dearer portfolio
# at the same least relaxation, against 104 s; the simplex agrees with the latter)
RESOLUTION = 1e-4
SLACK_TOL = 1e-7  # a relaxation below this is the interior point's leftover: none
LARGE = 50_000  # columns above which HiGHS runs its interior point method (a year: ~80,000)
# HiGHS options of a year's solves and of smaller ones
# (a year: the interior point with crossover, one penalised solve, ~100 CPU seconds; without
# crossover it stops without an answer on the penalised solve and on the cheapest at the least
# relaxation, and the two-solve road took ~12)
LARGE_OPTIONS: dict[str, object] = {"solver": "ipm", "run_crossover": "on"}
SMALL_OPTIONS: dict[str, object] = {}
# the most the storage may charge and discharge in one hour at once (MWh): above it, the hours'
# directions are fixed from the answer and the LP solved again (see :func:`solve`)
BOTH_TOL = 1e-3


@dataclass
class Solution:
    """One LP answer."""

    status: str  # 'optimal' or 'infeasible'
    portfolio: dict[str, float]
    criteria: dict[str, float]  # as the LP computes them
    thresholds: dict[str, float]
    relaxation: dict[str, float]  # how far each threshold had to move (0: met)
    binding: list[str]  # criteria whose rows bind (shadow price or relaxation)
    cost: dict[str, float]  # CNY/yr: per measure and energy parts (mean over weather years)
    flows: dict[str, float] = field(default_factory=dict)  # period totals, MWh / Nm3
    by_weather: list[dict[str, float]] = field(default_factory=list)  # criteria per year
    certificates_mwh: float = 0.0  # new certificates counted (GECs + contracts as settled),
    # the least over the weather years
    # per weather year, the hourly storage charge, discharge, import and export (MWh), the
    # heat pumps' heat by kind and, with electric boilers, their electricity and the heat
    # store's charge and discharge
    hourly: list[dict[str, np.ndarray]] = field(default_factory=list)
    resolved: bool = False  # solved again with each hour's storage direction fixed


    @property
    def annual_cost_cny(self) -> float:
        """Total annualised cost."""
        return float(sum(self.cost.values()))


class _Model:
    """Columns and sparse rows for HiGHS."""

    def __init__(self) -> None:
        self.cost: list[np.ndarray] = []
        self.lo: list[np.ndarray] = []
        self.hi: list[np.ndarray] = []
        self.n = 0
        self.rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.rlo: list[np.ndarray] = []
        self.rhi: list[np.ndarray] = []
        self.m = 0

    def var(self, size: int, lo: float | np.ndarray = 0.0, hi: float | np.ndarray = INF,
            cost: float | np.ndarray = 0.0) -> np.ndarray:
        idx = np.arange(self.n, self.n + size)
        self.n += size
        for target, v in ((self.lo, lo), (self.hi, hi), (self.cost, cost)):
            target.append(np.broadcast_to(np.asarray(v, dtype=float), (size,)).copy())
        return idx

    def rows_(self, terms: list[tuple[np.ndarray, np.ndarray]], lo: np.ndarray | float,
              hi: np.ndarray | float, size: int) -> np.ndarray:
        """``size`` rows; each term is (columns (size,) or scalar col, coefficients)."""
        r = np.arange(self.m, self.m + size)
        for cols, vals in terms:
            c = np.broadcast_to(np.asarray(cols), (size,))
            v = np.broadcast_to(np.asarray(vals, dtype=float), (size,))
            self.rows.append((r, c, v))
        self.rlo.append(np.broadcast_to(np.asarray(lo, dtype=float), (size,)).copy())
        self.rhi.append(np.broadcast_to(np.asarray(hi, dtype=float), (size,)).copy())
        self.m += size
        return r

    def group_rows(self, groups: np.ndarray, terms: list[tuple[np.ndarray, np.ndarray]],
                   lo: float = 0.0, hi: float = 0.0) -> np.ndarray:
        """One row per distinct value of ``groups`` (one per column position): the sum of
        each term's columns in the group, times their coefficients, within [lo, hi]."""
        keys, pos = np.unique(groups, return_inverse=True)
        r = np.arange(self.m, self.m + len(keys))
        for cols, vals in terms:
            self.rows.append((r[pos], np.asarray(cols), np.asarray(vals, dtype=float)))
        self.rlo.append(np.full(len(keys), lo))
        self.rhi.append(np.full(len(keys), hi))
        self.m += len(keys)
        return r

    def row(self, cols: np.ndarray, vals: np.ndarray, lo: float, hi: float) -> int:
        r = self.m
        self.rows.append((np.full(len(cols), r), np.asarray(cols), np.asarray(vals, float)))
        self.rlo.append(np.array([lo]))
        self.rhi.append(np.array([hi]))
        self.m += 1
        return r

    def solve(self) -> tuple[str, np.ndarray, np.ndarray]:
        r = np.concatenate([x[0] for x in self.rows])
        c = np.concatenate([x[1] for x in self.rows])
        v = np.concatenate([x[2] for x in self.rows])
        a = sparse.csc_matrix((v, (r, c)), shape=(self.m, self.n))
        a.sum_duplicates()
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = self.n, self.m
        lp.col_cost_ = np.concatenate(self.cost)
        lp.col_lower_, lp.col_upper_ = np.concatenate(self.lo), np.concatenate(self.hi)
        lp.row_lower_, lp.row_upper_ = np.concatenate(self.rlo), np.concatenate(self.rhi)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = a.indptr
        lp.a_matrix_.index_ = a.indices
        lp.a_matrix_.value_ = a.data
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        for name, value in (LARGE_OPTIONS if self.n > LARGE else SMALL_OPTIONS).items():
            h.setOptionValue(name, value)
        h.passModel(lp)
        h.run()
        status = h.getModelStatus()
        info = h.getInfo()
        # the interior point without crossover may stop 'unknown' (imprecise) at a point
        # HiGHS itself finds primal and dual feasible: that point is the answer
        feasible = (status == highspy.HighsModelStatus.kUnknown
                    and info.primal_solution_status == FEASIBLE
                    and info.dual_solution_status == FEASIBLE
                    and info.num_primal_infeasibilities == 0
                    and info.num_dual_infeasibilities == 0)
        if status != highspy.HighsModelStatus.kOptimal and not feasible:
            return "infeasible", np.zeros(self.n), np.zeros(self.m)
        sol = h.getSolution()
        return "optimal", np.asarray(sol.col_value), np.asarray(sol.row_dual)


def targets(p: Profiles, acct: Accounting) -> dict[str, float]:
    """The threshold of each criterion counted (national; the CFE target when set)."""
    out = {"core_carbon_intensity": p.core_max, "clean_energy_share": p.clean_min,
           "direct_line_share": p.direct_min}
    if acct.cfe is not None:
        out["hourly_cfe"] = acct.cfe
    return out


def _available(levers: dict[str, Measure], key: str, installed: float) -> bool:
    return levers[key].max_value > 0 or installed > 0


def _heat(mod: _Model, p: Profiles, v: dict[str, np.ndarray], b: dict[str, np.ndarray],
          k: float, levers: dict[str, Measure]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Heat supply columns and rows of one weather year: each heat technology's heat (saving
    the gas boilers' fuel), within its capacity, all together within the demand hour by hour.
    Returns the electricity each takes as (columns, MWh per column unit)."""
    n = p.n_hours
    one = np.ones(n)
    save = -k * p.gas_cny_per_nm3 * p.gas_nm3_per_mwh  # gas saved per MWh of heat
    electric: list[tuple[np.ndarray, np.ndarray]] = []
    supply: list[np.ndarray] = []
    b["qhp"] = mod.var(n, hi=p.heat_mwh, cost=save)
    mod.rows_([(b["qhp"], one), (v["heat_pump"][0], -one)], -INF, p.hp_mw, n)
    electric.append((b["qhp"], 1.0 / p.cop))
    supply.append(b["qhp"])
    for key, col, cop, installed in (("air_heat_pump", "qa", p.air_cop, p.air_mw),
                                     ("waste_heat", "qw", p.waste_cop, p.waste_mw)):
        if not _available(levers, key, installed):
            continue
        b[col] = mod.var(n, hi=np.where(cop > 0, p.heat_mwh, 0.0), cost=save)
        mod.rows_([(b[col], one), (v[key][0], -one)], -INF, installed, n)
        electric.append((b[col], np.divide(1.0, cop, out=np.zeros(n), where=cop > 0)))
        supply.append(b[col])
    if _available(levers, "electric_boiler", p.eboiler_mw):
        b["peb"] = mod.var(n, hi=INF if p.eboiler_on is None else np.where(p.eboiler_on, INF,
                                                                            0.0))
        b["qd"] = mod.var(n, hi=p.heat_mwh, cost=save)
        mod.rows_([(b["peb"], one), (v["electric_boiler"][0], -one)], -INF, p.eboiler_mw, n)
        terms = [(b["peb"], p.eboiler_eff * one), (b["qd"], -one)]
        if _available(levers, "heat_store", p.heat_store_mwh):
            b["tc"], b["td"], b["s"] = mod.var(n), mod.var(n, hi=p.heat_mwh, cost=save), mod.var(n)
            terms.append((b["tc"], -one))
            first = np.zeros(n)
            first[0] = 1.0
            prev = np.concatenate([[b["s"][0]], b["s"][:-1]])
            # content: s_h = keep * s_(h-1) + charge - discharge, empty before the first hour
            mod.rows_([(b["s"], one), (prev, -p.store_keep_per_h * (1 - first)),
                       (b["tc"], -one), (b["td"], one)], 0.0, 0.0, n)
            mod.rows_([(b["s"], one), (v["heat_store"][0], -one)], -INF, p.heat_store_mwh, n)
            supply.append(b["td"])
        mod.rows_(terms, 0.0, 0.0, n)
        electric.append((b["peb"], one))
        supply.append(b["qd"])
    if len(supply) > 1:
        mod.rows_([(c, one) for c in supply], -INF, p.heat_mwh, n)
    b["_heat"] = np.concatenate(supply)
    return electric


def _shift(mod: _Model, p: Profiles, v: dict[str, np.ndarray], b: dict[str, np.ndarray],
           levers: dict[str, Measure]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Flexible factory load and EV charging: moved within each day (energy-neutral), down by
    at most the shiftable share of the hour's load, up by at most that share of the peak.
    Returns the load each adds as (columns, MWh per column unit)."""
    n = p.n_hours
    one = np.ones(n)
    out: list[tuple[np.ndarray, np.ndarray]] = []
    days = np.arange(n) // 24
    for key, load, base in (("flex_load", p.factory_mwh, p.flex_share), ("ev_smart", p.ev, 0.0)):
        if not (levers[key].max_value > 0 or base > 0) or not load.any():
            continue
        up, dn = mod.var(n), mod.var(n)
        peak = float(load.max())
        mod.rows_([(dn, one), (v[key][0], -load)], -INF, base * load, n)
        mod.rows_([(up, one), (v[key][0], -peak * one)], -INF, base * peak, n)
        mod.group_rows(days, [(up, one), (dn, -one)])
        out += [(up, one), (dn, -one)]
        b[f"_{key}"] = np.concatenate([up, dn])
    return out


def _contracts(mod: _Model, p: Profiles, v: dict[str, np.ndarray], b: dict[str, np.ndarray],
               levers: dict[str, Measure]) -> None:
    """Certificates counted from 绿电交易 contracts, month by month: at most the contracts'
    delivery in the month and at most the park's grid import in it (三者取小)."""
    active = [c for c in CONTRACTS if levers[c].max_value > 0]
    months = np.unique(p.month)
    b["cnt"] = mod.var(len(months) if active else 0)
    if not active:
        return
    shaped = shapes(p)
    for j, m in enumerate(months):
        inside = p.month == m
        mod.row(np.array([b["cnt"][j], *(v[c][0] for c in active)]),
                np.array([1.0, *(-shaped[c][inside].sum() for c in active)]), -INF, 0.0)
        mod.row(np.concatenate([[b["cnt"][j]], b["imp"][inside]]),
                np.concatenate([[1.0], -np.ones(int(inside.sum()))]), -INF, 0.0)


def scales(p: Profiles, acct: Accounting) -> np.ndarray:
    """The size of each criterion's row (:data:`CRITERIA`), what one unit of the criterion
    is worth in it: the base run's energy use (tce: core indicator, clean share), its
    direct-line wind (MWh) and its electricity (MWh: hourly CFE)."""
    el_k = float(p.factory_mwh.sum() + p.other_mwh.sum())
    gas_k = p.gas_nm3_per_mwh * float(p.heat_mwh.sum())
    tce0 = el_k * p.elec_tce_per_mwh + gas_k * acct.gas_tce_per_nm3(p.gas_tce_per_nm3)
    return np.array([tce0, tce0, max(float(p.wind_per_mw.sum()) * p.wind_mw, 1.0), el_k])


def _block(mod: _Model, p: Profiles, v: dict[str, np.ndarray], k: float, acct: Accounting,
           thr: dict[str, float], active: Collection[str], levers: dict[str, Measure],
           unit: np.ndarray, direction: np.ndarray | None = None,
           ) -> tuple[dict[str, np.ndarray], dict[str, int], dict[str, float]]:
    """Dispatch columns and rows of one weather year; costs weighted by ``k``; the slacks
    in their rows' units of the first weather year (``unit``: its :func:`scales`);
    ``direction``: per hour +1 (the storage may only charge), -1 (only discharge)."""
    n = p.n_hours
    wind_max = levers["wind"].max_value
    b: dict[str, np.ndarray] = {}
    b["imp"] = mod.var(n, cost=k * p.price_cny_per_mwh)
    b["exp"] = mod.var(n, cost=-k * p.export_price_cny_per_mwh)
    b["ch"] = mod.var(n, hi=INF if direction is None else np.where(direction < 0, 0.0, INF))
    b["dis"] = mod.var(n, hi=INF if direction is None else np.where(direction > 0, 0.0, INF))
    b["e"] = mod.var(n)
    heat_el = _heat(mod, p, v, b, k, levers)
    moved = _shift(mod, p, v, b, levers)
    months = np.unique(p.month)
    # the demand charge of the months present, as a share of a year's twelve
    b["peak"] = mod.var(len(months), cost=k * 1000.0 * p.demand_cny_per_kw_month * 12.0
                        * p.year_share / len(months))
    b["u"] = mod.var(1)  # import not covered by certificates (market-based Scope 2)
    one = np.ones(n)
    # balance: imp + dis + wind + pv = loads + heat + moved + ch + exp
    rhs = p.factory_mwh + p.other_mwh - p.wind_mw * p.wind_per_mw - p.pv_mwp * p.pv_per_mwp
    mod.rows_([(b["imp"], one), (b["exp"], -one), (b["ch"], -one), (b["dis"], one),
               (v["wind"][0], p.wind_per_mw), (v["pv"][0], p.pv_per_mwp),
               *((c, -w) for c, w in heat_el + moved),
               (v["efficiency"][0], p.factory_mwh)], rhs, rhs, n)
    # exports: at most the hour's own generation (no import resold: the PCC meters the net);
    # where the run's electric boilers take the park's spare power, exports and boilers
    # together (neither grid import nor storage feeds a boiler)
    boilers = [(b["peb"], one)] if p.eboiler_spare and "peb" in b else []
    mod.rows_([(b["exp"], one), *boilers, (v["wind"][0], -p.wind_per_mw),
               (v["pv"][0], -p.pv_per_mwp)],
              -INF, p.wind_mw * p.wind_per_mw + p.pv_mwp * p.pv_per_mwp, n)
    # storage content
    prev = np.concatenate([[b["e"][0]], b["e"][:-1]])
    first = np.zeros(n)
    first[0] = 1.0
    e0 = p.soc_init * p.storage_mwh
    mod.rows_([(b["e"], one), (prev, -(1 - first)), (b["ch"], -p.eta_charge * one),
               (b["dis"], one / p.eta_discharge), (v["storage_energy"][0], -p.soc_init * first)],
              e0 * first, e0 * first, n)
    se = v["storage_energy"][0]
    mod.rows_([(b["e"], one), (se, -p.soc_max)], -INF, p.soc_max * p.storage_mwh, n)
    mod.rows_([(b["e"], one), (se, -p.soc_min)], p.soc_min * p.storage_mwh, INF, n)
    mod.row(np.array([b["e"][-1], se]), np.array([1.0, -p.soc_init]), e0, INF)
    mod.rows_([(b["ch"], one), (b["dis"], one), (v["storage_power"][0], -one)], -INF,
              p.storage_mw, n)
    mpos = np.searchsorted(months, p.month)
    mod.rows_([(b["imp"], one), (b["peak"][mpos], -one)], -INF, 0.0, n)
    _contracts(mod, p, v, b, levers)
    certs = np.concatenate([[v["gec"][0]], b["cnt"]])
    ones_c = np.ones(len(certs))
    mod.row(np.concatenate([certs, b["imp"]]), np.concatenate([ones_c, -one]), -INF,
            -p.gec_mwh)
    mod.row(np.concatenate([b["imp"], certs, b["u"]]), np.concatenate([one, -ones_c, [-1.0]]),
            -INF, p.gec_mwh)
    # linear expressions: electricity consumed (MWh) and gas (Nm3) as (cols, coefs, constant)
    el_c = np.concatenate([[v["efficiency"][0]], *(c for c, _ in heat_el + moved), b["ch"],
                           b["dis"]])
    el_v = np.concatenate([[-p.factory_mwh.sum()], *(w for _, w in heat_el + moved),
                           (1 - p.eta_charge) * one, (1 / p.eta_discharge - 1) * one])
    el_k = float(p.factory_mwh.sum() + p.other_mwh.sum())
    gas_c = b["_heat"]
    gas_v = -p.gas_nm3_per_mwh * np.ones(len(gas_c))
    gas_k = p.gas_nm3_per_mwh * p.heat_mwh.sum()
    et, gt = p.elec_tce_per_mwh, acct.gas_tce_per_nm3(p.gas_tce_per_nm3)
    g = p.grid_cfe_share
    sl = v["slack"]
    size = scales(p, acct) / unit  # each slack's coefficient: ~1 (1 in the first year)
    rows: dict[str, int] = {}
    if "core_carbon_intensity" in active:
        t = thr["core_carbon_intensity"]
        # emissions - t * tce <= slack (tCO2: the criterion's relaxation x the base's tce)
        em_c, em_v = ((b["imp"], p.grid_t_per_mwh * one) if acct.emissions == "location"
                      else (b["u"], np.array([p.residual_t_per_mwh])))
        cols = np.concatenate([em_c, el_c, gas_c, [sl[0]]])
        vals = np.concatenate([em_v, -t * et * el_v, (p.gas_t_per_nm3 - t * gt) * gas_v,
                               [-size[0]]])
        rhs = t * (et * el_k + gt * gas_k) - p.gas_t_per_nm3 * gas_k
        rows["core_carbon_intensity"] = mod.row(cols, vals, -INF, rhs)
    if "clean_energy_share" in active:
        t = thr["clean_energy_share"]
        # clean = E - a*imp + c*certificates; t * tce - et * clean <= slack (tce)
        a = 1.0 - (g if acct.grid_share_clean else 0.0)
        c = a if acct.certificates_clean else 0.0
        cols = np.concatenate([el_c, gas_c, b["imp"], certs, [sl[1]]])
        vals = np.concatenate([(t - 1) * et * el_v, t * gt * gas_v, a * et * one,
                               -c * et * ones_c, [-size[1]]])
        rhs = -(t - 1) * et * el_k - t * gt * gas_k + c * et * p.gec_mwh
        rows["clean_energy_share"] = mod.row(cols, vals, -INF, rhs)
    wsum = float(p.wind_per_mw.sum())
    if "direct_line_share" in active and wsum * (p.wind_mw + wind_max) > 0:
        t = thr["direct_line_share"]
        cols = np.concatenate([b["exp"], [v["wind"][0], sl[2]]])
        vals = np.concatenate([one, [-(1 - t) * wsum, -size[2]]])
        rows["direct_line_share"] = mod.row(cols, vals, -INF, (1 - t) * wsum * p.wind_mw)
    if "hourly_cfe" in active:
        t = thr["hourly_cfe"]
        # carbon-free supply of each hour: consumption - (1 - g) * (import not matched by a
        # contract's delivery in that hour)
        cols, vals = [b["imp"]], [(1 - g) * one]
        contracts = [c for c in CONTRACTS if levers[c].max_value > 0]
        if contracts:
            shaped = shapes(p)
            b["match"] = mod.var(n)
            mod.rows_([(b["match"], one), (b["imp"], -one)], -INF, 0.0, n)
            mod.rows_([(b["match"], one), *((v[c][0], -shaped[c]) for c in contracts)],
                      -INF, 0.0, n)
            cols.append(b["match"])
            vals.append(-(1 - g) * one)
        cols = np.concatenate([*cols, el_c, [sl[3]]])
        vals = np.concatenate([*vals, -(1 - t) * el_v, [-size[3]]])
        rows["hourly_cfe"] = mod.row(cols, vals, -INF, (1 - t) * el_k)
    b["_el_c"], b["_el_v"], b["_gas_c"], b["_gas_v"] = el_c, el_v, gas_c, gas_v
    return b, rows, {"el_k": el_k, "gas_k": gas_k}


def _build(ps: list[Profiles], levers: dict[str, Measure], fixed: dict[str, float] | None,
           floor: dict[str, float], tighten: dict[str, float], slack: str,
           active: Collection[str], acct: Accounting, slack_max: np.ndarray | None = None,
           direction: Sequence[np.ndarray] | None = None):  # noqa: ANN202
    """The model. ``slack``: 'none' (criteria hard), 'penalty' (each unit of relaxation
    costs :func:`penalty`: one solve gives the cheapest portfolio where one passes, else the
    cheapest at the least relaxation), 'min' (minimise the relaxation) or 'cap' (each
    relaxation at most ``slack_max``, minimise cost). Capacities are shared by the weather
    years, dispatch and criteria are per year, costs the mean over them; ``direction``: each
    weather year's storage direction per hour (:func:`_block`)."""
    p0 = ps[0]
    mod = _Model()
    v: dict[str, np.ndarray] = {}
    use_cost = slack != "min"
    k = 1.0 if use_cost else 0.0
    factory = float(np.mean([p.factory_mwh.sum() for p in ps]))
    upper = {}
    for key in ORDER:
        lever = levers[key]
        lo, hi = float(floor.get(key, 0.0)), lever.max_value
        if fixed is not None:
            lo = hi = float(fixed.get(key, 0.0))
        v[key] = mod.var(1, lo, max(hi, lo), k * _unit_cost(lever, p0, factory))
        upper[key] = dataclasses.replace(lever, max_value=max(hi, lo))
    # the slacks in their rows' units (tCO2, tce, MWh): one unit of a criterion is
    # ``unit`` of them, so that the rows' coefficients stay near one
    unit = scales(p0, acct)
    v["slack"] = mod.var(len(CRITERIA), hi=0.0 if slack == "none" else
                         slack_max * unit if slack == "cap" and slack_max is not None else INF,
                         cost=penalty(ps, upper) / unit if slack == "penalty" else
                         0.0 if use_cost else 1.0 / unit)
    base = targets(p0, acct)
    thr = {c: base[c] - tighten.get(c, 0.0) if c == "core_carbon_intensity"
           else base[c] + tighten.get(c, 0.0) for c in base}
    # the dispatch of a lever fixed at nothing gets no columns
    dirs = direction if direction is not None else [None] * len(ps)
    blocks = [_block(mod, p, v, k / len(ps), acct, thr, active, upper, unit, d)
              for p, d in zip(ps, dirs, strict=True)]
    return mod, v, blocks, thr


def relaxed(ps: Sequence[Profiles], acct: Accounting, v: dict[str, np.ndarray],
            x: np.ndarray) -> np.ndarray:
    """The slacks of a solution in their criteria's units."""
    return x[v["slack"]] / scales(ps[0], acct)


def _unit_cost(lever: Measure, p: Profiles, factory_mwh: float) -> float:
    """The period's cost of one unit of a lever (efficiency: per share of the factories')."""
    return (lever.annual_cny_per_unit * p.year_share if lever.key != "efficiency"
            else lever.annual_cny_per_unit * factory_mwh) + lever.period_cny_per_unit


def penalty(ps: Sequence[Profiles], levers: dict[str, Measure]) -> float:
    """The cost of one unit of relaxation (criterion units) in the penalised solve: the
    period's most any portfolio can cost (every lever with a limit at it; every MWh of
    electricity and heat bought at the dearest hour's price, with a certificate at the
    dearest premium, and as gas; every MWh generated exported) over :data:`RESOLUTION`. No
    cost saving can then buy a relaxation larger than RESOLUTION: where a portfolio passes,
    the penalised answer has no relaxation and is the cheapest; where none does, it is the
    cheapest at the least relaxation (to within RESOLUTION)."""
    p0 = ps[0]
    factory = float(np.mean([p.factory_mwh.sum() for p in ps]))
    most = sum(_unit_cost(m, p0, factory) * m.max_value for m in levers.values()
               if math.isfinite(m.max_value))
    premium = max((m.period_cny_per_unit for m in levers.values()), default=0.0)
    added = {k: m.max_value if math.isfinite(m.max_value) else 0.0 for k, m in levers.items()}
    for p in ps:
        heat = float(p.heat_mwh.sum())
        # the highest import: every load, the storage charging and the boilers at once
        peak = (float((p.factory_mwh + p.other_mwh).max(initial=0.0)) + p.storage_mw
                + added["storage_power"] + p.eboiler_mw + added["electric_boiler"]
                + float(p.heat_mwh.max(initial=0.0)))
        use = float((p.factory_mwh + p.other_mwh).sum()) + heat / min(p.eboiler_eff, 1.0)
        gen = float(((p.wind_mw + added["wind"]) * p.wind_per_mw
                     + (p.pv_mwp + added["pv"]) * p.pv_per_mwp).sum())
        most += ((float(p.price_cny_per_mwh.max(initial=0.0)) + premium) * use
                 + p.gas_cny_per_nm3 * p.gas_nm3_per_mwh * heat
                 + p.export_price_cny_per_mwh * gen
                 + 1000.0 * p.demand_cny_per_kw_month * 12.0 * p.year_share * peak) / len(ps)
    return max(most, 1.0) / RESOLUTION


def _criteria(p: Profiles, acct: Accounting, port: dict[str, float], x: np.ndarray,
              b: dict[str, np.ndarray], consts: dict[str, float]) -> tuple[dict, dict]:
    imp, exp = x[b["imp"]], x[b["exp"]]
    el = consts["el_k"] + float(x[b["_el_c"]] @ b["_el_v"])
    gas = consts["gas_k"] + float(x[b["_gas_c"]] @ b["_gas_v"])
    et, gt = p.elec_tce_per_mwh, acct.gas_tce_per_nm3(p.gas_tce_per_nm3)
    tce = el * et + gas * gt
    isum = float(imp.sum())
    counted = port["gec"] + float(x[b["cnt"]].sum())  # bought, contracts as settled
    certs = min(p.gec_mwh + counted, isum)
    em = p.gas_t_per_nm3 * gas + (p.grid_t_per_mwh * isum if acct.emissions == "location"
                                  else p.residual_t_per_mwh * (isum - certs))
    covered = certs if acct.certificates_clean else 0.0
    clean = el - isum + covered + (p.grid_cfe_share * (isum - covered)
                                   if acct.grid_share_clean else 0.0)
    wind_gen = float(p.wind_per_mw.sum()) * (p.wind_mw + port["wind"])
    crit = {"core_carbon_intensity": em / tce if tce > 0 else float("nan"),
            "clean_energy_share": clean * et / tce if tce > 0 else float("nan"),
            "direct_line_share": 1 - float(exp.sum()) / wind_gen if wind_gen > 0
            else float("nan")}
    if acct.cfe is not None:
        matched = float(x[b["match"]].sum()) if "match" in b else 0.0
        crit["hourly_cfe"] = ((el - (1 - p.grid_cfe_share) * (isum - matched)) / el if el > 0
                              else float("nan"))
    months = np.unique(p.month)
    peaks = [float(imp[p.month == m].max()) for m in months]
    ys = p.year_share
    cost = {"electricity": float(p.price_cny_per_mwh @ imp) / ys,
            "export revenue": -p.export_price_cny_per_mwh * float(exp.sum()) / ys,
            "demand charge": 1000.0 * p.demand_cny_per_kw_month * sum(peaks) * 12.0 / len(peaks),
            "gas": p.gas_cny_per_nm3 * gas / ys}
    flows = {"import_mwh": isum, "export_mwh": float(exp.sum()),
             "discharge_mwh": float(x[b["dis"]].sum()),
             # charged and discharged in the same hour: losses for their own sake
             "both_mwh": float(np.minimum(x[b["ch"]], x[b["dis"]]).sum()),
             "electricity_mwh": el,
             "gas_nm3": gas, "energy_tce": tce, "co2_t": em, "wind_mwh": wind_gen,
             "pv_mwh": float(p.pv_per_mwp.sum()) * (p.pv_mwp + port["pv"]),
             "certificates_mwh": counted}
    for col, name in HEAT_FLOWS.items():
        flows[name] = float(x[b[col]].sum()) if col in b else 0.0
    return crit, {"cost": cost, "flows": flows}


def _read(ps: list[Profiles], levers: dict[str, Measure], v: dict[str, np.ndarray],
          blocks: list, thr: dict[str, float], x: np.ndarray, duals: np.ndarray,
          status: str, acct: Accounting) -> Solution:
    # the interior point leaves ~1e-8 on levers it does not use (a year: up to ~0.01 MWh of
    # certificates): below 1e-6 (MW, MWh of storage, share) or half a certificate (1 GEC =
    # 1 MWh) a lever is not built
    port = {k: a if (a := max(float(x[v[k][0]]), 0.0)) > (0.5 if k in BOUGHT else 1e-6)
            else 0.0 for k in ORDER}
    per = [_criteria(p, acct, port, x, b, consts) for p, (b, _, consts) in zip(ps, blocks,
                                                                                   strict=True)]
    by_weather = [c for c, _ in per]
    crit = {c: (max if c == "core_carbon_intensity" else min)(w[c] for w in by_weather)
            for c in by_weather[0]}
    slack = relaxed(ps, acct, v, x)
    # how far each relaxed threshold had to move: the best portfolio's shortfall, in the
    # criterion's own unit (the slack itself is scaled by the base run's energy use)
    relax = {}
    for i, c in enumerate(CRITERIA):
        if c not in thr:
            continue
        gap = (crit[c] - thr[c] if c == "core_carbon_intensity" else thr[c] - crit[c]) \
            if c in crit and np.isfinite(crit[c]) else float(slack[i])
        relax[c] = float(max(gap, 0.0)) if slack[i] > SLACK_TOL else 0.0
    rows = [r for _, r, _ in blocks]
    binding = ([c for c in CRITERIA if relax.get(c, 0.0) > 1e-6] if status != "optimal"
               else [c for c in CRITERIA if any(c in r and abs(duals[r[c]]) > 1e-6
                                                for r in rows)])
    ys = ps[0].year_share
    factory = float(np.mean([p.factory_mwh.sum() for p in ps]))
    cost = {}
    for k in ORDER:
        lever = levers[k]
        if k == "efficiency":
            cost[k] = lever.annual_cny_per_unit * port[k] * factory / ys
        else:
            cost[k] = lever.annual_cny_per_unit * port[k] + lever.period_cny_per_unit * port[k] / ys
    for item in per[0][1]["cost"]:
        cost[item] = float(np.mean([e["cost"][item] for _, e in per]))
    flows = {f: float(np.mean([e["flows"][f] for _, e in per])) for f in per[0][1]["flows"]}
    counted = min(e["flows"]["certificates_mwh"] for _, e in per)
    hourly = [{key: x[b[key]] for key in ("ch", "dis", "imp", "exp", "peb", "tc", "td", "qhp",
                                          "qa", "qw") if key in b} for b, _, _ in blocks]
    return Solution(status, port, crit, dict(thr), relax, binding, cost, flows, by_weather,
                    counted, hourly)


def solve(p: Profiles | Sequence[Profiles], tighten: dict[str, float] | None = None,
          fixed: dict[str, float] | None = None, criteria: bool = True,
          only: Collection[str] | None = None, floor: dict[str, float] | None = None,
          acct: Accounting | None = None, cap: dict[str, float] | None = None,
          three: bool = False) -> Solution:
    """The cheapest portfolio meeting the criteria (tightened by ``tighten``: how much stricter
    than the threshold each criterion is asked), or, where none can, the portfolio with the
    smallest relaxation and its cost (``status='infeasible'``).

    ``p``: one weather year's profiles or several (the criteria must hold in each, the cost
    is their mean). ``fixed`` fixes every lever (missing ones at 0) and only dispatches: the
    same linear model evaluated at a point; ``floor``: lower limits of the levers (what an
    earlier year of the road has built); ``cap``: upper limits of every lever (missing ones at
    0: a build-up year takes part of the acceptance portfolio); ``criteria=False`` drops the criteria rows (a
    baseline, a build-up year or a step of the waterfall); ``only`` offers only those levers
    (keys of :data:`~twin.studies.pathway.measures.ORDER`); ``acct``: the accounting
    settings (default: location-based, the national criteria).

    One penalised solve (:func:`penalty`; above :data:`LARGE` columns, a year, by the interior
    point with crossover); where it finds no answer, the least relaxation, then the cheapest
    at it (two solves). ``three=True`` solves as before:
    the criteria hard, and where that fails the two (kept to check the others against).

    The storage is one battery: where the answer charges and discharges in the same hour
    (beyond :data:`BOTH_TOL`; losses for their own sake count as energy use and keep wind
    from export, which no battery and no controller of the run does), each hour's direction
    is fixed from that answer (:func:`directions`) and the LP solved again, so the answer
    never does (two passes, both linear).
    """
    ps = [p] if isinstance(p, Profiles) else list(p)
    acct = acct or Accounting()
    levers = measures(ps[0])
    if only is not None:
        unknown = sorted(set(only) - set(ORDER))
        if unknown:
            raise ValueError(f"unknown levers {unknown}: expected among {', '.join(ORDER)}")
        levers = {k: m if k in only else dataclasses.replace(m, max_value=0.0)
                  for k, m in levers.items()}
    if cap is not None:
        levers = {k: dataclasses.replace(m, max_value=min(m.max_value, cap.get(k, 0.0)))
                  for k, m in levers.items()}
    active = acct.active if criteria else ()
    args = (ps, levers, fixed, dict(floor or {}), dict(tighten or {}))
    first = _solve(args, active, acct, three, None)
    if max((float(np.minimum(h["ch"], h["dis"]).max(initial=0.0)) for h in first.hourly),
           default=0.0) <= BOTH_TOL:
        return first
    again = _solve(args, active, acct, three, directions(first))
    again.resolved = True
    return again


def directions(sol: Solution) -> list[np.ndarray]:
    """Each weather year's storage direction per hour from an answer: +1 (charge only) where
    it charges more than it discharges, -1 (discharge only) where less; in the hours of
    neither (or as much of both), charge where the park exports at least what it imports
    (its surplus), else discharge, as the run's rule controller does."""
    out = []
    for h in sol.hourly:
        net = h["ch"] - h["dis"]
        tie = np.where(h["exp"] >= h["imp"], 1.0, -1.0)
        out.append(np.where(net > BOTH_TOL, 1.0, np.where(net < -BOTH_TOL, -1.0, tie)))
    return out


def _solve(args: tuple, active: Collection[str], acct: Accounting, three: bool,
           direction: Sequence[np.ndarray] | None) -> Solution:
    """One pass of :func:`solve` (``args``: the profiles, levers, fixed, floor, tighten)."""
    ps, levers = args[0], args[1]
    if not three:
        mod, v, blocks, thr = _build(*args, "penalty" if active else "none", active, acct,
                                     direction=direction)
        status, x, duals = mod.solve()
        if status == "optimal":
            least = float(np.max(relaxed(ps, acct, v, x), initial=0.0))
            if SLACK_TOL < least <= RESOLUTION:  # a passing portfolio may cost that little
                hard = _build(*args, "none", active, acct, direction=direction)
                found = hard[0].solve()
                if found[0] == "optimal":
                    return _read(ps, levers, *hard[1:], *found[1:], "optimal", acct)
            return _read(ps, levers, v, blocks, thr, x, duals,
                         "optimal" if least <= SLACK_TOL else "infeasible", acct)
        if not active:  # the dispatch itself cannot balance (should not happen)
            raise ValueError("the pathway LP has no solution")
        # where the penalised solve finds no answer: the least relaxation, then the cheapest
        # at it (two solves, none of them infeasible)
        return _least_then_cheapest(args, active, acct, direction)
    mod, v, blocks, thr = _build(*args, "none", active, acct, direction=direction)
    status, x, duals = mod.solve()
    if status == "optimal":
        return _read(ps, levers, v, blocks, thr, x, duals, "optimal", acct)
    return _least_then_cheapest(args, active, acct, direction)


def _least_then_cheapest(args: tuple, active: Collection[str], acct: Accounting,
                         direction: Sequence[np.ndarray] | None = None) -> Solution:
    """The least relaxation of the criteria, then the cheapest portfolio at it ('optimal'
    where the least relaxation is none)."""
    ps, levers = args[0], args[1]
    mod, v, blocks, thr = _build(*args, "min", active, acct, direction=direction)
    status, x, duals = mod.solve()
    if status != "optimal":  # the dispatch itself cannot balance (should not happen)
        raise ValueError("the pathway LP has no solution even with relaxed criteria")
    least = np.maximum(relaxed(ps, acct, v, x), 0.0)
    smallest = (v, blocks, thr, x, duals)
    mod, v, blocks, thr = _build(*args, "cap", active, acct, least * (1 + 1e-6) + 1e-9,
                                 direction)
    status, x, duals = mod.solve()
    if status != "optimal":  # the cheapest at the least relaxation not found: the least's point
        v, blocks, thr, x, duals = smallest
    passes = float(np.max(least, initial=0.0)) <= SLACK_TOL
    return _read(ps, levers, v, blocks, thr, x, duals, "optimal" if passes else "infeasible",
                 acct)

__all__ = ["CRITERIA", "NAMES", "NATIONAL", "Solution", "solve", "targets"]
