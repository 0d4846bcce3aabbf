"""Rolling-horizon dispatch of the park: one linear programme over the next ``H`` steps.

Every re-plan the EMS calls :func:`plan` with forecasts and prices for the next ``H`` steps of
``dt_h`` hours. The LP (HiGHS through ``highspy``) decides battery charge/discharge, EV
charging, the shift of flexible factory load, import, export and curtailment; on any solver
trouble it returns :func:`rule_plan` with status ``"fallback:<reason>"`` and never raises.

Signs: loads, battery charging, EV charging and import positive; ``p_storage_mw`` < 0
discharges. Power balance in every step ``k`` (MW, means over the step)::

    pv + wind - curtail_pv - curtail_wind + import + unserved
        = load + sum(p_storage) + sum(p_ev) + sum(p_base + p_shift) + export

Battery energy (at the cells, MWh; self-discharge, 0.05 %/day, is left out and corrected by
the next re-plan)::

    e[k+1] = e[k] + (eta_charge * ch[k] - dis[k] / eta_discharge) * dt_h,  p_storage = ch - dis

Objective (CNY), minimised; :func:`objective_cny` evaluates it for any plan::

    sum_k dt * (import * (price_import + carbon_price * grid_factor)
                - export * (min(price_export, price_import + carbon) - EXPORT_TIE)
                + cycle_cost * (ch + dis) + curtail_cost * (curtail_pv + curtail_wind)
                + PENALTY_UNSERVED * unserved + PENALTY_CAP * shortfall
                + PENALTY_EV * sum_hubs(max(0, e_min_cum - delivered_cum)))
    + demand_charge * sum_months(peak_m - peak_so_far_m) + PENALTY_DIRECT * direct_shortfall
    - terminal_value * sum_storages (e[H] - e[0])

Modelling choices (each keeps the LP exact, bounded or always feasible):

* Export is paid at most the step's import cost: a single meter nets import and export, and
  without the cap the LP would import and export at once wherever export pays more (the
  illustrative Liaoning valley price, 240 CNY/MWh, is below the export price, 374.9). A
  genuine net export in such a step is valued at the import price, not the export price.
* The default terminal value of stored energy is the mean (or a quantile of the) import cost
  over the horizon times
  ``eta_discharge`` (what a stored MWh displaces later), so the LP neither dumps nor hoards.
* 绿电直连: wind consumed = wind - curtailed wind - exports x wind / (wind + pv) (forecast
  shares) must reach ``direct_min_share`` of the wind forecast over the horizon (a slack,
  penalised, is reported). Where that binds the LP could "consume" wind by charging and
  discharging one battery at once (not physical); such a solution is re-solved once with
  battery losses counted as not consumed. Otherwise the charge/discharge split is exact as
  long as import prices are >= 0 (checked) and ``curtail_cost`` stays below the cost of
  burning energy in round trips, about ``2 * cycle_cost / (1 - eta_c * eta_d)``.
* Always feasible: unserved load (import limit), import above a soft cap and the direct-line
  shortfall are penalised slacks reported in :class:`Plan`; EV must-deliver energy no
  charging path can meet is clipped to the fastest path and the gap reported (and penalised,
  a constant).
* A starting SOC outside ``[soc_min, soc_max]`` widens that bound to the start value; ramp
  limits apply between steps of the horizon, not to the step before it.
* A low wind outcome (``wind_low_mw``, e.g. a low quantile of the weather model's runs) adds
  a second copy of the dispatch over the same horizon whose first ``low_shared_steps``
  storage, EV and shift decisions are the forecast's (the plan is in force until the next
  one), its costs and demand charge weighing ``low_weight`` (1: both outcomes as likely): the
  plan keeps the energy holding the peak would need should the wind come in low. The plan
  given is the forecast's; the LP has twice the columns (the LP machinery is in
  :mod:`twin.ems.lp`).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, fields, replace

import numpy as np

from twin.ems.lp import LP, Bases, SolverError, solve_highs
from twin.models.battery import BatterySpec

log = logging.getLogger(__name__)

PENALTY_UNSERVED_CNY_PER_MWH = 1e6  # load not served because the import limit binds
PENALTY_EV_CNY_PER_MWH_H = 2e4  # EV energy behind the must-deliver curve, per hour late
PENALTY_CAP_CNY_PER_MWH = 2e4  # import above a grid operator's soft cap
PENALTY_DIRECT_CNY_PER_MWH = 5e3  # wind consumed in the park below the direct-line share
EXPORT_TIE_CNY_PER_MWH = 0.01  # export paid a hair below import: never both at once
_S_PER_H = 3600.0


# --------------------------------------------------------------------------- inputs


def _arr(x: object, name: str, n: int | None = None, *, nonneg: bool = False,
         nan_ok: bool = False) -> np.ndarray:
    a = np.array(x, dtype=float, ndmin=1)
    if a.ndim != 1 or (n is not None and a.size != n):
        raise ValueError(f"{name}: expected {n if n is not None else 'a 1-d'} values, "
                         f"got shape {a.shape}")
    bad = ~np.isfinite(a) & ~(nan_ok & np.isnan(a))
    if bad.any():
        raise ValueError(f"{name}: not finite at index {int(np.argmax(bad))}")
    if nonneg and (a < 0).any():
        raise ValueError(f"{name}: must be >= 0, got {a.min():g}")
    a.flags.writeable = False
    return a


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(msg)


@dataclass(frozen=True)
class Storage:
    """A battery as the LP sees it: AC power limit, usable energy window, efficiencies."""

    name: str
    p_max_mw: float
    e_max_mwh: float
    soc_min: float
    soc_max: float
    eta_charge: float
    eta_discharge: float
    ramp_mw_per_step: float = math.inf  # limit on the change of net power between steps

    def __post_init__(self) -> None:
        n = self.name
        _check(self.p_max_mw > 0 and self.e_max_mwh > 0, f"storage {n}: p_max, e_max must be > 0")
        _check(0 <= self.soc_min <= self.soc_max <= 1, f"storage {n}: need 0<=soc_min<=soc_max<=1")
        _check(0 < self.eta_charge <= 1 and 0 < self.eta_discharge <= 1,
               f"storage {n}: efficiencies must be in (0, 1]")
        _check(self.ramp_mw_per_step > 0, f"storage {n}: ramp_mw_per_step must be > 0")

    @classmethod
    def from_spec(cls, spec: BatterySpec, ramp_mw_per_step: float = math.inf) -> Storage:
        """The storage of a :class:`twin.models.battery.BatterySpec` (self-discharge left out)."""
        return cls(spec.name, spec.p_max_mw, spec.e_max_mwh, spec.soc_min, spec.soc_max,
                   spec.eta_charge, spec.eta_discharge, ramp_mw_per_step)


@dataclass(frozen=True)
class EVDemand:
    """One charging hub over the horizon, aggregated over its vehicles.

    ``e_min_cum_mwh[k]``/``e_max_cum_mwh[k]``: energy that must/can have been delivered by the
    end of step ``k``; ``p_max_mw[k]``: charging power available in step ``k``.
    """

    name: str
    p_max_mw: np.ndarray
    e_min_cum_mwh: np.ndarray
    e_max_cum_mwh: np.ndarray

    def __post_init__(self) -> None:
        n = len(np.atleast_1d(self.p_max_mw))
        for f in ("p_max_mw", "e_min_cum_mwh", "e_max_cum_mwh"):
            object.__setattr__(self, f, _arr(getattr(self, f), f"ev {self.name}: {f}", n,
                                             nonneg=True))

    def fastest_cum_mwh(self, dt_h: float | np.ndarray) -> np.ndarray:
        """Cumulative energy of charging as fast as possible (the most any path can have).

        ``c[k] = min(c[k-1] + p_max[k] dt, cap[k])`` with ``cap`` the suffix minimum of
        ``e_max_cum`` (delivered energy never decreases), in closed form:
        ``c = S + min(0, running min of (cap - S))``, ``S = cumsum(p_max dt)``.
        """
        cap = np.minimum.accumulate(self.e_max_cum_mwh[::-1])[::-1]
        s = np.cumsum(self.p_max_mw * dt_h)
        return s + np.minimum(np.minimum.accumulate(cap - s), 0.0)


@dataclass(frozen=True)
class Shiftable:
    """A factory's flexible share: its load may move within the horizon, energy-neutral.

    With a rolling horizon, energy shifted in earlier steps and not yet made up
    (``e_backlog_mwh``) is made up within this horizon as far as its bounds allow: the
    shifts sum to ``-e_backlog_mwh`` (see :meth:`target_mwh`). The rule plan does not shift.
    """

    name: str
    p_base_mw: np.ndarray  # forecast of its load
    up_frac: float  # may raise the load by up to up_frac * p_base in a step
    down_frac: float  # may lower it by up to down_frac * p_base
    ramp_mw_per_step: float = math.inf  # limit on the change of the shift between steps
    e_backlog_mwh: float = 0.0  # shifted before this horizon, not yet made up (> 0: extra used)
    neutral_steps: int = 0  # > 0: energy-neutral within each block of this many steps too

    def __post_init__(self) -> None:
        object.__setattr__(self, "p_base_mw", _arr(self.p_base_mw, f"shiftable {self.name}: "
                                                   "p_base_mw", nonneg=True))
        _check(self.up_frac >= 0 and 0 <= self.down_frac <= 1,
               f"shiftable {self.name}: need up_frac >= 0 and 0 <= down_frac <= 1")
        _check(self.ramp_mw_per_step > 0, f"shiftable {self.name}: ramp must be > 0")
        _check(math.isfinite(self.e_backlog_mwh), f"shiftable {self.name}: backlog not finite")

    def target_mwh(self, dt_h: float | np.ndarray) -> float:
        """Energy the horizon's shifts must sum to: ``-e_backlog_mwh``, clipped to what the
        bounds and the ramp limit allow (the rest stays in the backlog)."""
        if self.e_backlog_mwh == 0.0:
            return 0.0
        hi, lo = self.up_frac * self.p_base_mw, self.down_frac * self.p_base_mw
        if math.isfinite(self.ramp_mw_per_step):  # within reach from the steps before and
            r = np.full(1, self.ramp_mw_per_step)  # after, in order
            hi = _reachable_mw(_reachable_mw(hi[:, None], r)[::-1], r)[::-1, 0]
            lo = _reachable_mw(_reachable_mw(lo[:, None], r)[::-1], r)[::-1, 0]
        room = (1.0 - 1e-9) * np.broadcast_to(dt_h, lo.shape)  # a hair inside, for the
        # solver's tolerance
        return float(np.clip(-self.e_backlog_mwh, -lo @ room, hi @ room))


def ev_demand(name: str, t_depart_s: np.ndarray, e_remaining_mwh: np.ndarray,
              p_max_mw_per_vehicle: np.ndarray, t0_s: float, step_s: float, H: int,
              expected_arrival_mwh: np.ndarray | None = None,
              p_hub_max_mw: float = math.inf) -> EVDemand:
    """Aggregate connected vehicles (``twin.models.loads.ev.EVFlex`` arrays) into an :class:`EVDemand`.

    Vehicle ``i`` (present until ``t_depart_s[i]``, same clock as ``t0_s``) wants
    ``e_need = min(e_remaining, p_i * (t_depart - t0))``; by the end of step ``k`` it must have
    had what it can no longer get afterwards, ``max(0, e_need - p_i * (t_depart - t_end_k))``
    (for departures beyond the horizon only that part is due within it), and can have had at
    most ``min(e_need, p_i * time present until t_end_k)``. Expected arrivals add to the
    maximum only (no must-deliver: their departures are unknown) and may take power up to the
    hub limit. The minimum is finally clipped to the fastest feasible charging path, so the
    window is always feasible.
    """
    t_dep = np.asarray(t_depart_s, dtype=float).ravel()
    p_veh = np.broadcast_to(np.asarray(p_max_mw_per_vehicle, dtype=float), t_dep.shape)
    dt_h = step_s / _S_PER_H
    t_end = t0_s + step_s * np.arange(1, H + 1)  # [H]
    present_s = np.clip(t_dep[:, None] - (t_end - step_s)[None, :], 0.0, step_s)  # [n, H]
    e_need = np.minimum(np.asarray(e_remaining_mwh, dtype=float).ravel(),
                        p_veh * np.maximum(t_dep - t0_s, 0.0) / _S_PER_H)
    e_need = np.maximum(e_need, 0.0)
    left_h = np.maximum(t_dep[:, None] - t_end[None, :], 0.0) / _S_PER_H
    e_min = np.maximum(e_need[:, None] - p_veh[:, None] * left_h, 0.0).sum(axis=0)
    e_max = np.minimum(e_need[:, None], p_veh[:, None] * np.cumsum(present_s, axis=1)
                       / _S_PER_H).sum(axis=0)
    p_max = (p_veh[:, None] * present_s).sum(axis=0) / step_s
    if expected_arrival_mwh is not None:
        arr = np.cumsum(_arr(expected_arrival_mwh, "expected_arrival_mwh", H, nonneg=True))
        e_max = e_max + arr
        p_max = p_max + arr / dt_h
    p_max = np.minimum(p_max, p_hub_max_mw)
    fastest = EVDemand(name, p_max, np.zeros(H), e_max).fastest_cum_mwh(dt_h)
    return EVDemand(name, p_max, np.minimum(e_min, fastest), e_max)


@dataclass(frozen=True)
class PlanInputs:
    """Everything one re-plan needs; arrays are ``[H]``. See the module docstring.

    ``dt_h``: the steps' length in hours, one for all or one per step (a plan in 15-minute
    steps for a day and hourly ones after, :func:`twin.ems.lookahead.coarse`); ramp limits
    are per step whatever its length."""

    dt_h: float | np.ndarray
    pv_mw: np.ndarray
    wind_mw: np.ndarray
    load_mw: np.ndarray  # inflexible load: shiftables' base and EVs NOT included
    price_import_cny_per_mwh: np.ndarray
    price_export_cny_per_mwh: np.ndarray | float
    storages: tuple[Storage, ...] = ()
    soc0: np.ndarray = field(default_factory=lambda: np.zeros(0))  # initial SOC per storage
    evs: tuple[EVDemand, ...] = ()
    shiftables: tuple[Shiftable, ...] = ()
    import_limit_mw: float = math.inf
    export_limit_mw: float = math.inf
    demand_charge_cny_per_mw: float = 0.0  # cost of raising this month's peak import by 1 MW
    peak_import_so_far_mw: float = 0.0  # this month's peak so far (no cost below it)
    direct_min_share: float = 0.6  # 绿电直连: wind consumed in the park >= share of wind
    carbon_price_cny_per_t: float = 0.0
    grid_factor_t_per_mwh: float = 0.0
    cycle_cost_cny_per_mwh: float = 1.0  # per MWh of AC throughput (charge + discharge)
    curtail_cost_cny_per_mwh: float = 1.0
    import_cap_mw: np.ndarray | None = None  # soft cap per step; NaN: none
    terminal_value_cny_per_mwh: float | None = None  # per MWh stored (cells) at the end
    charge_limit_mw: np.ndarray | None = None  # [H] cap on the storages' total charging
    month: np.ndarray | None = None  # [H] billing month of each step (None: one month)
    terminal_quantile: float | None = None  # terminal value: this quantile of the import
    # cost (None: its mean)
    wind_low_mw: np.ndarray | None = None  # [H] a low-wind outcome: the demand charge is
    # judged on it too (see :meth:`low_outcome`; None: the forecast only)
    low_shared_steps: int = 0  # the first steps' decisions both outcomes share
    low_weight: float = 1.0  # weight of the low outcome's costs (the forecast's: 1)

    def __post_init__(self) -> None:
        load = _arr(self.load_mw, "load_mw", nonneg=True)
        H = load.size
        _check(H >= 1, "load_mw: the horizon needs at least one step")
        s = object.__setattr__
        if np.ndim(self.dt_h):
            s(self, "dt_h", _arr(self.dt_h, "dt_h", H))
        _check(bool(np.all(np.asarray(self.dt_h) > 0)) and bool(np.all(np.isfinite(
            self.dt_h))), "dt_h must be > 0")
        s(self, "load_mw", load)
        for f in ("pv_mw", "wind_mw", "price_import_cny_per_mwh"):
            s(self, f, _arr(getattr(self, f), f, H, nonneg=True))
        s(self, "price_export_cny_per_mwh", _arr(np.broadcast_to(
            np.asarray(self.price_export_cny_per_mwh, dtype=float), (H,)),
            "price_export_cny_per_mwh", H))
        s(self, "storages", tuple(self.storages))
        s(self, "evs", tuple(self.evs))
        s(self, "shiftables", tuple(self.shiftables))
        soc0 = _arr(self.soc0, "soc0", len(self.storages)) if self.storages else np.zeros(0)
        _check(bool(((soc0 >= 0) & (soc0 <= 1)).all()), "soc0: must be in [0, 1]")
        s(self, "soc0", soc0)
        for ev in self.evs:
            _check(ev.p_max_mw.size == H, f"ev {ev.name}: arrays need {H} steps")
        for sh in self.shiftables:
            _check(sh.p_base_mw.size == H, f"shiftable {sh.name}: p_base_mw needs {H} steps")
        if self.import_cap_mw is not None:
            s(self, "import_cap_mw", _arr(self.import_cap_mw, "import_cap_mw", H, nan_ok=True))
        if self.charge_limit_mw is not None:
            s(self, "charge_limit_mw", _arr(self.charge_limit_mw, "charge_limit_mw", H))
        if self.month is not None:
            s(self, "month", _arr(self.month, "month", H))
        for f in ("import_limit_mw", "export_limit_mw"):
            _check(getattr(self, f) >= 0, f"{f} must be >= 0")
        for f in ("demand_charge_cny_per_mw", "peak_import_so_far_mw", "carbon_price_cny_per_t",
                  "grid_factor_t_per_mwh", "cycle_cost_cny_per_mwh", "curtail_cost_cny_per_mwh"):
            v = getattr(self, f)
            _check(math.isfinite(v) and v >= 0, f"{f} must be finite and >= 0, got {v}")
        _check(0 <= self.direct_min_share <= 1, "direct_min_share must be in [0, 1]")
        _check(self.terminal_quantile is None or 0 <= self.terminal_quantile <= 1,
               "terminal_quantile must be None or in [0, 1]")
        if self.wind_low_mw is not None:
            s(self, "wind_low_mw", np.minimum(_arr(self.wind_low_mw, "wind_low_mw", H,
                                                   nonneg=True), self.wind_mw))
        _check(self.low_shared_steps >= 0 and 0 <= self.low_weight <= 1,
               "need low_shared_steps >= 0 and low_weight in [0, 1]")
        tv = self.terminal_value_cny_per_mwh
        _check(tv is None or (math.isfinite(tv) and tv >= 0),
               "terminal_value_cny_per_mwh must be None or finite and >= 0")

    @property
    def H(self) -> int:
        """Number of steps of the horizon."""
        return self.load_mw.size

    @property
    def dt(self) -> np.ndarray:
        """Each step's length in hours, ``[H]``."""
        return np.broadcast_to(np.asarray(self.dt_h, dtype=float), (self.H,))

    def import_cost_cny_per_mwh(self) -> np.ndarray:
        """Import price plus the carbon value of the grid's emissions, ``[H]``."""
        return self.price_import_cny_per_mwh + self.carbon_price_cny_per_t * \
            self.grid_factor_t_per_mwh

    def export_value_cny_per_mwh(self) -> np.ndarray:
        """Export price as the LP sees it: capped at the import cost, minus the tie-breaker."""
        return np.minimum(self.price_export_cny_per_mwh,
                          self.import_cost_cny_per_mwh()) - EXPORT_TIE_CNY_PER_MWH

    def terminal_values(self) -> np.ndarray:
        """Value per stored MWh at the end, per storage (CNY/MWh).

        Default: the mean (or the ``terminal_quantile``) of the import cost over the horizon
        times ``eta_discharge``: what a stored MWh displaces when discharged later. Where
        storage fills from local surplus only, stored energy is scarce and goes to the dearest
        steps: a high quantile.
        """
        eta = np.array([st.eta_discharge for st in self.storages])
        if self.terminal_value_cny_per_mwh is not None:
            return np.full(eta.size, self.terminal_value_cny_per_mwh)
        cost = self.import_cost_cny_per_mwh()
        if np.ndim(self.dt_h):  # steps of several lengths: each counts for its time
            cost = np.repeat(cost, np.maximum(np.rint(self.dt / self.dt.min()), 1).astype(int))
        q = self.terminal_quantile
        return float(cost.mean() if q is None else np.quantile(cost, q)) * eta

    def months(self) -> tuple[np.ndarray, np.ndarray]:
        """Each step's billing-month index ``0..n-1`` and each month's peak so far (MW): the
        month of the first step starts from ``peak_import_so_far_mw``, later ones from 0."""
        if self.month is None:
            return np.zeros(self.H, dtype=np.int64), np.array([self.peak_import_so_far_mw])
        _, first, idx = np.unique(self.month, return_index=True, return_inverse=True)
        so_far = np.where(first == 0, self.peak_import_so_far_mw, 0.0)
        return idx.ravel(), so_far

    def direct_wind_fraction(self) -> np.ndarray:
        """Wind share of each step's generation forecast (exports are split pro rata)."""
        gen = self.wind_mw + self.pv_mw
        return np.divide(self.wind_mw, gen, out=np.zeros(self.H), where=gen > 0)

    def low_outcome(self) -> PlanInputs | None:
        """The inputs should the wind come in at ``wind_low_mw`` (None where it is not given
        or nowhere below the forecast): storage charged only from that outcome's surplus
        where it is limited so, no operator's cap (a request is planned on the forecast)."""
        low = self.wind_low_mw
        if low is None or not bool(np.any(low < self.wind_mw - 1e-6)):
            return None
        charge = None if self.charge_limit_mw is None else np.maximum(
            self.charge_limit_mw - (self.wind_mw - low), 0.0)
        return replace(self, wind_mw=low, wind_low_mw=None, charge_limit_mw=charge,
                       import_cap_mw=None)

    def e_bounds(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Start energy and the energy window of each storage (MWh), widened to the start."""
        emax = np.array([st.e_max_mwh for st in self.storages])
        e0 = self.soc0 * emax
        lo = np.minimum(np.array([st.soc_min for st in self.storages]) * emax, e0)
        hi = np.maximum(np.array([st.soc_max for st in self.storages]) * emax, e0)
        return e0, lo, hi


@dataclass(frozen=True)
class Plan:
    """A dispatch over the horizon. Arrays ``[H]`` or ``[H, n_device]``, MW unless named."""

    status: str  # "optimal" | "fallback:<reason>"
    p_storage_mw: np.ndarray  # > 0 charging (AC side)
    soc: np.ndarray  # [H+1, n_storage], row 0 = soc0
    p_ev_mw: np.ndarray
    p_shift_mw: np.ndarray  # added to p_base
    p_import_mw: np.ndarray
    p_export_mw: np.ndarray
    p_curtail_pv_mw: np.ndarray
    p_curtail_wind_mw: np.ndarray
    shortfall_mw: np.ndarray  # import above import_cap_mw (0 where met or no cap)
    cost_cny: float  # the objective (see module docstring), penalties included
    solve_s: float
    unserved_mw: np.ndarray  # load not served (import limit)
    ev_shortfall_mwh: np.ndarray  # [H, n_ev] cumulative energy behind e_min_cum
    direct_shortfall_mwh: float  # wind consumed below direct_min_share * wind generated


    def head(self, n: int) -> Plan:
        """The plan's first ``n`` steps (a plan made over a longer look-ahead, see
        :func:`with_tail`)."""
        if n >= self.p_import_mw.shape[0]:
            return self
        rows = {f.name: getattr(self, f.name)[:n + 1 if f.name == "soc" else n]
                for f in fields(self) if isinstance(getattr(self, f.name), np.ndarray)}
        return replace(self, **rows)


# --------------------------------------------------------------------------- evaluation


def _ev_late(inputs: PlanInputs, p_ev: np.ndarray) -> np.ndarray:
    if not inputs.evs:
        return np.zeros((inputs.H, 0))
    e_min = np.stack([ev.e_min_cum_mwh for ev in inputs.evs], axis=1)
    return np.maximum(e_min - np.cumsum(p_ev * inputs.dt[:, None], axis=0), 0.0)


def _direct_shortfall(inputs: PlanInputs, cw: np.ndarray, exp: np.ndarray) -> float:
    w = inputs.wind_mw
    if inputs.direct_min_share <= 0 or w.sum() <= 0:
        return 0.0
    used = w - cw - inputs.direct_wind_fraction() * exp
    return max(0.0, float((inputs.direct_min_share * w - used) @ inputs.dt))


def _cap_shortfall(inputs: PlanInputs, imp: np.ndarray) -> np.ndarray:
    if inputs.import_cap_mw is None:
        return np.zeros(inputs.H)
    return np.nan_to_num(np.maximum(imp - inputs.import_cap_mw, 0.0), nan=0.0)


def objective_cny(inputs: PlanInputs, p: Plan) -> float:
    """The LP's objective evaluated for any plan (slacks recomputed from its powers)."""
    dt = inputs.dt
    imp, exp = p.p_import_mw, p.p_export_mw
    ch, dis = np.maximum(p.p_storage_mw, 0), np.maximum(-p.p_storage_mw, 0)
    cost = float(dt @ (imp * inputs.import_cost_cny_per_mwh()
                       - exp * inputs.export_value_cny_per_mwh()
                       + inputs.cycle_cost_cny_per_mwh * (ch.sum(axis=1) + dis.sum(axis=1))
                       + inputs.curtail_cost_cny_per_mwh
                       * (p.p_curtail_pv_mw + p.p_curtail_wind_mw)
                       + PENALTY_UNSERVED_CNY_PER_MWH * p.unserved_mw
                       + PENALTY_CAP_CNY_PER_MWH * _cap_shortfall(inputs, imp)))
    cost += PENALTY_EV_CNY_PER_MWH_H * float(dt @ _ev_late(inputs, p.p_ev_mw).sum(axis=1))
    idx, so_far = inputs.months()
    peak = so_far.copy()
    np.maximum.at(peak, idx, imp)
    cost += inputs.demand_charge_cny_per_mw * float((peak - so_far).sum())
    cost += PENALTY_DIRECT_CNY_PER_MWH * _direct_shortfall(inputs, p.p_curtail_wind_mw, exp)
    if inputs.storages:
        e_max = np.array([s.e_max_mwh for s in inputs.storages])
        cost -= float(inputs.terminal_values() @ ((p.soc[-1] - p.soc[0]) * e_max))
    return cost


