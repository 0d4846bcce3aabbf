"""``twin size``: the cheapest configuration that meets the criteria, in far fewer runs than
the full grid of a study's capacities.

The study's parameters other than the weather year are the capacity dimensions (their values
sorted ascending); a configuration is evaluated over every weather year (``park.seed``):
it is *feasible* when it meets every required criterion in every year, and its cost is the
mean annualised cost. The search works on grid indices:

1. Run the largest configuration. Criteria that more wind, PV or storage never worsens
   (:data:`MONOTONE`: core indicator, clean share, net balance) missed there are missed
   everywhere: the answer is then that nothing passes, and the largest is the closest.
2. Bisect along the diagonal (every capacity at the same fraction of its range) for the
   smallest configuration that meets the monotone criteria: a point near the boundary.
3. Pattern search from the best point so far: poll the neighbours at step ``h`` (one
   capacity up or down, and one up while another goes down), move to the best that improves
   (feasible and cheaper; or, while infeasible, a smaller shortfall). When none does, walk
   along the boundary: take ``h`` off one capacity and, where that misses a monotone
   criterion, bisect another for the least increase that meets it again (at ``h`` = 1 also
   2 and 3 off); halve ``h`` when that fails too, stop after step 1. Each poll (and each
   round of the side-by-side bisections) is one batch of runs on the cluster. A point below
   one that missed a monotone criterion is not run.

``search`` takes any ``evaluate(points) -> outcomes``: the study's runs on Dask
(:class:`StudyEvaluator`) or a cheap stand-in function in the tests.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from twin.core.numbers import fmt
from twin.studies.spec import SEED_PATH, Job, Parameter, Study, StudyError
from twin.studies.sweep import COST, OK, CaseStore, flatten, run_cases

MONOTONE = ("core_carbon_intensity", "clean_energy_share", "net_annual_balance")
Point = tuple[int, ...]


@dataclass(frozen=True)
class Outcome:
    """A configuration judged over the weather years."""

    cost: float  # mean annualised cost, CNY/yr (nan if a run failed)
    feasible: bool  # every required criterion met in every year
    shortfall: float  # worst year's total shortfall (0 when feasible; inf if a run failed)
    monotone_missed: bool  # missed a criterion that more capacity never worsens

    @property
    def score(self) -> tuple[int, float, float]:
        """Lower is better: feasible by cost, then infeasible by shortfall, failures last."""
        if self.cost != self.cost:
            return (2, math.inf, math.inf)
        return (0, self.cost, 0.0) if self.feasible else (1, self.shortfall, self.cost)


PRUNED = Outcome(math.nan, False, math.inf, True)
Evaluate = Callable[[list[Point]], list[Outcome]]


@dataclass
class SizeResult:
    """The search's answer and what it cost."""

    best: Point
    outcome: Outcome
    evaluations: int  # configurations run (a configuration is one run per weather year)
    grid_size: int
    history: list[tuple[Point, Outcome]] = field(default_factory=list)

    @property
    def share_of_grid(self) -> float:
        """Evaluations as a share of the full grid's."""
        return self.evaluations / self.grid_size


def search(shape: Sequence[int], evaluate: Evaluate) -> SizeResult:
    """Search the grid of ``shape`` (values per dimension, ascending) for the cheapest
    feasible point (see the module docstring)."""
    shape = tuple(int(n) for n in shape)
    cache: dict[Point, Outcome] = {}
    history: list[tuple[Point, Outcome]] = []

    def run(points: list[Point]) -> None:
        new = [p for p in dict.fromkeys(points) if p not in cache]
        pruned = [p for p in new if _below_missed(p, cache)]
        for p in pruned:
            cache[p] = PRUNED
        todo = [p for p in new if p not in cache]
        for p, o in zip(todo, evaluate(todo) if todo else [], strict=True):
            cache[p] = o
            history.append((p, o))

    top = tuple(n - 1 for n in shape)
    run([top])
    if not cache[top].monotone_missed:
        k_max = max(n - 1 for n in shape)
        lo, hi = 0, k_max
        while lo < hi:
            mid = (lo + hi) // 2
            point = _diagonal(shape, mid, k_max)
            run([point])
            if cache[point].monotone_missed:
                lo = mid + 1
            else:
                hi = mid
        _pattern(shape, cache, run, max(1, math.ceil(k_max / 4)))
    best = min(history, key=lambda po: po[1].score)
    return SizeResult(best[0], best[1], len(history), math.prod(shape), history)


