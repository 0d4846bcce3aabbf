"""When a run may step in blocks (:mod:`adapters.block`), and how long a block is: a day of
steps, at most :data:`MAX_BLOCK_STEPS`, at most the run.

Block stepping hands a day of steps at a time from simulator to simulator. It is exact only
where no simulator's input of a step depends on another simulator's output of an earlier
step of the same block through mosaik (a closed loop between simulators): the rule
controller's park is such a chain (its only feedback, the batteries' state of charge, stays
inside the battery simulator). So a run steps in blocks when it is a planning run as fast as
possible, and steps one step at a time when

- it runs under mosaik's own scheduler loop (``fast_progress=False``), or in real time;
- the EMS controls the park (its measurements and commands close loops through mosaik: the
  batteries' state time-shifted, the loads' commands a step later): then only the weather,
  PV, wind and AOI lines, which take no command, advance in blocks (:func:`producer_steps`),
  read step by step by the rest;
- a caller gives its own events book (a live view adds events while the run goes), an
  observer of each step, extensions (hardware in the loop) or the scenario has external
  simulators or FMUs (unknown to the block adapters);
- an AOI line steps other than the park (a park step longer than the hour it can take).

A board-by-board AOI line steps in blocks like any other simulator: each step of a block
runs its SimPy model through that step, with the step's own time, events and state, so the
block gives what the steps give one at a time (``tests/test_aoi_line_block.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twin.scenario import Scenario

#: the block length a planning run takes: a day of steps ...
BLOCK_S = 86400
#: ... at most this many (a block's values are held as Python objects: 1,440 steps of the
#: reference park's vectors are about 35 MB, a day of 1-second steps would be 60 times that)
MAX_BLOCK_STEPS = 1440


#: the simulators that advance in blocks under the EMS: their inputs take no command and
#: no measurement of the same run (weather -> PV, wind; the AOI lines take none, their holds
#: come from the events), their readers step one at a time
PRODUCERS = frozenset({"Weather", "PV", "Wind", "AOI"})


def block_steps(s: Scenario, *, fast_progress: bool = True, events: Any = None,
                observer: Any = None, extensions: Sequence[Any] = ()) -> int:
    """Steps per block for a run of ``s`` (1: step by step), see the module's docstring."""
    if s.controller.kind != "rule":
        return 1
    return _steps(s, fast_progress, events, observer, extensions)


def producer_steps(s: Scenario, *, fast_progress: bool = True, events: Any = None,
                   observer: Any = None, extensions: Sequence[Any] = ()) -> int:
    """Steps per block of the :data:`PRODUCERS` in a run of ``s`` under the EMS, whose
    other simulators step one step at a time (1: none in blocks); the other conditions as
    :func:`block_steps`'."""
    if s.controller.kind != "ems":
        return 1
    return _steps(s, fast_progress, events, observer, extensions)


def _steps(s: Scenario, fast_progress: bool, events: Any, observer: Any,
           extensions: Sequence[Any]) -> int:
    step_s = s.period.step_s
    if not (fast_progress and events is None and observer is None and not extensions):
        return 1
    if s.external or s.fmus or not float(step_s).is_integer():
        return 1
    if s.aoi_lines and step_s > 3600:
        return 1
    return max(1, min(BLOCK_S // int(step_s), MAX_BLOCK_STEPS, s.n_steps))