# --------------------------------------------------------------------------- the LP


@dataclass
class _Cols:
    imp: np.ndarray
    exp: np.ndarray
    cpv: np.ndarray
    cw: np.ndarray
    uns: np.ndarray
    ch: list[np.ndarray] = field(default_factory=list)
    dis: list[np.ndarray] = field(default_factory=list)
    e: list[np.ndarray] = field(default_factory=list)
    ev: list[np.ndarray] = field(default_factory=list)
    sh: list[np.ndarray] = field(default_factory=list)
    low: _Cols | None = None  # the low-wind outcome's columns


def _build(inp: PlanInputs, strict: bool = False) -> tuple[LP, _Cols, float]:
    """The LP of ``inp``: the model, its columns and the objective offset (``strict``: the
    direct-line share counts battery losses as not consumed).

    With a low-wind outcome (:meth:`PlanInputs.low_outcome`) a second copy of the dispatch
    shares the first ``low_shared_steps`` steps' storage, EV and shift decisions with the
    forecast's; its costs, demand charge included, weigh ``low_weight`` (a two-stage
    programme: 1, two outcomes as likely)."""
    m = LP()
    c, offset = _scenario(m, inp, strict)
    low = inp.low_outcome()
    if low is not None and c.ch:
        c.low, off = _scenario(m, low, strict, inp.low_weight)
        offset += off
        n = min(inp.low_shared_steps, inp.H)
        for a, b in zip(c.ch + c.dis + c.ev + c.sh, c.low.ch + c.low.dis + c.low.ev
                        + c.low.sh, strict=True):
            r = m.rows(n, 0.0, 0.0)
            m.coef(r, a[:n], 1.0)
            m.coef(r, b[:n], -1.0)
    return m, c, offset


