"""A leaner inner loop for mosaik 3.6's scheduler, with the same results, for one run.

mosaik runs each simulator as an asyncio task (``scheduler.sim_process``). Per step of any
simulator it makes a task for every dependency it waits on, two tasks and an ``asyncio.wait``
whenever a simulator waits for its next step, recomputes the progress of *every* simulator
(its own TODO says so), merges persistent inputs that may not exist, updates progress bars
and prunes its output cache. With eight simulators at 15-minute steps this bookkeeping cost
more than the models.

``with lean():`` around ``world.run(...)`` replaces, for that run, ``sim_process`` by one
that takes each simulator's steps in the same order with the same inputs (only independent
simulators may interleave differently): one future per wait, a dependency awaited only if
it has not happened yet, progress recomputed only for the simulators a step can move
(itself, those it triggers, and their descendants by trigger) and only when its inputs
changed, inputs gathered from a plan of the pulled connections worked out once, the progress
percentage and cache pruning once per time step. mosaik's tiered time arithmetic gets a
shortcut for plain one-tier times. Where no simulator is triggered by another's output (all
time-based, as the park's: no event-based inputs, no same-time loop), in process and called
directly, the run needs no task per simulator at all: one loop takes the earliest next step
of any simulator, at one time each simulator after those whose output of that time it reads
(:func:`_steps_in_order`); each step then has the inputs, ``max_advance`` and next step
mosaik's tasks give it. On leaving the block, by return or exception, mosaik's
own functions are back: another World in the process runs unpatched. Blocks nest (the
innermost open block decides, the outermost restores); ``lean(False)`` runs mosaik's own
loop.

The lean loop relies on mosaik 3.6's internals (its scheduler's functions, ``Progress``'s
futures, ``asyncio.Event``'s waiters, ``SimRunner``'s fields). On any other mosaik version,
or when one of these is missing, :func:`lean` warns once and runs mosaik's own loop.
Real-time runs (``rt_factor``), whose progress also depends on the wall clock, and debug
worlds, which record mosaik's own steps, always take mosaik's own path. :func:`quiet_gc`
spares the garbage collector's scans of the set-up during a run. The tests check that runs
give the same records with and without the lean loop, on small topologies of plain mosaik
simulators (tests/test_scheduling.py), and on a small park and on the reference park under
the EMS (``runner.run(..., fast_progress=False)``, tests/test_world.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import inspect
import logging
import re
import threading
import warnings
from collections.abc import Iterator
from heapq import heappop
from inspect import isgeneratorfunction
from time import perf_counter
from typing import Any

import mosaik
from mosaik import scheduler
from mosaik.exceptions import SimulationError
from mosaik.simmanager import FULL_ID
from mosaik.tiered_time import TieredDuration, TieredTime

log = logging.getLogger(__name__)

SUPPORTED = re.compile(r"3\.6(\.|$)")  # the mosaik versions the lean loop was written for
# mosaik's own functions (None where this mosaik lacks one: lean() refuses it then)
_ORIGINAL = getattr(scheduler, "advance_progress", None)
_ORIGINAL_PROCESS = getattr(scheduler, "sim_process", None)
_ORIGINAL_INPUTS = getattr(scheduler, "get_input_data", None)
_ORIGINAL_RUN = getattr(scheduler, "run", None)
_ORIGINAL_ADD = TieredTime.__add__
_ORIGINAL_LT = TieredTime.__lt__
_KEY = "_twin_progress_key"
_STEPS = "_lean_steps"  # on the AsyncWorld: sim-steps the lean loop took in its run


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


class _Wake:
    """A waiter in a :class:`mosaik.progress.Progress` that wakes ``future`` once: the
    progress skips it (as cancelled) when something else woke the future first."""

    __slots__ = ("future",)

    def __init__(self, future: asyncio.Future[Any]) -> None:
        self.future = future

    def cancelled(self) -> bool:
        return self.future.done()

    def set_result(self, value: Any) -> None:
        self.future.set_result(value)


async def _next_step_settled(sim: Any, world: Any) -> bool:
    """``scheduler.next_step_settled`` with one future where mosaik makes two tasks and an
    ``asyncio.wait``: it wakes on the progress reaching the awaited time or on a newer step
    being scheduled, whichever comes first, as mosaik's does."""
    progress, newer = sim.progress, sim.newer_step
    while progress.time.time < world.until:
        if sim.next_steps and sim.next_steps[0] == progress.time:
            return True
        await_time = (sim.next_steps[0] if sim.next_steps
                      else TieredTime(world.until) + sim.from_world_time)
        if progress.time >= await_time:
            newer.clear()
            continue
        if not newer.is_set():
            future = asyncio.get_running_loop().create_future()
            wake = _Wake(future)
            trigger = (await_time, TieredDuration(*((0,) * len(progress.time))), False)
            progress._futures.append((trigger, wake))
            newer._waiters.append(future)
            try:
                await future
            finally:
                newer._waiters.remove(future)
                for i, (_, waiter) in enumerate(progress._futures):
                    if waiter is wake:
                        del progress._futures[i]
                        break
        newer.clear()
    return False


