"""Replay of a simulator's blocks (:mod:`adapters.block`) from an earlier run in the process.

A planners' study runs many cases that differ only in what some simulators never read: the
number of wind turbines, the PV plants' and the storage's sizes do not reach the weather, the
loads or the AOI lines of a rule-controlled park (and a farm or a plant gives its size times
what one unit of it gives). Such a simulator computes, in every case of
one weather year, the very same blocks. A run given :class:`Replay` (a
:class:`twin.cosim.world.Extension` that only names simulators) starts those simulators in
their replaying versions here, and under :func:`session` with a key that says which runs
share them (the caller's: the case's scenario without the sized assets):

- the first run with that key computes each block as usual and keeps it, with a digest of
  the block's inputs; its blocks are kept only once it reached its last step;
- a later run with the same key (and the same simulator parameters and entities) takes each
  block back where its inputs' digest is the one kept: the same outputs as computing it,
  exactly (the values are the kept floats). Where a digest differs (an input that depends on
  what the cases vary) the run stops with :class:`ReplayMismatch`, and the caller runs the
  case again without replay;
- the PV plants and wind farms are sized: their entities count per unit of their size, and a
  replayed block's power is the kept one times the ratio of the sizes, as the models say it
  scales (``twin.models.pv.SIZE``, ``twin.models.wind.SIZE``): equal to computing it within
  rounding (1e-12 relative).

Blocks are kept for at most :data:`KEPT_KEYS` session keys per process, the least recently
used dropped (a key's blocks of the reference park's simulators over a 15-minute year: ~40
MB).
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import hashlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from mosaik_api_v3.types import InputData, Time

from adapters.block import Block
from adapters.blocks import BlockAOISim, BlockLoadsSim, BlockPVSim, BlockWeatherSim, BlockWindSim
from twin.models import pv, wind

#: session keys whose blocks a process keeps (a study's weather years), the least recently
#: used dropped
KEPT_KEYS = 3

_SESSION: contextvars.ContextVar[str | None] = contextvars.ContextVar("replay", default=None)
_KEPT: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()


class ReplayMismatch(RuntimeError):
    """A replayed block's inputs differ from those of the run that computed it."""


@contextlib.contextmanager
def session(key: str) -> Iterator[None]:
    """Runs in this block share the replaying simulators' blocks of ``key``."""
    token = _SESSION.set(key)
    try:
        yield
    finally:
        _SESSION.reset(token)


def forget() -> None:
    """Drop every kept block."""
    _KEPT.clear()


def stats() -> dict[str, int]:
    """Blocks replayed and computed by the replaying simulators of this process so far, and
    the blocks found with other inputs than kept (each stopped its run)."""
    return dict(_STATS)


_STATS = {"replayed": 0, "computed": 0, "mismatched": 0}


def _plain(value: Any) -> Any:
    """``value``'s plain data (numbers, text, lists, mappings), an object as its type only
    (what the session's key covers: an events book made from the scenario)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _plain(v)) for k, v in value.items()))
    return type(value).__name__


def _digest(inputs: InputData) -> bytes:
    """A digest of a block's inputs (their values exactly: floats by their bytes)."""
    h = hashlib.blake2b(digest_size=16)
    for eid in sorted(inputs):
        for attr in sorted(inputs[eid]):
            for src in sorted(inputs[eid][attr]):
                value = inputs[eid][attr][src]
                h.update(f"{eid}\0{attr}\0{src}\0".encode())
                if type(value) is Block and all(type(x) is float for x in value):
                    h.update(np.asarray(value, dtype=float).tobytes())
                else:
                    h.update(repr(value).encode())
    return h.digest()