def _scenario(m: LP, inp: PlanInputs, strict: bool, weight: float = 1.0) -> tuple[_Cols, float]:
    """One outcome's dispatch in ``m``: its columns and objective offset (``weight``: of its
    costs; its penalty for unserved load stays whole)."""
    H, dt = inp.H, inp.dt
    wdt = weight * dt
    st, evs, shs = inp.storages, inp.evs, inp.shiftables
    p_st_max = sum(s.p_max_mw for s in st)
    base = sum((s.p_base_mw for s in shs), np.zeros(H))
    cons_max = inp.load_mw + base + sum((s.p_base_mw * s.up_frac for s in shs), np.zeros(H)) \
        + sum((e.p_max_mw for e in evs), np.zeros(H)) + p_st_max
    c = _Cols(imp=m.cols(H, 0, np.minimum(inp.import_limit_mw, cons_max),
                         inp.import_cost_cny_per_mwh() * wdt),
              exp=m.cols(H, 0, np.minimum(inp.export_limit_mw, inp.pv_mw + inp.wind_mw
                                          + p_st_max), -inp.export_value_cny_per_mwh() * wdt),
              cpv=m.cols(H, 0, inp.pv_mw, inp.curtail_cost_cny_per_mwh * wdt),
              cw=m.cols(H, 0, inp.wind_mw, inp.curtail_cost_cny_per_mwh * wdt),
              uns=m.cols(H, 0, np.inf, PENALTY_UNSERVED_CNY_PER_MWH * dt))
    offset = 0.0
    bal = m.rows(H, inp.load_mw + base - inp.pv_mw - inp.wind_mw,
                 inp.load_mw + base - inp.pv_mw - inp.wind_mw)
    for cols, sign in ((c.imp, 1), (c.uns, 1), (c.exp, -1), (c.cpv, -1), (c.cw, -1)):
        m.coef(bal, cols, sign)
    if inp.demand_charge_cny_per_mw > 0 and weight > 0:  # one peak per billing month
        idx, so_far = inp.months()
        dc = inp.demand_charge_cny_per_mw * weight
        peak = m.cols(so_far.size, so_far, np.inf, dc)
        offset -= dc * float(so_far.sum())
        r = m.rows(H, -np.inf, 0.0)
        m.coef(r, c.imp, 1.0)
        m.coef(r, peak[idx], -1.0)
    if inp.import_cap_mw is not None and np.isfinite(inp.import_cap_mw).any():
        k = np.flatnonzero(np.isfinite(inp.import_cap_mw))
        short = m.cols(k.size, 0, np.inf, PENALTY_CAP_CNY_PER_MWH * dt[k])
        r = m.rows(k.size, -np.inf, inp.import_cap_mw[k])
        m.coef(r, c.imp[k], 1)
        m.coef(r, short, -1)
    # storages
    e0, e_lo, e_hi = inp.e_bounds()
    tv = inp.terminal_values()
    for i, s in enumerate(st):
        ch = m.cols(H, 0, s.p_max_mw, inp.cycle_cost_cny_per_mwh * wdt)
        dis = m.cols(H, 0, s.p_max_mw, inp.cycle_cost_cny_per_mwh * wdt)
        e = m.cols(H, e_lo[i], e_hi[i], np.r_[np.zeros(H - 1), -tv[i] * weight])
        offset += tv[i] * e0[i] * weight
        r = m.rows(H, np.r_[e0[i], np.zeros(H - 1)], np.r_[e0[i], np.zeros(H - 1)])
        m.coef(r, e, 1.0)
        m.coef(r[1:], e[:-1], -1.0)
        m.coef(r, ch, -s.eta_charge * dt)
        m.coef(r, dis, dt / s.eta_discharge)
        m.coef(bal, ch, -1)
        m.coef(bal, dis, 1)
        m.ramp([(ch, 1.0), (dis, -1.0)], s.ramp_mw_per_step)
        c.ch.append(ch)
        c.dis.append(dis)
        c.e.append(e)
    _charge_limit(m, c, inp)
    # EV hubs: cumulative energy c_k within [min(e_min, fastest), fastest]; p_k = dc_k / dt
    for ev in evs:
        fast = ev.fastest_cum_mwh(dt)
        gap = np.maximum(ev.e_min_cum_mwh - fast, 0.0)
        cum = m.cols(H, ev.e_min_cum_mwh - gap, fast)
        offset += PENALTY_EV_CNY_PER_MWH_H * float(dt @ gap) * weight  # unavoidable
        r = m.rows(H, 0.0, ev.p_max_mw * dt)
        m.coef(r, cum, 1.0)
        m.coef(r[1:], cum[:-1], -1.0)
        m.coef(bal, cum, -1.0 / dt)
        m.coef(bal[1:], cum[:-1], 1.0 / dt[1:])
        c.ev.append(cum)
    for sh in shs:
        x = m.cols(H, -sh.down_frac * sh.p_base_mw, sh.up_frac * sh.p_base_mw)
        m.coef(bal, x, -1)
        target = sh.target_mwh(dt)  # energy-neutral, less what is owed from before
        m.coef(m.rows(1, target, target), x, dt)
        if 0 < sh.neutral_steps < H:  # and within each block (e.g. a day)
            block = np.arange(H) // sh.neutral_steps
            m.coef(m.rows(int(block[-1]) + 1, 0.0, 0.0)[block], x, 1.0)
        m.ramp([(x, 1.0)], sh.ramp_mw_per_step)
        c.sh.append(x)
    _direct(m, c, inp, strict, weight)
    return c, offset