async def _wait_for_dependencies(sim: Any, lazy_stepping: bool) -> None:
    """``scheduler.wait_for_dependencies`` awaiting only what has not happened yet, one after
    the other (all must happen; the order does not matter), instead of a task for each."""
    next_step = sim.next_steps[0]
    for pre_sim, min_delays in sim.input_delays.items():
        progress = pre_sim.progress
        for delay in min_delays.durations:
            if not progress._triggered_time((next_step, delay, True)):
                await progress.has_passed(next_step, shift=delay)
    waits = list(sim.successors_to_wait_for.items())
    if lazy_stepping:
        waits += sim.successors.items()
    for suc_sim, adapt in waits:
        target = next_step + adapt
        if suc_sim.progress.time < target:
            await suc_sim.progress.has_reached(target)


async def _sim_process(world: Any, sim: Any, until: int, rt_factor: float | None,
                       rt_strict: bool, lazy_stepping: bool, start_barrier: Any) -> None:
    """``scheduler.sim_process`` for runs as fast as possible: the same steps in the same
    order, without the progress-bar bookkeeping after every step. Real-time runs and debug
    worlds (whose execution graph mosaik's ``scheduler.step`` records) take mosaik's own."""
    if rt_factor or getattr(world, "_debug", False):
        await _ORIGINAL_PROCESS(world, sim, until, rt_factor, rt_strict, lazy_stepping,
                                start_barrier)
        return
    sim.started = True
    sim.rt_start = perf_counter()
    await start_barrier.wait()
    sims = world._get_sim_runners()
    runners = list(sims.values())
    dependents = _dependents(sim, runners)
    direct = _direct(sim)
    plan = _pull_plan(sim)
    every = len(runners)  # sim-steps between the bookkeeping below: about one time step
    max_loops = world.max_loop_iterations
    try:
        _advance_progress(sim, world)
        while await _next_step_settled(sim, world):
            if not world.running.is_set():
                await world.running.wait()
            await _wait_for_dependencies(sim, lazy_stepping)
            sim.current_step = heappop(sim.next_steps)
            if sim.current_step != sim.progress.time:
                raise SimulationError(
                    f"Simulator {sim.sid} is trying to perform a step at time "
                    f"{sim.current_step}, but it has already progressed to time "
                    f"{sim.progress.time}.")
            if any(t >= max_loops for t in sim.current_step.tiers[1:]):
                raise SimulationError(
                    f"Simulator {sim.sid} has performed a sub-step more than {max_loops} "
                    f"times (now {sim.current_step}).")
            input_data = _get_input_data(world, sim, plan)
            max_advance = scheduler.get_max_advance(world, sim, until)
            await _step(world, sim, input_data, max_advance, direct)
            await _get_outputs(sim, direct)
            sim.current_step = None
            scheduler.trigger_successors(sim)
            for isim in dependents:
                _advance_progress(isim, world)
            steps = getattr(world, _STEPS, 0) + 1
            setattr(world, _STEPS, steps)
            if steps % every == 0:  # the percentage a simulator may ask
                world.sim_progress = scheduler.get_progress(sims, until)
                if world.use_cache:  # and the outputs no simulator can ask for any more
                    _prune_dataflow_cache(runners)
        world.sim_progress = scheduler.get_progress(sims, until)
        world.tqdm.update(scheduler.get_avg_progress(sims, until) - world.tqdm.n)
    except ConnectionError as e:
        raise SimulationError(f'Simulator "{sim.sid}" closed its connection.', e) from e


