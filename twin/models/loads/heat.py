"""Park heat supply: degree-day heat demand met by heat pumps, electric boilers with a heat
store, then gas boilers.

Demand (thermal, MW)::

    q_heat = q_design * (dhw_share + (1 - dhw_share) * s) * (1 + noise)
    s = max(0, t_base - t_air) / (t_base - t_design)   inside the heating season, else 0

so the space-heating part follows the heating degree days (base ``t_base``) and reaches the
design load at the design temperature (it keeps rising below it). Supply::

    in merit order, each up to its capacity: electric boilers on the park's spare power (its
    local generation less its other loads: the rule controller's surplus), which also fill
    the heat store, or, in a step without spare power, the store's discharge; recovered
    waste heat (water-source heat pumps), geothermal heat pumps (q_hp), air-source heat
    pumps (down to their lowest air temperature), the store for what is left; gas boilers
    the rest (q_boiler). Burning spare wind in the boilers before the heat pumps is what the
    pathway's LP does: the wind is otherwise exported, and the energy use it adds lowers the
    core indicator (tCO2 per tce).
    With an hourly plan (:class:`HeatPlan`: the pathway LP's heat pumps, electric boilers
    and heat store), the step follows it where it can: the heat pumps give the planned heat
    (within their capacities and the demand), the store discharges what is planned, the
    electric boilers run at the planned power, within the park's local generation where it
    is given (the LP's own rule: boilers and export together at most the generation, so that
    the other loads may be served by the storage while the generation boils), heat to the
    demand, the rest into the store; what the plan leaves of the demand comes from the heat
    pumps' spare capacity, the store, then gas.
    Without the park's spare power (a model stepped alone), the electric boilers run after
    the heat pumps, at full power in windy hours (the weather's wind at 100 m above a threshold; the valley
    hours of a tariff without wind) and the store discharges outside them
    p_hp = sum of q / COP over the heat pumps;  p_pump = pump_ratio * q_heat
    p_mw = p_hp + p_eboiler + p_pump
    gas_nm3 = q_boiler * dt_s / (boiler_eff * NCV)            (MW s = MJ; NCV in MJ/Nm3)

``t_supply`` follows a heating curve (linear in outdoor temperature between the balance
point and the design point) in the season, and the hot-water temperature outside it. The
geothermal COP follows the data's curve of supply temperature; air-source and waste-heat COPs
are a share of the Carnot COP between their source and the supply (:func:`carnot_cop`).
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np

from twin import data
from twin.core.quantities import Quantity, pick
from twin.core.rng import AR1Noise
from twin.models import weather
from twin.models.loads.calendar import EPOCH_ORDINAL, ParkCalendar
from twin.models.loads.spec import HeatSupplySpec  # re-exported: the light spec


def _parse_mmdd(text: str) -> tuple[int, int]:
    month, day = (int(x) for x in str(text).split("-"))
    dt.date(2024, month, day)  # raises ValueError if not a date
    return month, day


@dataclass(frozen=True)
class HeatOutput:
    """Heat supply over one step (powers are means over the step)."""

    q_heat_mw: float
    q_hp_mw: float
    q_boiler_mw: float
    p_mw: float
    p_hp_mw: float
    p_pump_mw: float
    gas_nm3: float
    cop: float
    t_supply_c: float
    q_air_mw: float = 0.0
    q_waste_mw: float = 0.0
    q_eboiler_mw: float = 0.0
    q_store_mw: float = 0.0
    p_eboiler_mw: float = 0.0
    e_store_mwh: float = 0.0


@dataclass(frozen=True)
class HeatPlan:
    """Setpoints of one step (the pathway LP's hour): heat from the heat pumps (all kinds,
    MW thermal), the electric boilers' power (MW electric; ``inf``: as the spare power allows)
    and the heat store's net charge (MW thermal, > 0 charge from the boilers, < 0 discharge)."""

    q_hp_mw: float
    p_eboiler_mw: float = float("inf")
    q_store_mw: float = 0.0


