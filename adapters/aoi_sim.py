"""mosaik adapter of the park's robotic SMT/AOI line (:mod:`twin.models.aoi.line`).

A self-scheduled simulator (mosaik type ``hybrid`` with every output persistent, so the
time-based park reads the latest values at its own steps; mosaik 3's ``event-based`` outputs
would be invisible to it). Each step advances every line over the coming interval of
``line_step_s`` (the park's step in a run; hourly by default) and outputs that interval's
means and counts, so a reader at the same step records each interval once and the recorded
counts and energy sum to the line's totals. A board-by-board line runs its SimPy model
through the whole interval inside the step; a defect burst that starts or ends inside it
acts from its own time on (each board's truth is drawn with the share in force when it is
inspected).

Simulator parameters: ``seed``, ``timezone`` (the working calendar's), ``line_step_s``,
``calibration`` (path of a calibration file; default the shipped one),
``co2_kg_per_kwh`` (emission factor of the line's electricity; default the Northeast grid's),
``frames_dir`` (full mode: where annotated boards and robot frames are written), ``events``
(the book whose defect bursts in force set each line's defective share, and whose grid
outages and demand-response requests hold the lines that ``hold_on`` them).
Entity parameters: the fields of :class:`~twin.models.aoi.line.AOILineSpec`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mosaik_api_v3.types import InputData

from adapters.base import Model, TwinSimulator, as_values, make_meta, seconds_value, spec_params
from twin import data
from twin.models.aoi import line as aoi_line
from twin.models.aoi.line import LINES, AOILineSpec
from twin.models.aoi.sources import FrameWriter, open_camera
from twin.models.catchup import catch_up
from twin.models.disturbances import defect_share
from twin.models.events import EventBook, windows
from twin.models.loads import ParkCalendar
from twin.models.loads.calendar import DAY_TYPES

LINE = Model(spec_params(AOILineSpec), aoi_line.RECORDED)
OUTPUT_NAMES = tuple(q.name for q in aoi_line.OUTPUTS)


class AOISim(TwinSimulator):
    """The park's SMT/AOI lines (self-scheduled; statistical or board by board)."""

    MODELS = {"AOILine": LINE}

    def __init__(self) -> None:
        super().__init__()
        self.meta = make_meta(self.MODELS, ("summary",), kind="hybrid")

    def setup(self, seed: int = 0, timezone: str = "Asia/Shanghai", line_step_s: float = 3600,
              calibration: str | None = None,
              co2_kg_per_kwh: float | None = None, frames_dir: str | None = None,
              duration_s: int = 366 * 86400, events: EventBook | None = None) -> None:
        from twin.models.aoi.calibration import load_calibration

        self.seed = int(seed)
        self.step_s = seconds_value(line_step_s)
        self.calibration = load_calibration(calibration)
        grid = data.load("carbon")["grid_co2_northeast_2023"]
        self.co2_kg_per_kwh = float(grid if co2_kg_per_kwh is None else co2_kg_per_kwh)
        self.frames_dir = Path(frames_dir) if frames_dir else None
        self.events = events
        first = dt.datetime.fromtimestamp(self.start_epoch_s, dt.UTC).year
        last = dt.datetime.fromtimestamp(self.start_epoch_s + duration_s, dt.UTC).year
        self.calendar = ParkCalendar(timezone=timezone, years=range(first, last + 1))
        self._closers: list[Any] = []
        self._producing_mw: dict[str, float] = {}  # each line's last producing step's load
        # each line's last output, the standby it was recorded with, and its recorded values
        self._recorded_last: dict[str, tuple[Any, float | None, dict[str, Any]]] = {}

    def make_entity(self, model: str, eid: str, params: Mapping[str, Any]) -> Any:
        spec = AOILineSpec(**params)
        cal = self.calendar
        common = {"seed": self.seed, "calibration": self.calibration,
                  "co2_kg_per_kwh": self.co2_kg_per_kwh,
                  "day_type": lambda day: DAY_TYPES[cal.day_code(day, "electronics")],
                  "utc_offset_s": cal.utc_offset_s(self.start_epoch_s)}
        if spec.fidelity == "full":
            common.update(self._full_parts(spec, eid))
        # a run started inside a longer period (the trainers' page's jump): a statistical line
        # is made at that period's start and run to this one's (a board-by-board line, too
        # slow for it, starts here)
        anchor = getattr(self.events, "period_start_epoch_s", None)
        skip = (max(self.start_epoch_s - int(anchor), 0) // int(self.step_s)
                if anchor is not None and spec.fidelity == "statistical" else 0)
        line = LINES[spec.fidelity](spec, self.start_epoch_s - skip * int(self.step_s),
                                    **common)
        if anchor is not None and spec.fidelity == "statistical":
            self._catch_up(line, eid, spec, common, skip)
        if spec.fidelity == "full" and self.events is not None:
            line.p_defect_at = self._share_at(eid, spec.p_defect)
        if spec.hold_on and self.events is not None:
            line.clock.holds = self._holds(frozenset(spec.hold_on))
        return line

    def _catch_up(self, line: Any, eid: str, spec: AOILineSpec, common: dict[str, Any],
                  n: int) -> None:
        """``line.skip`` over the ``n`` steps before a jump with the events then in force (its
        defect bursts, the holds of its ``hold_on`` kinds), from the nearest day already
        run to in this process (:func:`twin.models.catchup.catch_up`)."""
        step = int(self.step_s)
        first = self.start_epoch_s - n * step
        book = self.events
        before = [w for w in windows(book.events, dt.datetime.fromtimestamp(first, dt.UTC),
                                     book.timezone, n * step)
                  if w.event.kind == "defect_burst" or w.event.kind in spec.hold_on] if n else []
        bursts = [w for w in before if w.event.kind == "defect_burst"]
        held = [(first + w.start_s, first + w.end_s, w.event.kind == "grid_outage")
                for w in before if w.event.kind in spec.hold_on]

        def share(j: int) -> float:
            t = j * step
            return defect_share(eid, spec.p_defect, [w for w in bursts
                                                     if w.start_s <= t < w.end_s])

        def advance(ln: Any, done: int, k: int) -> None:
            ln.clock.holds = ((lambda t0, t1: [h for h in held if h[0] < t1 and h[1] > t0])
                              if held else None)
            j = done
            while j < done + k:  # runs of steps with one defective share
                m = j + 1
                while bursts and m < done + k and share(m) == share(j):
                    m += 1
                ln.p_defect = share(j)
                ln.skip(m - j if bursts else k, step)
                j = m if bursts else done + k

        plain = {k: v for k, v in common.items() if not callable(v)}
        key = ("aoi", eid, repr(spec), repr(plain), first, step,
               tuple((w.start_s, w.end_s, repr(w.event)) for w in before))
        catch_up(line, key, n, step, advance,
                 lambda: LINES[spec.fidelity](spec, first, **common))
        line.clock.holds, line.p_defect = None, spec.p_defect

    def _holds(self, kinds: frozenset[str]) -> Any:
        """The windows of the events of ``kinds`` overlapping an interval, in epoch seconds,
        each with whether its time stays planned time (an outage: unscheduled downtime)."""
        events, start = self.events, self.start_epoch_s
        seen: list[Any] = [-1, []]  # windows of the book looked at, those of ``kinds``

        def holds(t0: float, t1: float) -> list[tuple[float, float, bool]]:
            if len(events) != seen[0]:  # a trainer may add events while the twin runs
                seen[:] = [len(events), [(start + w.start_s, start + w.end_s,
                                          w.event.kind == "grid_outage")
                                         for w in events if w.event.kind in kinds]]
            return [h for h in seen[1] if h[0] < t1 and h[1] > t0]
        return holds

    def _share_at(self, eid: str, normal: float) -> Any:
        """The defective share of line ``eid`` at an epoch second (the bursts then in force)."""
        events, start = self.events, self.start_epoch_s

        def share(epoch_s: float) -> float:
            return defect_share(eid, normal, events.active(int(epoch_s - start), "defect_burst"))
        return share

    def _full_parts(self, spec: AOILineSpec, eid: str) -> dict[str, Any]:
        """Board source, inspector, robot and frame writer of a board-by-board line."""
        from twin.models.aoi.calibration import ImageInspector, SyntheticBoards, draw_findings

        if spec.camera == "synthetic":
            boards: Any = SyntheticBoards(spec.board, spec.um_per_px, spec.image_px, self.seed)
        else:
            boards = open_camera(spec.camera)
        self._closers.append(boards)
        parts: dict[str, Any] = {"boards": boards,
                                 "inspector": ImageInspector(boards.golden, verifier=spec.verifier)}
        if spec.robot == "pybullet":
            from twin.models.aoi.robot import RejectRobot

            parts["robot"] = RejectRobot()
            self._closers.append(parts["robot"])
        if self.frames_dir is not None:
            parts.update(draw=draw_findings, render_every=24,
                         on_board=FrameWriter(self.frames_dir / eid))
        return parts

    def step_entities(self, time: int, epoch_s: int, inputs: InputData) -> None:
        bursts = self.events.active(time, "defect_burst") if self.events else []
        for eid, line in self.entities.items():
            self.out[eid] = self.step_line(eid, line, epoch_s, bursts)

    def step_line(self, eid: str, line: Any, epoch_s: int, bursts: list[Any]) -> dict[str, Any]:
        """Line ``eid``'s step from ``epoch_s`` with the defect bursts then in force: its
        recorded values."""
        line.p_defect = defect_share(eid, line.spec.p_defect, bursts)
        out = line.step(epoch_s, self.step_s)
        standby = _standby_mw(line)
        last = self._recorded_last.get(eid)
        if last is not None and last[0] is out and last[1] == standby:  # an idle line's again
            values = dict(last[2])
        else:
            values = _recorded(out, standby)
            self._recorded_last[eid] = (out, standby, dict(values))
        if out.boards_out and not out.held_s:  # what the line draws producing
            self._producing_mw[eid] = out.p_mw
        normal = self._producing_mw.get(eid, sum(line.spec.p_idle_kw) / 1000.0)
        values["p_held_mw"] = 0.0 if standby is None else \
            out.held_s / self.step_s * max(normal - standby, 0.0)
        return values

    def summary(self) -> dict[str, dict[str, Any]]:
        """Extra method: each line's whole run so far (``LineOutput`` fields)."""
        return {eid: dataclasses.asdict(line.summary()) for eid, line in self.entities.items()}

    def finalize(self) -> None:
        for thing in self._closers:
            close = getattr(thing, "close", None)
            if close is not None:
                close()


def _standby_mw(line: Any) -> float | None:
    """The line's standby load (MW), or None when neither a demand-response request nor a
    price signal holds it (its load is then not flexible for the park)."""
    spec = line.spec
    flexible = {"demand_response", "price_signal"} & set(spec.hold_on)
    return sum(spec.p_off_kw) / 1000.0 if flexible else None


def _recorded(output: Any, standby_mw: float | None = None) -> dict[str, Any]:
    """A step's outputs as recorded: no NaN, a ``producing`` flag instead; ``p_flex_mw``
    what a demand-response hold would take off (``standby_mw``: the floor, None: no hold)."""
    values = as_values(output, OUTPUT_NAMES)
    producing = values["boards_out"] > 0
    values["producing"] = 1.0 if producing else 0.0
    values["p_flex_mw"] = 0.0 if standby_mw is None else max(values["p_mw"] - standby_mw, 0.0)
    values["p_held_mw"] = 0.0
    for name in aoi_line.PER_BOARD:
        value = values.get(name)
        if value is None or not math.isfinite(value):
            values[name] = 0.0
    return values
