"""EV charging hub: Poisson arrivals, lognormal energies and dwell times, queue, hub limit.

Each step ``[t, t + dt)``:

1. queued vehicles take free chargers (first come, first served);
2. arrivals: a non-homogeneous Poisson count with mean ``arrivals_per_day * day_factor *
   share of the day's arrival shape in the step``, at uniform times within the step; each
   takes a free charger, else a waiting place, else leaves at once (rejected);
3. charging: each connected vehicle can take ``min(p_charger * t_available, e_remaining)``;
   if the sum exceeds the hub limit the energy is shared by water-filling (equal power,
   capped by each vehicle's own need);
4. departures: vehicles whose departure time falls in the step leave (their remaining energy
   is unserved); with ``leave_when_full`` a full vehicle frees its charger too. Queued
   vehicles past their departure time give up.

Energy closes exactly: ``requested = delivered + unserved + pending`` (pending: still in the
hub), and ``p_mw * dt_s / 3600 == e_delivered_mwh`` on every step.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from twin import data
from twin.core.quantities import Quantity
from twin.models.loads.calendar import DAY_TYPES, DayProfile, ParkCalendar, hourly_to_minutes
from twin.models.loads.ev_block import BlockCharge, Drawn, expire
from twin.models.loads.spec import EV_KINDS, EVHubSpec  # re-exported: the light spec

_S_PER_H = 3600.0


@dataclass(frozen=True)
class EVOutput:
    """What the hub did in one step."""

    p_mw: float
    n_connected: int
    n_queued: int
    n_arrivals: int
    n_rejected: int
    e_delivered_mwh: float
    e_unserved_mwh: float


# What a hub takes each step and what it gives (the fields of EVOutput); its connected
# vehicles go to an EMS only (not recorded).
INPUTS = (Quantity("p_limit_mw", "MW", "hub power cap from a controller (optional)"),)
OUTPUTS = (
    Quantity("p_mw", "MW", "charging power"),
    Quantity("n_connected", "1", "vehicles charging"),
    Quantity("n_queued", "1", "vehicles waiting"),
    Quantity("n_arrivals", "1", "arrivals in the step", "sum"),
    Quantity("n_rejected", "1", "vehicles turned away", "sum"),
    Quantity("e_delivered_mwh", "MWh", "energy delivered in the step", "sum"),
    Quantity("e_unserved_mwh", "MWh", "energy of sessions that left unfinished in the step", "sum"),
)
SIGNALS = (Quantity("flex", "", "connected vehicles (twin.models.loads.ev.EVFlex) for the EMS"),)


@dataclass(frozen=True)
class EVFlex:
    """Connected vehicles, for an energy management system (one entry per vehicle)."""

    t_depart_s: np.ndarray
    e_remaining_mwh: np.ndarray
    p_max_mw: np.ndarray


def ev_params(kind: str) -> dict[str, Any]:
    """Parameters of hub ``kind`` from ``twin/data/ev.yaml`` (scalars per kind)."""
    if kind not in EV_KINDS:
        raise ValueError(f"unknown EV hub kind {kind!r}; expected one of {EV_KINDS}")
    d = data.load("ev")
    return {k: (v[kind] if isinstance(v, dict) else v) for k, v in d.items()}


def _lognormal_params(mean: float, cv: float) -> tuple[float, float]:
    sigma2 = math.log1p(cv * cv)
    return math.log(mean) - 0.5 * sigma2, math.sqrt(sigma2)


# the last steps before a jump a skip runs (the vehicles there then are as a run leaves them)
SKIP_STEPPED = 192


class EVHub:
    """One charging hub, stepped in time order.

    Parameters
    ----------
    spec : EVHubSpec
        The hub.
    calendar : ParkCalendar
        Day types and local time (the ``"default"`` shutdown window applies).
    rng : numpy.random.Generator
        Source of arrivals, energies and dwell times.
    params : dict, optional
        Kind parameters; ``None`` reads :func:`ev_params` for ``spec.kind``.
    """

    def __init__(
        self,
        spec: EVHubSpec,
        calendar: ParkCalendar,
        rng: np.random.Generator,
        params: dict[str, Any] | None = None,
    ) -> None:
        p = ev_params(spec.kind) if params is None else params
        self.spec, self.params, self.calendar, self._rng = spec, p, calendar, rng
        n = spec.n_chargers
        self.p_charger_mw = (spec.p_charger_kw or p["p_charger_kw"]) / 1000.0
        self.p_max_mw = n * self.p_charger_mw if spec.p_max_mw is None else min(
            spec.p_max_mw, n * self.p_charger_mw)
        self.arrivals_per_day = (p["arrivals_per_charger_day"] * n
                                 if spec.arrivals_per_day is None else spec.arrivals_per_day)
        e_mean_mwh = (spec.e_mean_kwh or p["e_mean_kwh"]) / 1000.0
        self._e_mu, self._e_sigma = _lognormal_params(e_mean_mwh, p["e_cv"])
        self._e_max = p["e_max_factor"] * e_mean_mwh
        self._d_mu, self._d_sigma = _lognormal_params(p["dwell_mean_h"] * _S_PER_H, p["dwell_cv"])
        self._d_min = p["dwell_min_h"] * _S_PER_H
        self._leave_full = bool(p["leave_when_full"])
        self._queue_max = int(round(p["queue_per_charger"] * n))
        profiles = []
        for dtype in DAY_TYPES:
            shape = np.asarray(p["arrival_shape_workday" if dtype == "workday"
                                 else "arrival_shape_offday"], dtype=float)
            rate = self.arrivals_per_day * p["day_factor"][dtype] * shape / shape.sum() / _S_PER_H
            profiles.append(hourly_to_minutes(rate.tolist()))
        self._arrivals = DayProfile(profiles)
        # charger slots
        self._occ = np.zeros(n, dtype=bool)
        self._t_plug = np.zeros(n)
        self._t_dep = np.zeros(n)
        self._e_rem = np.zeros(n)
        self._queue: deque[tuple[float, float, float]] = deque()  # (t_arr, t_dep, e_mwh)
        self.e_requested_mwh = 0.0
        self.e_delivered_mwh = 0.0
        self.e_unserved_mwh = 0.0
        self.n_arrivals = 0
        self.n_rejected = 0

    # ------------------------------------------------------------------ queries
    def expected_arrivals(self, epoch_s: int, dt_s: int) -> float:
        """Mean number of arrivals in ``[epoch_s, epoch_s + dt_s)``."""
        return self._arrivals.integral(self.calendar, epoch_s, dt_s)

    def e_pending_mwh(self) -> float:
        """Energy still wanted by vehicles connected or waiting (MWh)."""
        return float(self._e_rem[self._occ].sum()) + sum(q[2] for q in self._queue)

    def flex_state(self) -> EVFlex:
        """Departure times, remaining energy and power limit of each connected vehicle."""
        occ = self._occ
        return EVFlex(self._t_dep[occ].copy(), self._e_rem[occ].copy(),
                      np.full(int(occ.sum()), self.p_charger_mw))

    def skip(self, n_steps: int, dt_s: int, epoch_s: int, stepped: int = SKIP_STEPPED) -> None:
        """The ``n_steps`` steps of ``dt_s`` before ``epoch_s`` that are not simulated (a run
        started inside a longer period: the trainers' page's jump). The arrivals of all but
        the last ``stepped`` are drawn as :meth:`step` draws them, without placing them; the
        last ``stepped`` steps run (no power limit, no surge), so the vehicles there at
        ``epoch_s`` are those of a run from the period's start (but for any staying longer
        than ``stepped`` steps, or held back by a limit); the totals start at zero."""
        n = int(n_steps)
        first = epoch_s - n * dt_s
        self._draw_only(first, max(n - stepped, 0), dt_s)
        for k in range(max(n - stepped, 0), n):
            self.step(first + k * dt_s, dt_s)
        self.e_requested_mwh = self.e_delivered_mwh = self.e_unserved_mwh = 0.0
        self.n_arrivals = self.n_rejected = 0

    # ------------------------------------------------------------------ step
    def _plug(self, t_arr: float, t_dep: float, e: float, t0: float) -> bool:
        free = np.flatnonzero(~self._occ)
        if free.size == 0:
            return False
        i = free[0]
        self._occ[i] = True
        self._t_plug[i], self._t_dep[i], self._e_rem[i] = max(t_arr, t0), t_dep, e
        return True

    def _draw_only(self, first: int, n: int, dt_s: int) -> None:
        """The draws :meth:`_draw` makes over the ``n`` steps from ``first`` (factor 1),
        nothing kept: the generator ends where ``n`` calls leave it (the same means, and a
        lognormal draw takes what a standard normal takes) at a few µs a step."""
        if n <= 0:
            return
        means = self._arrivals.integrals(self.calendar, first + dt_s * np.arange(n), dt_s)
        poisson, uniform, normal = self._rng.poisson, self._rng.random, self._rng.standard_normal
        for mean in means.tolist():
            if mean > 0:
                k = int(poisson(mean))
                if k:
                    uniform(k)
                    normal(2 * k)  # the energies' and the dwell times' normals

    def _draw(self, t0: float, dt_s: float, factor: float = 1.0
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The random draws of a step's arrivals (``factor`` times the usual rate), the only
        ones a step makes (:meth:`step` and :meth:`skip` draw here; :meth:`_draw_only` draws
        as many without keeping them): arrival times, energies (MWh) and departure times, or
        None without arrivals."""
        mean = self._arrivals.integral(self.calendar, int(t0), dt_s) * factor
        n_new = int(self._rng.poisson(mean)) if mean > 0 else 0
        if n_new == 0:
            return None
        rng = self._rng
        t_arr = t0 + np.sort(rng.random(n_new)) * dt_s
        e = np.minimum(rng.lognormal(self._e_mu, self._e_sigma, n_new), self._e_max)
        dwell = np.maximum(rng.lognormal(self._d_mu, self._d_sigma, n_new), self._d_min)
        return t_arr, e, t_arr + dwell

    def _arrive(self, drawn: tuple[np.ndarray, np.ndarray, np.ndarray] | None
                ) -> tuple[int, int, float]:
        """Place a step's arrivals (:meth:`_draw`'s); return (arrivals, rejected, rejected
        energy)."""
        if drawn is None:
            return 0, 0, 0.0
        t_arr, e, t_dep = drawn
        n_new = t_arr.size
        self.e_requested_mwh += float(e.sum())
        free = np.flatnonzero(~self._occ)
        m = min(n_new, free.size)
        if m:
            idx = free[:m]
            self._occ[idx] = True
            self._t_plug[idx], self._t_dep[idx], self._e_rem[idx] = t_arr[:m], t_dep[:m], e[:m]
        n_rej, e_rej = 0, 0.0
        for k in range(m, n_new):
            if len(self._queue) < self._queue_max:
                self._queue.append((float(t_arr[k]), float(t_dep[k]), float(e[k])))
            else:
                n_rej += 1
                e_rej += float(e[k])
        return n_new, n_rej, e_rej

    def _charge(self, t0: float, t1: float, dt_s: float, p_lim: float) -> float:
        """Deliver energy for the step; return the energy delivered (MWh)."""
        avail = np.minimum(self._t_dep, t1)  # plugged-in seconds within the step
        avail -= np.maximum(self._t_plug, t0)
        np.maximum(avail, 0.0, out=avail)
        np.minimum(avail, dt_s, out=avail)
        avail *= self.p_charger_mw / _S_PER_H  # a free slot's e_rem is 0: its cap is 0
        cap = np.minimum(avail, self._e_rem, out=avail)
        total = float(cap.sum())
        e_lim = p_lim * dt_s / _S_PER_H
        if total > e_lim:
            cap = _least_laxity_first(cap, self._t_dep, self._e_rem, self.p_charger_mw, t1, e_lim)
            total = float(cap.sum())
        self._e_rem -= cap
        return total

    def step(self, epoch_s: int, dt_s: int, *, p_limit_mw: float | None = None,
             arrival_factor: float = 1.0) -> EVOutput:
        """Advance the hub over ``[epoch_s, epoch_s + dt_s)``.

        Parameters
        ----------
        epoch_s : int
            Start of the step (UTC unix s).
        dt_s : int
            Step length (s).
        p_limit_mw : float, optional
            Extra power cap for this step (e.g. from an EMS); the hub limit always applies.
        arrival_factor : float, optional
            Arrivals times this in the step (a surge of EVs: > 1).
        """
        return self.step_drawn(epoch_s, dt_s, self._draw(float(epoch_s), dt_s, arrival_factor),
                               p_limit_mw=p_limit_mw)

    def draw_ahead(self, epochs_s: Sequence[int], dt_s: int, factors: Sequence[float]
                   ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray] | None]:
        """The random draws of :meth:`step` over the consecutive steps starting at
        ``epochs_s`` (arrivals ``factors[k]`` times the usual), made now in the steps' order
        (the same numbers: :meth:`_draw_block`), for :meth:`step_drawn` to take one a step:
        a hub whose power cap comes step by step (an EMS's) draws a block at once."""
        return [None if d is None else (np.array(d[0]), np.array(d[1]), np.array(d[2]))
                for d in self._draw_block(epochs_s, dt_s, factors)]

    def step_drawn(self, epoch_s: int, dt_s: int,
                   drawn: tuple[np.ndarray, np.ndarray, np.ndarray] | None, *,
                   p_limit_mw: float | None = None) -> EVOutput:
        """:meth:`step` with the step's arrivals already drawn (:meth:`draw_ahead`)."""
        p_lim = self.p_max_mw if p_limit_mw is None else max(0.0, min(self.p_max_mw, p_limit_mw))
        return self._advance(float(epoch_s), float(epoch_s + dt_s), dt_s, p_lim, drawn)

    def _advance(self, t0: float, t1: float, dt_s: int, p_lim: float,
                 drawn: tuple[np.ndarray, np.ndarray, np.ndarray] | None) -> EVOutput:
        """:meth:`step` over ``[t0, t1)`` under the cap ``p_lim`` with the step's arrivals
        already drawn."""
        while self._queue and self._plug(*self._queue[0], t0):
            self._queue.popleft()
        n_new, n_rej, e_unserved = self._arrive(drawn)
        n_connected = int(np.count_nonzero(self._occ))
        e_del = self._charge(t0, t1, dt_s, p_lim) if n_connected else 0.0
        # departures
        leaving = self._t_dep <= t1
        if self._leave_full:
            leaving |= self._e_rem <= 0.0
        leaving &= self._occ
        if leaving.any():
            e_unserved += float(self._e_rem[leaving].sum())
            self._e_rem[leaving] = 0.0
            self._occ[leaving] = False
        if self._queue:
            self._queue, e_unserved = expire(self._queue, t1, e_unserved)
        self.e_delivered_mwh += e_del
        self.e_unserved_mwh += e_unserved
        self.n_arrivals += n_new
        self.n_rejected += n_rej
        return EVOutput(
            p_mw=e_del * _S_PER_H / dt_s,
            n_connected=n_connected,
            n_queued=len(self._queue),
            n_arrivals=n_new,
            n_rejected=n_rej,
            e_delivered_mwh=e_del,
            e_unserved_mwh=e_unserved,
        )


    # ------------------------------------------------------------------ block
    def step_block(self, epochs_s: Sequence[int], dt_s: int,
                   factors: Sequence[float] | None = None) -> dict[str, list[Any]]:
        """:meth:`step` over the consecutive steps of ``dt_s`` starting at ``epochs_s`` (the
        arrivals of step ``k`` times ``factors[k]``; no power cap but the hub's): each output
        of :data:`OUTPUTS` as a list over the steps, the numbers of :meth:`step` one step at
        a time.

        The block's arrivals are drawn first, step by step (the generator's calls in the
        steps' order: arrivals draw nothing that depends on the hub's state). While the hub's
        limit does not bind, each vehicle charges on its own: it is followed from its plug-in
        to its departure once, and a step's energy is the sum of its vehicles' over the
        chargers in their order, as :meth:`step` sums it. A block where the limit binds in a
        step (least laxity first then shares the energy) runs step by step."""
        n = len(epochs_s)
        t0s = [float(e) for e in epochs_s]
        t1s = [float(e + dt_s) for e in epochs_s]
        drawn = self._draw_block(epochs_s, dt_s, [1.0] * n if factors is None else factors)
        out = BlockCharge(self, t0s, t1s, dt_s).run(drawn, self._queue_max)
        if out is None:
            rows = [self._advance(t0, t1, dt_s, self.p_max_mw,
                                  None if d is None else tuple(np.array(x) for x in d))
                    for t0, t1, d in zip(t0s, t1s, drawn, strict=True)]
            out = {q.name: [getattr(r, q.name) for r in rows] for q in OUTPUTS}
        return out

    def _draw_block(self, epochs_s: Sequence[int], dt_s: int, factors: Sequence[float]
                    ) -> list[Drawn | None]:
        """:meth:`_draw` of each step of a block as lists, the generator called in the same
        order (the energies' and dwell times' normals in one call: a lognormal draw is
        ``exp(mu + sigma * z)`` of a standard normal ``z``, the same libm ``exp``)."""
        means = self._arrivals.integrals(self.calendar, np.asarray(epochs_s), dt_s).tolist()
        rng = self._rng
        poisson, uniform, normal, exp = rng.poisson, rng.random, rng.standard_normal, math.exp
        e_mu, e_sigma, e_max = self._e_mu, self._e_sigma, self._e_max
        d_mu, d_sigma, d_min = self._d_mu, self._d_sigma, self._d_min
        drawn: list[Drawn | None] = []
        for t0, mean, factor in zip(epochs_s, means, factors, strict=True):
            mean = mean * factor
            k = int(poisson(mean)) if mean > 0 else 0
            if not k:
                drawn.append(None)
                continue
            t0 = float(t0)
            t_arr = [t0 + u * dt_s for u in sorted(uniform(k).tolist())]
            z = normal(2 * k).tolist()
            e = [min(exp(e_mu + e_sigma * x), e_max) for x in z[:k]]
            t_dep = [t + max(exp(d_mu + d_sigma * x), d_min)
                     for t, x in zip(t_arr, z[k:], strict=True)]
            drawn.append((t_arr, e, t_dep))
        return drawn


def _least_laxity_first(cap: np.ndarray, t_dep: np.ndarray, e_rem: np.ndarray, p_mw: float,
                        t1: float, e_lim: float) -> np.ndarray:
    """Share ``e_lim`` among vehicles, least laxity first (a smart-charging hub under a cap).

    A vehicle's laxity is the time it could stand idle after this step and still leave with
    its energy: ``t_dep - t1 - (e_rem - cap) / p``; the vehicles with the least get their
    ``cap`` first, then the next, until ``e_lim`` is used.
    """
    out = np.zeros_like(cap)
    if e_lim <= 0.0:
        return out
    laxity = np.where(cap > 0.0, t_dep - t1 - (e_rem - cap) / p_mw * _S_PER_H, np.inf)
    order = np.argsort(laxity, kind="stable")
    taken = np.cumsum(cap[order])
    k = int(np.searchsorted(taken, e_lim))
    out[order[:k]] = cap[order[:k]]
    if k < order.size:
        out[order[k]] = e_lim - (taken[k - 1] if k else 0.0)
    return out

