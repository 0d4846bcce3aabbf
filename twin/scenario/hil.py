"""The ``hil:`` section of a scenario: which entities are bound to which devices, and how.

::

    hil:
      step: 1s                  # real-time step of the whole park
      duration: 10min           # of a twin hil run (twin run simulates the scenario's period)
      overrun: abort            # abort | warn | skip (default: abort with power hardware)
      bindings:
        - {entity: bess-station, device: "modbus://127.0.0.1:5020?unit=1", kind: battery,
           protocol: sunspec, safety: {ramp_mw_per_s: 1.0, stale_after: 2s}}
      faults:
        - {at: 30s, fault: drop, duration: 3s, entity: bess-station}
      assertions:
        - soc within 0.1..0.9
        - import_mw below 80
        - after comm loss the device reverts to 0 MW within 2 s
      sequence:                 # a scripted test: steps at times, each with its expectations
        - {at: 10s, set: {bess-station: 0.5},       # replaces the controller's command
           expect: [bess-station tracks its setpoint within 5 % after 2 s]}
        - {at: 20s, action: estop, expect: [bess-station.p_device_mw within -0.01..0.01]}
      record: results/hil-battery.trace.jsonl

``twin.scenario`` holds the section as ``Scenario.hil`` and runs :func:`check` with its other
cross-field rules. Nothing here talks to a device.
"""

from __future__ import annotations

import dataclasses
import math
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from twin.core.fields import param
from twin.core.specload import SpecError
from twin.scenario import assertions as asr
from twin.scenario.assertions import Assertion, Reverts, Tracks, parse_assertions