def _direct(m: LP, c: _Cols, inp: PlanInputs, strict: bool, weight: float) -> None:
    """绿电直连: wind - curtailed - exported share (- storage losses if ``strict``) >= share *
    wind, its shortfall a slack penalised at ``weight``."""
    dt = inp.dt
    wind_e = float(inp.wind_mw @ dt)
    if inp.direct_min_share > 0 and wind_e > 0:
        slack = m.cols(1, 0, np.inf, PENALTY_DIRECT_CNY_PER_MWH * weight)
        r = m.rows(1, (inp.direct_min_share - 1) * wind_e, np.inf)
        m.coef(r, c.cw, -dt)
        m.coef(r, c.exp, -dt * inp.direct_wind_fraction())
        for s, ch, dis in zip(inp.storages, c.ch, c.dis, strict=True):
            if strict:
                m.coef(r, ch, -dt * (1 - s.eta_charge))
                m.coef(r, dis, -dt * (1 / s.eta_discharge - 1))
        m.coef(r, slack, 1.0)


def _charge_limit(m: LP, c: _Cols, inp: PlanInputs) -> None:
    """Cap the storages' total charging per step (e.g. only local surplus may be stored)."""
    if inp.charge_limit_mw is None or not c.ch:
        return
    r = m.rows(inp.H, -np.inf, np.maximum(inp.charge_limit_mw, 0.0))
    for ch in c.ch:
        m.coef(r, ch, 1.0)