async def _run(world: Any, until: int, rt_factor: float | None = None, rt_strict: bool = False,
               lazy_stepping: bool = True) -> None:
    """``scheduler.run``: in one loop, without a task per simulator, where the world allows
    it (:func:`_in_order`), else mosaik's run with the lean :func:`_sim_process`."""
    order = None if rt_factor or getattr(world, "_debug", False) else _in_order(world)
    if order is None:
        await _ORIGINAL_RUN(world, until, rt_factor, rt_strict, lazy_stepping)
        return
    world.until = until
    world.rt_factor = rt_factor
    runners = list(world._get_sim_runners().values())
    await asyncio.gather(*(sim.setup_done() for sim in runners))
    try:
        _steps_in_order(world, order, runners, until)
    except ConnectionError as e:
        raise SimulationError(f"A simulator closed its connection: {e}", e) from e


def _in_order(world: Any) -> list[tuple[Any, Any]] | None:
    """The simulators with their objects in an order for :func:`_steps_in_order`, or None
    where the world needs mosaik's tasks: a simulator out of process or making requests back
    (not :func:`_direct`), triggered by another's output (event-based inputs: its steps and
    its ``max_advance`` then follow the others' progress), in a same-time loop (weak
    connections: tiered times), with persistent inputs merged by mosaik, or the world
    paused. The order puts every simulator after those whose output of the same time it
    reads (mosaik's connections without a time shift)."""
    runners = list(world._get_sim_runners().values())
    if not world.running.is_set():
        return None
    for sim in runners:
        if (_direct(sim) is None or sim.triggering_ancestors or any(sim.triggers.values())
                or sim.persistent_inputs and not world.use_cache
                or len(sim.from_world_time.tiers) != 1
                or any(len(s.tiers) != 1 for s in sim.next_steps)):
            return None
    same_time = {id(sim): [pre for pre, delays in sim.input_delays.items()
                           if any(d.tiers[0] == 0 for d in delays.durations)]
                 for sim in runners}
    order: list[Any] = []
    placed: set[int] = set()
    while len(order) < len(runners):
        ready = [s for s in runners if id(s) not in placed
                 and all(id(pre) in placed for pre in same_time[id(s)])]
        if not ready:  # a same-time cycle: mosaik's own checks and errors
            return None
        for s in ready:
            order.append(s)
            placed.add(id(s))
    return [(sim, _direct(sim)) for sim in order]


