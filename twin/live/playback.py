"""A recorded file played back as telemetry, at any speed (the mapping's ``source.kind: file``).

Three kinds of file, told by the suffix:

- CSV (``.csv``) or Parquet (``.parquet``): a ``time`` column (ISO date and time with its
  offset, e.g. ``2027-01-01T00:15:00+08:00``, or UTC unix seconds) and one column per tag;
  an empty cell is no reading;
- a run file (``.h5``, ``twin run`` or ``twin plant``): the tags name series as
  ``<entity>/<attribute>``, the time is the run's start plus ``/time``; its values, in the
  attributes' declared units, are given in each tag's unit (a tag in kW reads 1000 times the
  recorded MW).

:class:`FilePlayback` is a source for :func:`twin.live.session.follow`: ``get()`` gives the
readings in time order, paced to ``speed`` simulated seconds per wall second (0: at once).
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import numpy as np

from twin.live.mapping import MappingError, Telemetry


def read(telemetry: Telemetry) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(UTC unix seconds, {tag: values}) of the mapping's recorded file."""
    path = telemetry.source.path
    if path is None or not path.is_file():
        raise MappingError(f"{telemetry.path}: source.path: no such recorded file: {path}")
    if path.suffix in (".h5", ".hdf5"):
        return _read_run(path, telemetry)
    import pandas as pd

    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise MappingError(f"{path}: not a readable recording: {exc}") from None
    missing = [t.tag for t in telemetry.tags if t.tag not in frame.columns]
    if "time" not in frame.columns or missing:
        what = ", ".join(["time"] * ("time" not in frame.columns) + missing)
        raise MappingError(f"{path}: no column {what}; expected a time column and one per tag "
                           f"of {telemetry.path}")
    times = _epoch(frame["time"], path)
    return times, {t.tag: pd.to_numeric(frame[t.tag], errors="coerce").to_numpy(float)
                   for t in telemetry.tags}


def _epoch(column: object, path: Path) -> np.ndarray:
    import pandas as pd

    numbers = pd.to_numeric(column, errors="coerce")
    if not numbers.isna().any():
        return numbers.to_numpy(float)
    try:
        stamps = pd.to_datetime(column, utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise MappingError(f"{path}: time: expected ISO date and times with their offset or "
                           f"UTC unix seconds ({exc})") from None
    return (stamps - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(float)


def _read_run(path: Path, telemetry: Telemetry) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    from twin.core.results import open_run

    try:
        with open_run(path) as run:
            start = dt.datetime.fromisoformat(str(run.meta["start"])).timestamp()
            times = start + np.asarray(run.time_s, dtype=float)
            out = {}
            for t in telemetry.tags:
                entity, _, attr = t.tag.partition("/")
                if not run.has(entity, attr):
                    raise MappingError(f"{path}: no series {t.tag}; a run file's tags are "
                                       f"<entity>/<attribute>")
                # recorded in the attribute's declared unit: back to the tag's (kW, %, ...)
                out[t.tag] = telemetry.from_twin(t.tag, np.asarray(run.series(entity, attr),
                                                                   dtype=float))
    except OSError as exc:
        raise MappingError(f"{path}: not a readable run file: {exc}") from None
    return times, out


class FilePlayback:
    """The recorded readings in time order, paced to ``speed``."""

    def __init__(self, telemetry: Telemetry, speed: float = 0.0) -> None:
        times, columns = read(telemetry)
        order = np.argsort(times, kind="stable")
        self.items = [(tag, float(times[i]), float(values[i]))
                      for i in order for tag, values in columns.items()
                      if np.isfinite(values[i])]
        self.speed = float(speed)
        self.done = False
        self._next = 0
        self._anchor: tuple[float, float] | None = None

    def get(self, timeout: float) -> tuple[str, float, float] | None:
        if self._next >= len(self.items):
            self.done = True
            return None
        item = self.items[self._next]
        if self.speed > 0:
            now = time.monotonic()
            if self._anchor is None:
                self._anchor = (now, item[1])
            due = self._anchor[0] + (item[1] - self._anchor[1]) / self.speed
            if due > now:
                time.sleep(min(due - now, timeout))
                if due - now > timeout:
                    return None
        self._next += 1
        return item
