"""Virtual power plant: the park's flexibility envelope, grid requests and their response.

Signs: ``up`` flexibility *reduces* the park's net import (discharge more / charge less, EVs
slower, shiftable load down); ``down`` flexibility *increases* its net consumption. Both are
MW that can be held, relative to what each device does now, for a whole duration ``d``.

Storage (energy ``e`` at the cells, window ``[e_min, e_max]``, net AC power now ``p_now``,
> 0 charging). Holding ``p' = p_now - up`` for ``d`` hours: if ``p' < 0`` it draws
``-p' d / eta_d`` from the cells, so ``p' >= -min(p_max, (e - e_min) eta_d / d)``; charging
less never violates the window. Likewise ``p' = p_now + down`` stores ``p' eta_c d``::

    up   = clip(p_now + min(p_max, (e - e_min) * eta_d / d), 0, ramp)
    down = clip(min(p_max, (e_max - e) / (eta_c * d)) - p_now, 0, ramp)

(``ramp``: the storage's ramp per step, since a response must be in place within a step). An
empty battery thus offers only ``max(p_now, 0)``: stopping its charging.

EV hub (:class:`twin.ems.dispatch.EVDemand` from now on, ``n = ceil(d / dt)`` steps): a
constant ``p'`` over the first ``n`` steps must keep the must-deliver curve reachable,
``p' (k+1) dt >= e_min[k]`` for ``k < n`` and ``p' n dt + sum_{i=n..k} p_max[i] dt >= e_min[k]``
after; it can be at most ``p_max[k]`` and ``e_max[k] / ((k+1) dt)`` for ``k < n``;
``up = p_now - floor``, ``down = ceiling - p_now``.

Shiftable (base ``b``): a constant shift ``s'`` over ``n`` steps within
``[-down_frac min(b[:n]), up_frac min(b[:n])]`` whose energy the rest of the horizon can take
back: ``-s' n <= up_frac sum(b[n:])`` (and ``s' n <= down_frac sum(b[n:])``);
``up = s_now - s'_min``, ``down = s'_max - s_now``, both within the ramp limit (a backlog
carried from earlier horizons is not counted).

The park's envelope is the sum over devices, made non-increasing in duration (holding longer
never gives more MW).

A grid operator's request asks the park to import ``cut`` MW less than its baseline (what it
would import without answering) in every step of a window. It is measured on import alone
(:func:`response`): in a step whose baseline imports less than the cut, only that import is
asked (no cut is asked below zero import), and exporting more counts for nothing. The EMS
declares its offer when the request arrives (:func:`storage_offer`: what storage can hold in
every step, network losses on top) and holds that offer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from twin.ems.dispatch import EVDemand, PlanInputs, Shiftable, Storage


@dataclass(frozen=True)
class Envelope:
    """The park's aggregated flexibility at one step (MW per duration, ascending)."""

    durations_h: tuple[float, ...]
    up_mw: np.ndarray  # can REDUCE its net import by this much and hold it for each duration
    down_mw: np.ndarray  # can INCREASE its net consumption by this much and hold it


def _storage_flex_at(s: Storage, soc: float, p_now: float, d: float) -> tuple[float, float]:
    e = soc * s.e_max_mwh
    dis = min(s.p_max_mw, max(e - s.soc_min * s.e_max_mwh, 0.0) * s.eta_discharge / d)
    ch = min(s.p_max_mw, max(s.soc_max * s.e_max_mwh - e, 0.0) / (s.eta_charge * d))
    return (min(max(p_now + dis, 0.0), s.ramp_mw_per_step),
            min(max(ch - p_now, 0.0), s.ramp_mw_per_step))


def _storage_flex(s: Storage, soc: float, p_now: float, d: np.ndarray) -> tuple[np.ndarray, ...]:
    up, down = zip(*(_storage_flex_at(s, soc, p_now, float(x)) for x in d), strict=True)
    return np.array(up), np.array(down)


def storage_flex(storages: Sequence[Storage], soc: Sequence[float],
                 p_storage_now_mw: Sequence[float], hold_h: float) -> tuple[float, float]:
    """The batteries' up and down flexibility held for ``hold_h`` hours (MW): what
    :func:`envelope` gives for that duration with the batteries alone (theirs never grows with
    the duration), without its arrays (the EMS reports it every step)."""
    up = down = 0.0
    for s, x, p in zip(storages, soc, p_storage_now_mw, strict=True):
        u, w = _storage_flex_at(s, x, p, hold_h)
        up += u
        down += w
    return up, down


def _ev_flex(ev: EVDemand, p_now: float, n: int, dt_h: float) -> tuple[float, float]:
    k = np.arange(ev.p_max_mw.size)
    e_min, p_max = ev.e_min_cum_mwh, ev.p_max_mw
    cap = np.minimum.accumulate(ev.e_max_cum_mwh[::-1])[::-1]
    first = k < n
    floor = float(np.max(e_min[first] / ((k[first] + 1) * dt_h), initial=0.0))
    if not first.all():
        later = np.cumsum(np.where(first, 0.0, p_max)) * dt_h
        floor = max(floor, float(np.max((e_min - later)[~first], initial=0.0)) / (n * dt_h))
    ceiling = float(min(np.min(p_max[first]), np.min(cap[first] / ((k[first] + 1) * dt_h))))
    return max(p_now - floor, 0.0), max(ceiling - p_now, 0.0)


