"""Record and replay of a HIL run's device traffic (JSON lines, one record per line).

Everything a run takes from the outside world goes through the trace: the pacer's lateness
per step and, per bound entity and step, the exchange with the device (setpoint sent,
operations, the reading or the error, wall times). Everything else is computed from these
records and the scenario, so replaying a trace without the device reproduces the run's HDF5
series exactly; a replay whose setpoints differ from the recorded ones reports the step
where it diverged. Record types::

    header    version, scenario path and text hash, step, bindings
    pace      step, t_s, wall_s, lateness_s, overrun
    exchange  step, t_s, entity, wall_s, sent_mw, ops, status, error, reading, info,
              t_send_s, t_recv_s, faults
    event     step, t_s, wall_s, entity, kind, name, detail   (interlocks, watchdog, ...)

Floats are written with Python's shortest round-trip repr, so they read back bit for bit.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VERSION = 1


class TraceError(ValueError):
    """A trace that cannot be replayed (missing, malformed, or for another scenario)."""


def partial_path(path: str | Path) -> Path:
    """Where the trace of ``path`` is written until it is published: ``<path>.partial``."""
    path = Path(path)
    return path.with_name(path.name + ".partial")


def publish(path: str | Path) -> Path:
    """Put the closed trace ``<path>.partial`` in place (renamed over ``path``); return
    ``path``. Only a run that ended - finished or aborted by its policy - is published
    (:func:`hil.run.run`, before its results): a killed or interrupted run keeps its trace
    in ``<path>.partial`` and the previous trace at ``path`` stays."""
    path = Path(path)
    partial_path(path).replace(path)
    return path


class TraceWriter:
    """Appends records to ``<path>.partial``, flushed as they come (a killed or interrupted
    run keeps its trace there); :meth:`close` leaves it there, :func:`publish` puts it in
    place: a previous trace at ``path`` is replaced only by the whole trace of a run that
    ended."""

    def __init__(self, path: str | Path, header: dict[str, Any]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.partial = partial_path(self.path)
        self._file = self.partial.open("w", encoding="utf-8")  # noqa: SIM115
        self.write("header", version=VERSION, **header)

    def write(self, record: str, /, **fields: Any) -> None:
        """Append one record of type ``record`` (header, pace, exchange, event)."""
        if self._file is None:
            return
        self._file.write(json.dumps({"type": record, **fields}, default=_plain) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file (fsynced) at ``<path>.partial``; :func:`publish` puts it in place."""
        if self._file is not None:
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


@dataclass
class Trace:
    """A trace read back: records indexed for replay."""

    path: Path
    header: dict[str, Any]
    pace: dict[int, dict[str, Any]] = field(default_factory=dict)
    exchanges: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)

    def exchange_list(self) -> list[dict[str, Any]]:
        """Every exchange in step order."""
        return [self.exchanges[k] for k in sorted(self.exchanges)]


def read(path: str | Path) -> Trace:
    """Read a trace file; :class:`TraceError` names the line of a malformed record."""
    path = Path(path)
    from twin.core import textload  # UTF-8 only: a binary or UTF-16 file is one line, too

    lines = textload.read_text(path, "trace", TraceError, max_bytes=1 << 34).splitlines()
    trace: Trace | None = None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            if n == len(lines):  # a run killed mid-line
                break
            raise TraceError(f"{path}:{n}: not a JSON record") from None
        if not isinstance(rec, dict):
            raise TraceError(f"{path}:{n}: expected a JSON object, got {type(rec).__name__}")
        if trace is None:
            if rec.pop("type", None) != "header" or rec.get("version") != VERSION:
                raise TraceError(f"{path}:1: not a HIL trace (version {VERSION} header)")
            trace = Trace(path, rec)
        else:
            _add(trace, rec)
    if trace is None:
        raise TraceError(f"{path}: empty trace")
    return trace


def _add(trace: Trace, rec: dict[str, Any]) -> None:
    kind = rec.pop("type", None)
    if kind == "pace":
        trace.pace[int(rec["step"])] = rec
    elif kind == "exchange":
        trace.exchanges[(int(rec["step"]), rec["entity"])] = rec
    elif kind == "event":
        trace.events.append(rec)