def _steps_in_order(world: Any, order: list[tuple[Any, Any]], runners: list[Any],
                    until: int) -> None:
    """Every simulator's steps, earliest time first and, at one time, in ``order``: each
    step then finds the outputs it reads (of the same time from simulators before it, of
    earlier times from all) as mosaik's tasks would have waited for them, with the same
    inputs, ``max_advance`` and next steps (no simulator is triggered by another)."""
    for sim in runners:
        sim.started = True
        sim.rt_start = perf_counter()
    plans = {id(sim): _pull_plan(sim) for sim, _ in order}
    every = len(runners)
    steps = getattr(world, _STEPS, 0)
    end = TieredTime(until)
    while True:
        sim = direct = None
        for s, d in order:  # the earliest next step; at one time, the first in order
            if s.next_steps and (sim is None or s.next_steps[0].tiers < sim.next_steps[0].tiers):
                sim, direct = s, d
        if sim is None or not sim.next_steps[0] < end + sim.from_world_time:
            break
        sim.current_step = heappop(sim.next_steps)
        input_data = _get_input_data(world, sim, plans[id(sim)])
        max_advance = scheduler.get_max_advance(world, sim, until)
        _step_now(world, sim, input_data, max_advance, direct)
        _outputs_now(sim, direct)
        sim.current_step = None
        steps += 1
        setattr(world, _STEPS, steps)
        if steps % every == 0:
            world.sim_progress = scheduler.get_progress(world._get_sim_runners(), until)
            if world.use_cache:
                _prune_dataflow_cache(runners)
    for sim in runners:
        _ORIGINAL(sim, world)
    world.sim_progress = scheduler.get_progress(world._get_sim_runners(), until)


def _direct(sim: Any) -> Any:
    """The simulator object behind ``sim`` when mosaik calls it in process with plain
    methods (a ``LocalProxy``, no generator methods making requests back): it is then called
    directly instead of through a coroutine per call. None otherwise."""
    proxy = getattr(sim, "_proxy", None)
    if type(proxy).__name__ != "LocalProxy":
        return None
    target = proxy.sim
    if isgeneratorfunction(target.step) or isgeneratorfunction(target.get_data):
        return None
    return target


async def _step(world: Any, sim: Any, inputs: Any, max_advance: int, direct: Any) -> None:
    """``scheduler.step``, calling an in-process simulator directly."""
    if direct is not None:
        _step_now(world, sim, inputs, max_advance, direct)
        return
    sim.is_in_step = True
    _stepped(world, sim, await sim.step(sim.current_step.time, inputs, max_advance))


def _step_now(world: Any, sim: Any, inputs: Any, max_advance: int, direct: Any) -> None:
    """:func:`_step` of an in-process simulator (``direct``), without a coroutine."""
    sim.is_in_step = True
    _stepped(world, sim, direct.step(sim.current_step.time, inputs, max_advance))


def _stepped(world: Any, sim: Any, next_step_time: Any) -> None:
    """What ``scheduler.step`` does after the simulator's step returned its next step."""
    now = sim.current_step.time
    sim.last_step = sim.current_step
    sim.is_in_step = False
    if next_step_time is not None:
        if not isinstance(next_step_time, int):
            raise SimulationError(
                f"the next step time returned by the step method must be of type int, "
                f'but is of type {type(next_step_time)} for simulator "{sim.sid}"')
        if next_step_time <= now:
            raise SimulationError(
                f"the next step time returned by step must be later than the current "
                f"step's time, but {next_step_time} <= {now} for simulator \"{sim.sid}\"")
        if next_step_time < world.until:
            tiered = TieredTime(next_step_time) + sim.from_world_time
            sim.schedule_step(tiered)
            sim.next_self_step = tiered
    if sim.type == "time-based":
        assert next_step_time, "A time-based simulator must always return a next step"


async def _get_outputs(sim: Any, direct: Any) -> None:
    """``scheduler.get_outputs``, calling an in-process simulator directly."""
    request = sim.output_request
    if request:
        _took_outputs(sim, direct.get_data(request) if direct is not None
                      else await sim.get_data(request))


def _outputs_now(sim: Any, direct: Any) -> None:
    """:func:`_get_outputs` of an in-process simulator (``direct``), without a coroutine."""
    request = sim.output_request
    if request:
        _took_outputs(sim, direct.get_data(request))


