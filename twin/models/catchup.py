"""A model's catch-up at a jump, from the nearest day it was already run to.

A run started inside a longer period (the trainers' page's jump) makes its EV hubs and
statistical AOI lines at that period's start and runs them to its own start unreported
(their ``skip``: random draws, breakdowns and boards on the way as in a run from there).
That costs a pass over every step before, up to two seconds late in a year. :func:`catch_up`
keeps the model's state every seventh day from the period's start it passes (in this
process) and starts the next catch-up of the same model from the nearest kept day at or
before its own start, so it runs only the steps from there: the state reached is the same as
from the period's start, step by step. :func:`warm` runs each model met so far to a date in the background (the page does it
after opening), so that later jumps find a day kept within a week before theirs.

A model is the same one when everything it is made from is: the caller's ``key`` (its kind,
name, spec, seed, the period's start, the step and the events it reads while catching up).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Hashable
from typing import Any

KEEP_S = 7 * 86400  # the state is kept every seventh day (a copy costs up to a few ms)
MAX_KEPT = 60  # states kept per model (a year and a bit)

_lock = threading.Lock()
_kept: dict[Hashable, dict[int, dict[str, Any]]] = {}  # key -> steps done -> state
_made: dict[Hashable, tuple[Callable[[], Any], Callable[[Any, int, int], None], int,
                            frozenset[str]]] = {}


def _state(entity: Any, fixed: frozenset[str]) -> dict[str, Any]:
    """A copy of the entity's attributes but the ``fixed`` ones (what no step changes)."""
    return {k: copy.deepcopy(v) for k, v in vars(entity).items() if k not in fixed}


def _restore(entity: Any, state: dict[str, Any]) -> None:
    vars(entity).update({k: copy.deepcopy(v) for k, v in state.items()})


def catch_up(entity: Any, key: Hashable, n_steps: int, step_s: int,
             advance: Callable[[Any, int, int], None],
             make: Callable[[], Any] | None = None,
             fixed: tuple[str, ...] = ("calendar",)) -> None:
    """Run ``entity`` (made at the period's start) ``n_steps`` steps of ``step_s`` unreported.

    ``advance(entity, done, k)`` runs it ``k`` steps on from step ``done``; the state every
    seventh day is kept under ``key``, and the latest kept at or before ``n_steps`` is taken
    instead of running up to it. ``make()`` makes the entity afresh (for :func:`warm`);
    ``fixed``: the attributes no step changes (a calendar, a profile), not kept.
    """
    n = int(n_steps)
    per_keep = max(KEEP_S // int(step_s), 1)
    keep = frozenset(fixed)
    with _lock:
        if make is not None:
            _made[key] = (make, advance, per_keep, keep)
        kept = _kept.setdefault(key, {})
        best = max((d for d in kept if d <= n), default=0)
        state = kept.get(best)
    if state is not None:
        _restore(entity, state)
    _run(entity, key, best, n, per_keep, advance, keep)


def _run(entity: Any, key: Hashable, done: int, n: int, per_keep: int,
         advance: Callable[[Any, int, int], None], fixed: frozenset[str]) -> None:
    while done < n:
        k = min(per_keep - done % per_keep, n - done)
        advance(entity, done, k)
        done += k
        if done % per_keep == 0:
            state = _state(entity, fixed)
            with _lock:
                kept = _kept.setdefault(key, {})
                if len(kept) < MAX_KEPT:
                    kept[done] = state


def warm(until: Callable[[int], int], stop: threading.Event | None = None,
         wait: Callable[[], None] | None = None) -> None:
    """Run the models met so far to step ``until(steps per week)`` (their states kept), a
    week of each in turn, so that all reach each date together; ``stop`` ends it early;
    ``wait()``, called before each week, may hold it (while a jump is being built)."""
    with _lock:
        made = list(_made.items())
    runs = []
    for key, (make, advance, per_keep, fixed) in made:
        n = until(per_keep)
        with _lock:
            kept = _kept.get(key, {})
            best = max((d for d in kept if d <= n), default=0)
            state = kept.get(best)
        if n - best < per_keep:
            continue
        entity = make()
        if state is not None:
            _restore(entity, state)
        runs.append([best, key, entity, n, per_keep, advance, fixed])
    while runs:
        for run in list(runs):
            if stop is not None and stop.is_set():
                return
            if wait is not None:
                wait()
            done, key, entity, n, per_keep, advance, fixed = run
            week = min(done + per_keep - done % per_keep, n)
            _run(entity, key, done, week, per_keep, advance, fixed)
            run[0] = week
            if week >= n:
                runs.remove(run)
