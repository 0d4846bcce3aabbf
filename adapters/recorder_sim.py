"""mosaik adapter that records every connected attribute into the run's HDF5 file.

It accepts any inputs. ``series`` declares what to record as ``[label, attr, unit, doc]``
(``[label, attr, unit, doc, columns]`` for a vector attribute, one value per column);
``labels`` maps mosaik full ids (``"PV-0.pv-roof"``) to the entity labels used in the file
(default: the entity id); ``entities`` gives each label's attributes (kind, spec as JSON).
Connect single attributes, or a simulator's ``Outputs`` entity (attribute ``outputs``) to
record all its entities at once. The file layout is :mod:`twin.results`'s.

Simulator parameters: ``progress`` is called with the time after each recorded step;
``observer`` (a live view such as ``twin demo``'s page) with the time and that step's values
``{(entity, attr): value}`` (vector series as lists), before the step is buffered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mosaik_api_v3.types import InputData

from adapters.base import OUTPUTS_ATTR, Model, TwinSimulator
from twin.results import RunWriter, SeriesInfo


class RecorderSim(TwinSimulator):
    """Writes the run, step by step, flushing in chunks."""

    MODELS = {"Recorder": Model(("name", "path", "meta", "series", "labels", "entities", "n_steps"), (),
                                any_inputs=True)}

    def setup(self, progress: Callable[[int], None] | None = None,
              observer: Callable[[int, Mapping[tuple[str, str], Any]], None] | None = None
              ) -> None:
        self.progress = progress
        self.observer = observer
        self.writer: RunWriter | None = None
        self.expected_steps = 0
        self.labels: dict[str, str] = {}
        self._plans: dict[tuple[str, str], list[tuple[str, int]]] = {}

    def make_entity(self, model: str, eid: str, params: Mapping[str, Any]) -> Any:
        if self.writer is not None:
            raise ValueError("one Recorder entity per simulator")
        series = {(row[0], row[1]): SeriesInfo(row[2], row[3], tuple(row[4] if len(row) > 4
                                                                    else ()))
                  for row in params["series"]}
        meta = dict(params.get("meta") or {})
        meta.setdefault("step_s", self.step_s)
        self.writer = RunWriter(params["path"], meta, series, params.get("entities"))
        self.labels = dict(params.get("labels") or {})
        self._keys = tuple(self.writer.keys)
        self.expected_steps = int(params.get("n_steps") or 0)
        return None

    def step_entities(self, time: int, epoch_s: int, inputs: InputData) -> None:
        assert self.writer is not None
        values: dict[int, Any] = {}
        for data in inputs.values():
            for attr, sources in data.items():
                if attr == OUTPUTS_ATTR:  # whole simulators: {sid.outputs: {eid: {attr: v}}}
                    for src, snapshot in sources.items():
                        for eid, attrs in snapshot.items():
                            plan = self._plans.get((src, eid))
                            if plan is None:
                                plan = self._plan(src, eid, attrs)
                            for name, col in plan:
                                values[col] = attrs[name]
                else:
                    for src, value in sources.items():
                        col = self._column(src, attr)
                        if col is not None:
                            values[col] = value
        self._observe(time, values)
        self.writer.append(time, values)
        if self.progress is not None:
            self.progress(time)

    def _observe(self, time: int, values: Mapping[int, Any]) -> None:
        if self.observer is not None:
            keys = self._keys
            self.observer(time, {keys[col]: value for col, value in values.items()})

    def _column(self, full_id: str, attr: str) -> int | None:
        assert self.writer is not None
        label = self.labels.get(full_id, full_id.split(".", 1)[-1])
        return self.writer.column((label, attr))

    def _plan(self, src: str, eid: str, attrs: Mapping[str, Any]) -> list[tuple[str, int]]:
        """(attribute, column) of one entity's recorded outputs, worked out once per source."""
        sid = src.split(".", 1)[0]
        cols = [(name, self._column(f"{sid}.{eid}", name)) for name in attrs]
        plan = [(name, col) for name, col in cols if col is not None]
        self._plans[(src, eid)] = plan
        return plan

    def finalize(self) -> None:
        if self.writer is not None:
            done = self.expected_steps == 0 or self.writer.n_steps >= self.expected_steps
            self.writer.close(complete=done)