def _shift_flex(sh: Shiftable, s_now: float, n: int) -> tuple[float, float]:
    b = sh.p_base_mw
    b_min, rest = float(b[:n].min()), float(b[n:].sum()) / n
    s_lo = -min(sh.down_frac * b_min, sh.up_frac * rest)
    s_hi = min(sh.up_frac * b_min, sh.down_frac * rest)
    r = sh.ramp_mw_per_step
    return min(max(s_now - s_lo, 0.0), r), min(max(s_hi - s_now, 0.0), r)


def envelope(storages: Sequence[Storage], soc: np.ndarray, p_storage_now_mw: np.ndarray,
             evs: Sequence[EVDemand], shiftables: Sequence[Shiftable],
             p_shift_now_mw: np.ndarray, p_ev_now_mw: np.ndarray,
             durations_h: Sequence[float] = (0.25, 1.0, 4.0), dt_h: float = 0.25) -> Envelope:
    """The park's up/down flexibility for each duration (see the module docstring).

    Parameters
    ----------
    storages, soc, p_storage_now_mw
        The batteries, their SOC now (0..1) and net AC power now (MW, > 0 charging).
    evs, p_ev_now_mw
        EV hubs over the horizon from now on and their charging power now (MW).
    shiftables, p_shift_now_mw
        Flexible factory loads over the horizon from now on and their shift now (MW).
    durations_h
        Durations to hold the change for, ascending (h).
    dt_h
        Step of the EV and shiftable arrays (h).
    """
    d = np.asarray(durations_h, dtype=float)
    if d.ndim != 1 or d.size == 0 or (d <= 0).any() or (np.diff(d) < 0).any():
        raise ValueError(f"durations_h must be positive and ascending, got {tuple(d)}")
    soc, p_st = np.atleast_1d(soc), np.atleast_1d(p_storage_now_mw)
    p_ev, p_sh = np.atleast_1d(p_ev_now_mw), np.atleast_1d(p_shift_now_mw)
    for name, arr, devs in (("soc", soc, storages), ("p_storage_now_mw", p_st, storages),
                            ("p_ev_now_mw", p_ev, evs), ("p_shift_now_mw", p_sh, shiftables)):
        if arr.size != len(devs):
            raise ValueError(f"{name}: expected {len(devs)} values, got {arr.size}")
    up, down = np.zeros(d.size), np.zeros(d.size)
    for s, x, p in zip(storages, soc, p_st, strict=True):
        u, w = _storage_flex(s, float(x), float(p), d)
        up += u
        down += w
    steps = [max(1, math.ceil(x / dt_h - 1e-9)) for x in d]
    for j, n in enumerate(steps):
        for ev, p in zip(evs, p_ev, strict=True):
            u, w = _ev_flex(ev, float(p), min(n, ev.p_max_mw.size), dt_h)
            up[j] += u
            down[j] += w
        for sh, p in zip(shiftables, p_sh, strict=True):
            u, w = _shift_flex(sh, float(p), min(n, sh.p_base_mw.size))
            up[j] += u
            down[j] += w
    return Envelope(tuple(float(x) for x in d), np.minimum.accumulate(up),
                    np.minimum.accumulate(down))


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Request:
    """A grid operator's request or a price signal over ``[start_s, end_s)``."""

    start_s: int  # seconds from the scenario start
    end_s: int
    cut_import_mw: float = 0.0  # reduce import this much below the baseline plan
    price_adder_cny_per_mwh: float = 0.0  # added to the import price in the window

    def __post_init__(self) -> None:
        if not self.end_s > self.start_s:
            raise ValueError(f"request: end_s {self.end_s} must be after start_s {self.start_s}")
        if not (math.isfinite(self.cut_import_mw) and self.cut_import_mw >= 0):
            raise ValueError(f"request: cut_import_mw must be >= 0, got {self.cut_import_mw}")
        if not math.isfinite(self.price_adder_cny_per_mwh):
            raise ValueError("request: price_adder_cny_per_mwh must be finite")

    def overlap(self, t0_s: int, step_s: int, n: int) -> np.ndarray:
        """Fraction of each of ``n`` steps from ``t0_s`` that lies in the window."""
        t = t0_s + step_s * np.arange(n, dtype=float)
        return np.clip(np.minimum(t + step_s, self.end_s) - np.maximum(t, self.start_s),
                       0.0, step_s) / step_s