def _unpack(inp: PlanInputs, c: _Cols, x: np.ndarray, obj: float, t0: float) -> Plan:
    H = inp.H

    def stack(blocks: list[np.ndarray]) -> np.ndarray:
        return np.stack([x[b] for b in blocks], axis=1) if blocks else np.zeros((H, 0))

    emax = np.array([s.e_max_mwh for s in inp.storages])
    soc = np.vstack([inp.soc0[None, :], stack(c.e) / emax]) if inp.storages \
        else np.zeros((H + 1, 0))
    p_ev = np.maximum(np.diff(stack(c.ev), axis=0, prepend=0.0) / inp.dt[:, None], 0.0)
    imp = x[c.imp]
    p_st = stack(c.ch) - stack(c.dis)
    return Plan("optimal", p_st, soc, p_ev, stack(c.sh), imp, x[c.exp], x[c.cpv],
                x[c.cw], _cap_shortfall(inp, imp), obj, time.perf_counter() - t0, x[c.uns],
                _ev_late(inp, p_ev), _direct_shortfall(inp, x[c.cw], x[c.exp]))


def _simultaneous(c: _Cols, x: np.ndarray, tol_mw: float = 1e-6) -> bool:
    return any(np.minimum(x[ch], x[dis]).max() > tol_mw for ch, dis in zip(c.ch, c.dis,
                                                                          strict=True)) \
        or (c.low is not None and _simultaneous(c.low, x, tol_mw))


