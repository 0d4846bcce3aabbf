"""What every park adapter shares: attribute tables, time keeping, entity bookkeeping, timing.

Each adapter offers its models as :class:`Model` tables of :class:`Attr`, the quantities the
models declare (``INPUTS``, ``OUTPUTS``: :class:`twin.core.quantities.Quantity`, name, unit,
meaning), taken from the model modules, not typed again; the mosaik ``META`` is derived from
them, and so are the units recorded in the HDF5 file. Subclasses implement ``make_entity``
(build a model object from create params) and ``step_entities`` (advance all entities and fill
``self.out``); they hold no physics.

Time: mosaik time is integer ticks from the scenario start. A tick is one second
(``time_resolution=1``, every ``twin run``) or, when the step is not whole seconds (a ``twin
hil`` run at 100 ms), one millisecond (``time_resolution=0.001``, :func:`resolution_for`). The
simulator is told the start (ISO text with UTC offset), the resolution and its step in seconds
in ``init``; :meth:`TwinSimulator.step` converts ticks to seconds, so ``step_entities`` and the
models see seconds (integers at a 1 s resolution, floats at 1 ms) and ``step_s`` in seconds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time as _time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import mosaik_api_v3
import numpy as np
from mosaik_api_v3.types import (
    CreateResult,
    InputData,
    Meta,
    ModelDescription,
    ModelName,
    OutputData,
    OutputRequest,
    SimId,
    Time,
)
from typing_extensions import override

from twin.core.quantities import Quantity

API_VERSION = "3.0"

#: One attribute of a model: its name, unit and meaning. A model's quantity is the attribute
#: itself; attributes of an adapter's own (snapshots, commands) are declared with it too.
Attr = Quantity


@dataclass(frozen=True)
class Model:
    """A model an adapter offers: create parameters, inputs and outputs."""

    params: tuple[str, ...]
    outputs: tuple[Attr, ...]
    inputs: tuple[Attr, ...] = ()
    public: bool = True
    any_inputs: bool = False
    signals: tuple[Attr, ...] = ()  # outputs for other simulators only, not recorded

    @property
    def output_names(self) -> tuple[str, ...]:
        """Names of the outputs, in table order."""
        return tuple(a.name for a in self.outputs)

    @property
    def input_names(self) -> tuple[str, ...]:
        """Names of the inputs, in table order."""
        return tuple(a.name for a in self.inputs)

    def description(self) -> ModelDescription:
        """The mosaik model description of this model."""
        outputs = [a.name for a in self.outputs + self.signals]
        attrs = outputs + [a.name for a in self.inputs if a.name not in set(outputs)]
        return {
            "public": self.public,
            "params": list(self.params),
            "attrs": attrs,
            "any_inputs": self.any_inputs,
        }


def spec_params(spec_cls: type) -> tuple[str, ...]:
    """The create parameters of a model whose entities are built from ``spec_cls``."""
    return tuple(f.name for f in dataclasses.fields(spec_cls) if f.init)


OUTPUTS_MODEL = "Outputs"
OUTPUTS_ATTR = "outputs"
CONTROL_MODEL = "Control"
CONTROL_ATTR = "commands"


class ControlError(ValueError):
    """A ``Control`` command for an entity, or an attribute, that the simulator does not have."""


def make_meta(models: Mapping[str, Model], extra_methods: tuple[str, ...] = (),
              kind: Literal["time-based", "event-based", "hybrid"] = "time-based") -> Meta:
    """The mosaik META of a simulator offering ``models``.

    Every simulator also offers an ``Outputs`` model: its one attribute ``outputs`` is a
    snapshot ``{eid: {attr: value}}`` of all the simulator's entities after each step, so a
    recorder needs one connection per simulator instead of one per entity attribute; and a
    ``Control`` model, the way back: its input ``commands`` ``{eid: {attr: value}}`` reaches
    the named entities as if each value had come through its own connection (a command for an
    entity the simulator lacks, or for an attribute that is not an input of the entity's model,
    raises :class:`ControlError`).
    ``kind="hybrid"``: a self-scheduled simulator (its step returns when it next wants to
    run) whose outputs all persist until its next step (mosaik 3's ``event-based`` outputs
    would not: time-based readers never see them).
    """
    described = {name: m.description() for name, m in models.items()}
    described[OUTPUTS_MODEL] = {"public": True, "params": ["name"], "attrs": [OUTPUTS_ATTR],
                                "any_inputs": False}
    described[CONTROL_MODEL] = {"public": True, "params": ["name"], "attrs": [CONTROL_ATTR],
                                "any_inputs": False}
    if kind == "hybrid":  # every output persists
        for name, d in described.items():
            m = models.get(name)
            d["persistent"] = [a.name for a in m.outputs + m.signals] if m else d["attrs"]
    return {
        "api_version": API_VERSION,
        "type": kind,
        "models": described,
        "extra_methods": ["timing", *extra_methods],
    }


MS = 0.001  # the tick of a run whose step is not whole seconds


def resolution_for(step_s: float) -> float:
    """mosaik's ``time_resolution`` (seconds per tick) of a run stepping every ``step_s``: 1
    for whole seconds (every ``twin run``: unchanged ticks and numbers), else a millisecond
    (``step_s`` must be whole milliseconds)."""
    if float(step_s).is_integer():
        return 1.0
    if abs(step_s * 1000 - round(step_s * 1000)) > 1e-6:
        raise ValueError(f"a step of {step_s:g} s is not a whole number of milliseconds")
    return MS


def ticks_per_s(time_resolution: float) -> int:
    """Ticks in a second at ``time_resolution`` (1 or 1000); another resolution is refused."""
    if time_resolution == 1.0:
        return 1
    if time_resolution == MS:
        return 1000
    raise ValueError(f"park adapters run with time_resolution 1 s or 1 ms, got {time_resolution}")


def seconds_value(step_s: float) -> float:
    """A step in seconds as an int when whole (the 1 s path stays integer), else a float."""
    return int(step_s) if float(step_s).is_integer() else float(step_s)


def parse_start(start: str) -> int:
    """UTC unix seconds of an ISO start time that carries its UTC offset."""
    t = dt.datetime.fromisoformat(start)
    if t.tzinfo is None:
        raise ValueError(f"start {start!r} must carry a UTC offset, e.g. 2027-01-01T00:00+08:00")
    return int(t.timestamp())


@dataclass
class Timing:
    """Wall time an adapter spent in its own step and get_data calls, and in a worker
    thread beside the run (``thread_s``: the recorder's writes)."""

    steps: int = 0
    step_s: float = 0.0
    get_data_s: float = 0.0
    thread_s: float = 0.0
    by_model: dict[str, float] = field(default_factory=dict)


class TwinSimulator(mosaik_api_v3.Simulator):
    """Base class of the park's adapters (time-based, many entities per simulator)."""

    MODELS: Mapping[str, Model] = {}

    def __init__(self) -> None:
        super().__init__(make_meta(self.MODELS))
        self.sid: SimId = ""
        self.start_epoch_s = 0
        self.step_s: float = 900  # seconds: an int when whole
        self.ticks_per_s = 1  # mosaik ticks in a second (1, or 1000 at a 1 ms resolution)
        self.entities: dict[str, Any] = {}
        self.model_of: dict[str, str] = {}
        self.out: dict[str, dict[str, Any]] = {}
        self.bundles: set[str] = set()
        self.controls: set[str] = set()
        self.commands_checked: set[tuple[str, ...]] = set()  # (source, target, attributes)
        self._timing = Timing()

    @override
    def init(
        self,
        sid: SimId,
        time_resolution: float = 1.0,
        start: str = "2027-01-01T00:00:00+08:00",
        step_s: float = 900,
        **sim_params: Any,
    ) -> Meta:
        self.ticks_per_s = ticks_per_s(time_resolution)
        self.sid = sid
        self.start_epoch_s = parse_start(start)
        self.step_s = seconds_value(step_s)
        self.setup(**sim_params)
        return self.meta

    def setup(self, **sim_params: Any) -> None:
        """Take simulator-wide parameters (site, seed, ...). Override when needed."""
        if sim_params:
            raise TypeError(f"{type(self).__name__} takes no parameters {sorted(sim_params)}")

    @override
    def create(self, num: int, model: ModelName, **model_params: Any) -> list[CreateResult]:
        if model in (OUTPUTS_MODEL, CONTROL_MODEL):
            group = self.bundles if model == OUTPUTS_MODEL else self.controls
            eid = str(model_params.get("name") or f"{model}_{len(group)}")
            group.add(eid)
            return [{"eid": eid, "type": model}]
        if model not in self.MODELS:
            raise ValueError(f"{type(self).__name__} has no model {model!r}")
        created: list[CreateResult] = []
        for _ in range(num):
            name = model_params.get("name")
            eid = str(name) if name is not None and num == 1 else f"{model}_{len(self.entities)}"
            if eid in self.entities:
                raise ValueError(f"entity {eid!r} exists already in {self.sid}")
            self.entities[eid] = self.make_entity(model, eid, model_params)
            self.model_of[eid] = model
            self.out[eid] = {}
            created.append({"eid": eid, "type": model})
        return created

    def make_entity(self, model: str, eid: str, params: Mapping[str, Any]) -> Any:
        """Build the model object of one entity."""
        raise NotImplementedError

    @override
    def step(self, time: Time, inputs: InputData, max_advance: Time) -> Time | None:
        t0 = _time.perf_counter()
        if self.controls:
            inputs = self._with_commands(inputs)
        t_s = self.seconds(time)
        self.step_entities(t_s, self.start_epoch_s + t_s, inputs)
        self._timing.steps += 1
        self._timing.step_s += _time.perf_counter() - t0
        return time + self.step_ticks

    def seconds(self, ticks: int) -> float:
        """Seconds from the start of mosaik time ``ticks`` (an int at a 1 s resolution)."""
        return ticks if self.ticks_per_s == 1 else ticks / self.ticks_per_s

    @property
    def step_ticks(self) -> int:
        """The step in mosaik ticks."""
        return round(self.step_s * self.ticks_per_s)

    def index(self, t_s: float) -> int:
        """The step index of time ``t_s`` (s from the start): exact for float seconds too,
        where ``t_s // step_s`` can be one short (0.3 // 0.1 == 2)."""
        return round(t_s / self.step_s) if self.ticks_per_s != 1 else int(t_s // self.step_s)

    def step_entities(self, time: float, epoch_s: float, inputs: InputData) -> None:
        """Advance every entity to ``epoch_s`` and write the outputs into ``self.out``
        (``time``: seconds from the start, ``epoch_s``: UTC unix seconds; ints at a 1 s
        resolution)."""
        raise NotImplementedError

    def _with_commands(self, inputs: InputData) -> InputData:
        """``inputs`` with the commands a ``Control`` entity received spread to their targets.

        Raises :class:`ControlError` for a command naming an entity this simulator lacks, or an
        attribute that is not an input of the entity's model."""
        merged = {eid: data for eid, data in inputs.items() if eid not in self.controls}
        for cid in self.controls:
            for src, commands in inputs.get(cid, {}).get(CONTROL_ATTR, {}).items():
                for target, attrs in (commands or {}).items():
                    self._check_command(src, target, attrs)
                    data = dict(merged.get(target, {}))  # mosaik's dicts stay untouched
                    for attr, value in attrs.items():
                        data[attr] = {**data.get(attr, {}), src: value}
                    merged[target] = data
        return merged

    def _check_command(self, src: str, target: str, attrs: Mapping[str, Any]) -> None:
        """Refuse a command for an unknown entity or a non-input attribute, naming what exists."""
        checked = self.commands_checked
        key = (src, target, *attrs)
        if key in checked:  # each command's kind checked once (entities and models stay)
            return
        where = f"{self.sid or type(self).__name__}: Control command from {src}"
        model_name = self.model_of.get(target)
        if model_name is None:
            known = ", ".join(sorted(self.entities)) or "none"
            raise ControlError(f"{where} names unknown entity {target!r}; "
                               f"the simulator's entities: {known}")
        model = self.MODELS[model_name]
        inputs = model.input_names
        unknown = [] if model.any_inputs else [attr for attr in attrs if attr not in inputs]
        if unknown:
            raise ControlError(f"{where} names unknown attribute(s) "
                               f"{', '.join(map(repr, unknown))} of entity {target!r}; "
                               f"the inputs of its model {model_name}: "
                               f"{', '.join(inputs) or 'none'}")
        checked.add(key)

    @override
    def get_data(self, outputs: OutputRequest) -> OutputData:
        t0 = _time.perf_counter()
        out = self.out
        data = {eid: {a: out[eid][a] for a in attrs} if eid not in self.bundles
                else {OUTPUTS_ATTR: dict(out)}  # a snapshot: entries are replaced, not mutated
                for eid, attrs in outputs.items()}
        self._timing.get_data_s += _time.perf_counter() - t0
        return data

    def timing(self) -> dict[str, float]:
        """Extra method: steps taken and wall seconds spent in step and get_data, and in a
        worker thread beside the run."""
        t = self._timing
        return {"steps": t.steps, "step_s": t.step_s, "get_data_s": t.get_data_s,
                "thread_s": t.thread_s}


def hourly(values: Sequence[float], t_s: float, past: float) -> float:
    """The value of the hour of ``t_s`` (s from the start) in a list of one value per hour,
    ``past`` outside it."""
    hour = int(t_s // 3600)
    return values[hour] if 0 <= hour < len(values) else past


def total(values: Mapping[str, float] | None) -> float:
    """Sum of the values mosaik delivered for one input attribute (0 if none)."""
    return float(sum(values.values())) if values else 0.0


def single(values: Mapping[str, Any] | None, default: Any = None) -> Any:
    """The one value delivered for an input attribute (``default`` if none)."""
    if not values:
        return default
    if len(values) > 1:
        raise ValueError(f"expected one source, got {sorted(values)}")
    return next(iter(values.values()))


def as_values(result: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The named fields of a model's result object, as mosaik output values."""
    return {name: getattr(result, name) for name in names}


def required(inputs: InputData, eid: str, names: tuple[str, ...]) -> dict[str, Any]:
    """The single value of each named input of entity ``eid``; a clear error if unconnected."""
    data = inputs.get(eid, {})
    try:
        sources = [data[name] for name in names]
    except KeyError as exc:
        raise ValueError(f"{eid}: input not connected: {exc.args[0]}") from None
    values = {}
    for name, src in zip(names, sources, strict=True):
        if len(src) != 1:
            raise ValueError(f"{eid}: expected one source of {name}, got {sorted(src)}")
        values[name] = next(iter(src.values()))
    return values


def required_columns(inputs: InputData, eids: list[str],
                     names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """:func:`required` for many entities at once: one array per input, in ``eids`` order."""
    cols = {name: np.empty(len(eids)) for name in names}
    for i, eid in enumerate(eids):
        data = inputs.get(eid, {})
        for name in names:
            src = data.get(name)
            if src is None or len(src) != 1:
                required(inputs, eid, names)  # raises the clear error
            for value in src.values():
                cols[name][i] = value
    return cols