def apply_requests(inputs: PlanInputs, t0_s: int, step_s: int, requests: Sequence[Request],
                   baseline_import_mw: np.ndarray) -> PlanInputs:
    """Inputs with the requests in: a soft import cap and price adders.

    Every step that overlaps a request's window gets ``import_cap_mw = max(baseline - cut, 0)``
    (the lowest of overlapping requests and any cap already there); the price adder is added
    in proportion to the overlap, and the resulting import price is floored at 0.
    """
    H = inputs.H
    base = np.asarray(baseline_import_mw, dtype=float)
    if base.shape != (H,):
        raise ValueError(f"baseline_import_mw: expected {H} values, got shape {base.shape}")
    cap = np.full(H, np.nan) if inputs.import_cap_mw is None else inputs.import_cap_mw.copy()
    price = inputs.price_import_cny_per_mwh.copy()
    for r in requests:
        frac = r.overlap(t0_s, step_s, H)
        if r.cut_import_mw > 0:
            win = frac > 0
            cap[win] = np.fmin(cap[win], np.maximum(base[win] - r.cut_import_mw, 0.0))
        price = price + r.price_adder_cny_per_mwh * frac
    return replace(inputs, import_cap_mw=cap, price_import_cny_per_mwh=np.maximum(price, 0.0))


def storage_offer(storages: Sequence[Storage], soc: np.ndarray, lead_h: float,
                  baseline_mw: np.ndarray, charging_mw: np.ndarray, loss_mw: float,
                  asked_mw: float, dt_h: float = 0.25, reserved_mwh: float = 0.0) -> float:
    """The largest cut up to ``asked_mw`` the storage holds in every step of a window.

    The storage is charged at full power (from any source) over the ``lead_h`` hours from the
    request's receipt to its window's start, up to ``soc_max``; ``reserved_mwh`` (AC side) of
    that goes to the windows answered before this one. A cut ``c`` needs, in each step ``k``
    of the window, ``min(c, max(baseline_k, 0)) + loss_mw`` (no cut is asked below zero import,
    see :func:`response`; the network's losses on top, the cut being held at the meter) less
    the charging ``charging_mw[k]`` the baseline holds (stopped first), within the storage's
    power in every step and its deliverable energy over the window. Flexible load is not
    counted: it is what the plan adds on top."""
    base = np.maximum(np.asarray(baseline_mw, dtype=float), 0.0)
    charging = np.maximum(np.asarray(charging_mw, dtype=float), 0.0)
    p_max = sum(s.p_max_mw for s in storages)
    energy = sum((min(s.soc_max * s.e_max_mwh, x * s.e_max_mwh + s.p_max_mw * s.eta_charge
                      * max(lead_h, 0.0)) - s.soc_min * s.e_max_mwh) * s.eta_discharge
                 for s, x in zip(storages, np.atleast_1d(soc), strict=True)) - reserved_mwh

    def held(c: float) -> bool:
        need = np.minimum(c, base) + loss_mw - charging
        return bool(need.max() <= p_max + 1e-9 and np.maximum(need, 0.0).sum() * dt_h
                    <= energy + 1e-9)

    if base.size == 0 or held(asked_mw):
        return asked_mw
    if not held(0.0):
        return 0.0
    lo, hi = 0.0, asked_mw
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if held(mid) else (lo, mid)
    return lo


def limit_reason(asked_mw: float, offered_mw: float, storage_mw: float) -> str:
    """Why only ``offered_mw`` of a cut of ``asked_mw`` can be held in every step of a window
    (see :func:`storage_offer`): the power the storage gives at the meter (``storage_mw``, its
    losses taken off), or else the energy it can have stored by then."""
    if asked_mw > storage_mw + 1e-6:
        return (f"power: {asked_mw:.1f} MW asked, storage gives {storage_mw:.1f} MW at the "
                f"meter; {offered_mw:.1f} MW offered")
    return (f"energy: the storage cannot hold {asked_mw:.1f} MW over the whole window with what "
            f"it can store by then; {offered_mw:.1f} MW offered")


@dataclass(frozen=True)
class Response:
    """How the park answered a request (powers over the window's steps)."""

    request: Request
    asked_mw: float  # the cut asked for
    delivered_mw: float  # mean import reduction below the baseline over the window
    shortfall_mw: float  # largest excess of import over the cap, max(baseline - cut, 0)
    energy_mwh: float  # import reduction over the window


def response(request: Request, baseline_import_mw: np.ndarray, actual_import_mw: np.ndarray,
             step_s: int, t0_s: int) -> Response:
    """Measure the answer to ``request`` from the baseline and actual import series."""
    base = np.asarray(baseline_import_mw, dtype=float)
    act = np.asarray(actual_import_mw, dtype=float)
    if base.shape != act.shape or base.ndim != 1:
        raise ValueError(f"baseline {base.shape} and actual {act.shape} must be equal 1-d")
    frac = request.overlap(t0_s, step_s, base.size)
    win = frac > 0
    if not win.any():
        raise ValueError("request window lies outside the series")
    cut = base - act
    asked_k = np.minimum(request.cut_import_mw, np.maximum(base, 0.0))
    short = np.maximum(asked_k - cut, 0.0)[win]
    return Response(request, request.cut_import_mw,
                    float((cut * frac).sum() / frac.sum()), float(short.max()),
                    float((cut * frac).sum() * step_s / 3600.0))