def _took_outputs(sim: Any, data: Any) -> None:
    """What ``scheduler.get_outputs`` does with the simulator's data."""
    output_time = data.pop("time", sim.last_step.time)
    scheduler.validate_output_time(sim, output_time)
    sim.output_time = scheduler.determine_output_tiered_time(sim, output_time)
    scheduler.cache_output_data(sim, data, output_time)
    sim.check_outputs(data)
    scheduler.push_output_data(sim, data, output_time)
    sim.data = data


def _dependents(sim: Any, runners: list[Any]) -> list[Any]:
    """The simulators whose progress a step of ``sim`` can change: itself, those it triggers,
    and those that have either among their triggering ancestors (mosaik's progress of a
    simulator depends on its own next and current step and on its triggering ancestors' next
    steps, nothing else, when not in real time). Runner order kept."""
    changed = {id(sim)} | {id(dest) for triggered in sim.triggers.values()
                           for dest, _ in triggered}
    return [s for s in runners if id(s) in changed
            or any(id(a) in changed for a in s.triggering_ancestors)]


def _pull_plan(sim: Any) -> list[tuple[Any, int, list[tuple[Any, ...]]]]:
    """``sim``'s pulled connections, flattened once: (source simulator, delay, [(source
    entity, attribute, destination entity, attribute, source full id, transform)])."""
    return [(src_sim, delay.tiers[0],
             [(e.src_port[0], e.src_port[1], e.dest_port[0], e.dest_port[1],
               FULL_ID % (src_sim.sid, e.src_port[0]), e.transform) for e in entry])
            for (src_sim, delay), entry in sim.pulled_inputs.items()]


def _get_input_data(world: Any, sim: Any, plan: list[tuple[Any, int, list[Any]]]) -> Any:
    """``scheduler.get_input_data`` for a simulator without persistent inputs: the same
    dictionary, built from the plan of its pulled connections (:func:`_pull_plan`)."""
    if sim.persistent_inputs:
        return _ORIGINAL_INPUTS(world, sim)
    now = sim.current_step.time
    input_data = sim.timed_input_buffer.get_input(sim.inputs_from_set_data, now)
    sim.inputs_from_set_data = {}
    for src_sim, delay, links in plan:
        cache = src_sim.get_output_for(now - delay)
        for src_eid, src_attr, dest_eid, dest_attr, full_id, transform in links:
            try:
                val = cache[src_eid][src_attr]
            except KeyError:  # as mosaik: a warning, and None
                warnings.warn(f"Simulator {src_sim.sid}'s entity {src_eid} did not produce "
                              f"output on its persistent attribute {src_attr} during its "
                              f"last step; supplying None to {sim.sid}.", stacklevel=1)
                val = None
            attrs = input_data.get(dest_eid)
            if attrs is None:
                attrs = input_data[dest_eid] = {}
            values = attrs.get(dest_attr)
            if values is None:
                values = attrs[dest_attr] = {}
            values[full_id] = transform(val)
    return input_data


def _prune_dataflow_cache(runners: list[Any]) -> None:
    """``scheduler.prune_dataflow_cache``, rebuilding a cache only when it holds an old time."""
    min_time = min(s.last_step.time for s in runners)
    for s in runners:
        outputs = s.outputs
        if outputs and min(outputs) < min_time:
            s.outputs = {t: cache for t, cache in outputs.items() if t >= min_time}


@contextlib.contextmanager
def quiet_gc(gen0: int = 50_000, freeze: bool = True) -> Iterator[None]:
    """Fewer cyclic garbage collections while a run goes: what the set-up built is frozen
    (never scanned again) and a young-generation collection waits for ``gen0`` allocations
    instead of 700. A step allocates many short-lived dicts and arrays, freed by reference
    counting anyway; the collector's scans of them cost a few per cent of the run. Before
    freezing, only the young generations are collected: a full collection there scanned the
    whole set-up (0.1-0.3 s a run) and found nothing to free in the reference park's runs.
    ``freeze=False``: the thresholds alone (a run's set-up, whose pandas and pandapower
    tables would otherwise set off full collections). Everything is restored afterwards."""
    thresholds = gc.get_threshold()
    if freeze:
        gc.collect(1)
        gc.freeze()
    gc.set_threshold(gen0, thresholds[1], thresholds[2])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        if freeze:
            gc.unfreeze()


