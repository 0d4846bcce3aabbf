"""Plans that look past their horizon: a stress period appended to a plan's inputs, and
coarser steps far ahead.

A rolling plan sees only its horizon; the month's demand charge is set by the worst hours of
the whole month. :func:`with_tail` appends a lull (no wind, PV scaled) after the horizon, so
the plan keeps the energy holding the peak through it needs and does not shave the horizon
below the peak such a lull would set anyway (:class:`twin.ems.controller.EMS` plans with it).
:func:`coarse` merges the steps after the first day into hours (a smaller LP: the forecasts
that far ahead are hourly at best) and :func:`expand` gives the plan back in the steps it was
asked in.
"""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np

from twin.ems.dispatch import EVDemand, Plan, PlanInputs


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
    low = None if inputs.wind_low_mw is None else tail(inputs.wind_low_mw, wind_scale)
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
    return replace(inputs, pv_mw=pv, wind_mw=wind, wind_low_mw=low, load_mw=load,
                   terminal_value_cny_per_mwh=tv,
                   price_import_cny_per_mwh=np.r_[inputs.price_import_cny_per_mwh,
                                                  price_import_cny_per_mwh],
                   price_export_cny_per_mwh=tail(inputs.price_export_cny_per_mwh),
                   shiftables=shs, evs=evs, month=month_all, charge_limit_mw=charge,
                   import_cap_mw=cap)


def coarse(inputs: PlanInputs, fine: int, factor: int) -> tuple[PlanInputs, np.ndarray]:
    """Inputs with their steps after the first ``fine`` merged ``factor`` at a time, and the
    merged row of each of their steps.

    A merged step lasts the sum of its steps; it takes their time-weighted means of powers,
    prices and limits, the cumulative EV energies at its end and the billing month of its
    start. Steps up to the last one with an operator's cap stay as they are (a request is
    held step by step). ``factor`` <= 1: the inputs unchanged.
    """
    H = inputs.H
    if inputs.import_cap_mw is not None and np.isfinite(inputs.import_cap_mw).any():
        fine = max(fine, int(np.flatnonzero(np.isfinite(inputs.import_cap_mw))[-1]) + 1)
    if factor <= 1 or fine + 1 >= H:
        return inputs, np.arange(H)
    rows = np.r_[np.arange(fine), fine + np.arange(H - fine) // factor]
    n = int(rows[-1]) + 1
    w = inputs.dt
    dt = np.bincount(rows, weights=w, minlength=n)
    first = np.r_[0, np.flatnonzero(np.diff(rows)) + 1]
    last = np.r_[first[1:] - 1, H - 1]

    def mean(a: np.ndarray) -> np.ndarray:
        return np.bincount(rows, weights=a * w, minlength=n) / dt

    cap = None
    if inputs.import_cap_mw is not None:
        cap = np.full(n, np.nan)
        cap[:fine] = inputs.import_cap_mw[:fine]
    return replace(
        inputs, dt_h=dt, pv_mw=mean(inputs.pv_mw), wind_mw=mean(inputs.wind_mw),
        wind_low_mw=None if inputs.wind_low_mw is None else mean(inputs.wind_low_mw),
        load_mw=mean(inputs.load_mw),
        price_import_cny_per_mwh=mean(inputs.price_import_cny_per_mwh),
        price_export_cny_per_mwh=mean(inputs.price_export_cny_per_mwh),
        evs=tuple(EVDemand(ev.name, mean(ev.p_max_mw), ev.e_min_cum_mwh[last],
                           ev.e_max_cum_mwh[last]) for ev in inputs.evs),
        shiftables=tuple(replace(sh, p_base_mw=mean(sh.p_base_mw))
                         for sh in inputs.shiftables),
        import_cap_mw=cap,
        charge_limit_mw=None if inputs.charge_limit_mw is None
        else mean(inputs.charge_limit_mw),
        month=None if inputs.month is None else inputs.month[first]), rows


def expand(plan: Plan, rows: np.ndarray, inputs: PlanInputs) -> Plan:
    """A plan of :func:`coarse` inputs in the steps of ``inputs`` (``rows``: the merged row of
    each): each row's powers over its steps, the state of charge in between interpolated."""
    n = plan.p_import_mw.shape[0]
    if rows.size == n:
        return plan
    t_fine = np.r_[0.0, np.cumsum(inputs.dt)]
    t_rows = np.r_[0.0, np.cumsum(np.bincount(rows, weights=inputs.dt, minlength=n))]
    soc = np.stack([np.interp(t_fine, t_rows, plan.soc[:, j]) for j in
                    range(plan.soc.shape[1])], axis=1) if plan.soc.shape[1] \
        else np.zeros((rows.size + 1, 0))
    arrays = {f.name: getattr(plan, f.name)[rows] for f in fields(plan)
              if isinstance(getattr(plan, f.name), np.ndarray) and f.name != "soc"}
    return replace(plan, soc=soc, **arrays)
