"""The run's HDF5 file: the only place that knows its layout, for writing and reading.

Layout::

    /meta            attributes: scenario (YAML text), scenario_path, version, seed, start
                     (ISO, UTC), step_s, n_steps, complete (False until the run closes)
    /time            int64 seconds from the scenario start, one per recorded step
    /series/<entity>          group; attributes kind (pv, wind, battery, factory, ev, heat,
                              pcc, weather, external, ...) and spec (the entity's spec as JSON)
    /series/<entity>/<attr>   float64, one value per step; attributes unit, description
    /kpi/<name>      scalar float64; attributes unit, description

Series are written in chunks and flushed as the run goes, in HDF5's single-writer/multiple-
reader mode, so a killed run leaves a readable file whose ``complete`` flag is False.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

SeriesKey = tuple[str, str]  # (entity, attr)


@dataclass(frozen=True)
class SeriesInfo:
    """Unit and meaning of one recorded series."""

    unit: str
    description: str = ""


@dataclass(frozen=True)
class KPI:
    """A key figure of a run."""

    value: float
    unit: str
    description: str = ""


class RunWriter:
    """Write one run: declare the series, then append steps; close marks the file complete."""

    def __init__(
        self,
        path: str | Path,
        meta: Mapping[str, Any],
        series: Mapping[SeriesKey, SeriesInfo],
        entities: Mapping[str, Mapping[str, Any]] | None = None,
        chunk_steps: int = 672,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._keys = list(series)
        self._index = {key: i for i, key in enumerate(self._keys)}
        self._chunk = int(chunk_steps)
        self._buf = np.full((self._chunk, len(self._keys)), np.nan)
        self._tbuf = np.zeros(self._chunk, dtype=np.int64)
        self._n_buf = 0
        self._n_written = 0
        self._file = h5py.File(self.path, "w", libver="latest")
        g = self._file.create_group("meta")
        for key, value in meta.items():
            g.attrs[key] = value
        g.attrs["complete"] = False
        g.attrs["written_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self._time = self._file.create_dataset(
            "time", shape=(0,), maxshape=(None,), dtype="i8", chunks=(self._chunk,)
        )
        self._time.attrs["unit"] = "s"
        self._time.attrs["description"] = "seconds from the scenario start (start of each step)"
        self._dsets = []
        for (entity, attr), info in series.items():
            d = self._file.create_dataset(
                f"series/{entity}/{attr}", shape=(0,), maxshape=(None,), dtype="f8",
                chunks=(self._chunk,), compression="gzip", compression_opts=1, shuffle=True,
            )
            d.attrs["unit"] = info.unit
            d.attrs["description"] = info.description
            self._dsets.append(d)
        for entity, attrs in (entities or {}).items():
            group = self._file.require_group(f"series/{entity}")
            for key, value in attrs.items():
                group.attrs[key] = value
        self._file.swmr_mode = True
        self._file.flush()

    @property
    def keys(self) -> list[SeriesKey]:
        """The declared series, in column order."""
        return list(self._keys)

    def column(self, key: SeriesKey) -> int | None:
        """Column index of a declared series (None if it was not declared)."""
        return self._index.get(key)

    def append(self, time_s: int, values: Mapping[int, float]) -> None:
        """Record one step: ``values`` maps column indices to values; the rest get NaN."""
        row = self._buf[self._n_buf]
        row.fill(np.nan)
        for i, value in values.items():
            if value is not None:
                row[i] = value
        self._tbuf[self._n_buf] = time_s
        self._n_buf += 1
        if self._n_buf == self._chunk:
            self.flush()

    def flush(self) -> None:
        """Write buffered steps to the file and flush it to disk."""
        n = self._n_buf
        if n == 0:
            return
        end = self._n_written + n
        self._time.resize((end,))
        self._time[self._n_written:end] = self._tbuf[:n]
        for i, d in enumerate(self._dsets):
            d.resize((end,))
            d[self._n_written:end] = self._buf[:n, i]
        self._n_written = end
        self._n_buf = 0
        self._file.flush()

    @property
    def n_steps(self) -> int:
        """Steps recorded so far (written or buffered)."""
        return self._n_written + self._n_buf

    def close(self, complete: bool = True) -> None:
        """Flush and close; ``complete`` marks whether the run reached its end."""
        if self._file is None:
            return
        self.flush()
        self._file.close()
        self._file = None
        with h5py.File(self.path, "a") as f:
            f["meta"].attrs["complete"] = bool(complete)
            f["meta"].attrs["n_steps_written"] = int(f["time"].shape[0])


def write_kpis(path: str | Path, kpis: Mapping[str, KPI]) -> None:
    """Write (or replace) the KPIs of a closed run file."""
    with h5py.File(path, "a") as f:
        group = f.require_group("kpi")
        for name, kpi in kpis.items():
            if name in group:
                del group[name]
            d = group.create_dataset(name, data=float(kpi.value))
            d.attrs["unit"] = kpi.unit
            d.attrs["description"] = kpi.description


class Run:
    """A recorded run, read from its HDF5 file. Use as a context manager or call ``close``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._file = h5py.File(self.path, "r", libver="latest", swmr=True)
        except OSError as exc:
            raise ValueError(f"{self.path}: not a readable run file ({exc})") from None
        if "meta" not in self._file or "time" not in self._file:
            self._file.close()
            raise ValueError(f"{self.path}: not a park twin run file (no /meta or /time)")

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    @property
    def meta(self) -> dict[str, Any]:
        """The run's metadata (scenario text, version, seed, start, step, complete)."""
        return {k: _plain(v) for k, v in self._file["meta"].attrs.items()}

    @property
    def complete(self) -> bool:
        """False for a run that was interrupted before it closed its file."""
        return bool(self._file["meta"].attrs.get("complete", False))

    @property
    def time_s(self) -> np.ndarray:
        """Seconds from the scenario start of each recorded step."""
        return self._file["time"][:]

    @property
    def step_s(self) -> int:
        """The step of the run in seconds."""
        return int(self._file["meta"].attrs["step_s"])

    def series_keys(self) -> list[SeriesKey]:
        """Every recorded (entity, attr)."""
        keys: list[SeriesKey] = []
        group = self._file.get("series")
        if group is None:
            return keys
        for entity, g in group.items():
            keys.extend((entity, attr) for attr in g)
        return keys

    def entities(self, kind: str | None = None) -> list[str]:
        """Every recorded entity, or those of one ``kind``."""
        group = self._file.get("series", {})
        if kind is None:
            return list(group)
        return [e for e in group if group[e].attrs.get("kind") == kind]

    def entity_attrs(self, entity: str) -> dict[str, Any]:
        """Attributes of an entity's group (kind, spec as JSON text)."""
        return {k: _plain(v) for k, v in self._file[f"series/{entity}"].attrs.items()}

    def spec(self, entity: str) -> dict[str, Any]:
        """The spec the entity was built from (empty if none was recorded)."""
        text = self._file[f"series/{entity}"].attrs.get("spec")
        return json.loads(_plain(text)) if text is not None else {}

    def series(self, entity: str, attr: str) -> np.ndarray:
        """The values of one series, as long as :attr:`time_s`."""
        try:
            d = self._file[f"series/{entity}/{attr}"]
        except KeyError:
            raise KeyError(f"no series {entity}/{attr} in {self.path}") from None
        n = self._file["time"].shape[0]
        return d[:n]

    def info(self, entity: str, attr: str) -> SeriesInfo:
        """Unit and description of one series."""
        d = self._file[f"series/{entity}/{attr}"]
        return SeriesInfo(str(d.attrs.get("unit", "")), str(d.attrs.get("description", "")))

    def kpis(self) -> dict[str, KPI]:
        """The run's KPIs (empty for an incomplete run)."""
        group = self._file.get("kpi")
        if group is None:
            return {}
        return {
            name: KPI(float(d[()]), str(d.attrs.get("unit", "")), str(d.attrs.get("description", "")))
            for name, d in group.items()
        }

    def iter_series(self) -> Iterator[tuple[SeriesKey, SeriesInfo, np.ndarray]]:
        """Every series with its info and values."""
        for key in self.series_keys():
            yield key, self.info(*key), self.series(*key)


def open_run(path: str | Path) -> Run:
    """Open a recorded run for reading."""
    return Run(path)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode()
    return value
