"""The scenario's mosaik-csv profiles: each checked (:mod:`twin.models.loads.profile`) and
what a run does where one ends before the run (``on_end`` of the external simulator).

:func:`rule_profiles` is a rule of :func:`twin.scenario.loads`; :func:`stopped` cuts a
scenario where its first profile with ``on_end: stop`` ends.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

from twin.core import textload
from twin.core.specload import SpecError

__all__ = ["rule_profiles", "stopped"]


def _resolve(scenario_path: Path, p: Path) -> Path:
    return p if p.is_absolute() else (scenario_path.parent / p)


def _read_profile(s: Any, i: int, e: Any) -> tuple[Any, dt.datetime] | None:
    """A mosaik-csv simulator's profile (twin.models.loads.profile), checked, and the
    simulator's start; None for another simulator."""
    params = e.params or {}
    if not (e.python or "").startswith("mosaik_csv") or not isinstance(
            params.get("datafile"), str):
        return None
    from twin.models.loads import profile

    path = _resolve(s.path, Path(params["datafile"]))
    where = f"external[{i}].params.datafile"
    if not path.is_file():
        raise SpecError(where, f"no such file: {path}")
    text = textload.read_text(path, "profile", lambda m, w=where: SpecError(w, m))
    used = frozenset(src for link in e.links for src, _ in link.attrs)
    nonneg = frozenset(src for link in e.links for src, dst in link.attrs
                       if dst in profile.NONNEGATIVE)
    try:
        found = profile.read(text, path.name, str(params.get("delimiter", ",")), nonneg, used)
    except profile.ProfileError as exc:
        raise SpecError.of([SpecError(where, m) for m in str(exc).splitlines()]) from None
    try:
        start = profile.parse_time(params.get("sim_start", s.period.start))
    except ValueError:
        raise SpecError(f"external[{i}].params.sim_start", "expected a date and time like "
                        "2027-01-01 00:00:00") from None
    return found, start


def rule_profiles(s: Any) -> list[tuple[str, str]]:
    """A mosaik-csv profile: finite values, no negative load, and an end that covers the run
    or a stated policy (``on_end``)."""
    notes = []
    for i, e in enumerate(s.external):
        found = _read_profile(s, i, e)
        if found is None:
            if e.on_end in ("repeat", "stop"):
                raise SpecError(f"external[{i}].on_end", f"{e.on_end} needs a mosaik-csv "
                                "profile (python: mosaik_csv:CSV, params.datafile): another "
                                "simulator's end is not known before the run; expected error "
                                "or hold")
            continue
        prof, start = found
        where = f"external[{i}].params.datafile"
        end = start + dt.timedelta(seconds=s.period.duration_s)
        if start < prof.times[0]:
            raise SpecError(where, f"{prof.name} starts at {prof.times[0]:%Y-%m-%d %H:%M}, "
                            f"after the run's start {start:%Y-%m-%d %H:%M}")
        if prof.end >= end:
            continue
        message = (f"{prof.name} ends at {prof.times[-1]:%Y-%m-%d %H:%M}, before the run's end "
                   f"{end:%Y-%m-%d %H:%M}")
        if e.on_end == "error":
            raise SpecError(where, f"{message}; expected a profile that covers the run, or "
                            f"external[{i}].on_end: hold (keep its last value), repeat or stop")
        if e.on_end == "stop":
            kept = _stop_s(s, prof, start)
            if kept < s.period.step_s:
                raise SpecError(f"external[{i}].on_end", f"{message}: the run cannot stop "
                                "there (not one whole step); expected a profile that covers "
                                "the run's first step")
            notes.append((where, f"{message}: the run stops with it after {kept / 86400:g} "
                          f"days ({kept // s.period.step_s} steps; on_end: stop)"))
            continue
        notes.append((where, f"{message}: " + (
            "its last value is held (on_end: hold)" if e.on_end == "hold" else
            f"it starts again every {prof.length.total_seconds() / 86400:g} days "
            "(on_end: repeat)")))
    return notes


def _stop_s(s: Any, prof: Any, start: dt.datetime) -> int:
    """The whole steps of the run a profile covers from ``start``, s."""
    step = s.period.step_s
    return int((prof.end - start).total_seconds() // step) * step


def stopped(s: Any) -> Any:
    """The scenario cut where the first profile with ``on_end: stop`` ends."""
    kept = [_stop_s(s, *found) for i, e in enumerate(s.external) if e.on_end == "stop"
            and (found := _read_profile(s, i, e)) is not None]
    duration = min([s.period.duration_s, *kept])
    if duration == s.period.duration_s or duration <= 0:
        return s
    return dataclasses.replace(s, period=dataclasses.replace(s.period, duration=duration))
