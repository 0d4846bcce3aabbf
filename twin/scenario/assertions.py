"""A small typed language for what a HIL run must show; parsed once, strictly, never evaluated
as code. A text that is not one of the forms below (a misspelt check, an unknown event, a unit
the series does not have) is a scenario error at ``twin check``, never a silent pass.

Forms (case does not matter; ``REF`` is ``attr`` or ``entity.attr``; ``attr`` also matches
``p_attr``, so ``import_mw`` is the PCC's ``p_import_mw``; a bare attribute applies to every
entity that records it; ``D`` is a duration such as ``2 s``, ``500 ms`` or ``1 min``)::

    REF within LO..HI [%]                     every value in [LO, HI] (% divides by 100)
    REF below X | REF above X [MW|MWh|%]      every value < X | > X
    REF at most X | REF at least X            every value <= X | >= X
    ENTITY tracks its setpoint within X (%|MW) after D
                                              the device follows its setpoint: at every step
                                              where the setpoint sent (p_sent_mw) has held for
                                              at least D, the power the device measured and
                                              reported (p_device_mw, read back) is within X %
                                              of the setpoint (never tighter than 1 kW) or
                                              within X MW of it
    after (comm loss|estop|disarm) [ENTITY|the device] reverts to X MW within D
                                              after each such episode the device's own
                                              measured power, read back from it, is seen at X
                                              (within 1 % of its rating) no later than D after
                                              the onset (the last good answer, or the action);
                                              a device not seen there in time fails - its
                                              configured reversion timer is no evidence
    lateness (mean|p50|p99|max) below D       the pacer's lateness, every step including one
                                              that aborted the run
    end offset below D                        lateness of the last step (drift)
    [ENTITY] [reports|has] no alarm[s]        every alarm word the device reported
                                              (``alarms``, read back) is 0, and it reported
                                              one at least once
    no EVENT                                  no event of that kind or name (EVENT_NAMES:
                                              estop, takeover, overrun, corrupt, refused, ...)

A time window may precede a ``within``/``below``/``above``/``at most``/``at least``, a
``tracks`` or a ``no alarm`` assertion; times are simulation seconds from the start, the window is half-open
``[A, B)``, and a window holding no recorded step fails (the run did not show it)::

    between A and B ...                       e.g. between 20s and 30s bess.p_mw within -0.8..0.8
    from A ...  |  until B ...

Each assertion gives a :class:`Verdict`: ``pass``, ``fail`` or ``n/a`` (not exercised, e.g. no
comm loss happened), with the evidence in one line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

_NUM = r"(-?\d+(?:\.\d+)?(?:e-?\d+)?)"
_REF = r"([A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_]+)?)"
_TIME = rf"{_NUM}\s*(ms|s|sec|min|h)?"
_UNITS = {None: 1.0, "ms": 1e-3, "s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0}

# every event kind and name a HIL run records (hil.channel, hil.pacer, hil.proxy_sim): the
# names a ``no EVENT`` assertion may use; a new event must be added here
EVENT_NAMES = frozenset({
    # kinds
    "action", "interlock", "comm", "watchdog", "takeover", "rearm", "device", "replay",
    "overrun", "scheduling", "end", "tracking", "sequence",
    # names: operator actions, interlocks, comm statuses, watchdog, takeover, overrun policy
    "estop", "disarm", "arm", "armed", "disarmed", "clamp", "ramp", "soc_guard", "invalid",
    "restored", "timeout", "refused", "exception", "corrupt", "dropped", "rebooting", "late",
    "busy", "skipped", "refused_write", "error", "missing", "trip", "twin", "discovered",
    "diverged", "shutdown", "abort", "warn", "skip", "expired", "reverted", "not_following",
    "following", "set", "release",
})
TRIGGERS = ("comm loss", "estop", "disarm")


class Evidence(Protocol):
    """What a run gives the assertions to judge (built by :mod:`hil.run`)."""

    def matching(self, entity: str | None, attr: str) -> list[tuple[str, str]]: ...

    def series(self, entity: str, attr: str) -> np.ndarray: ...

    @property
    def time_s(self) -> np.ndarray: ...

    @property
    def lateness_s(self) -> np.ndarray: ...

    @property
    def events(self) -> list[dict[str, Any]]: ...

    def episodes(self, entity: str | None, trigger: str = "comm loss") -> list[dict[str, Any]]:
        ...


@dataclass(frozen=True)
class Verdict:
    """The outcome of one assertion."""

    text: str
    status: str  # pass, fail, n/a
    detail: str

    @property
    def passed(self) -> bool:
        """True unless the assertion failed (n/a counts as passed)."""
        return self.status != "fail"


def _seconds(value: str, unit: str | None) -> float:
    return float(value) * _UNITS[unit.lower() if unit else None]


def _split(ref: str) -> tuple[str | None, str]:
    entity, _, attr = ref.rpartition(".")
    return (entity or None), attr


@dataclass(frozen=True)
class Window:
    """Simulation times ``[start_s, end_s)`` an assertion looks at."""

    start_s: float = -math.inf
    end_s: float = math.inf

    def mask(self, t: np.ndarray) -> np.ndarray:
        return (t >= self.start_s) & (t < self.end_s)

    @property
    def whole(self) -> bool:
        return self.start_s == -math.inf and self.end_s == math.inf

    def text(self) -> str:
        if self.end_s == math.inf:
            return f"from {self.start_s:g} s"
        if self.start_s == -math.inf:
            return f"until {self.end_s:g} s"
        return f"between {self.start_s:g} s and {self.end_s:g} s"


WHOLE = Window()


def _windowed(ev: Evidence, window: Window, v: np.ndarray) -> np.ndarray:
    """The values of a series inside ``window`` (the series' rows are the recorded steps)."""
    if window.whole:
        return v
    t = np.asarray(ev.time_s, dtype=float)[: len(v)]
    return v[: len(t)][window.mask(t)]


@dataclass(frozen=True)
class Bounds:
    """``REF within LO..HI``, ``REF below X``, ... over every recorded step (of a window)."""

    text: str
    entity: str | None
    attr: str
    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False
    window: Window = WHOLE

    def evaluate(self, ev: Evidence) -> Verdict:
        keys = ev.matching(self.entity, self.attr)
        if not keys:
            return Verdict(self.text, "fail", f"no recorded series matches {self.attr!r}")
        worst = []
        for entity, attr in keys:
            v = _windowed(ev, self.window, np.asarray(ev.series(entity, attr), dtype=float))
            v = v[np.isfinite(v)]
            if not len(v):
                continue
            bad = ((v < self.lo) | (v > self.hi) | (self.lo_open & (v == self.lo))
                   | (self.hi_open & (v == self.hi)))
            lo, hi = float(v.min()), float(v.max())
            worst.append(f"{entity}.{attr} {lo:.4g}..{hi:.4g}"
                         + (f" ({int(bad.sum())} steps outside)" if bad.any() else ""))
            if bad.any():
                return Verdict(self.text, "fail", "; ".join(worst))
        if not worst:
            where = "" if self.window.whole else f" {self.window.text()}"
            return Verdict(self.text, "fail", f"no values{where}: the run did not show it")
        return Verdict(self.text, "pass", "; ".join(worst)
                       + ("" if self.window.whole else f" ({self.window.text()})"))


@dataclass(frozen=True)
class Tracks:
    """The device's measured power follows its setpoint once the setpoint has held ``after_s``."""

    text: str
    entity: str
    tol: float
    percent: bool
    after_s: float
    window: Window = WHOLE

    def evaluate(self, ev: Evidence) -> Verdict:
        if not ev.matching(self.entity, "p_sent_mw") or not ev.matching(self.entity,
                                                                         "p_device_mw"):
            return Verdict(self.text, "fail", f"{self.entity} records no setpoint and device "
                           "reading (p_sent_mw, p_device_mw): is it a bound battery?")
        sent = np.asarray(ev.series(self.entity, "p_sent_mw"), dtype=float)
        meas = np.asarray(ev.series(self.entity, "p_device_mw"), dtype=float)
        n = min(len(sent), len(meas), len(ev.time_s))
        t = np.asarray(ev.time_s, dtype=float)[:n]
        sent, meas = sent[:n], meas[:n]
        held = _held_since(t, sent)
        judged = np.isfinite(sent) & (t - held >= self.after_s - 1e-9) & self.window.mask(t)
        if not judged.any():
            return Verdict(self.text, "fail", f"no step where the setpoint had held for "
                           f"{self.after_s:g} s{self._where()}: tracking was not shown")
        seen = judged & np.isfinite(meas)
        if not seen.any():
            return Verdict(self.text, "fail", f"{int(judged.sum())} steps to judge, the device "
                           "reported its power in none")
        band = (np.maximum(self.tol * np.abs(sent), 1e-3) if self.percent
                else np.full_like(sent, self.tol))
        err = np.abs(meas - sent)
        bad = seen & (err > band + 1e-9)
        unseen = int(judged.sum() - seen.sum())
        note = f"; {unseen} without a reading" if unseen else ""
        if bad.any():
            i = int(np.argmax(bad))
            return Verdict(self.text, "fail", f"{int(bad.sum())} of {int(seen.sum())} steps "
                           f"off, first at {t[i]:g} s: setpoint {sent[i]:.3f} MW held since "
                           f"{held[i]:g} s, device at {meas[i]:.3f} MW{note}")
        worst = float(np.max(err[seen]))
        return Verdict(self.text, "pass", f"{int(seen.sum())} steps judged, largest deviation "
                       f"{worst:.4f} MW{note}{self._where()}")

    def _where(self) -> str:
        return "" if self.window.whole else f" {self.window.text()}"


def _held_since(t: np.ndarray, sent: np.ndarray) -> np.ndarray:
    """For each step, the time since which the setpoint has had its present value (a missing
    setpoint, NaN, counts as a change)."""
    held = np.empty_like(t)
    since = t[0] if len(t) else 0.0
    for i in range(len(t)):
        if i == 0 or not (math.isfinite(sent[i]) and math.isfinite(sent[i - 1])
                          and abs(sent[i] - sent[i - 1]) <= 1e-9):
            since = t[i]
        held[i] = since
    return held


@dataclass(frozen=True)
class Reverts:
    """After each episode (comm loss, estop, disarm) the device's power, read back from it,
    is seen at ``p_mw`` within ``within_s`` of the onset."""

    text: str
    entity: str | None
    p_mw: float
    within_s: float
    trigger: str = "comm loss"

    def evaluate(self, ev: Evidence) -> Verdict:
        episodes = ev.episodes(self.entity, self.trigger)
        if not episodes:
            return Verdict(self.text, "n/a", f"not exercised: no {self.trigger} in the run")
        details = []
        for e in episodes:
            ok, why = _judge_episode(e, self.p_mw, self.within_s)
            details.append(f"{e['entity']} at {e['onset_t_s']:g} s: {why}")
            if not ok:
                return Verdict(self.text, "fail", "; ".join(details))
        return Verdict(self.text, "pass", "; ".join(details))


def _judge_episode(e: dict[str, Any], p_mw: float, within_s: float) -> tuple[bool, str]:
    """Whether the device's own readings after the onset show it at ``p_mw`` in time.

    ``e["readings"]``: ``(wall s after the onset, measured p_mw[, how])`` of the fresh answers
    after the onset, ``how`` saying what the twin had sent the device by then."""
    tol = e["tol_mw"]
    readings = e["readings"]
    for r in readings:
        wall, p = r[0], r[1]
        if wall > within_s:
            break
        if abs(p - p_mw) <= tol:
            how = f" ({r[2]})" if len(r) > 2 and r[2] else ""
            return True, f"read back at {p:.3f} MW {wall:.2f} s after the onset{how}"
    if not readings:
        return False, "not observed: the device never answered after the onset"
    early = [r for r in readings if r[0] <= within_s]
    if early:
        wall, p = early[-1][0], early[-1][1]
        return False, (f"still at {p:.3f} MW {wall:.2f} s after the onset (read back), not "
                       f"{p_mw:g} MW")
    wall, p = readings[0][0], readings[0][1]
    if e.get("revert_s") is not None:
        conf = f"; its reversion timer set to {e['revert_s']:g} s is configuration, not evidence"
    else:
        conf = ""
    return False, (f"not observed within {within_s:g} s: the first answer came {wall:.2f} s "
                   f"after the onset, at {p:.3f} MW{conf}")


@dataclass(frozen=True)
class Lateness:
    """A statistic of the pacer's lateness below a limit."""

    text: str
    stat: str
    limit_s: float

    def evaluate(self, ev: Evidence) -> Verdict:
        late = np.asarray(ev.lateness_s, dtype=float)
        late = late[np.isfinite(late)]
        if not len(late):
            return Verdict(self.text, "fail", "no pacing recorded")
        value = {"mean": float(np.mean(late)), "p50": float(np.percentile(late, 50)),
                 "p99": float(np.percentile(late, 99)), "max": float(np.max(late)),
                 "end": float(late[-1])}[self.stat]
        status = "pass" if value < self.limit_s else "fail"
        name = "end offset" if self.stat == "end" else f"lateness {self.stat}"
        return Verdict(self.text, status, f"{name} {value * 1e3:.2f} ms over {len(late)} steps"
                       f" (largest {float(np.max(late)) * 1e3:.2f} ms)")


@dataclass(frozen=True)
class NoEvent:
    """No event of a given kind or name happened."""

    text: str
    name: str
    window: Window = WHOLE  # of a sequence step's expectation (twin.scenario.hil)

    def evaluate(self, ev: Evidence) -> Verdict:
        hits = [e for e in ev.events if self.name in (e.get("name"), e.get("kind"))
                and (self.window.whole or self.window.start_s <= float(e.get("t_s", 0.0))
                     < self.window.end_s)]
        if hits:
            first = hits[0]
            return Verdict(self.text, "fail", f"{len(hits)} x {self.name}, first at "
                           f"{first.get('t_s', 0):g} s ({first.get('entity', '')}: "
                           f"{first.get('detail', '')})")
        return Verdict(self.text, "pass", f"no {self.name}"
                       + ("" if self.window.whole else f" {self.window.text()}"))


@dataclass(frozen=True)
class NoAlarm:
    """The device's alarm word (``alarms``, read back from it) stayed 0."""

    text: str
    entity: str | None
    window: Window = WHOLE

    def evaluate(self, ev: Evidence) -> Verdict:
        keys = [k for k in ev.matching(self.entity, "alarms") if k[1] == "alarms"]
        seen = 0
        for entity, attr in keys:
            t = np.asarray(ev.time_s, dtype=float)
            v = np.asarray(ev.series(entity, attr), dtype=float)
            t = t[: len(v)]
            v = v[: len(t)]
            inside = self.window.mask(t) & np.isfinite(v)
            seen += int(inside.sum())
            bad = inside & (v != 0)
            if bad.any():
                i = int(np.argmax(bad))
                return Verdict(self.text, "fail", f"{entity} reported alarms {int(v[i])} "
                               f"(bits {int(v[i]):#x}) at {t[i]:g} s, in {int(bad.sum())} "
                               "steps")
        where = "" if self.window.whole else f" {self.window.text()}"
        if not seen:
            return Verdict(self.text, "fail", f"no alarm word read from "
                           f"{self.entity or 'any device'}{where}: the run did not show it")
        return Verdict(self.text, "pass", f"alarm word 0 in all {seen} readings{where}")


Assertion = Bounds | Tracks | Reverts | Lateness | NoEvent | NoAlarm

_WINDOW = re.compile(rf"^(?:between\s+{_TIME}\s+and\s+{_TIME}|from\s+{_TIME}|until\s+{_TIME})"
                     r"\s+(.+)$", re.I)
_BOUND_UNITS = ("", "mw", "mwh", "%")


def _window(m: re.Match[str]) -> Window:
    if m[1] is not None:
        return Window(_seconds(m[1], m[2]), _seconds(m[3], m[4]))
    if m[5] is not None:
        return Window(start_s=_seconds(m[5], m[6]))
    return Window(end_s=_seconds(m[7], m[8]))


def _scaled(lo: str, hi: str, pct: str | None) -> tuple[float, float]:
    k = 0.01 if pct else 1.0
    return float(lo) * k, float(hi) * k


def _within(text: str, m: re.Match[str], window: Window) -> Bounds:
    lo, hi = _scaled(m[2], m[3], m[4])
    if lo > hi:
        raise ValueError(f"in {text!r}: the range {m[2]}..{m[3]} is empty (low above high)")
    return Bounds(text, *_split(m[1]), lo, hi, window=window)


def _bound(text: str, m: re.Match[str], window: Window) -> Bounds:
    entity, attr = _split(m[1])
    unit = (m[4] or "").lower()
    if unit not in _BOUND_UNITS:
        raise ValueError(f"in {text!r}: unit {m[4]!r} not understood; values are compared in "
                         "the series' own unit (MW, MWh) or as %")
    x = float(m[3]) * (0.01 if unit == "%" else 1.0)
    op = m[2].lower()
    if op in ("below", "at most"):
        return Bounds(text, entity, attr, -np.inf, x, hi_open=op == "below", window=window)
    return Bounds(text, entity, attr, x, np.inf, lo_open=op == "above", window=window)


def _tracks(text: str, m: re.Match[str], window: Window) -> Tracks:
    tol = float(m[2])
    percent = m[3] == "%"
    if tol <= 0:
        raise ValueError(f"in {text!r}: the band must be more than 0")
    return Tracks(text, m[1], tol * (0.01 if percent else 1.0), percent, _seconds(m[4], m[5]),
                  window)


def _no_event(text: str, m: re.Match[str]) -> NoEvent:
    name = m[1].lower()
    if name not in EVENT_NAMES:
        close = [n for n in sorted(EVENT_NAMES) if n[:3] == name[:3]]
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        raise ValueError(f"in {text!r}: no event is named {m[1]!r}{hint}; expected one of "
                         f"{', '.join(sorted(EVENT_NAMES))}")
    return NoEvent(text, name)


# forms that take a time window in front
_WINDOWED: list[tuple[re.Pattern[str], Any]] = [
    (re.compile(rf"^{_REF}\s+within\s+{_NUM}\s*\.\.\s*{_NUM}\s*(%)?$", re.I), _within),
    (re.compile(rf"^{_REF}\s+(below|above|at most|at least)\s+{_NUM}\s*(%|[A-Za-z]+)?$", re.I),
     _bound),
    (re.compile(rf"^([A-Za-z0-9_\-]+)\s+tracks\s+(?:its|the)\s+setpoint\s+within\s+{_NUM}\s*"
                rf"(%|mw)\s+after\s+{_TIME}$", re.I),
     _tracks),
    (re.compile(r"^(?:([A-Za-z0-9_\-]+)\s+)?(?:(?:reports|has)\s+)?no\s+alarms?$", re.I),
     lambda t, m, w: NoAlarm(t, m[1], w)),
]
_FORMS: list[tuple[re.Pattern[str], Any]] = [
    (re.compile(rf"^after\s+(comm(?:unication)?\s+loss|estop|e-stop|disarm)\s+"
                rf"(?:the\s+device|{_REF})?\s*reverts\s+to\s+{_NUM}\s*mw\s+within\s+{_TIME}$",
                re.I),
     lambda t, m: Reverts(t, m[2], float(m[3]), _seconds(m[4], m[5]), _trigger(m[1]))),
    (re.compile(rf"^lateness\s+(mean|p50|p99|max)\s+below\s+{_TIME}$", re.I),
     lambda t, m: Lateness(t, m[1].lower(), _seconds(m[2], m[3]))),
    (re.compile(rf"^end\s+offset\s+below\s+{_TIME}$", re.I),
     lambda t, m: Lateness(t, "end", _seconds(m[1], m[2]))),
    (re.compile(r"^no\s+([A-Za-z_\-]+)$", re.I), _no_event),
]


def _trigger(text: str) -> str:
    t = text.lower()
    return "comm loss" if t.startswith("comm") else "estop" if "stop" in t else "disarm"


def parse_assertion(text: str) -> Assertion:
    """One assertion from its text; ``ValueError`` names what was expected."""
    clean = " ".join(str(text).split())
    body, window = clean, WHOLE
    w = _WINDOW.match(clean)
    if w:
        window = _window(w)
        if window.start_s >= window.end_s:
            raise ValueError(f"in {clean!r}: the window {window.text()} is empty")
        body = w[9]
    for pattern, make in _WINDOWED:
        m = pattern.match(body)
        if m:
            return make(clean, m, window)  # type: ignore[no-any-return]
    if w:
        raise ValueError(f"cannot read {body!r} after {w[0][: len(w[0]) - len(body)].strip()!r}"
                         "; a window takes e.g. 'bess.p_mw within -0.8..0.8' or 'bess tracks "
                         "its setpoint within 5 % after 2 s'")
    for pattern, make in _FORMS:
        m = pattern.match(clean)
        if m:
            return make(clean, m)  # type: ignore[no-any-return]
    raise ValueError(f"cannot read {clean!r}; expected e.g. 'soc within 0.1..0.9', "
                     "'import_mw below 80', 'bess tracks its setpoint within 5 % after 2 s', "
                     "'between 20s and 30s bess.p_mw within -0.8..0.8', 'after comm loss the "
                     "device reverts to 0 MW within 2 s', 'lateness p99 below 20 ms', "
                     "'no estop'")


def parse_assertions(values: Any) -> tuple[Assertion, ...]:
    """The assertions of a scenario's list; an error names the item (``[i]``)."""
    from twin.core.specload import SpecError

    if not isinstance(values, Sequence) or isinstance(values, str):
        raise ValueError(f"expected a list, got {values!r}")
    out = []
    for i, v in enumerate(values):
        if not isinstance(v, str):
            raise SpecError(f"[{i}]", f"expected text, got {v!r}")
        try:
            out.append(parse_assertion(v))
        except ValueError as exc:
            raise SpecError(f"[{i}]", str(exc)) from None
    return tuple(out)