def plan(inputs: PlanInputs, *, time_limit_s: float = 1.0, method: str = "simplex",
         warm: Bases | None = None) -> Plan:
    """The least-cost dispatch over the horizon (see the module docstring for the LP).

    ``method``: HiGHS' ``"simplex"`` (a horizon's LP) or ``"ipm"`` (a year's); ``warm``: the
    simplex started from the last basis of an LP of the same size kept there
    (:class:`twin.ems.lp.Bases`). On solver failure, infeasibility or time-out returns
    :func:`rule_plan` with status ``"fallback:<reason>"``; never raises for a numerical
    failure.
    """
    t0 = time.perf_counter()
    try:
        m, c, offset = _build(inputs)
        x, obj = solve_highs(m, offset, time_limit_s, method, warm)
        strict = _simultaneous(c, x)
        if strict:  # burning wind in one battery's losses: not physical
            log.debug("charge and discharge at once; re-solving with losses not consumed")
            m, c, offset = _build(inputs, strict=True)
            x, _ = solve_highs(m, offset, time_limit_s - (time.perf_counter() - t0), method,
                               warm)
        p = _unpack(inputs, c, x, obj, t0)
        if strict or c.low is not None:  # the forecast outcome's own objective
            p = replace(p, cost_cny=objective_cny(inputs, p))
        return p
    except SolverError as exc:
        log.warning("dispatch LP failed (%s); falling back to the rule", exc)
        fb = rule_plan(inputs, f"fallback:{exc}")
        return replace(fb, solve_s=time.perf_counter() - t0)


