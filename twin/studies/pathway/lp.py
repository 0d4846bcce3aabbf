"""The capacity-expansion LP of the pathway: the cheapest portfolio meeting the criteria.

Over the profiles' hours (a year at hourly resolution for the real answer), HiGHS chooses the
added capacity of each lever (continuous) and the hourly dispatch: import, export, storage
charge, discharge and content, heat-pump heat (gas boilers take the rest). The criteria are
linear rows computing the quantities of :mod:`twin.accounting.carbon.criteria`:

- core: Scope 1 (gas) + location-based Scope 2 (import x grid factor)
  <= threshold x energy use (electricity consumed at 0.1229 tce/MWh + gas in tce);
- clean share: (electricity consumed - import + certificates) in tce >= 0.9 x energy use
  (local renewables consumed = consumption not imported; gas not clean; the grid's non-fossil
  share not counted);
- 绿电直连: export <= (1 - 0.6) x direct-line wind generation (conservative: every exported MWh
  is counted as wind, where the ledger shares exports pro rata with PV).

Electricity consumed = loads (factories less efficiency) + heat-pump compressors + circulation
pumps + the base run's network losses + storage losses. The objective is the annualised cost
of the period: capex annuity + fixed O&M of what is added, energy bought at the tariff less
exports, demand charge, gas, certificates and contract premiums.

Each criterion row carries a slack (in the criterion's own unit, against the base run's energy
use or wind): zero when the criteria must hold; minimised when no portfolio meets them, which
gives the smallest relaxation and names the binding criteria.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass, field

import highspy
import numpy as np
from scipy import sparse

from twin.studies.pathway.measures import ORDER, Measure, measures
from twin.studies.pathway.profiles import Profiles

CRITERIA = ("core_carbon_intensity", "clean_energy_share", "direct_line_share")
NAMES = {"core_carbon_intensity": "core indicator (tCO2/tce)",
         "clean_energy_share": "clean-energy share", "direct_line_share": "绿电直连 share"}
INF = highspy.kHighsInf


@dataclass
class Solution:
    """One LP answer."""

    status: str  # 'optimal' or 'infeasible'
    portfolio: dict[str, float]
    criteria: dict[str, float]  # as the LP computes them
    thresholds: dict[str, float]
    relaxation: dict[str, float]  # how far each threshold had to move (0: met)
    binding: list[str]  # criteria whose rows bind (shadow price or relaxation)
    cost: dict[str, float]  # CNY/yr: per measure and energy parts
    flows: dict[str, float] = field(default_factory=dict)  # period totals, MWh / Nm3

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
        h.passModel(lp)
        h.run()
        status = h.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            return "infeasible", np.zeros(self.n), np.zeros(self.m)
        sol = h.getSolution()
        return "optimal", np.asarray(sol.col_value), np.asarray(sol.row_dual)


def _build(p: Profiles, levers: dict[str, Measure], fixed: dict[str, float] | None,
           tighten: dict[str, float], slack: str, criteria: bool,
           slack_max: np.ndarray | None = None) -> tuple[_Model, dict[str, np.ndarray], dict[str, int], dict[str, float]]:
    """The model. ``slack``: 'none' (criteria hard), 'min' (minimise the relaxation) or
    'cap' (each relaxation at most ``slack_max``, minimise cost)."""
    n, ys = p.n_hours, p.year_share
    mod = _Model()
    v: dict[str, np.ndarray] = {}
    use_cost = slack != "min"
    k = 1.0 if use_cost else 0.0
    for key in ORDER:
        lever = levers[key]
        lo = hi = None
        if fixed is not None:
            lo = hi = float(fixed.get(key, 0.0))
        per_use = lever.period_cny_per_unit
        cost = (lever.annual_cny_per_unit * ys if key != "efficiency"
                else lever.annual_cny_per_unit * float(p.factory_mwh.sum())) + per_use
        v[key] = mod.var(1, lo if lo is not None else 0.0,
                         hi if hi is not None else lever.max_value, k * cost)
    gas_price = p.gas_cny_per_nm3 * p.gas_nm3_per_mwh
    v["imp"] = mod.var(n, cost=k * p.price_cny_per_mwh)
    v["exp"] = mod.var(n, cost=-k * p.export_price_cny_per_mwh)
    v["ch"] = mod.var(n)
    v["dis"] = mod.var(n)
    v["e"] = mod.var(n)
    v["qhp"] = mod.var(n, hi=p.heat_mwh, cost=-k * gas_price)
    months = np.unique(p.month)
    # the demand charge of the months present, as a share of a year's twelve
    v["peak"] = mod.var(len(months), cost=k * 1000.0 * p.demand_cny_per_kw_month * 12.0 * ys
                        / len(months))
    v["slack"] = mod.var(3, hi=0.0 if slack == "none" else
                         slack_max if slack == "cap" and slack_max is not None else INF,
                         cost=0.0 if use_cost else 1.0)
    one = np.ones(n)
    hp_el = 1.0 / p.cop
    # balance: imp + dis + wind + pv = loads + hp + ch + exp
    mod.rows_([(v["imp"], one), (v["exp"], -one), (v["ch"], -one), (v["dis"], one),
               (v["wind"][0], p.wind_per_mw), (v["pv"][0], p.pv_per_mwp),
               (v["qhp"], -hp_el), (v["efficiency"][0], p.factory_mwh)],
              p.factory_mwh + p.other_mwh - p.wind_mw * p.wind_per_mw
              - p.pv_mwp * p.pv_per_mwp, p.factory_mwh + p.other_mwh
              - p.wind_mw * p.wind_per_mw - p.pv_mwp * p.pv_per_mwp, n)
    # storage content
    prev = np.concatenate([[v["e"][0]], v["e"][:-1]])
    first = np.zeros(n)
    first[0] = 1.0
    e0 = p.soc_init * p.storage_mwh
    mod.rows_([(v["e"], one), (prev, -(1 - first)), (v["ch"], -p.eta_charge * one),
               (v["dis"], one / p.eta_discharge), (v["storage_energy"][0], -p.soc_init * first)],
              e0 * first, e0 * first, n)
    se = v["storage_energy"][0]
    mod.rows_([(v["e"], one), (se, -p.soc_max)], -INF, p.soc_max * p.storage_mwh, n)
    mod.rows_([(v["e"], one), (se, -p.soc_min)], p.soc_min * p.storage_mwh, INF, n)
    mod.row(np.array([v["e"][-1], se]), np.array([1.0, -p.soc_init]), e0, INF)
    mod.rows_([(v["ch"], one), (v["dis"], one), (v["storage_power"][0], -one)], -INF,
              p.storage_mw, n)
    mod.rows_([(v["qhp"], one), (v["heat_pump"][0], -one)], -INF, p.hp_mw, n)
    mpos = np.searchsorted(months, p.month)
    mod.rows_([(v["imp"], one), (v["peak"][mpos], -one)], -INF, 0.0, n)
    mod.row(np.concatenate([[v["gec"][0], v["green_contract"][0]], v["imp"]]),
            np.concatenate([[1.0, 1.0], -one]), -INF, -p.gec_mwh)
    # linear expressions: electricity consumed (MWh) and gas (Nm3) as (cols, coefs, constant)
    el_c = np.concatenate([[v["efficiency"][0]], v["qhp"], v["ch"], v["dis"]])
    el_v = np.concatenate([[-p.factory_mwh.sum()], hp_el, (1 - p.eta_charge) * one,
                           (1 / p.eta_discharge - 1) * one])
    el_k = float(p.factory_mwh.sum() + p.other_mwh.sum())
    gas_c, gas_v, gas_k = v["qhp"], -p.gas_nm3_per_mwh * one, p.gas_nm3_per_mwh * p.heat_mwh.sum()
    et, gt = p.elec_tce_per_mwh, p.gas_tce_per_nm3
    tce0 = el_k * et + gas_k * gt
    rows: dict[str, int] = {}
    thr = {"core_carbon_intensity": p.core_max - tighten.get("core_carbon_intensity", 0.0),
           "clean_energy_share": p.clean_min + tighten.get("clean_energy_share", 0.0),
           "direct_line_share": p.direct_min + tighten.get("direct_line_share", 0.0)}
    if criteria:
        t = thr["core_carbon_intensity"]
        cols = np.concatenate([v["imp"], el_c, gas_c, [v["slack"][0]]])
        vals = np.concatenate([p.grid_t_per_mwh * one, -t * et * el_v,
                               (p.gas_t_per_nm3 - t * gt) * gas_v, [-tce0]])
        rhs = t * (et * el_k + gt * gas_k) - p.gas_t_per_nm3 * gas_k
        rows["core_carbon_intensity"] = mod.row(cols, vals, -INF, rhs)
        t = thr["clean_energy_share"]
        # t * (et*E + gt*G) - et*(E - imp + certificates) <= slack * tce0
        cols = np.concatenate([el_c, gas_c, v["imp"], [v["gec"][0], v["green_contract"][0]],
                               [v["slack"][1]]])
        vals = np.concatenate([(t - 1) * et * el_v, t * gt * gas_v, et * one, [-et, -et],
                               [-tce0]])
        rhs = -(t - 1) * et * el_k - t * gt * gas_k + et * p.gec_mwh
        rows["clean_energy_share"] = mod.row(cols, vals, -INF, rhs)
        t = thr["direct_line_share"]
        wsum = float(p.wind_per_mw.sum())
        if wsum * (p.wind_mw + levers["wind"].max_value) > 0:
            wg0 = max(wsum * p.wind_mw, 1.0)
            cols = np.concatenate([v["exp"], [v["wind"][0], v["slack"][2]]])
            vals = np.concatenate([one, [-(1 - t) * wsum, -wg0]])
            rows["direct_line_share"] = mod.row(cols, vals, -INF, (1 - t) * wsum * p.wind_mw)
    consts = {"el_k": el_k, "gas_k": gas_k, **{f"thr_{c}": thr[c] for c in CRITERIA}}
    v["_el_c"], v["_el_v"], v["_gas_c"], v["_gas_v"] = el_c, el_v, gas_c, gas_v
    return mod, v, rows, consts


def _read(p: Profiles, levers: dict[str, Measure], v: dict[str, np.ndarray], x: np.ndarray,
          duals: np.ndarray, rows: dict[str, int], consts: dict[str, float], status: str
          ) -> Solution:
    ys = p.year_share
    port = {k: max(float(x[v[k][0]]), 0.0) + 0.0 for k in ORDER}
    imp, exp = x[v["imp"]], x[v["exp"]]
    el = consts["el_k"] + float(x[v["_el_c"]] @ v["_el_v"])
    gas = consts["gas_k"] + float(x[v["_gas_c"]] @ v["_gas_v"])
    et, gt = p.elec_tce_per_mwh, p.gas_tce_per_nm3
    tce = el * et + gas * gt
    em = p.grid_t_per_mwh * float(imp.sum()) + p.gas_t_per_nm3 * gas
    certs = p.gec_mwh + port["gec"] + port["green_contract"]
    clean = (el - float(imp.sum()) + min(certs, float(imp.sum()))) * et
    wind_gen = float(p.wind_per_mw.sum()) * (p.wind_mw + port["wind"])
    crit = {"core_carbon_intensity": em / tce if tce > 0 else float("nan"),
            "clean_energy_share": clean / tce if tce > 0 else float("nan"),
            "direct_line_share": 1 - float(exp.sum()) / wind_gen if wind_gen > 0
            else float("nan")}
    slack = x[v["slack"]]
    relax = {c: float(max(slack[i], 0.0)) for i, c in enumerate(CRITERIA)}
    binding = ([c for c in CRITERIA if relax[c] > 1e-6] if status != "optimal"
               else [c for c in CRITERIA if c in rows and abs(duals[rows[c]]) > 1e-6])
    cost = {}
    for k in ORDER:
        lever = levers[k]
        if k == "efficiency":
            cost[k] = lever.annual_cny_per_unit * port[k] * float(p.factory_mwh.sum()) / ys
        else:
            cost[k] = lever.annual_cny_per_unit * port[k] + lever.period_cny_per_unit * port[k] / ys
    months = np.unique(p.month)
    peaks = [float(imp[p.month == m].max()) for m in months]
    cost["electricity"] = float(p.price_cny_per_mwh @ imp) / ys
    cost["export revenue"] = -p.export_price_cny_per_mwh * float(exp.sum()) / ys
    cost["demand charge"] = 1000.0 * p.demand_cny_per_kw_month * sum(peaks) * 12.0 / len(peaks)
    cost["gas"] = p.gas_cny_per_nm3 * gas / ys
    flows = {"import_mwh": float(imp.sum()), "export_mwh": float(exp.sum()),
             "electricity_mwh": el, "gas_nm3": gas, "energy_tce": tce, "co2_t": em,
             "wind_mwh": wind_gen,
             "pv_mwh": float(p.pv_per_mwp.sum()) * (p.pv_mwp + port["pv"])}
    thresholds = {c: consts[f"thr_{c}"] for c in CRITERIA}
    return Solution(status, port, crit, thresholds, relax, binding, cost, flows)


def solve(p: Profiles, tighten: dict[str, float] | None = None,
          fixed: dict[str, float] | None = None, criteria: bool = True,
          only: Collection[str] | None = None) -> Solution:
    """The cheapest portfolio meeting the criteria (tightened by ``tighten``: how much stricter
    than the national threshold each criterion is asked), or, where none can, the portfolio
    with the smallest relaxation and its cost (``status='infeasible'``).

    ``fixed`` fixes every lever (missing ones at 0) and only dispatches: the same linear model
    evaluated at a point; ``criteria=False`` drops the criteria rows (a baseline or a step of
    the waterfall); ``only`` offers only those levers (keys of
    :data:`~twin.studies.pathway.measures.ORDER`).
    """
    levers = measures(p)
    if only is not None:
        unknown = sorted(set(only) - set(ORDER))
        if unknown:
            raise ValueError(f"unknown levers {unknown}: expected among {', '.join(ORDER)}")
        levers = {k: m if k in only else dataclasses.replace(m, max_value=0.0)
                  for k, m in levers.items()}
    tighten = dict(tighten or {})
    mod, v, rows, consts = _build(p, levers, fixed, tighten, "none", criteria)
    status, x, duals = mod.solve()
    if status == "optimal":
        return _read(p, levers, v, x, duals, rows, consts, "optimal")
    mod, v, rows, consts = _build(p, levers, fixed, tighten, "min", criteria)
    status, x, duals = mod.solve()
    if status != "optimal":  # the dispatch itself cannot balance (should not happen)
        raise ValueError("the pathway LP has no solution even with relaxed criteria")
    least = np.maximum(x[v["slack"]], 0.0)
    mod, v, rows, consts = _build(p, levers, fixed, tighten, "cap", criteria,
                                  least * (1 + 1e-6) + 1e-9)
    status, x, duals = mod.solve()
    return _read(p, levers, v, x, duals, rows, consts, "infeasible")
