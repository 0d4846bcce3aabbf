"""A small typed language for what a HIL run must show; parsed once, never evaluated as code.

Forms (case does not matter; ``REF`` is ``attr`` or ``entity.attr``; ``attr`` also matches
``p_attr``, so ``import_mw`` is the PCC's ``p_import_mw``; a bare attribute applies to every
entity that records it)::

    REF within LO..HI [%]                     every value in [LO, HI] (% divides by 100)
    REF below X | REF above X                 every value < X | > X
    REF at most X | REF at least X            every value <= X | >= X
    after comm loss [ENTITY|the device] reverts to X MW within D [s|ms]
    lateness (mean|p50|p99|max) below D [ms|s]
    end offset below D [ms|s]                 lateness of the last step (drift)
    no EVENT                                  no event named EVENT (estop, takeover, overrun,
                                              corrupt, refused, ...)

Each assertion gives a :class:`Verdict`: ``pass``, ``fail`` or ``n/a`` (not exercised, e.g. no
comm loss happened), with the evidence in one line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

_NUM = r"(-?\d+(?:\.\d+)?(?:e-?\d+)?)"
_REF = r"([A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_]+)?)"
_TIME = rf"{_NUM}\s*(ms|s)?"


class Evidence(Protocol):
    """What a run gives the assertions to judge (built by :mod:`hil.run`)."""

    def matching(self, entity: str | None, attr: str) -> list[tuple[str, str]]: ...

    def series(self, entity: str, attr: str) -> np.ndarray: ...

    @property
    def lateness_s(self) -> np.ndarray: ...

    @property
    def events(self) -> list[dict[str, Any]]: ...

    def episodes(self, entity: str | None) -> list[dict[str, Any]]: ...


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
    return float(value) * (1e-3 if unit == "ms" else 1.0)


def _split(ref: str) -> tuple[str | None, str]:
    entity, _, attr = ref.rpartition(".")
    return (entity or None), attr


@dataclass(frozen=True)
class Bounds:
    """``REF within LO..HI``, ``REF below X``, ... over every recorded step."""

    text: str
    entity: str | None
    attr: str
    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False

    def evaluate(self, ev: Evidence) -> Verdict:
        keys = ev.matching(self.entity, self.attr)
        if not keys:
            return Verdict(self.text, "fail", f"no recorded series matches {self.attr!r}")
        worst = []
        for entity, attr in keys:
            v = ev.series(entity, attr)
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
        return Verdict(self.text, "pass", "; ".join(worst) or "no values")


@dataclass(frozen=True)
class Reverts:
    """After each comm loss the device's power reaches ``p_mw`` within ``within_s``."""

    text: str
    entity: str | None
    p_mw: float
    within_s: float

    def evaluate(self, ev: Evidence) -> Verdict:
        episodes = ev.episodes(self.entity)
        if not episodes:
            return Verdict(self.text, "n/a", "not exercised: no comm loss in the run")
        details = []
        for e in episodes:
            ok, why = _judge_episode(e, self.p_mw, self.within_s)
            details.append(f"{e['entity']} at {e['onset_t_s']:g} s: {why}")
            if not ok:
                return Verdict(self.text, "fail", "; ".join(details))
        return Verdict(self.text, "pass", "; ".join(details))


def _judge_episode(e: dict[str, Any], p_mw: float, within_s: float) -> tuple[bool, str]:
    """Whether one comm-loss episode shows the device at ``p_mw`` in time, and why."""
    tol = e["tol_mw"]
    for wall, p in e["readings"]:  # (wall s after onset, p_mw) of answers after the onset
        if wall <= within_s and abs(p - p_mw) <= tol:
            return True, f"seen at {p:.3f} MW {wall:.2f} s after the last good answer"
    if not e["readings"]:
        return False, (f"not observed: no answer after the loss (device-side reversion set to "
                       f"{e['revert_s']:g} s)")
    wall, p = e["readings"][0]
    if abs(p - p_mw) > tol:
        return False, f"first answer {wall:.2f} s after the loss shows {p:.3f} MW"
    if e["revert_s"] is not None and e["revert_s"] <= within_s:
        return True, (f"silent for {wall:.2f} s, then at {p:.3f} MW; the device's own "
                      f"reversion was set to {e['revert_s']:g} s <= {within_s:g} s")
    return False, (f"silent for {wall:.2f} s, then at {p:.3f} MW; no device-side reversion "
                   f"within {within_s:g} s was set, so when it reverted is unknown")