_SECONDS_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|min|m|h)?\s*$")
_SECONDS = {None: 1.0, "ms": 1e-3, "s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0}
KIND_LISTS = {"battery": ("batteries",), "pv": ("pv_plants",), "meter": ("factory_loads",),
              "camera": ("aoi_lines",)}
WINDOW_FAULTS = ("latency", "drop", "corrupt", "stuck", "reboot")
ACTIONS = ("estop", "disarm", "arm")
MAX_TIMER_S = 60.0  # longest watchdog, reversion or re-arm timer: a minute


def parse_seconds(value: Any) -> float:
    """Seconds in ``value``: a number of seconds or text like ``200ms``, ``2s``, ``10min``."""
    if isinstance(value, bool):
        raise ValueError(f"got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _SECONDS_RE.match(str(value))
        if not match:
            raise ValueError(f"got {value!r}")
        seconds = float(match.group(1)) * _SECONDS[match.group(2)]
    if not math.isfinite(seconds):
        raise ValueError(f"got {value!r}, which is not a finite duration")
    if seconds < 0:
        raise ValueError(f"got {value!r}, which is negative")
    return seconds


def _seconds(doc: str, default: Any) -> Any:
    return param("s", doc=doc, default=default, parse=parse_seconds,
                 expect="a duration such as 0.5, 200ms, 2s or 1min")


RTU_OPTIONS = {"unit": None, "baud": None, "parity": ("N", "E", "O"), "stopbits": ("1", "2"),
               "bytesize": ("7", "8")}


def parse_device(value: Any) -> str:
    """Check a device address: ``modbus://HOST:PORT?unit=N`` (Modbus TCP),
    ``rtu:///dev/ttyX?baud=19200&parity=N&stopbits=1&bytesize=8&unit=N`` (Modbus RTU on a
    serial line), ``sim``, or a camera source."""
    text = str(value).strip()
    if text == "sim" or text.startswith(("folder:", "device:", "rtsp://", "http://",
                                         "https://")):
        return text
    url = urllib.parse.urlsplit(text)
    rtu = url.scheme == "rtu"
    if rtu and (url.netloc or not url.path.startswith("/")):
        raise ValueError(f"expected rtu:///dev/ttyX?baud=19200&unit=N (three slashes, an "
                         f"absolute path), got {text!r}")
    if not rtu and (url.scheme != "modbus" or not url.hostname or url.port is None):
        raise ValueError(f"expected modbus://HOST:PORT?unit=N, rtu:///dev/ttyX?baud=19200&"
                         f"unit=N, sim, folder:PATH or device:N, got {text!r}")
    query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
    options = RTU_OPTIONS if rtu else {"unit": None}
    unknown = set(query) - set(options)
    if unknown:
        raise ValueError(f"unknown option {sorted(unknown)[0]!r} in {text!r} (expected "
                         f"{', '.join(options)})")
    unit = query.get("unit", "1")
    if not unit.isdigit() or not 0 <= int(unit) <= 247:
        raise ValueError(f"unit must be 0..247, got {unit!r}")
    baud = query.get("baud", "19200")
    if not baud.isdigit() or not 300 <= int(baud) <= 4_000_000:
        raise ValueError(f"baud must be a whole number 300..4000000, got {baud!r}")
    for name, allowed in options.items():
        if allowed and name in query and query[name].upper() not in allowed:
            raise ValueError(f"{name} must be {' or '.join(allowed)}, got {query[name]!r}")
    return text


@dataclass(frozen=True)
class SafetySpec:
    """Limits the safety layer holds the device to, whatever the controller asks."""

    p_min_mw: float | None = param("MW", le=0, default=None, doc="lowest setpoint sent "
                                   "(default: minus p_max_mw; <= 0: the safe state 0 MW is "
                                   "always inside the window)")
    p_max_mw: float | None = param("MW", gt=0, default=None, doc="highest setpoint sent "
                                   "(default: the entity's power rating)")
    ramp_mw_per_s: float | None = param("MW/s", gt=0, default=None,
                                        doc="largest change of the setpoint per second")
    soc_min: float | None = param("1", ge=0, le=1, default=None,
                                  doc="no discharging below (default: the entity's soc_min)")
    soc_max: float | None = param("1", ge=0, le=1, default=None,
                                  doc="no charging above (default: the entity's soc_max)")
    stale_after: float = _seconds("watchdog: trip when no fresh data (answers, an advancing "
                                  "heartbeat) came for this long", 2.0)
    revert_after: float = _seconds("device-side reversion to 0 MW after this long without a "
                                   "setpoint (written to the device when armed; whole s, "
                                   "longer than the step)", 2.0)
    rearm_after: float | None = _seconds("re-arm the device after this long of healthy comms "
                                         "following a trip (none: the twin keeps the entity)",
                                         None)
    timeout: float = _seconds("timeout of one Modbus request", 0.3)
    follow_band_mw: float | None = param("MW", gt=0, default=None, doc="setpoint tracking: "
                                         "measured power this far from the setpoint is off "
                                         "(default: 5 % of the power limit, at least 0.01 MW)")
    follow_within: float | None = _seconds("setpoint tracking: off for longer than this is a "
                                           "'not_following' event, which fails the run "
                                           "(default: 3 s, at least two steps)", None)


@dataclass(frozen=True)
class Binding:
    """One park entity served by a device instead of its simulated model."""

    entity: str = param(doc="name of the park entity (a battery, PV plant, factory load or "
                        "AOI line)")
    device: str = param(parse=parse_device, doc="modbus://HOST:PORT?unit=N (Modbus TCP), "
                        "rtu:///dev/ttyX?baud=19200&unit=N (Modbus RTU), sim (the "
                        "simulated implementation), folder:PATH or device:N (cameras)",
                        expect="modbus://HOST:PORT?unit=N, rtu:///dev/ttyX?baud=19200&unit=N, "
                        "sim, folder:PATH or device:N")
    kind: Literal["battery", "pv", "meter", "camera"] = param(
        doc="device kind: battery (a battery inverter), pv (a PV inverter, curtailed by an "
        "active power limit), meter (a metered factory load), camera (an AOI line's)")
    protocol: Literal["sunspec", "modbus", "sim", "opencv"] | None = param(
        default=None, doc="battery, pv: sunspec; meter: modbus; camera: opencv (default by "
        "kind)")
    points: Path | None = param(default=None, doc="point list file (default: the built-in "
                                "list of the kind, twin/data/hil_points.yaml)")
    armed: bool = param(default=True, doc="arm the device (enable setpoints) at the start")
    nameplate: Literal["check", "ignore"] = param(
        default="check", doc="check: twin hil refuses a device whose ratings (SunSpec WMaxRtg, "
        "WHRtg) differ from the entity's by more than nameplate_tolerance; ignore: bind it "
        "anyway (a scaled-down bench device)")
    nameplate_tolerance: float = param("1", gt=0, le=1, default=0.1, doc="largest relative "
                                       "difference of a device rating from the entity's")
    mode: Literal["control", "read-only"] = param(
        default="control", doc="read-only: commissioning; the device is read and never "
        "written (no arming, no setpoint, no safe state: not a single register)")
    io_budget: float | None = _seconds("longest wait for this device per step (default: "
                                       "hil.io_budget, else half the step)", None)
    safety: SafetySpec = param(default=SafetySpec(), doc="safety limits and watchdog")

    @property
    def resolved_protocol(self) -> str:
        """The protocol, with the kind's default filled in."""
        if self.device == "sim":
            return "sim"
        return self.protocol or {"battery": "sunspec", "pv": "sunspec", "meter": "modbus",
                                 "camera": "opencv"}[self.kind]

    @property
    def read_only(self) -> bool:
        """Commissioning: the device is never written."""
        return self.mode == "read-only"

    @property
    def is_power_hardware(self) -> bool:
        """A real device that moves power (overruns abort by default)."""
        return self.kind in ("battery", "pv") and self.device != "sim"


@dataclass(frozen=True)
class FaultSpec:
    """A fault injected on the link to a device, or an operator action, at a simulation time."""

    at: float = _seconds("simulation time from the start", dataclasses.MISSING)
    fault: Literal["latency", "drop", "corrupt", "stuck", "reboot", "estop", "disarm",
                   "arm"] = param(doc="latency, drop, corrupt, stuck, reboot (windows of "
                                  "'duration'), or the actions estop, disarm, arm")
    duration: float = _seconds("length of the fault window", 0.0)
    entity: str | None = param(default=None, doc="bound entity (default: every binding)")
    delay: float = _seconds("latency: added to every request", 0.5)


SEQUENCE_ACTIONS = (*ACTIONS, "release")


def parse_setpoints(value: Any) -> tuple[tuple[str, float], ...]:
    """``{ENTITY: MW, ...}`` of a sequence step, as pairs (entities checked by :func:`check`)."""
    if not isinstance(value, dict) or not value:
        raise ValueError(f"expected a mapping of bound entities to MW such as {{bess: 0.5}}, "
                         f"got {value!r}")
    out = []
    for name, mw in value.items():
        if isinstance(mw, bool) or not isinstance(mw, int | float) or not math.isfinite(mw):
            raise SpecError(str(name), f"expected a finite number of MW, got {mw!r}")
        out.append((str(name), float(mw)))
    return tuple(out)


@dataclass(frozen=True)
class SequenceStep:
    """One step of a scripted test sequence: at a time, setpoints and/or an operator action,
    and what must be seen from then until the next step."""

    at: float = _seconds("simulation time of the step, from the start", dataclasses.MISSING)
    set: tuple[tuple[str, float], ...] = param(
        "MW", default=(), parse=parse_setpoints, expect="a mapping of bound entities to MW",
        doc="setpoints that replace the controller's command of bound batteries (of a PV "
        "plant: its curtailment limit), through the safety layer, from this step until a "
        "later step sets them again or releases them")
    action: Literal["estop", "disarm", "arm", "release"] | None = param(
        default=None, doc="an operator action on every binding (estop, disarm, arm), or "
        "release: the controller's commands again")
    expect: tuple[Assertion, ...] = param(
        default=(), parse=parse_assertions, doc="assertions judged from this step to the next "
        "(the end of the run for the last)", expect="a list of assertions such as 'bess "
        "tracks its setpoint within 5 % after 2 s'")

    @property
    def label(self) -> str:
        """How a report names the step."""
        what = [f"set {', '.join(f'{e} {mw:g} MW' for e, mw in self.set)}"] if self.set else []
        what += [self.action] if self.action else []
        return f"at {self.at:g} s" + (f" ({'; '.join(what)})" if what else "")


@dataclass(frozen=True)
class HILSection:
    """Hardware in the loop: bindings, real-time step, overrun policy, faults, assertions."""

    bindings: tuple[Binding, ...] = param(doc="entities served by devices")
    step: float = _seconds("real-time step of the park: whole seconds up to 60 s, or 100, "
                           "125, 200, 250 or 500 ms (a step that divides a second)", 1.0)
    duration: float = _seconds("length of a twin hil run (twin hil --duration overrides)",
                               600.0)
    overrun: Literal["abort", "warn", "skip"] | None = param(
        default=None, doc="a step later than max_lateness: abort the run, warn, or skip that "
        "step's device I/O (default: abort when power hardware is bound, else warn)")
    max_lateness: float | None = _seconds("lateness counted as an overrun (default: the step)",
                                          None)
    io_budget: float | None = _seconds("longest wait for a device per step (default: half "
                                       "the step; a binding's io_budget overrides it)", None)
    faults: tuple[FaultSpec, ...] = param(default=(), doc="faults and actions on a schedule")
    sequence: tuple[SequenceStep, ...] = param(
        default=(), doc="a scripted test: steps at times (setpoints, actions), each with the "
        "expectations judged until the next step")
    assertions: tuple[Assertion, ...] = param(
        default=(), parse=parse_assertions, doc="what the run must show (hil/assertions.py)",
        expect="a list of assertions such as 'soc within 0.1..0.9'")
    record: Path | None = param(default=None, doc="trace of the device traffic (default: "
                                "beside the results, <name>.trace.jsonl)")
    replay: Path | None = param(default=None, doc="replay this trace instead of the devices")
    realtime: bool = param(default=False, doc="ask the OS for real-time scheduling "
                           "(SCHED_FIFO) during the run: precise wake-ups on a busy machine; "
                           "needs the right to it (root or rtprio), else a warning")
    active: bool = param(default=False, doc="set by twin hil, never in a file: only then are "
                         "the bindings wired (twin run simulates every entity)")

    @property
    def overrun_policy(self) -> str:
        """The overrun policy, with the default filled in."""
        if self.overrun is not None:
            return self.overrun
        return "abort" if any(b.is_power_hardware for b in self.bindings) else "warn"

    @property
    def max_lateness_s(self) -> float:
        """Lateness that counts as an overrun."""
        return self.max_lateness if self.max_lateness is not None else self.step

    @property
    def io_budget_s(self) -> float:
        """Longest wait for one device in one step."""
        return self.io_budget if self.io_budget is not None else 0.5 * self.step

    def budget_for(self, b: Binding) -> float:
        """Longest wait for the device of binding ``b`` in one step."""
        return b.io_budget if b.io_budget is not None else self.io_budget_s


def check(s: Any) -> None:
    """Cross-field rules of the ``hil:`` section (``s``: a :class:`twin.scenario.Scenario`)."""
    h: HILSection | None = getattr(s, "hil", None)
    if h is None:
        return
    if h.active and s.path.name != "<memory>":
        raise SpecError("hil.active", "is set by twin hil; remove it from the file")
    _check_step(s, h)
    if h.duration < h.step or h.duration != int(h.duration):
        raise SpecError("hil.duration", f"expected whole seconds >= the step, got {h.duration:g}")
    _check_timing(h)
    if h.record is not None and h.replay is not None:
        raise SpecError("hil.replay", "expected either record or replay, not both")
    bound: dict[str, str] = {}
    for i, b in enumerate(h.bindings):
        where = f"hil.bindings[{i}]"
        lists = KIND_LISTS[b.kind]
        names = {spec.name for key in lists for spec in getattr(s, key)}
        if b.entity not in names:
            raise SpecError(f"{where}.entity", f"expected a {' or '.join(lists)} entity for a "
                            f"{b.kind}, got {b.entity!r}")
        if b.entity in bound:
            raise SpecError(f"{where}.entity", f"{b.entity!r} is already bound by {bound[b.entity]}")
        bound[b.entity] = where
        _check_binding(b, where)
        _check_safety(b.safety, where, h.step)
    _check_faults(h, bound)
    _check_sequence(s, h)
    _check_assertions(s, h)


MIN_STEP_S, MAX_STEP_S = 0.1, 60.0


def _check_step(s: Any, h: HILSection) -> None:
    """``hil.step``: 100 ms to 60 s. Whole seconds, or below a second a whole number of
    milliseconds that divides a second (100, 125, 200, 250, 500 ms), so that every whole
    second - a run's duration, a fault's time, an assertion's window, a reversion timer - is
    a step boundary (the run then counts mosaik time in milliseconds)."""
    step = h.step
    ms = round(step * 1000)
    if not MIN_STEP_S <= step <= MAX_STEP_S:
        raise SpecError("hil.step", f"expected 100 ms to 60 s, got {step:g} s")
    if step >= 1 and step != int(step):
        raise SpecError("hil.step", f"expected whole seconds from 1 s (or a step that divides "
                        f"a second: 100, 125, 200, 250, 500 ms), got {step:g} s")
    if step < 1 and (abs(step * 1000 - ms) > 1e-6 or 1000 % ms):
        raise SpecError("hil.step", f"expected a step that divides a second (100, 125, 200, "
                        f"250 or 500 ms), got {step * 1000:g} ms")
    if step < 1 and s.controller.kind == "ems":
        raise SpecError("hil.step", f"the EMS plans in steps of the park: {step * 1000:g} ms "
                        "steps would make a plan of millions of steps; use 1 s or more with "
                        "controller: ems")


def _check_assertions(s: Any, h: HILSection, items: tuple[Assertion, ...] | None = None,
                      where: str = "hil.assertions") -> None:
    names = {name for _, name in s.entity_names()} | {"pcc", "grid", "pacer"}
    batteries = [b.entity for b in h.bindings if b.kind == "battery"]
    for i, a in enumerate(h.assertions if items is None else items):
        entity = getattr(a, "entity", None)
        if entity is not None and entity not in names:
            raise SpecError(f"{where}[{i}]", f"no entity {entity!r} in the scenario")
        if isinstance(a, Tracks | Reverts) and (not batteries or entity not in (None,
                                                                              *batteries)):
            raise SpecError(f"{where}[{i}]", f"judges a bound battery "
                            f"({', '.join(batteries) or 'none is bound'}), got {entity!r}")


def _check_sequence(s: Any, h: HILSection) -> None:
    """Steps in time order within the run, setpoints for bound batteries and PV plants,
    expectations that can be judged in a step's window."""
    settable = {b.entity: b.kind for b in h.bindings if b.kind in ("battery", "pv")}
    last = -math.inf
    for i, st in enumerate(h.sequence):
        where = f"hil.sequence[{i}]"
        if st.at <= last:
            raise SpecError(f"{where}.at", f"expected a time after the previous step's "
                            f"({last:g} s): steps run in order, got {st.at:g} s")
        if st.at >= h.duration:
            raise SpecError(f"{where}.at", f"expected a time within the run (hil.duration "
                            f"{h.duration:g} s), got {st.at:g} s")
        last = st.at
        if not (st.set or st.action or st.expect):
            raise SpecError(where, "expected set, action or expect (a step that does nothing)")
        if st.set and st.action == "release":
            raise SpecError(f"{where}.action", "release ends the setpoints; set them in a "
                            "later step")
        for name, _ in st.set:
            if name not in settable:
                raise SpecError(f"{where}.set.{name}", f"expected a bound battery or PV plant "
                                f"({', '.join(settable) or 'none is bound'}), got {name!r}")
        for j, a in enumerate(st.expect):
            if isinstance(a, Reverts | asr.Lateness):
                raise SpecError(f"{where}.expect[{j}]", "judges the whole run; put it in "
                                "hil.assertions (an expectation is judged in its step's window)")
            if not getattr(a, "window", asr.WHOLE).whole:
                raise SpecError(f"{where}.expect[{j}]", "an expectation is judged from its "
                                "step to the next: leave out between/from/until")
        _check_assertions(s, h, st.expect, f"{where}.expect")


def sequence_expectations(h: HILSection, end_s: float) -> list[Assertion]:
    """Each expectation of the sequence as an assertion judged in its step's window
    ``[at, next step's at)`` (the last: until ``end_s``), its text naming the step."""
    out: list[Assertion] = []
    for i, st in enumerate(h.sequence):
        until = h.sequence[i + 1].at if i + 1 < len(h.sequence) else max(end_s, st.at + 1e-9)
        for a in st.expect:
            out.append(dataclasses.replace(  # type: ignore[arg-type]
                a, text=f"sequence[{i}] {st.label}: {a.text}", window=asr.Window(st.at, until)))
    return out


def sequence_setpoint(h: HILSection, entity: str, t_s: float, step_s: float) -> float | None:
    """The sequence's setpoint for ``entity`` in the step ``[t_s, t_s + step_s)`` (None: the
    controller's command): the last one set in or before the step, unless released since."""
    value = None
    for st in h.sequence:
        if st.at >= t_s + step_s - 1e-9:
            break
        if st.action == "release":
            value = None
        value = dict(st.set).get(entity, value)
    return value


def sequence_actions(h: HILSection, t_s: float, step_s: float) -> list[tuple[int, str]]:
    """The sequence's operator actions (and releases) due in ``[t_s, t_s + step_s)``, with
    the index of their step."""
    return [(i, st.action) for i, st in enumerate(h.sequence)
            if st.action and t_s - 1e-9 <= st.at < t_s + step_s - 1e-9]


def _check_timing(h: HILSection) -> None:
    fields = [(f"hil.{name}", getattr(h, name)) for name in ("max_lateness", "io_budget")]
    fields += [(f"hil.bindings[{i}].io_budget", b.io_budget) for i, b in enumerate(h.bindings)]
    for where, value in fields:
        if value is not None and not 0 < value <= h.step:
            raise SpecError(where, f"expected more than 0 s and at most the step "
                            f"({h.step:g} s), got {value:g} s")


def _check_faults(h: HILSection, bound: dict[str, str]) -> None:
    for i, f in enumerate(h.faults):
        where = f"hil.faults[{i}]"
        if f.entity is not None and f.entity not in bound:
            raise SpecError(f"{where}.entity", f"expected a bound entity "
                            f"({', '.join(bound) or 'none'}), got {f.entity!r}")
        if f.fault in WINDOW_FAULTS and f.duration <= 0:
            raise SpecError(f"{where}.duration", f"a {f.fault} fault needs a duration > 0")


def _check_binding(b: Binding, where: str) -> None:
    protocol = b.resolved_protocol
    allowed = {"battery": ("sunspec", "sim"), "pv": ("sunspec",),
               "meter": ("modbus", "sunspec", "sim"), "camera": ("opencv",)}[b.kind]
    if protocol not in allowed:
        raise SpecError(f"{where}.protocol", f"a {b.kind} speaks {' or '.join(allowed)}, "
                        f"got {protocol!r}")
    is_camera = b.device.startswith(("folder:", "device:", "rtsp://", "http"))
    if (b.kind == "camera") != is_camera:
        raise SpecError(f"{where}.device", "a camera takes folder:PATH, device:N or a stream "
                        "URL; other kinds take modbus://HOST:PORT?unit=N or sim")
    if b.kind == "camera" and b.device.startswith("folder:") and not Path(
            b.device[len("folder:"):]).is_dir():
        raise SpecError(f"{where}.device", f"no such folder: {b.device[len('folder:'):]}")


def _check_safety(sp: SafetySpec, where: str, step_s: float) -> None:
    """Every safety field finite, of the right sign, ordered, and its timers within
    ``[step, MAX_TIMER_S]``: a value that would switch a guard off is an error, never a
    silent no-op (a NaN limit disables a comparison; -1 MW inverts the window)."""
    where = f"{where}.safety"
    for name in ("p_min_mw", "p_max_mw", "ramp_mw_per_s", "soc_min", "soc_max",
                 "follow_band_mw"):
        value = getattr(sp, name)
        if value is not None and not math.isfinite(value):
            raise SpecError(f"{where}.{name}", f"expected a finite number, got {value!r}")
    if sp.p_min_mw is not None and sp.p_max_mw is not None and sp.p_min_mw >= sp.p_max_mw:
        raise SpecError(f"{where}.p_min_mw", f"expected p_min_mw < p_max_mw, got "
                        f"{sp.p_min_mw:g} >= {sp.p_max_mw:g}")
    if sp.soc_min is not None and sp.soc_max is not None and sp.soc_min >= sp.soc_max:
        raise SpecError(f"{where}.soc_min", f"expected soc_min < soc_max, got "
                        f"{sp.soc_min:g} >= {sp.soc_max:g}")
    timers = {"stale_after": (sp.stale_after, step_s, "the watchdog needs at least one "
                              "step to see an answer"),
              "rearm_after": (sp.rearm_after, step_s, "healthy comms are judged once a step"),
              "follow_within": (sp.follow_within, step_s, "a device is judged once a step")}
    for name, (value, low, why) in timers.items():
        if value is None:
            continue
        if not low <= value <= MAX_TIMER_S:
            raise SpecError(f"{where}.{name}", f"expected {low:g} s (one step: {why}) to "
                            f"{MAX_TIMER_S:g} s, got {value:g} s")
    r = sp.revert_after
    if not step_s < r <= MAX_TIMER_S or r != int(r):
        raise SpecError(f"{where}.revert_after", f"expected whole seconds longer than the "
                        f"step ({step_s:g} s) and at most {MAX_TIMER_S:g} s, got {r:g} s (the "
                        "device reverts to 0 MW when no setpoint came for this long: at one "
                        "step it reverts between two setpoints in normal operation)")
    if not 0 < sp.timeout <= MAX_TIMER_S:
        raise SpecError(f"{where}.timeout", f"expected more than 0 s and at most "
                        f"{MAX_TIMER_S:g} s, got {sp.timeout:g} s")
