"""Block stepping: a park adapter that advances a block of steps per mosaik step.

A planning run whose simulators take no feedback within a step (the rule controller: weather
-> PV, wind, loads -> battery rule -> grid -> recorder, each step depending only on the same
step's upstream values and on the simulator's own state) need not pass through mosaik's
scheduler once per step: each simulator can take a block of ``block_steps`` steps (a day of
15-minute steps) per mosaik step, receiving and giving each attribute as a :class:`Block` of
values, one per step, first step first.

:func:`blocked` makes the block version of an adapter class without changing it: its mosaik
``step`` runs the adapter's own per-step code once per step of the block, each time with that
step's time and that step's values picked from the block inputs, and gathers the outputs
into blocks. A simulator thus computes exactly what it computes in a per-step run (same code,
same order, same state), events in force included (they are looked up by each step's time);
only the hand-over between simulators is batched. A block class may offer a faster route for
a whole block (:mod:`adapters.blocks`): a ``step_block(time, inputs, n)`` method returning
the block outputs ``{eid: {attr: Block}}``, or None where it does not take that block (the
loop runs then).

Simulator parameters added to the adapter's own: ``block_steps`` (steps per block) and
``n_steps`` (steps of the whole run: the last block may be shorter).

A run may also mix the two (:func:`twin.cosim.blocking.producer_steps`): simulators that take
no feedback advance in blocks while the rest step one step at a time with ``block_steps=1``
and ``block_inputs`` set to the producers' block length. Such a simulator is the adapter
itself, except that it takes its step's value out of each block it receives: blocks start
at the run's start and all have that length (the last one shorter), so the step with mosaik
time ``t`` is item ``(t // step) % block_inputs`` of its block (mosaik hands a reader the
producer's latest output, the block holding its step). This holds for connections without a
time shift, the only kind the park's wiring gives the weather, PV and wind.
"""

from __future__ import annotations

import time as _time
from typing import Any

from mosaik_api_v3.types import InputData, OutputData, OutputRequest, Time

from adapters.base import OUTPUTS_ATTR, TwinSimulator


class Block(tuple):
    """One attribute's values over the steps of a block, first step first."""

    __slots__ = ()


def pick(value: Any, k: int) -> Any:
    """The ``k``-th step's value out of an input: a :class:`Block`'s ``k``-th item, a
    dictionary's entries picked alike (a simulator's snapshot), anything else as it is."""
    kind = type(value)
    if kind is Block:
        return value[k]
    if kind is dict:  # a Block's item taken here: a snapshot's leaves without a call each
        return {key: v[k] if type(v) is Block else pick(v, k) if type(v) is dict else v
                for key, v in value.items()}
    return value


def pick_inputs(inputs: InputData, k: int) -> InputData:
    """mosaik's input dictionary of the ``k``-th step of a block."""
    return {eid: {attr: {src: v[k] if type(v) is Block else pick(v, k) if type(v) is dict
                         else v for src, v in sources.items()}
                  for attr, sources in data.items()} for eid, data in inputs.items()}


def holds_block(value: Any) -> bool:
    """Whether an input is a :class:`Block` or a dictionary with one among its leaves."""
    kind = type(value)
    return kind is Block or (kind is dict and any(holds_block(v) for v in value.values()))


def pick_from(inputs: InputData, k: int, blocky: dict[str, bool]) -> InputData:
    """:func:`pick_inputs` for a reader stepping one step at a time: only the sources that
    give blocks are picked (``blocky``: source full id -> whether it does, filled in on a
    source's first value; a simulator gives blocks in every step or in none), the others'
    values passed as they are (a snapshot of a simulator stepping one step at a time is not
    walked)."""
    out = {}
    for eid, data in inputs.items():
        attrs = out[eid] = {}
        for attr, sources in data.items():
            values = attrs[attr] = {}
            for src, v in sources.items():
                b = blocky.get(src)
                if b is None:
                    b = blocky[src] = holds_block(v)
                values[src] = pick(v, k) if b else v
    return out


class BlockStepping:
    """Mixin of a block adapter (put before the adapter class: :func:`blocked`)."""

    block_steps: int = 1
    block_inputs: int = 0
    n_steps_total: int = 0
    block_out: dict[str, dict[str, Block]]
    block_sources: dict[str, bool]  # a reader's sources: whether each gives blocks

    def init(self, sid: str, time_resolution: float = 1.0, block_steps: int = 1,
             n_steps: int = 0, block_inputs: int = 0, **params: Any) -> Any:
        self.block_steps = max(int(block_steps), 1)
        self.block_inputs = int(block_inputs)
        self.n_steps_total = int(n_steps)
        self.block_out = {}
        self.block_sources = {}
        return super().init(sid, time_resolution, **params)  # type: ignore[misc]

    def steps_in_block(self, time: Time) -> int:
        """Steps of the block starting at mosaik time ``time`` (fewer at the end)."""
        k = self.block_steps
        if self.n_steps_total:
            k = min(k, self.n_steps_total - time // self.step_ticks)  # type: ignore[attr-defined]
        return max(k, 1)

    def step(self, time: Time, inputs: InputData, max_advance: Time) -> Time | None:
        tick: int = self.step_ticks  # type: ignore[attr-defined]
        if self.block_inputs:  # one step, reading block producers (the module's docstring)
            k = (time // tick) % self.block_inputs
            return super().step(time, pick_from(inputs, k, self.block_sources),  # type: ignore[misc]
                                max_advance)
        n = self.steps_in_block(time)
        fast = getattr(self, "step_block", None)
        if fast is not None:  # the adapter's own route for a whole block, where it takes it
            t0 = _time.perf_counter()
            out = fast(time, inputs, n)
            if out is not None:
                self.block_out = out
                timing = self._timing  # type: ignore[attr-defined]
                timing.steps += n
                timing.step_s += _time.perf_counter() - t0
                return time + n * tick
        rows = []
        for k in range(n):
            super().step(time + k * tick, pick_inputs(inputs, k), max_advance)  # type: ignore[misc]
            rows.append(dict(self.out))  # type: ignore[attr-defined]
        self.block_out = gather(rows)
        return time + n * tick

    def get_data(self, outputs: OutputRequest) -> OutputData:
        if self.block_inputs:
            return super().get_data(outputs)  # type: ignore[misc]
        out = self.block_out
        bundles = self.bundles  # type: ignore[attr-defined]
        return {eid: {a: out[eid][a] for a in attrs} if eid not in bundles
                else {OUTPUTS_ATTR: out} for eid, attrs in outputs.items()}


def gather(rows: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Block]]:
    """Per-step outputs ``[{eid: {attr: value}}]`` as blocks ``{eid: {attr: Block}}``."""
    first = rows[0]
    return {eid: {attr: Block([row[eid][attr] for row in rows]) for attr in attrs}
            for eid, attrs in first.items()}


def blocked(cls: type[TwinSimulator]) -> type[TwinSimulator]:
    """The block version of the adapter class ``cls`` (see the module's docstring)."""
    return type(f"Block{cls.__name__}", (BlockStepping, cls),
                {"__module__": __name__, "__doc__": f"{cls.__name__}, a block per mosaik step."})