# --- the patch, for the duration of a run -------------------------------------------------

_MISSING = object()
_LOCK = threading.RLock()
_OPEN: list[list[bool]] = []  # the open lean() blocks, oldest first: [wants the lean loop]
_SAVED: list[tuple[Any, str, Any]] = []  # what the patch replaced, while it is in place
_WARNED: set[str] = set()  # the refusals already warned about (once each per process)

# what each scheduler function the lean loop replaces or calls takes, by parameter name
_SIGNATURES = {
    "run": ("world", "until", "rt_factor", "rt_strict", "lazy_stepping"),
    "sim_process": ("world", "sim", "until", "rt_factor", "rt_strict", "lazy_stepping",
                    "start_barrier"),
    "advance_progress": ("sim", "world"),
    "get_input_data": ("world", "sim"),
    "get_max_advance": ("world", "sim", "until"),
    "trigger_successors": ("sim",),
    "get_progress": ("sims", "until"),
    "get_avg_progress": ("sims", "until"),
    "validate_output_time": ("sim", "output_time"),
    "determine_output_tiered_time": ("sim", "output_time"),
    "cache_output_data": ("sim", "data", "output_time"),
    "push_output_data": ("sim", "data", "output_time"),
}
# the fields of mosaik's objects that the lean loop reads or writes
_RUNNER_FIELDS = ("sid", "type", "_proxy", "progress", "newer_step", "next_steps",
                  "current_step", "last_step", "next_self_step", "is_in_step",
                  "from_world_time", "triggering_ancestors", "input_delays", "successors",
                  "successors_to_wait_for", "triggers", "pulled_inputs", "persistent_inputs",
                  "timed_input_buffer", "inputs_from_set_data", "output_request", "outputs")
_WORLD_FIELDS = ("running", "max_loop_iterations", "use_cache", "sim_progress")


def _patches() -> list[tuple[Any, str, Any]]:
    """(owner, attribute, lean replacement): everything :func:`lean` changes."""
    return [(scheduler, "run", _run), (scheduler, "sim_process", _sim_process),
            (TieredTime, "__add__", _tiered_add),
            (TieredTime, "__lt__", _tiered_lt)]


def _assigned(init: Any) -> set[str]:
    """The attribute names a constructor's code uses (those it assigns among them)."""
    code = getattr(init, "__code__", None)
    return set(code.co_names) if code is not None else set()


def refusal() -> str:
    """Why the lean loop cannot run with the installed mosaik ('' when it can): a version
    other than 3.6.x, or a missing internal it relies on."""
    version = str(getattr(mosaik, "__version__", "") or "(unknown)")
    if not SUPPORTED.match(version):
        return f"mosaik {version} is not the 3.6.x the lean loop was written for"
    problems = _scheduler_problems() + _internal_problems()
    if problems:
        return f"mosaik {version} lacks what the lean loop relies on: {', '.join(problems)}"
    return ""


def _scheduler_problems() -> list[str]:
    """The scheduler functions missing or taking other parameters than the lean loop uses."""
    problems = []
    for name, params in _SIGNATURES.items():
        func = getattr(scheduler, name, None)
        try:
            found = tuple(inspect.signature(func).parameters) if callable(func) else None
        except (TypeError, ValueError):
            found = None
        if found != params:
            problems.append(f"scheduler.{name}{params}")
    run_code = getattr(_ORIGINAL_RUN, "__code__", None)  # mosaik's, also while replaced
    if run_code is None or "sim_process" not in run_code.co_names:
        problems.append("scheduler.run starting scheduler.sim_process")
    return problems


