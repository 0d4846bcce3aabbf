"""A faster progress update for mosaik 3.6's scheduler, with the same results.

After every step of any simulator, mosaik 3.6 recomputes the progress of *every* simulator
(``scheduler.sim_process`` calls ``advance_progress`` on all of them; its own TODO says so).
A simulator's progress is a function of its own next and current step and of the next steps
of its triggering ancestors; when none of those changed since the last update, recomputing
it yields the same time and wakes nobody. With eight time-based simulators this redundant
work is most of mosaik's per-step cost.

:func:`install` wraps ``mosaik.scheduler.advance_progress`` so that it returns at once when
those inputs are unchanged, and gives mosaik's tiered time arithmetic a shortcut for the
plain one-tier times of a scenario without same-time loops (same values, less work). Real-time runs (``rt_factor``), whose progress also depends on
the wall clock, always take the original path. The twin's tests check that a run gives the
same numbers with and without it.
"""

from __future__ import annotations

import functools
from typing import Any

import mosaik
from mosaik import scheduler
from mosaik.tiered_time import TieredDuration, TieredTime

_ORIGINAL = scheduler.advance_progress
_ORIGINAL_ADD = TieredTime.__add__
_ORIGINAL_LT = TieredTime.__lt__
_KEY = "_twin_progress_key"


def _tiered_add(self: TieredTime, interval: TieredDuration) -> TieredTime:
    """``TieredTime + TieredDuration`` with a shortcut for plain one-tier times."""
    if interval.pre_length == 1 and len(self.tiers) == 1 and len(interval.tiers) == 1:
        return TieredTime(self.tiers[0] + interval.tiers[0])
    return _ORIGINAL_ADD(self, interval)


def _tiered_lt(self: TieredTime, other: TieredTime) -> bool:
    return self.tiers < other.tiers


def _key(sim: Any) -> tuple[Any, ...]:
    ancestors = tuple(
        pre.next_steps[0] if pre.next_steps else None for pre in sim.triggering_ancestors
    )
    return (sim.next_steps[0] if sim.next_steps else None, sim.current_step, ancestors)


@functools.wraps(_ORIGINAL)
def _advance_progress(sim: Any, world: Any) -> None:
    if world.rt_factor:
        _ORIGINAL(sim, world)
        return
    key = _key(sim)
    if getattr(sim, _KEY, None) == key:
        return
    _ORIGINAL(sim, world)
    setattr(sim, _KEY, key)


def install() -> bool:
    """Install the faster progress update (mosaik 3.6 only); return whether it is active."""
    version = getattr(mosaik, "__version__", "")
    if not str(version).startswith("3.6"):
        return False
    scheduler.advance_progress = _advance_progress
    TieredTime.__add__ = _tiered_add  # type: ignore[method-assign]
    TieredTime.__lt__ = _tiered_lt  # type: ignore[method-assign]
    return True


def uninstall() -> None:
    """Restore mosaik's own progress update and time arithmetic."""
    scheduler.advance_progress = _ORIGINAL
    TieredTime.__add__ = _ORIGINAL_ADD  # type: ignore[method-assign]
    TieredTime.__lt__ = _ORIGINAL_LT  # type: ignore[method-assign]