@dataclass(frozen=True)
class Lateness:
    """A statistic of the pacer's lateness below a limit."""

    text: str
    stat: str
    limit_s: float

    def evaluate(self, ev: Evidence) -> Verdict:
        late = ev.lateness_s
        late = late[np.isfinite(late)]
        if not len(late):
            return Verdict(self.text, "fail", "no pacing recorded")
        value = {"mean": float(np.mean(late)), "p50": float(np.percentile(late, 50)),
                 "p99": float(np.percentile(late, 99)), "max": float(np.max(late)),
                 "end": float(late[-1])}[self.stat]
        status = "pass" if value < self.limit_s else "fail"
        name = "end offset" if self.stat == "end" else f"lateness {self.stat}"
        return Verdict(self.text, status, f"{name} {value * 1e3:.2f} ms over {len(late)} steps")


@dataclass(frozen=True)
class NoEvent:
    """No event of a given name happened."""

    text: str
    name: str

    def evaluate(self, ev: Evidence) -> Verdict:
        hits = [e for e in ev.events if self.name in (e.get("name"), e.get("kind"))]
        if hits:
            first = hits[0]
            return Verdict(self.text, "fail", f"{len(hits)} x {self.name}, first at "
                           f"{first.get('t_s', 0):g} s ({first.get('entity', '')}: "
                           f"{first.get('detail', '')})")
        return Verdict(self.text, "pass", f"no {self.name}")


Assertion = Bounds | Reverts | Lateness | NoEvent

_FORMS: list[tuple[re.Pattern[str], Any]] = [
    (re.compile(rf"^{_REF}\s+within\s+{_NUM}\s*\.\.\s*{_NUM}\s*(%)?$", re.I),
     lambda t, m: Bounds(t, *_split(m[1]), *_scaled(m[2], m[3], m[4]))),
    (re.compile(rf"^{_REF}\s+(below|above|at most|at least)\s+{_NUM}\s*(%)?\s*[A-Za-z]*$",
                re.I), lambda t, m: _bound(t, m)),
    (re.compile(rf"^after\s+comm(?:unication)?\s+loss\s+(?:the\s+device|{_REF})?\s*reverts\s+"
                rf"to\s+{_NUM}\s*mw\s+within\s+{_TIME}$", re.I),
     lambda t, m: Reverts(t, m[1], float(m[2]), _seconds(m[3], m[4]))),
    (re.compile(rf"^lateness\s+(mean|p50|p99|max)\s+below\s+{_TIME}$", re.I),
     lambda t, m: Lateness(t, m[1].lower(), _seconds(m[2], m[3]))),
    (re.compile(rf"^end\s+offset\s+below\s+{_TIME}$", re.I),
     lambda t, m: Lateness(t, "end", _seconds(m[1], m[2]))),
    (re.compile(r"^no\s+([a-z_\-]+)$", re.I), lambda t, m: NoEvent(t, m[1].lower())),
]


def _scaled(lo: str, hi: str, pct: str | None) -> tuple[float, float]:
    k = 0.01 if pct else 1.0
    return float(lo) * k, float(hi) * k


def _bound(text: str, m: re.Match[str]) -> Bounds:
    entity, attr = _split(m[1])
    x = float(m[3]) * (0.01 if m[4] else 1.0)
    op = m[2].lower()
    if op in ("below", "at most"):
        return Bounds(text, entity, attr, -np.inf, x, hi_open=op == "below")
    return Bounds(text, entity, attr, x, np.inf, lo_open=op == "above")


def parse_assertion(text: str) -> Assertion:
    """One assertion from its text; ``ValueError`` names what was expected."""
    clean = " ".join(str(text).split())
    for pattern, make in _FORMS:
        m = pattern.match(clean)
        if m:
            return make(clean, m)
    raise ValueError(f"cannot read {clean!r}; expected e.g. 'soc within 0.1..0.9', "
                     "'import_mw below 80', 'after comm loss the device reverts to 0 MW "
                     "within 2 s', 'lateness p99 below 20 ms', 'no estop'")


def parse_assertions(values: Any) -> tuple[Assertion, ...]:
    """The assertions of a scenario's list; errors name the item."""
    if not isinstance(values, Sequence) or isinstance(values, str):
        raise ValueError(f"expected a list, got {values!r}")
    out = []
    for i, v in enumerate(values):
        if not isinstance(v, str):
            raise ValueError(f"[{i}]: expected text, got {v!r}")
        try:
            out.append(parse_assertion(v))
        except ValueError as exc:
            raise ValueError(f"[{i}]: {exc}") from None
    return tuple(out)