# --------------------------------------------------------------------------- the rule


def _safe_mw(avail_mwh: np.ndarray, ramp: np.ndarray, dt_h: float, eff: np.ndarray) -> np.ndarray:
    """Largest power that can be held now and then ramped to 0 at ``ramp`` MW/step within
    ``avail_mwh`` (``eff``: MWh of stored energy per MWh at AC, inverted for discharge).

    With ``A = avail / (eff * dt)`` and ``m`` whole ramp steps, ``(m+1) d - r m (m+1) / 2 = A``.
    """
    a = np.maximum(avail_mwh, 0.0) / (eff * dt_h)
    r = np.where(np.isfinite(ramp), ramp, 1.0)
    m = np.where(np.isfinite(ramp), np.floor((np.sqrt(1 + 8 * a / r) - 1) / 2), 0.0)
    return (a + r * m * (m + 1) / 2) / (m + 1) * (1 - 1e-12)


def _reachable_mw(limit: np.ndarray, ramp: np.ndarray) -> np.ndarray:
    """``b[k, s] = min_{j >= k} (limit[j, s] + (j - k) ramp[s])``: the most power now from
    which a ramp-limited storage can still come down to every later limit in time."""
    H = limit.shape[0]
    k = np.arange(H)[:, None]
    r = np.where(np.isfinite(ramp), ramp, 0.0)
    suffix = np.minimum.accumulate((limit + k * r)[::-1], axis=0)[::-1] - k * r
    return np.where(np.isfinite(ramp), suffix, limit)