def _pack(out: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A block's outputs to keep: a block of floats as an array (exact, 8 bytes a value)."""
    return {eid: {a: np.asarray(v, dtype=float) if type(v) is Block
                  and all(type(x) is float for x in v) else v for a, v in attrs.items()}
            for eid, attrs in out.items()}


def _unpack(kept: dict[str, dict[str, Any]], scale: dict[str, float] | None = None,
            scaled: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """Kept outputs as a block's, the ``scaled`` ones of entity ``eid`` times
    ``scale[eid]``."""
    scale = scale or {}
    return {eid: {a: Block((v * scale[eid] if a in scaled and scale.get(eid, 1.0) != 1.0
                            else v).tolist()) if type(v) is np.ndarray else v
                  for a, v in attrs.items()} for eid, attrs in kept.items()}


class Replaying:
    """Mixin of a replaying block simulator (put before the block class).

    ``SIZE``, for a simulator of sized entities (a model's ``SIZE``): the parameter that sizes
    an entity, the parameters sized with it, and the outputs proportional to it. The key then
    holds each entity's parameters per unit of its size (those sized with it as their ratio
    to it, to 12 digits), and a replayed block's proportional outputs are the kept ones times
    the ratio of the sizes (equal to computing them to rounding: 1e-12 relative)."""

    SIZE: tuple[str, tuple[str, ...], tuple[str, ...]] | None = None

    def init(self, sid: str, time_resolution: float = 1.0, **params: Any) -> Any:
        self._sizes: dict[str, float] = {}
        self._replay_what: list[Any] = [type(self).__name__, time_resolution, _plain(params)]
        self._replay_started = False
        self._replay_key: tuple[Any, ...] | None = None
        self._replay: dict[str, Any] | None = None  # the kept run's blocks, when replaying
        self._record: dict[str, Any] | None = None  # this run's, when computing
        return super().init(sid, time_resolution, **params)  # type: ignore[misc]

    def create(self, num: int, model: str, **params: Any) -> Any:
        created = super().create(num, model, **params)  # type: ignore[misc]
        size = float(params.get(self.SIZE[0], 0.0)) if self.SIZE and num == 1 else 0.0
        if size > 0:  # the entity per unit of its size
            assert self.SIZE is not None
            self._sizes[created[0]["eid"]] = size
            params = {**params, self.SIZE[0]: 1,
                      **{p: round(float(params[p]) / size, 12) for p in self.SIZE[1]}}
        self._replay_what.append((num, model, _plain(params)))
        return created

    def _start_replay(self) -> None:
        self._replay_started = True
        session_key = _SESSION.get()
        if session_key is None or self.block_steps <= 1 or self.block_inputs:  # type: ignore[attr-defined]
            return
        self._replay_key = (session_key, *self._replay_what)
        kept = _KEPT.get(self._replay_key)
        if kept is not None:
            _KEPT.move_to_end(self._replay_key)
            self._replay = kept
        else:
            self._record = {"blocks": {}, "sizes": dict(self._sizes)}

    def step(self, time: Time, inputs: InputData, max_advance: Time) -> Time | None:
        if not self._replay_started:
            self._start_replay()
        if self._replay is not None:
            block = self._replay["blocks"].get(time)
            if block is None or block[0] != _digest(inputs):
                _STATS["mismatched"] += 1
                raise ReplayMismatch(f"{self.sid}: the block at {time} has other inputs than "  # type: ignore[attr-defined]
                                     "in the run it would be replayed from")
            kept = self._replay.get("sizes", {})
            self.block_out = _unpack(block[1], {e: size / kept[e] for e, size
                                                in self._sizes.items()},
                                     self.SIZE[2] if self.SIZE else ())
            timing = self._timing  # type: ignore[attr-defined]
            timing.steps += block[2]
            _STATS["replayed"] += 1
            return time + block[2] * self.step_ticks  # type: ignore[attr-defined]
        digest = _digest(inputs) if self._record is not None else b""
        nxt = super().step(time, inputs, max_advance)  # type: ignore[misc]
        if self._record is not None and nxt is not None:
            n = (nxt - time) // self.step_ticks  # type: ignore[attr-defined]
            self._record["blocks"][time] = (digest, _pack(self.block_out), n)  # type: ignore[attr-defined]
            _STATS["computed"] += 1
            if nxt >= self.n_steps_total * self.step_ticks:  # type: ignore[attr-defined]
                self._keep()
        return nxt

    def _keep(self) -> None:
        """This run reached its last step: keep its blocks for the runs after it."""
        assert self._replay_key is not None
        assert self._record is not None
        _KEPT[self._replay_key] = self._record
        _KEPT.move_to_end(self._replay_key)
        sessions = list(dict.fromkeys(key[0] for key in reversed(_KEPT)))  # newest first
        for key in [k for k in _KEPT if k[0] in sessions[KEPT_KEYS:]]:
            del _KEPT[key]


class ReplayWeatherSim(Replaying, BlockWeatherSim):
    """The weather, its blocks replayed where a run of the same key computed them."""


class ReplayLoadsSim(Replaying, BlockLoadsSim):
    """The loads, their blocks replayed where a run of the same key computed them."""


class ReplayAOISim(Replaying, BlockAOISim):  # type: ignore[misc,valid-type]
    """The AOI lines, their blocks (and their whole-run summary) replayed where a run of the
    same key computed them."""

    def summary(self) -> dict[str, dict[str, Any]]:
        if self._replay is not None:
            if "summary" not in self._replay:
                raise ReplayMismatch(f"{self.sid}: the run replayed from left no summary")
            return copy.deepcopy(self._replay["summary"])
        out = super().summary()
        if self._record is not None and self._replay_key in _KEPT:
            self._record["summary"] = copy.deepcopy(out)
        return out


class ReplayPVSim(Replaying, BlockPVSim):
    """PV plants, their blocks replayed (scaled to the plants' sizes) where a run of the same
    key computed them."""

    SIZE = pv.SIZE


class ReplayWindSim(Replaying, BlockWindSim):
    """Wind farms, their blocks replayed (scaled to the farms' turbines) where a run of the
    same key computed them."""

    SIZE = wind.SIZE


#: the simulators a run may replay, by mosaik name
CLASSES = {"Weather": ReplayWeatherSim, "Loads": ReplayLoadsSim, "AOI": ReplayAOISim,
           "PV": ReplayPVSim, "Wind": ReplayWindSim}


@dataclass(frozen=True)
class Replay:
    """The extension of a run that replays ``sims`` (names of :data:`CLASSES`) under the
    run's :func:`session`: their replaying versions in mosaik's sim config, nothing built."""

    sims: tuple[str, ...]

    def sim_config(self) -> dict[str, dict[str, str]]:
        return {name: {"python": f"{__name__}:{CLASSES[name].__name__}"} for name in self.sims}

    def build(self, *args: Any) -> None:
        """Nothing to wire: the park's own simulators, replaying."""