# What the heat supply takes each step and what it gives (the fields of HeatOutput).
INPUTS = (*pick(weather.OUTPUTS, "temp_air_c", "wind_ms", "wind_height_m", "roughness_m"),
          Quantity("p_gen_mw", "MW", "the park's local generation (the electric boilers' "
                   "spare power is it less the park's other loads)"),
          Quantity("p_load_mw", "MW", "the park's loads not stepped with the heat supply "
                   "(production lines, FMUs): less the spare power"))
OUTPUTS = (
    Quantity("q_heat_mw", "MW", "heat demand (thermal)"),
    Quantity("q_hp_mw", "MW", "heat from heat pumps"),
    Quantity("q_boiler_mw", "MW", "heat from gas boilers"),
    Quantity("p_mw", "MW", "electric load"),
    Quantity("p_hp_mw", "MW", "heat pump compressors"),
    Quantity("p_pump_mw", "MW", "circulation pumps"),
    Quantity("gas_nm3", "Nm3", "natural gas burnt in the step", "sum"),
    Quantity("cop", "1", "heat pump coefficient of performance"),
    Quantity("t_supply_c", "degC", "supply temperature of the heating network"),
    Quantity("q_air_mw", "MW", "heat from air-source heat pumps"),
    Quantity("q_waste_mw", "MW", "recovered waste heat (water-source heat pumps)"),
    Quantity("q_eboiler_mw", "MW", "heat from electric boilers to the demand"),
    Quantity("q_store_mw", "MW", "heat from the heat store to the demand"),
    Quantity("p_eboiler_mw", "MW", "electric boilers"),
    Quantity("e_store_mwh", "MWh", "heat in the store at the end of the step"),
)


def carnot_cop(t_source_c: Any, t_supply_c: Any, eff: float, cop_max: float) -> np.ndarray:
    """Heating COP lifting heat from ``t_source_c`` to ``t_supply_c``: ``eff`` x the Carnot
    COP, within [1, ``cop_max``] (also where the source is as warm as the supply)."""
    t_sup = np.asarray(t_supply_c, dtype=float) + 273.15
    lift = t_sup - (np.asarray(t_source_c, dtype=float) + 273.15)
    with np.errstate(divide="ignore", invalid="ignore"):
        cop = np.where(lift > 0, eff * t_sup / np.where(lift > 0, lift, 1.0), cop_max)
    return np.clip(cop, 1.0, cop_max)


def charge_hours() -> frozenset[int]:
    """Local hours in which electric boilers run without the weather's wind: the valley of
    the reference tariff."""
    periods = data.load("tariff")["liaoning-illustrative"]["periods"]
    return frozenset(h for h, name in enumerate(periods) if name == "valley")


def windy(wind_ms: Any, height_m: Any, roughness_m: Any,
          params: dict[str, Any] | None = None) -> np.ndarray:
    """Whether electric boilers run: the wind taken to the rule's height by the log law is at
    least the rule's speed (``twin/data/heat.yaml`` eboiler_charge)."""
    rule = (heat_params() if params is None else params)["eboiler_charge"]
    z0 = np.maximum(np.asarray(roughness_m, dtype=float), 1e-4)
    h = np.maximum(np.asarray(height_m, dtype=float), 2 * z0)
    at = np.asarray(wind_ms, dtype=float) * np.log(float(rule["height_m"]) / z0) / np.log(h / z0)
    return at >= float(rule["wind_ms"])


def heat_params() -> dict[str, Any]:
    """Heat supply defaults from ``twin/data/heat.yaml``."""
    return data.load("heat")


