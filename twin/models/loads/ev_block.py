"""An EV hub's steps over a block at once, vehicle by vehicle (:meth:`twin.models.loads.ev.
EVHub.step_block`).

:meth:`~twin.models.loads.ev.EVHub.step` works charger by charger each step: it places the
step's arrivals, charges every charger, and lets the vehicles due leave. While the hub's
limit does not bind, a vehicle's charging does not depend on the others': each step it takes
``min(p * t_available, e_remaining)``. So over a block whose arrivals are drawn, each vehicle
can be followed once, from the step it takes a charger to the step it leaves: the steps it
charges in full (``p * dt`` each, subtracted one by one as the steps subtract them), the
last one with the rest, and the step it leaves (its departure, or once full where vehicles
leave when full), which frees its charger for the next arrivals. The same operations in the
same order give the same numbers; a step's energy is the sum over the chargers in their
order (one row of a steps x chargers array each, summed as the step sums its chargers), and
where a step's energy exceeds the limit the block is left to the steps
(:class:`BlockCharge` then says None and changes nothing).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from heapq import heappop, heappush
from typing import Any

import numpy as np

Drawn = tuple[list[float], list[float], list[float]]  # a step's arrivals, energies, departures
_S_PER_H = 3600.0


def np_sum(values: list[float]) -> float:
    """``float(np.sum(values))`` to the last bit: numpy adds fewer than 8 numbers one by one
    from 0, more pairwise (then summed by numpy itself)."""
    if len(values) >= 8:
        return float(np.array(values).sum())
    total = 0.0
    for x in values:
        total += x
    return total


def expire(queue: deque[tuple[float, float, float]], t1: float, e_unserved: float
           ) -> tuple[deque[tuple[float, float, float]], float]:
    """The queued vehicles ``(arrival, departure, energy)`` still waiting after ``t1`` (those
    due to leave by then give up), and ``e_unserved`` plus their energies, one by one."""
    kept: deque[tuple[float, float, float]] = deque()
    for q in queue:
        if q[1] <= t1:
            e_unserved += q[2]
        else:
            kept.append(q)
    return kept, e_unserved


class BlockCharge:
    """One block of a hub's steps ``[t0s[k], t1s[k])``, worked on copies of its state."""

    def __init__(self, hub: Any, t0s: list[float], t1s: list[float], dt_s: float) -> None:
        self.hub, self.t0s, self.t1s, self.dt_s = hub, t0s, t1s, dt_s
        self.n = len(t0s)
        self.c = hub.p_charger_mw / _S_PER_H
        self.dt = float(dt_s)
        # a whole step's energy, where every step is dt_s long (else each step worked out)
        whole = all(b - a == self.dt for a, b in zip(t0s, t1s, strict=True))
        self.x = self.dt * self.c if whole else None
        self.full = hub._leave_full
        self.occ, self.tp = hub._occ.tolist(), hub._t_plug.tolist()
        self.td, self.er = hub._t_dep.tolist(), hub._e_rem.tolist()
        self.free = [i for i, o in enumerate(self.occ) if not o]  # ascending: a heap
        self.queue = deque(hub._queue)
        self.w = len(self.occ)
        self.flat: list[int] = []  # step x chargers + charger, energy: the steps in part
        self.caps: list[float] = []
        self.runs: list[tuple[int, int, int]] = []  # (first, end, charger) charged in full
        self.leave: list[list[tuple[int, float]]] = [[] for _ in range(self.n)]

    def follow(self, i: int, k: int) -> None:
        """The vehicle on charger ``i`` from step ``k`` until it leaves or the block ends:
        each step ``EVHub._charge``'s operations, the whole steps in a row."""
        t_p, t_d, e = self.tp[i], self.td[i], self.er[i]
        n, x, dt, c, t0s, t1s, w = self.n, self.x, self.dt, self.c, self.t0s, self.t1s, self.w
        kd = bisect_left(t1s, t_d, k)  # the step it leaves in at the latest
        while True:
            if e > 0.0:
                t0, t1 = t0s[k], t1s[k]
                a = (t_d if t_d < t1 else t1) - (t_p if t_p > t0 else t0)
                a = a if a > 0.0 else 0.0
                a = (a if a < dt else dt) * c
                cap = a if a < e else e
                if cap:
                    self.flat.append(k * w + i)
                    self.caps.append(cap)
                    e -= cap
            if k >= kd or (self.full and e <= 0.0):
                self.leave[k].append((i, e))
                return
            if e <= 0.0:  # charged: plugged in until it leaves
                if kd < n:
                    self.leave[kd].append((i, e))
                else:
                    self.er[i] = e
                return
            k += 1
            first = k
            if x is not None:  # the whole steps before it leaves, while it wants more
                stop = kd if kd < n else n
                while k < stop and x < e:
                    e -= x
                    k += 1
                if k > first:
                    self.runs.append((first, k, i))
            if k >= n:
                self.er[i] = e
                return

    def plug(self, i: int, k: int, t_p: float, t_d: float, e: float) -> None:
        """A vehicle takes charger ``i`` in step ``k``."""
        self.occ[i], self.tp[i], self.td[i], self.er[i] = True, t_p, t_d, e
        self.follow(i, k)

    def run(self, drawn: list[Drawn | None], queue_max: int) -> dict[str, list[Any]] | None:
        """The block's outputs by name (``EVOutput``'s fields), the hub's state and totals
        moved on; None, nothing changed, where the hub's limit binds in a step."""
        for i, o in enumerate(self.occ):
            if o:
                self.follow(i, 0)
        out: dict[str, list[Any]] = {name: [] for name in (
            "n_connected", "n_queued", "n_arrivals", "n_rejected", "e_unserved_mwh")}
        requested: list[float] = []
        n_occ = len(self.occ) - len(self.free)
        for k in range(self.n):
            if self.queue:
                n_occ += self._plug_queued(k)
            new, n_rej, e_rej = drawn[k], 0, 0.0
            if new is not None:
                m, n_rej, e_rej = self._arrive(k, new, queue_max, requested)
                n_occ += m
            out["n_connected"].append(n_occ)
            out["n_arrivals"].append(0 if new is None else len(new[0]))
            out["n_rejected"].append(n_rej)
            if self.leave[k] or self.queue:
                gone, e_rej = self._depart(k, e_rej)
                n_occ -= gone
            out["e_unserved_mwh"].append(e_rej)
            out["n_queued"].append(len(self.queue))
        return self._finish(out, requested)

    def _plug_queued(self, k: int) -> int:
        """Queued vehicles take the free chargers at the start of step ``k``: how many."""
        m = 0
        queue, free, t0 = self.queue, self.free, self.t0s[k]
        while queue and free:
            t_a, t_d, e = queue.popleft()
            self.plug(heappop(free), k, max(t_a, t0), t_d, e)
            m += 1
        return m

    def _arrive(self, k: int, new: Drawn, queue_max: int, requested: list[float]
                ) -> tuple[int, int, float]:
        """Step ``k``'s arrivals on the free chargers, then the queue (``EVHub._arrive``):
        (placed, rejected, rejected energy)."""
        t_arr, e_new, t_dep = new
        requested.append(np_sum(e_new))
        free = self.free
        m = min(len(t_arr), len(free))
        occ, tp, td, er, follow = self.occ, self.tp, self.td, self.er, self.follow
        for j in range(m):
            i = heappop(free)
            occ[i], tp[i], td[i], er[i] = True, t_arr[j], t_dep[j], e_new[j]
            follow(i, k)
        n_rej, e_rej = 0, 0.0
        for j in range(m, len(t_arr)):
            if len(self.queue) < queue_max:
                self.queue.append((t_arr[j], t_dep[j], e_new[j]))
            else:
                n_rej += 1
                e_rej += e_new[j]
        return m, n_rej, e_rej

    def _depart(self, k: int, e_unserved: float) -> tuple[int, float]:
        """The vehicles leaving at the end of step ``k`` and the queued ones giving up
        (``EVHub.step``'s departures): how many left chargers, and the step's unserved
        energy (``e_unserved`` and theirs)."""
        gone = self.leave[k]
        if gone:
            gone.sort()
            e_unserved += np_sum([e for _, e in gone])
            for i, _ in gone:
                self.occ[i], self.er[i] = False, 0.0
                heappush(self.free, i)
        if self.queue:
            self.queue, e_unserved = expire(self.queue, self.t1s[k], e_unserved)
        return len(gone), e_unserved

    def _finish(self, out: dict[str, list[Any]], requested: list[float]
                ) -> dict[str, list[Any]] | None:
        """The steps' energies (each step's sum over the chargers); None where one exceeds
        the hub's limit, else the hub's state and totals moved on."""
        hub, dt_s = self.hub, self.dt_s
        energy = np.zeros((self.n, len(self.occ)))
        if self.flat:
            m = len(self.flat)
            energy.reshape(-1)[np.fromiter(self.flat, np.intp, m)] = np.fromiter(
                self.caps, float, m)
        if self.runs:  # each run's steps and charger, at once
            first, end, slots = (np.array(v) for v in zip(*self.runs, strict=True))
            length = end - first
            step = np.arange(length.sum()) + np.repeat(first - np.cumsum(length) + length, length)
            energy[step, np.repeat(slots, length)] = self.x
        delivered = energy.sum(axis=1)  # row by row, as a step sums its chargers
        if (delivered > hub.p_max_mw * dt_s / _S_PER_H).any():
            return None
        out["e_delivered_mwh"] = done = delivered.tolist()
        out["p_mw"] = [e * _S_PER_H / dt_s for e in done]
        hub._occ[:], hub._t_plug[:], hub._t_dep[:], hub._e_rem[:] = (
            self.occ, self.tp, self.td, self.er)
        hub._queue = self.queue
        for e in requested:
            hub.e_requested_mwh += e
        for e, u in zip(done, out["e_unserved_mwh"], strict=True):
            hub.e_delivered_mwh += e
            hub.e_unserved_mwh += u
        hub.n_arrivals += sum(out["n_arrivals"])
        hub.n_rejected += sum(out["n_rejected"])
        return out