def _rule_storage(inp: PlanInputs, deficit: np.ndarray,
                  cons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batteries cover the deficit (or absorb the surplus) split by rating.

    Besides power, SOC and ramp limits, total discharge stays within what the park can
    take (consumption plus the export limit) and total charging within what it can get
    without shedding load (generation plus the import limit, less consumption), both with
    the time a ramp-limited storage needs to come down to them later.
    """
    H, n, dt = inp.H, len(inp.storages), inp.dt
    p = np.zeros((H, n))
    soc = np.zeros((H + 1, n))
    if n == 0:
        return p, soc
    pmax = np.array([s.p_max_mw for s in inp.storages])
    ramp = np.array([s.ramp_mw_per_step for s in inp.storages])
    eta_c = np.array([s.eta_charge for s in inp.storages])
    eta_d = np.array([s.eta_discharge for s in inp.storages])
    emax = np.array([s.e_max_mwh for s in inp.storages])
    e, e_lo, e_hi = inp.e_bounds()
    w = pmax / pmax.sum()
    gen = inp.pv_mw + inp.wind_mw
    dis_max = _reachable_mw((cons + inp.export_limit_mw)[:, None] * w, ramp)
    ch_max = _reachable_mw(np.maximum(inp.import_limit_mw + gen - cons, 0.0)[:, None] * w, ramp)
    soc[0] = inp.soc0
    prev = None
    for k in range(H):
        lo = np.maximum(-np.minimum(pmax, dis_max[k]), -_safe_mw(e - e_lo, ramp, dt[k],
                                                                 1 / eta_d))
        hi = np.minimum(np.minimum(pmax, ch_max[k]), _safe_mw(e_hi - e, ramp, dt[k], eta_c))
        if prev is not None:
            lo, hi = np.maximum(lo, prev - ramp), np.minimum(hi, prev + ramp)
        pk = np.minimum(np.maximum(-deficit[k] * w, lo), hi)
        e = np.clip(e + (eta_c * np.maximum(pk, 0) - np.maximum(-pk, 0) / eta_d) * dt[k], e_lo,
                    e_hi)
        p[k], soc[k + 1], prev = pk, e / emax, pk
    return p, soc


def rule_plan(inputs: PlanInputs, reason: str = "rule") -> Plan:
    """The simple rule over the horizon (the fallback).

    EVs charge as soon as possible up to their maximum curve; shiftables stay at their base;
    batteries absorb surplus or cover deficit split by rating within SOC, power and ramp
    limits (a battery never goes so fast that it could not ramp back to 0 before a SOC
    limit); the rest is imported (beyond the import limit: unserved) or exported (beyond the
    export limit: curtailed, PV first so wind stays in the park).
    """
    t0 = time.perf_counter()
    inp, H, dt = inputs, inputs.H, inputs.dt
    p_ev = np.zeros((H, len(inp.evs)))
    for j, ev in enumerate(inp.evs):
        p_ev[:, j] = np.maximum(np.diff(ev.fastest_cum_mwh(dt), prepend=0.0) / dt, 0.0)
    base = sum((s.p_base_mw for s in inp.shiftables), np.zeros(H))
    deficit = inp.load_mw + base + p_ev.sum(1) - inp.pv_mw - inp.wind_mw
    p_st, soc = _rule_storage(inp, deficit, inp.load_mw + base + p_ev.sum(1))
    resid = deficit + p_st.sum(1)
    imp = np.clip(resid, 0.0, inp.import_limit_mw)
    uns = np.maximum(resid, 0.0) - imp
    surplus = np.maximum(-resid, 0.0)
    exp = np.minimum(surplus, inp.export_limit_mw)
    cpv = np.minimum(surplus - exp, inp.pv_mw)
    cw = surplus - exp - cpv
    p = Plan(reason, p_st, soc, p_ev, np.zeros((H, len(inp.shiftables))), imp, exp, cpv, cw,
             _cap_shortfall(inp, imp), 0.0, 0.0, uns, _ev_late(inp, p_ev),
             _direct_shortfall(inp, cw, exp))
    return replace(p, cost_cny=objective_cny(inp, p), solve_s=time.perf_counter() - t0)
