"""Plans that look past their horizon: a stress period appended to a plan's inputs.

A rolling plan sees only its horizon; the month's demand charge is set by the worst hours of
the whole month. :func:`with_tail` appends a lull (no wind, PV scaled) after the horizon, so
the plan keeps the energy holding the peak through it needs and does not shave the horizon
below the peak such a lull would set anyway (:class:`twin.ems.controller.EMS` plans with it).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from twin.ems.dispatch import EVDemand, PlanInputs


def with_tail(inputs: PlanInputs, n: int, price_import_cny_per_mwh: np.ndarray,
              month: np.ndarray | None = None, pv_scale: float = 0.0,
              wind_scale: float = 0.0) -> PlanInputs:
    """Inputs looking ``n`` steps further: a stress period after the horizon.

    The tail repeats the horizon's last ``n`` steps (its last day, in time-of-day order, for
    ``n`` a day) with PV and wind scaled by ``pv_scale`` and ``wind_scale`` (0: a lull), the
    given prices and billing months; no EV charging, no operator's cap, storage charged only
    from the tail's own surplus where the horizon's is limited so. Its import sets the month's
    demand-charge peak like any step's, so a plan neither shaves the horizon below the peak
    the stress period will reach anyway nor empties the storage that period needs.
    """
    H = inputs.H
    if n <= 0:
        return inputs
    idx = np.arange(H - n, H) if n <= H else np.arange(n) % H

    def tail(a: np.ndarray, scale: float = 1.0) -> np.ndarray:
        return np.concatenate((a, a[idx] * scale))

    pv, wind = tail(inputs.pv_mw, pv_scale), tail(inputs.wind_mw, wind_scale)
    load = tail(inputs.load_mw)
    shs = tuple(replace(sh, p_base_mw=tail(sh.p_base_mw)) for sh in inputs.shiftables)
    evs = tuple(EVDemand(ev.name, np.r_[ev.p_max_mw, np.zeros(n)],
                         np.r_[ev.e_min_cum_mwh, np.full(n, ev.e_min_cum_mwh[-1])],
                         np.r_[ev.e_max_cum_mwh, np.full(n, ev.e_max_cum_mwh[-1])])
                for ev in inputs.evs)
    month_all = inputs.month
    if month is not None:
        month_all = np.r_[inputs.month if inputs.month is not None  # one month
                          else np.full(H, float(month[0])), month]
    charge = None
    if inputs.charge_limit_mw is not None:
        demand = load + sum((sh.p_base_mw for sh in shs), np.zeros(H + n))
        charge = np.r_[inputs.charge_limit_mw, np.maximum(pv + wind - demand, 0.0)[H:]]
    cap = None if inputs.import_cap_mw is None else np.r_[inputs.import_cap_mw,
                                                           np.full(n, np.nan)]
    tv = inputs.terminal_value_cny_per_mwh
    if tv is None and inputs.storages:  # stored energy is worth what it was over the horizon
        tv = float(np.mean(inputs.terminal_values()))
    return replace(inputs, pv_mw=pv, wind_mw=wind, load_mw=load, terminal_value_cny_per_mwh=tv,
                   price_import_cny_per_mwh=np.r_[inputs.price_import_cny_per_mwh,
                                                  price_import_cny_per_mwh],
                   price_export_cny_per_mwh=tail(inputs.price_export_cny_per_mwh),
                   shiftables=shs, evs=evs, month=month_all, charge_limit_mw=charge,
                   import_cap_mw=cap)
