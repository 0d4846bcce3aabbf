"""Battery energy storage: power and energy limits, efficiencies, SOC window, self-discharge.

Sign convention (pandapower's): ``p_mw`` > 0 charges the battery (a load), ``p_mw`` < 0
discharges it. Powers are at the AC terminals; the stored energy is ``e_mwh``.

Energy closes exactly on every step::

    p_mw * dt_h = (e_new - e_old) + p_loss_mw * dt_h

where the loss is charge/discharge conversion loss plus self-discharge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from twin.core.fields import param
from twin.core.quantities import Quantity

SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86400.0


@dataclass(frozen=True)
class BatterySpec:
    """A battery storage station."""

    name: str = param(doc="unique entity name")
    p_max_mw: float = param("MW", gt=0, doc="charge and discharge power limit at the AC terminals")
    e_max_mwh: float = param("MWh", gt=0, doc="nominal energy capacity")
    soc_min: float = param("1", ge=0, le=1, default=0.1, doc="lowest allowed state of charge")
    soc_max: float = param("1", ge=0, le=1, default=0.9, doc="highest allowed state of charge")
    soc_init: float = param("1", ge=0, le=1, default=0.5, doc="state of charge at the start")
    eta_charge: float = param("1", gt=0, le=1, default=0.95, doc="charging efficiency (AC to cell)")
    eta_discharge: float = param(
        "1", gt=0, le=1, default=0.95, doc="discharging efficiency (cell to AC)"
    )
    self_discharge_per_day: float = param(
        "1/d", ge=0, lt=1, default=0.0005, doc="fraction of stored energy lost per day"
    )


@dataclass(frozen=True)
class BatteryState:
    """Stored energy and the energy counters a battery carries from step to step."""

    e_mwh: float
    e_charged_mwh: float = 0.0
    e_discharged_mwh: float = 0.0


@dataclass(frozen=True)
class BatteryStep:
    """What one step did: the power actually taken, its losses and the resulting SOC."""

    p_mw: float
    p_loss_mw: float
    soc: float
    e_mwh: float
    efc: float


# What a battery takes each step and what it gives (the fields of BatteryStep).
INPUTS = (Quantity("p_set_mw", "MW", "power setpoint, > 0 charging (sum of all sources)"),
          # hardware in the loop: the state of charge a device serving the battery measured (a
          # step earlier); the step starts from it (unconnected or NaN: the model's own)
          Quantity("soc_measured", "1", "state of charge measured on a device serving the "
                   "battery: the step starts from it (NaN: the model's own)"))
OUTPUTS = (
    Quantity("p_mw", "MW", "power at the AC terminals, > 0 charging"),
    Quantity("p_loss_mw", "MW", "conversion and self-discharge losses"),
    Quantity("soc", "1", "state of charge at the end of the step"),
    Quantity("e_mwh", "MWh", "stored energy at the end of the step"),
    Quantity("efc", "1", "equivalent full cycles so far"),
)


def initial_state(spec: BatterySpec) -> BatteryState:
    """The state at the start of a run (``soc_init`` of the nominal capacity)."""
    return BatteryState(e_mwh=spec.soc_init * spec.e_max_mwh)


def step(
    spec: BatterySpec, state: BatteryState, p_set_mw: float, dt_s: float
) -> tuple[BatteryState, BatteryStep]:
    """Advance a battery by ``dt_s`` seconds with setpoint ``p_set_mw`` (> 0 charge).

    The setpoint is clipped to the power limit and to what the SOC window allows over the
    step, after self-discharge. Returns the new state and what happened in the step.
    """
    limits = _limits(spec, dt_s)
    p, e_end, e_conv, e_self = _move(spec, limits, state.e_mwh, p_set_mw)
    dt_h = limits[0]
    new = BatteryState(
        e_mwh=e_end,
        e_charged_mwh=state.e_charged_mwh + max(p, 0.0) * dt_h,
        e_discharged_mwh=state.e_discharged_mwh + max(-p, 0.0) * dt_h,
    )
    result = BatteryStep(
        p_mw=p,
        p_loss_mw=(e_conv + e_self) / dt_h,
        soc=e_end / spec.e_max_mwh,
        e_mwh=e_end,
        efc=equivalent_full_cycles(spec, new),
    )
    return new, result


def step_block(spec: BatterySpec, state: BatteryState, p_set_mw: Sequence[float],
               dt_s: float) -> tuple[BatteryState, dict[str, list[float]]]:
    """:func:`step` over consecutive steps with setpoints ``p_set_mw``: the state after them
    and each output of :data:`OUTPUTS` as a list over the steps (the same numbers, without
    a state and a result object each step)."""
    limits = _limits(spec, dt_s)
    dt_h, e, charged, discharged = limits[0], state.e_mwh, state.e_charged_mwh, \
        state.e_discharged_mwh
    two_e_max = 2.0 * spec.e_max_mwh
    out: dict[str, list[float]] = {q.name: [] for q in OUTPUTS}
    p_out, loss, soc, e_out, efc = (out[q.name] for q in OUTPUTS)
    for p_set in p_set_mw:
        p, e, e_conv, e_self = _move(spec, limits, e, p_set)
        charged = charged + max(p, 0.0) * dt_h
        discharged = discharged + max(-p, 0.0) * dt_h
        p_out.append(p)
        loss.append((e_conv + e_self) / dt_h)
        soc.append(e / spec.e_max_mwh)
        e_out.append(e)
        efc.append((charged + discharged) / two_e_max)
    return BatteryState(e, charged, discharged), out


def _limits(spec: BatterySpec, dt_s: float) -> tuple[float, float, float, float]:
    """A step's length (h), the energy window (MWh) and the share self-discharge takes."""
    return (dt_s / SECONDS_PER_HOUR, spec.soc_min * spec.e_max_mwh,
            spec.soc_max * spec.e_max_mwh,
            1.0 - (1.0 - spec.self_discharge_per_day) ** (dt_s / SECONDS_PER_DAY))


def _move(spec: BatterySpec, limits: tuple[float, float, float, float], e_mwh: float,
          p_set_mw: float) -> tuple[float, float, float, float]:
    """One step from stored energy ``e_mwh``: the power taken, the energy after it, the
    conversion loss and the self-discharge (MWh)."""
    dt_h, e_low, e_high, lost = limits
    e_self = e_mwh * lost
    e_start = e_mwh - e_self
    p = min(max(p_set_mw, -spec.p_max_mw), spec.p_max_mw)
    if p > 0.0:
        room = max(e_high - e_start, 0.0)
        p = min(p, room / (spec.eta_charge * dt_h))
        e_end = e_start + p * spec.eta_charge * dt_h
        e_conv = p * dt_h * (1.0 - spec.eta_charge)
    elif p < 0.0:
        avail = max(e_start - e_low, 0.0)
        p = max(p, -avail * spec.eta_discharge / dt_h)
        e_end = e_start + p / spec.eta_discharge * dt_h
        e_conv = -p * dt_h * (1.0 / spec.eta_discharge - 1.0)
    else:
        e_end = e_start
        e_conv = 0.0
    return p, e_end, e_conv, e_self


def equivalent_full_cycles(spec: BatterySpec, state: BatteryState) -> float:
    """Equivalent full cycles: AC throughput (charged + discharged) / (2 x nominal capacity)."""
    return (state.e_charged_mwh + state.e_discharged_mwh) / (2.0 * spec.e_max_mwh)