def _pattern(shape: Point, cache: dict[Point, Outcome],
             run: Callable[[list[Point]], None], step: int) -> None:
    current = min((p for p in cache if cache[p] is not PRUNED), key=lambda p: cache[p].score)
    polls = (_simple_poll, _repair_poll)  # the second only when the first fails
    while step >= 1:
        moved = False
        wide = [functools.partial(_repair_poll, wide=k) for k in (2, 3)] if step == 1 else []
        for poll in (*polls, *wide):  # at step 1, last: longer walks along the boundary
            points = poll(current, shape, step, cache, run)
            candidate = min(points, key=lambda p: cache[p].score, default=current)
            if cache[candidate].score < cache[current].score:
                current, moved = candidate, True
                break
        if not moved:
            step //= 2


def _simple_poll(current: Point, shape: Point, step: int, cache: dict[Point, Outcome],
                 run: Callable[[list[Point]], None]) -> list[Point]:
    points = neighbours(current, shape, step)
    run(points)
    return points


def _repair_poll(current: Point, shape: Point, step: int, cache: dict[Point, Outcome],
                 run: Callable[[list[Point]], None], wide: int = 1) -> list[Point]:
    """Walk along the boundary: take ``step`` off one capacity and, where that misses a
    monotone criterion, add to another the least that meets it again (bisections run side
    by side, one batch of runs per round)."""
    lines = []  # [lo, hi, base point, dimension]: the least t in lo..hi that meets them
    for j in range(len(shape)):
        y = _moved(current, shape, {j: -step * wide})
        if y == current or not cache.get(y, PRUNED).monotone_missed:
            continue
        lines += [[1, shape[i] - 1 - y[i], y, i] for i in range(len(shape))
                  if i != j and y[i] < shape[i] - 1]
    while any(lo < hi for lo, hi, _, _ in lines):
        active = [line for line in lines if line[0] < line[1]]
        mids = [_moved(y, shape, {i: (lo + hi) // 2}) for lo, hi, y, i in active]
        run(mids)
        for line, mid in zip(active, mids, strict=True):
            if cache[mid].monotone_missed:
                line[0] = (line[0] + line[1]) // 2 + 1
            else:
                line[1] = (line[0] + line[1]) // 2
    ends = [_moved(y, shape, {i: lo}) for lo, _, y, i in lines]
    run(ends)
    return ends


def _moved(point: Point, shape: Sequence[int], move: dict[int, int]) -> Point:
    return tuple(min(max(v + move.get(i, 0), 0), shape[i] - 1) for i, v in enumerate(point))


def neighbours(point: Point, shape: Sequence[int], step: int) -> list[Point]:
    """One capacity ``step`` up or down, and one up while another goes down (clipped)."""
    moves: list[dict[int, int]] = [{i: s} for i in range(len(shape)) for s in (step, -step)]
    moves += [{i: step, j: -step} for i, j in itertools.permutations(range(len(shape)), 2)]
    out = []
    for move in moves:
        p = _moved(point, shape, move)
        if p != point and p not in out:
            out.append(p)
    return out


def _diagonal(shape: Point, k: int, k_max: int) -> Point:
    return tuple(int(round(k * (n - 1) / k_max)) if k_max else 0 for n in shape)


def _below_missed(point: Point, cache: dict[Point, Outcome]) -> bool:
    """Whether a run at or above ``point`` already missed a monotone criterion."""
    return any(o.monotone_missed and o is not PRUNED
               and all(a <= b for a, b in zip(point, q, strict=True))
               for q, o in cache.items())


# --- a study's runs as the evaluation ---------------------------------------------------------


class StudyEvaluator:
    """Evaluate grid points of a study's capacities by running their cases on the cluster."""

    def __init__(self, study: Study, client: Any, store: CaseStore,
                 on_row: Callable[[dict[str, Any]], None] | None = None,
                 job: Job | None = None) -> None:
        self.study, self.client, self.store, self.on_row = study, client, store, on_row
        self.job = job or study.job()
        self.dims = dimensions(study)
        seed = [p for p in study.parameters if p.path == SEED_PATH]
        self.seeds: tuple[Any, ...] = seed[0].values if seed else (None,)
        self.runs = 0

    @property
    def shape(self) -> tuple[int, ...]:
        """Values per capacity dimension."""
        return tuple(len(d.values) for d in self.dims)

    def config(self, point: Point) -> dict[str, Any]:
        """The parameter values of a grid point."""
        return {d.path: d.values[i] for d, i in zip(self.dims, point, strict=True)}

    def _cases(self, point: Point) -> list[Any]:
        base = self.config(point)
        return [self.study.case(base if s is None else {**base, SEED_PATH: s})
                for s in self.seeds]

    def __call__(self, points: list[Point]) -> list[Outcome]:
        """Run the points' cases not done yet; judge each point over the weather years."""
        cases = [c for p in points for c in self._cases(p)]
        done = self.store.rows()
        todo = [c for c in cases if c.case_id not in done]
        self.runs += len(todo)
        run_cases(self.client, self.job, todo, self.store, self.on_row)
        rows = self.store.rows()
        return [self._outcome([flatten(rows[c.case_id], self.study) for c in self._cases(p)])
                for p in points]

    def criteria_text(self, point: Point) -> str:
        """The required criteria at a point: worst value, threshold, years met."""
        stored = self.store.rows()
        rows = [flatten(stored[c.case_id], self.study) for c in self._cases(point)
                if c.case_id in stored]
        parts = []
        for key in self.study.criteria:
            values = [r.get(f"criterion_{key}", math.nan) for r in rows]
            met = sum(bool(r.get(f"met_{key}")) for r in rows)
            threshold = next((r[f"threshold_{key}"] for r in rows if f"threshold_{key}" in r),
                             math.nan)
            worst = min(values) if key != "core_carbon_intensity" else max(values)
            parts.append(f"{key} {fmt(worst)} (threshold {fmt(threshold)}, met in "
                         f"{met}/{len(rows)})")
        return "; ".join(parts)

    def _outcome(self, rows: list[dict[str, Any]]) -> Outcome:
        if any(r["status"] != OK for r in rows):
            return Outcome(math.nan, False, math.inf, False)
        required = [k for k in MONOTONE if k in self.study.criteria]
        missed = any(r.get(f"met_{k}") is False for r in rows for k in required)
        return Outcome(cost=sum(r[COST] for r in rows) / len(rows),
                       feasible=all(r["criteria_met"] for r in rows),
                       shortfall=max(r["shortfall"] for r in rows), monotone_missed=missed)


def dimensions(study: Study) -> list[Parameter]:
    """The study's capacity dimensions, values ascending; StudyError if one is not numeric."""
    out = []
    for p in study.parameters:
        if p.path == SEED_PATH:
            continue
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in p.values):
            raise StudyError(f"{study.path}: parameters.{p.path}: twin size searches "
                             "capacities: expected numbers in ascending order of capacity")
        out.append(Parameter(p.path, tuple(sorted(set(p.values))), p.scale, p.also))
    if not out:
        raise StudyError(f"{study.path}: parameters: twin size needs at least one capacity "
                         "besides park.seed")
    return out