class HeatSupply:
    """Heat demand and its supply by heat pumps and boilers, stepped in time order.

    Parameters
    ----------
    spec : HeatSupplySpec
        The station.
    calendar : ParkCalendar
        Local dates (heating season).
    rng : numpy.random.Generator
        Source of the demand noise.
    params : dict, optional
        Defaults; ``None`` reads :func:`heat_params`.
    """

    def __init__(
        self,
        spec: HeatSupplySpec,
        calendar: ParkCalendar,
        rng: np.random.Generator,
        params: dict[str, Any] | None = None,
    ) -> None:
        p = heat_params() if params is None else params

        def pick(name: str) -> Any:
            v = getattr(spec, name)
            return p[name] if v is None else v

        self.spec, self.calendar, self._rng = spec, calendar, rng
        self.t_design_c = float(pick("t_design_c"))
        self.t_base_c = float(pick("t_base_c"))
        if self.t_base_c <= self.t_design_c:
            raise ValueError(f"{spec.name}: t_base_c must be above t_design_c")
        self.dhw_share = float(pick("dhw_share"))
        self.boiler_eff = float(pick("boiler_eff"))
        self.ncv_mj_nm3 = float(p["ncv_mj_nm3"])
        self.season = (_parse_mmdd(pick("season_start")), _parse_mmdd(pick("season_end")))
        self._cop_x = [float(x) for x in p["cop_curve_supply_c"]]
        self._cop_y = [float(y) for y in p["cop_curve_cop"]]
        self._ts_base = float(p["t_supply_base_c"])
        self._ts_design = float(p["t_supply_design_c"])
        self._ts_dhw = float(p["t_supply_dhw_c"])
        self._pump = float(p["pump_elec_ratio"])
        self._space_per_k = spec.q_design_mw * (1.0 - self.dhw_share) / (
            self.t_base_c - self.t_design_c)
        self._q_dhw = spec.q_design_mw * self.dhw_share
        self._noise = AR1Noise(self._rng, float(pick("noise_pct")) / 100.0,
                               float(p["noise_tau_s"]))
        self._cop_max = max(self._cop_y)
        self._air = (float(p["ashp_carnot_eff"]), float(p["ashp_min_air_c"]))
        self._waste = (float(p["waste_heat_carnot_eff"]), float(p["waste_heat_source_c"]))
        self._eb_eff = float(p["eboiler_eff"])
        self._store_keep = 1.0 - float(p["store_loss_per_day"])
        self._charge = charge_hours() if spec.eboiler_mw > 0 else frozenset()
        self._params = p
        self._store = min(float(spec.store_init_mwh), float(spec.store_mwh))
        self._season_cache: dict[int, bool] = {}

    def in_season(self, local_day: int) -> bool:
        """Whether a local day (days since 1970-01-01) lies in the heating season."""
        hit = self._season_cache.get(local_day)
        if hit is None:
            d = dt.date.fromordinal(local_day + EPOCH_ORDINAL)
            md = (d.month, d.day)
            start, end = self.season
            hit = (start <= md <= end) if start <= end else (md >= start or md <= end)
            self._season_cache[local_day] = hit
        return hit

    def supply_temp_c(self, temp_air_c: float, heating: bool) -> float:
        """Supply temperature: heating curve in the season, hot-water temperature outside."""
        if not heating:
            return self._ts_dhw
        s = (self.t_base_c - temp_air_c) / (self.t_base_c - self.t_design_c)
        s = min(1.0, max(0.0, s))
        return self._ts_base + s * (self._ts_design - self._ts_base)

    def cop(self, t_supply_c: float) -> float:
        """Heat-pump COP at a supply temperature (constant if ``cop_nominal`` is set)."""
        if self.spec.cop_nominal is not None:
            return float(self.spec.cop_nominal)
        xs, ys = self._cop_x, self._cop_y
        if t_supply_c <= xs[0]:
            return ys[0]
        if t_supply_c >= xs[-1]:
            return ys[-1]
        i = bisect.bisect_right(xs, t_supply_c)
        w = (t_supply_c - xs[i - 1]) / (xs[i] - xs[i - 1])
        return ys[i - 1] + w * (ys[i] - ys[i - 1])

    def skip(self, n_steps: int, dt_s: int) -> None:
        """Draw the demand noise of ``n_steps`` steps not simulated (as
        :meth:`FactoryLoad.skip <twin.models.loads.factory.FactoryLoad.skip>`; the heat store
        starts at the spec's ``store_init_mwh``: its level in that period, where known)."""
        self._noise.advance(n_steps, dt_s)

    def _boil(self, p_mw: float, demand_mw: float, e: float, dt_h: float
              ) -> tuple[float, float, float]:
        """Electric boilers at ``p_mw``: heat to the demand, the rest into the store (up to
        its size). Returns (heat to the demand, electric power, heat stored)."""
        heat_max = p_mw * self._eb_eff
        q_eb = min(demand_mw, heat_max)
        fill = min(heat_max - q_eb, max(self.spec.store_mwh - e, 0.0) / dt_h)
        return q_eb, (q_eb + fill) / self._eb_eff, e + fill * dt_h

    def _pumps(self, q_mw: float, t_sup: float, cop: float, temp_air_c: float
               ) -> tuple[float, float, float, float]:
        """Heat pumps giving up to ``q_mw`` in merit order: waste heat, geothermal, air
        source (down to its lowest air temperature). Returns (q_waste, q_hp, q_air, p_hp)."""
        spec = self.spec
        q_waste = min(q_mw, spec.waste_heat_q_max_mw)
        q_hp = min(q_mw - q_waste, spec.hp_q_max_mw)
        left = q_mw - q_waste - q_hp
        p_hp = q_hp / cop
        if q_waste > 0:
            p_hp += q_waste / float(carnot_cop(self._waste[1], t_sup, self._waste[0],
                                               self._cop_max))
        q_air = min(left, spec.ashp_q_max_mw) if temp_air_c >= self._air[1] else 0.0
        if q_air > 0:
            p_hp += q_air / float(carnot_cop(temp_air_c, t_sup, self._air[0], self._cop_max))
        return q_waste, q_hp, q_air, p_hp

    def _planned(self, plan: HeatPlan, q: float, e: float, dt_h: float,
                 spare: float | None, t_sup: float, cop: float, temp_air_c: float
                 ) -> tuple[tuple[float, float, float, float], float, float, float, float,
                            float]:
        """The supply of a step following ``plan`` (see the module): returns the heat pumps
        (:meth:`_pumps`), the boilers' heat to the demand and power, the store's discharge,
        its content after the step and the gas boilers' heat."""
        spec = self.spec
        most = spec.waste_heat_q_max_mw + spec.hp_q_max_mw + (
            spec.ashp_q_max_mw if temp_air_c >= self._air[1] else 0.0)
        q_pumps = min(max(plan.q_hp_mw, 0.0), q, most)
        q_store = min(max(-plan.q_store_mw, 0.0), e / dt_h, q - q_pumps)
        e -= q_store * dt_h
        p_eb = min(max(plan.p_eboiler_mw, 0.0), spec.eboiler_mw)
        if spare is not None:
            p_eb = min(p_eb, max(spare, 0.0))
        q_eb, p_eb, e = (self._boil(p_eb, q - q_pumps - q_store, e, dt_h) if p_eb > 0
                         else (0.0, 0.0, e))
        left = q - q_pumps - q_store - q_eb
        more = min(left, most - q_pumps)  # what the plan leaves: the heat pumps' spare, ...
        q_pumps += more
        left -= more
        drawn = min(left, e / dt_h) if left > 0 else 0.0  # ... the store, then gas
        e -= drawn * dt_h
        return (self._pumps(q_pumps, t_sup, cop, temp_air_c), q_eb, p_eb, q_store + drawn, e,
                max(left - drawn, 0.0))

    def step(self, epoch_s: int, dt_s: int, temp_air_c: float,
             wind: tuple[float, float, float] | None = None,
             spare_mw: float | None = None, plan: HeatPlan | None = None) -> HeatOutput:
        """Heat demand and supply over ``[epoch_s, epoch_s + dt_s)``; ``spare_mw``: the park's
        local generation less its other loads in the step (the rule controller's surplus
        before the heat supply): the electric boilers take it, after the circulation pumps,
        first of all (to the demand, then into the store), and without any the store is drawn
        first. Without ``spare_mw``, the boilers run at full power after the heat pumps in
        the windy hours (``wind``: the weather's wind_ms, wind_height_m, roughness_m) or,
        without wind, the tariff's valley. ``plan``: the step's setpoints (:class:`HeatPlan`),
        followed where the supply can; with it, ``spare_mw`` is the most the electric
        boilers may take (the pathway LP's rule: the park's generation)."""
        heating = self.in_season(self.calendar.locate(epoch_s)[0])
        q = self._q_dhw
        if heating and temp_air_c < self.t_base_c:
            q += self._space_per_k * (self.t_base_c - temp_air_c)
        q *= max(0.0, 1.0 + self._noise.step(dt_s))
        spec = self.spec
        t_sup = self.supply_temp_c(temp_air_c, heating)
        cop = self.cop(t_sup)
        dt_h = dt_s / 3600.0
        e = self._store * self._store_keep ** (dt_s / 86400.0)
        p_pump = self._pump * q
        q_eb, p_eb, q_store = 0.0, 0.0, 0.0
        spare = None if spare_mw is None else spare_mw - p_pump
        if plan is not None:
            (q_waste, q_hp, q_air, p_hp), q_eb, p_eb, q_store, e, left = self._planned(
                plan, q, e, dt_h, spare_mw, t_sup, cop, temp_air_c)
            self._store = e
            return self._output(q, q_hp, left, p_hp, p_pump, dt_s, cop, t_sup, q_air,
                                q_waste, q_eb, q_store, p_eb, e)
        if spare is not None and spare > 0 and spec.eboiler_mw > 0:
            # the park's spare power: the electric boilers first (its energy use, where the
            # heat pumps would leave it to be exported), to the demand, then into the store
            q_eb, p_eb, e = self._boil(min(spec.eboiler_mw, spare), q, e, dt_h)
        elif spare is not None and e > 0:  # none: the store first (the heat pumps import)
            q_store = min(q, e / dt_h)
            e -= q_store * dt_h
        rest = q - q_eb - q_store
        q_waste, q_hp, q_air, p_hp = self._pumps(rest, t_sup, cop, temp_air_c)
        left = rest - q_waste - q_hp - q_air
        if spare is None and spec.eboiler_mw > 0 and (
                bool(windy(*wind, self._params)) if wind is not None
                else int(self.calendar.local_hour(epoch_s)) in self._charge):
            q_eb, p_eb, e = self._boil(spec.eboiler_mw, left, e, dt_h)  # at full power
            left -= q_eb
        elif left > 0 and e > 0:
            more = min(left, e / dt_h)
            e -= more * dt_h
            left -= more
            q_store += more
        self._store = e
        return self._output(q, q_hp, max(left, 0.0), p_hp, p_pump, dt_s, cop, t_sup, q_air,
                            q_waste, q_eb, q_store, p_eb, e)

    def _output(self, q: float, q_hp: float, q_boiler: float, p_hp: float, p_pump: float,
                dt_s: float, cop: float, t_sup: float, q_air: float, q_waste: float,
                q_eb: float, q_store: float, p_eb: float, e: float) -> HeatOutput:
        return HeatOutput(
            q_heat_mw=q,
            q_hp_mw=q_hp,
            q_boiler_mw=q_boiler,
            p_mw=p_hp + p_eb + p_pump,
            p_hp_mw=p_hp,
            p_pump_mw=p_pump,
            gas_nm3=q_boiler * dt_s / (self.boiler_eff * self.ncv_mj_nm3),
            cop=cop,
            t_supply_c=t_sup,
            q_air_mw=q_air,
            q_waste_mw=q_waste,
            q_eboiler_mw=q_eb,
            q_store_mw=q_store,
            p_eboiler_mw=p_eb,
            e_store_mwh=e,
        )
