"""Faults of the stand-in plant's telemetry, on a schedule (``twin plant --faults FAULTS.yaml``).

A fault acts on what a tag publishes, as a failing sensor, meter or plant would make it::

    faults:
      - {kind: string_outage, point: pv.p_mw, start: 6h, share: 0.25}
      - {kind: stuck, point: wind.p_mw, start: 9h, duration: 2h}
      - {kind: soc_drift, point: bess.soc, start: 12h, rate_per_h: 0.02}
      - {kind: sign_flip, point: plant.p_mw, start: 15h}
      - {kind: lost, point: ev.p_mw, start: 18h}
      - {kind: capacity_fade, point: bess.soc, start: 20h, share: 0.2}
      - {kind: curtail, point: wind.p_mw, start: 22h, limit_mw: 15}

``start`` and ``duration`` are from the scenario's start; no duration: to the end. A string
outage takes ``share`` of the plant's power away; a stuck meter repeats the reading it had when
the fault began; an SOC drift adds ``rate_per_h`` per hour (the BMS's estimate walking away);
a sign flip negates; a lost tag stops publishing; a capacity fade makes the battery's state
of charge move as a battery with ``share`` of its capacity gone would report it (the changes
since the fault began divided by ``1 - share``, within 0 to 1); a curtailment holds a plant
at ``limit_mw`` (a setpoint tracked within 0.4 %, so that it is not a stuck meter). The file is validated like the mapping
(:func:`twin.live.mapping.load`): the points must be tags of the mapping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from twin.core import textload
from twin.core.fields import param
from twin.core.specload import Collect, SpecError, build
from twin.live.mapping import MappingError, Telemetry, raise_lines
from twin.scenario import ScenarioError, parse_duration, read_yaml

KINDS = ("string_outage", "stuck", "soc_drift", "sign_flip", "lost", "capacity_fade",
         "curtail")


@dataclass(frozen=True)
class Fault:
    """One fault of one tag, over a window of the run."""

    kind: Literal["string_outage", "stuck", "soc_drift", "sign_flip", "lost",
                  "capacity_fade", "curtail"] = param(
        doc="what fails")
    point: str = param(doc="<entity>.<attribute> of a tag of the mapping")
    start: int = param("s", parse=lambda v: 0 if v == 0 else parse_duration(v),
                       expect="0 or a duration like 6h", doc="from the scenario's start")
    duration: int | None = param("s", default=None, parse=parse_duration,
                                 expect="a duration like 2h", doc="how long (none: to the end)")
    share: float = param("1", default=0.25, gt=0, le=1, doc="string_outage: share of the "
                         "plant's power lost; capacity_fade: share of the capacity lost")
    rate_per_h: float = param("1/h", default=0.02, doc="soc_drift: added per hour")
    limit_mw: float = param("MW", default=0.0, ge=0, doc="curtail: the plant's setpoint (MW)")

    def active(self, t: int) -> bool:
        end = math.inf if self.duration is None else self.start + self.duration
        return self.start <= t < end


@dataclass(frozen=True)
class FaultFile:
    """The file as written."""

    faults: tuple[Fault, ...] = ()


def load(path: str | Path, telemetry: Telemetry) -> tuple[Fault, ...]:
    """The faults of the file at ``path``, their points checked against ``telemetry``."""
    path = Path(path)
    text = textload.read_text(path, "faults", MappingError)
    try:
        data, where = read_yaml(text, path)
    except ScenarioError as exc:
        raise MappingError(str(exc)) from None
    errors = Collect()
    try:
        spec = build(FaultFile, data)
        points = [telemetry.point_of(t) for t in telemetry.all_tags]
        for i, f in enumerate(spec.faults):
            if f.point not in points:
                errors.add(SpecError(f"faults[{i}].point", f"no tag of the mapping measures "
                                     f"{f.point!r}; expected one of {', '.join(points)}"))
        errors.done()
    except SpecError as exc:
        raise_lines(exc, where)
    return spec.faults


class Faulty:
    """What the plant publishes under the faults: ``value(point, t, true)``, None if lost."""

    def __init__(self, faults: tuple[Fault, ...]) -> None:
        self.faults = faults
        self._held: dict[int, float] = {}  # stuck, fade: the reading at the fault's start

    def value(self, point: str, t: int, true: float, step_s: float) -> float | None:
        out: float | None = true
        for i, f in enumerate(self.faults):
            if f.point == point and f.kind in ("stuck", "capacity_fade") and t < f.start:
                self._held[i] = true  # the reading it will freeze
            if f.point != point or not f.active(t) or out is None:
                continue
            if f.kind == "string_outage":
                out *= 1.0 - f.share
            elif f.kind == "stuck":
                out = self._held.setdefault(i, out)
            elif f.kind == "soc_drift":
                out += f.rate_per_h * (t - f.start + step_s) / 3600.0
            elif f.kind == "sign_flip":
                out = -out
            elif f.kind == "curtail":
                out = min(out, f.limit_mw * (1.0 + 0.004 * math.sin(t / 977.0)))
            elif f.kind == "capacity_fade":
                ref = self._held.setdefault(i, out)
                out = min(max(ref + (out - ref) / (1.0 - min(f.share, 0.99)), 0.0), 1.0)
            else:  # lost
                out = None
        return out