def _internal_problems() -> list[str]:
    """The private fields of asyncio's and mosaik's objects the lean loop uses, if missing."""
    problems = [] if "_waiters" in vars(asyncio.Event()) else ["asyncio.Event._waiters"]
    try:
        from mosaik.async_scenario import AsyncWorld
        from mosaik.progress import Progress
        from mosaik.proxies import LocalProxy
        from mosaik.simmanager import SimRunner
    except ImportError as exc:
        return [*problems, f"module {exc.name}"]
    if not ({"_futures", "time"} <= _assigned(Progress.__init__)
            and callable(getattr(Progress, "_triggered_time", None))):
        problems.append("Progress._futures, Progress._triggered_time")
    problems += [f"SimRunner.{f}" for f in _RUNNER_FIELDS
                 if f not in _assigned(SimRunner.__init__)]
    problems += [f"AsyncWorld.{f}" for f in _WORLD_FIELDS
                 if f not in _assigned(AsyncWorld.__init__)]
    if not callable(getattr(AsyncWorld, "_get_sim_runners", None)):
        problems.append("AsyncWorld._get_sim_runners")
    if "sim" not in getattr(LocalProxy, "__annotations__", {}):
        problems.append("LocalProxy.sim")
    one, step = TieredTime(0), TieredDuration(0)
    if not (hasattr(one, "tiers") and hasattr(step, "tiers") and hasattr(step, "pre_length")):
        problems.append("TieredTime.tiers, TieredDuration.tiers, .pre_length")
    return problems


def _apply() -> None:
    """Put the lean loop in place if the innermost open block wants it, mosaik's own loop
    otherwise (with the lock held)."""
    want = bool(_OPEN) and _OPEN[-1][0]
    if want and not _SAVED:
        for owner, name, lean_fn in _patches():
            _SAVED.append((owner, name, vars(owner).get(name, _MISSING)))
            setattr(owner, name, lean_fn)
    elif not want:
        while _SAVED:
            owner, name, before = _SAVED.pop()
            if before is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, before)
        originals = {"run": _ORIGINAL_RUN, "sim_process": _ORIGINAL_PROCESS,
                     "__add__": _ORIGINAL_ADD,
                     "__lt__": _ORIGINAL_LT}
        for owner, name, lean_fn in _patches():  # whatever else left the patch in place
            if vars(owner).get(name) is lean_fn:
                setattr(owner, name, originals[name])


def is_active() -> bool:
    """Whether mosaik's scheduler runs the lean loop now."""
    return all(vars(owner).get(name) is lean_fn for owner, name, lean_fn in _patches())


@contextlib.contextmanager
def lean(active: bool = True) -> Iterator[bool]:
    """Run mosaik's scheduler with the lean loop inside the block (``active``), or with
    mosaik's own (``not active``); yields whether the lean loop is active. On leaving the
    block, also by an exception, what was there before is back. Blocks nest, also across
    threads: the most recently opened block still open decides, and mosaik's own functions
    are back once none is open. With a mosaik the lean loop was not written for (see
    :func:`refusal`), it warns once and runs mosaik's own loop: the results are the same."""
    reason = refusal() if active else ""
    if reason:
        if reason not in _WARNED:
            _WARNED.add(reason)
            warnings.warn(f"twin.cosim.scheduling: {reason}; running mosaik's own scheduler "
                          f"loop instead (same results, slower)", RuntimeWarning, stacklevel=3)
        log.info("lean scheduler loop off for this run: %s", reason)
    elif active:
        log.info("lean scheduler loop active for this run (mosaik %s)", mosaik.__version__)
    else:
        log.info("lean scheduler loop off for this run: mosaik's own loop asked for")
    block = [active and not reason]
    with _LOCK:
        _OPEN.append(block)
        _apply()
    try:
        yield block[0]
    finally:
        with _LOCK:
            for i in reversed(range(len(_OPEN))):
                if _OPEN[i] is block:
                    del _OPEN[i]
                    break
            _apply()
