"""The run's HDF5 file: the only place that knows its layout, for writing and reading.

Layout::

    /meta            attributes: scenario (YAML text), scenario_path, version, seed, start
                     (ISO, UTC), step_s, n_steps, complete (False until the run closes)
    /time            seconds from the scenario start, one per recorded step: int64 when the
                     step is whole seconds (every ``twin run``), float64 for a sub-second step
                     (a ``twin hil`` run at 100 ms: 0.0, 0.1, 0.2, ..., each the double nearest
                     to step index x step; ``meta/step_s`` is then a float, e.g. 0.1). Either
                     way the unit is the second, so energy = power x ``step_s`` / 3600 holds
    /series/<entity>          group; attributes kind (pv, wind, battery, factory, ev, heat,
                              pcc, weather, external, ...) and spec (the entity's spec as JSON)
    /series/<entity>/<attr>   float64, one value per step; attributes unit, description,
                              aggregation ("mean" over the step, or "sum" per step);
                              a vector series (bus voltages, line loadings) is float32 of
                              shape (steps, n) with the names of its n parts in ``columns``
    /kpi/<name>      scalar float64; attributes unit, description

Series are written in chunks (three weeks of 15-minute steps, or what a few seconds of wall
time gave) and flushed as the run goes, in HDF5's single-writer/multiple-reader mode, to
``<name>.h5.partial`` beside the result; after each flush the superblock's "open for write"
flag is cleared, so a plain ``h5py.File`` opens a killed run's partial file (``complete``
False, every series at least as long as ``/time``: each flush writes the series to disk
before ``/time`` grows, so a kill within a flush can leave series a flush longer than
``/time``, whose first ``len(/time)`` rows are the run's, as :class:`Run` reads them). The
KPIs and tables are written into a copy (``<name>.h5.judging``) that is marked complete and
then renamed over ``<name>.h5`` (:func:`finish`): the result at ``<name>.h5`` is always a
whole run, the previous one until the new one is complete.

A series is a mean power over the step (``aggregation = "mean"``: energy = sum x step
hours) or an amount per step (``"sum"``: energy = sum); :meth:`Run.energy` and
:func:`energy_sum` apply it, so a reader need not know which.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from h5py import h5s

from twin.core.errors import UserError
from twin.core.h5flag import clear_open_flag

SeriesKey = tuple[str, str]  # (entity, attr)
AGGREGATIONS = ("mean", "sum")


class ResultsWriteError(UserError):
    """The run's file cannot be written (read-only folder, full disk): one line."""


def partial_path(path: str | Path) -> Path:
    """Where a run writes its series until it is complete: ``<path>.partial``."""
    path = Path(path)
    return path.with_name(path.name + ".partial")


def judging_path(path: str | Path) -> Path:
    """Where the KPIs and tables are written before the rename: ``<path>.judging``."""
    path = Path(path)
    return path.with_name(path.name + ".judging")


def estimate_bytes(n_steps: int, n_series: int) -> int:
    """An upper bound of a run file's size: 8 bytes per value uncompressed, plus 1 MiB."""
    return int(n_steps) * int(n_series) * 8 + (1 << 20)


def check_writable(path: str | Path, need_bytes: int = 0) -> None:
    """Refuse, before a run starts, a result that cannot be written: the folder is not a
    folder or not writable (tried, not guessed: root passes ``os.access``), or its disk has
    less free space than ``need_bytes`` (twice for the copy made at the end)."""
    folder = Path(path).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ResultsWriteError(f"{folder}: cannot create the output folder "
                                f"({exc.strerror or exc})") from None
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise ResultsWriteError(f"{folder}: the output folder is not writable")
    probe = folder / f".{Path(path).name}.{os.getpid()}.probe"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ResultsWriteError(f"{folder}: the output folder is not writable "
                                f"({exc.strerror or exc})") from None
    free = shutil.disk_usage(folder).free
    if need_bytes and free < 2 * need_bytes:
        raise ResultsWriteError(f"{folder}: {free / 2**20:.0f} MiB free, the run needs up to "
                                f"{2 * need_bytes / 2**20:.0f} MiB (its file and the copy "
                                f"made when it completes)")


@dataclass(frozen=True)
class SeriesInfo:
    """Unit and meaning of one recorded series; ``columns`` names the parts of a vector series
    (e.g. the buses of ``vm_pu``), empty for a scalar series."""

    unit: str
    description: str = ""
    columns: tuple[str, ...] = ()
    aggregation: str = "mean"  # how steps combine: "mean" (rates, states) or "sum" (amounts)


@dataclass(frozen=True)
class KPI:
    """A key figure of a run."""

    value: float
    unit: str
    description: str = ""


#: bytes of a run's series a writer keeps in memory for the judge (a 15-minute year of the
#: reference park: about 170 MB); a longer run is judged from its file
KEEP_BYTES = 320 * 2**20
_KEPT: dict[Path, Kept] = {}  # closed, unjudged runs' kept series, by partial file


class Kept:
    """Copies of the rows a :class:`RunWriter` wrote, as written (float64 scalars, float32
    vectors, the times), for the judge of the run: the same values as the file's without
    reading and decompressing them back; room for ``capacity`` steps."""

    def __init__(self, keys: list[SeriesKey], vectors: Mapping[int, int], capacity: int,
                 time_dtype: Any) -> None:
        self._col = {key: i for i, key in enumerate(keys)}
        self._scalars = np.empty((len(keys), capacity))  # a row per series: each contiguous
        self._vectors = {i: np.empty((capacity, w), dtype=np.float32)
                         for i, w in vectors.items()}
        self._times = np.empty(capacity, dtype=time_dtype)
        self.n_steps = 0  # rows kept

    def add(self, buf: np.ndarray, vbufs: Mapping[int, np.ndarray], times: np.ndarray) -> bool:
        """Keep a flush's rows (copied: the writer reuses its buffers); False past the
        capacity."""
        at, n = self.n_steps, len(times)
        if at + n > len(self._times):
            return False
        self._scalars[:, at:at + n] = buf.T
        for i, v in self._vectors.items():
            v[at:at + n] = vbufs[i][:n]
        self._times[at:at + n] = times
        self.n_steps = at + n
        return True

    def time_s(self) -> np.ndarray:
        """The kept times (a new array)."""
        return self._times[:self.n_steps].copy()

    def __contains__(self, key: SeriesKey) -> bool:
        return key in self._col

    def rows(self, key: SeriesKey, start: int, stop: int, view: bool = False) -> np.ndarray:
        """Rows ``start:stop`` of one series: a new array, as a read of the file gives, or
        with ``view`` a vector series' rows as a read-only view."""
        i = self._col[key]
        stop = min(stop, self.n_steps)
        vector = self._vectors.get(i)
        if vector is None:
            return self._scalars[i, start:stop].copy()
        if not view:
            return vector[start:stop].copy()
        out = vector[start:stop]
        out.flags.writeable = False
        return out


def kept_series(path: str | Path) -> Kept | None:
    """The series a writer kept in memory for the closed, unjudged run at ``path`` (its
    partial file), handed over once; None if it kept none (over its bytes, another process)."""
    return _KEPT.pop(Path(path).resolve(), None)


class RunWriter:
    """Write one run: declare the series, then append steps, into ``<path>.partial``;
    ``close()`` makes it the complete result at ``path`` (:func:`finish`),
    ``close(publish=False)`` leaves it for the KPIs and tables (and the rows written, kept in
    memory for :func:`kept_series` where ``n_steps``, the steps the run will take, is given
    and they need at most ``keep_bytes``), ``close(complete=False)`` leaves an incomplete
    partial file and the previous result untouched."""

    def __init__(
        self,
        path: str | Path,
        meta: Mapping[str, Any],
        series: Mapping[SeriesKey, SeriesInfo],
        entities: Mapping[str, Mapping[str, Any]] | None = None,
        chunk_steps: int = 2016,
        flush_s: float = 5.0,
        background: bool = False,
        keep_bytes: int = KEEP_BYTES,
        n_steps: int = 0,
    ) -> None:
        self.path = Path(path)
        self.partial = partial_path(self.path)
        check_writable(self.path)
        self._keys = list(series)
        self._index = {key: i for i, key in enumerate(self._keys)}
        self._chunk = int(chunk_steps)
        self._flush_s = float(flush_s)
        self._flushed_at = time.monotonic()
        self._scalar = [i for i, k in enumerate(self._keys) if not series[k].columns]
        self._vector = {i: len(series[k].columns) for i, k in enumerate(self._keys)
                        if series[k].columns}
        self._buf = np.full((self._chunk, len(self._keys)), np.nan)
        self._vbuf = {i: np.full((self._chunk, w), np.nan, dtype=np.float32)
                      for i, w in self._vector.items()}
        whole = float(meta.get("step_s", 1)).is_integer()  # int64 seconds, else float64
        self._tbuf = np.zeros(self._chunk, dtype=np.int64 if whole else np.float64)
        self._n_buf = 0
        self._n_written = 0
        self._background = bool(background)
        self._spare: tuple[np.ndarray, dict[int, np.ndarray], np.ndarray] | None = None
        self._worker: threading.Thread | None = None
        self._failure: ResultsWriteError | None = None
        self._thread_s = 0.0
        row_bytes = self._buf.itemsize * (len(self._keys) + 1) + 4 * sum(self._vector.values())
        self._kept: Kept | None = None  # none for a run of unknown length or over keep_bytes
        if 0 < int(n_steps) * row_bytes <= keep_bytes:
            self._kept = Kept(self._keys, self._vector, int(n_steps), self._tbuf.dtype)
        creating = self.partial.with_name(self.partial.name + ".new")
        try:
            # no chunk cache: each flush writes whole chunks, and HDF5's per-dataset caches
            # of the compressed series kept growing (a minute year: about 3 MB a simulated
            # day, 1.4 GB by its end; without them flat, the same CPU time)
            self._file = h5py.File(creating, "w", libver="latest", rdcc_nbytes=0)
        except OSError as exc:
            raise ResultsWriteError(f"{creating}: cannot create the run file ({exc})") from None
        g = self._file.create_group("meta")
        for key, value in meta.items():
            g.attrs[key] = value
        g.attrs["complete"] = False
        g.attrs["written_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self._time = self._file.create_dataset(
            "time", shape=(0,), maxshape=(None,), dtype=self._tbuf.dtype, chunks=(self._chunk,)
        )
        self._time.attrs["unit"] = "s"
        self._time.attrs["description"] = "seconds from the scenario start (start of each step)"
        self._dsets = []
        for i, ((entity, attr), info) in enumerate(series.items()):
            width = self._vector.get(i)
            shape, maxshape, chunks, dtype = (
                ((0,), (None,), (self._chunk,), "f8") if width is None
                else ((0, width), (None, width), (min(self._chunk, 96), width), "f4"))
            d = self._file.create_dataset(
                f"series/{entity}/{attr}", shape=shape, maxshape=maxshape, dtype=dtype,
                chunks=chunks, compression="gzip", compression_opts=1, shuffle=True,
            )
            d.attrs["unit"] = info.unit
            d.attrs["description"] = info.description
            d.attrs["aggregation"] = info.aggregation
            if width is not None:
                d.attrs["columns"] = list(info.columns)
            self._dsets.append(d)
        for entity, attrs in (entities or {}).items():
            group = self._file.require_group(f"series/{entity}")
            for key, value in attrs.items():
                group.attrs[key] = value
        self._file.swmr_mode = True
        self._file.flush()
        clear_open_flag(creating)
        creating.replace(self.partial)  # a whole skeleton, or nothing, at .partial

    @property
    def keys(self) -> list[SeriesKey]:
        """The declared series, in column order."""
        return list(self._keys)

    def is_vector(self, col: int) -> bool:
        """Whether the series in column ``col`` is a vector series."""
        return col in self._vector

    def column(self, key: SeriesKey) -> int | None:
        """Column index of a declared series (None if it was not declared)."""
        return self._index.get(key)

    def append(self, time_s: int, values: Mapping[int, Any]) -> None:
        """Record one step: ``values`` maps column indices to values (sequences for vector
        series); the rest get NaN."""
        cols = [i for i in values if i not in self._vbuf]
        self.append_columns(time_s, cols, [values[i] for i in cols],
                            {i: v for i, v in values.items() if i in self._vbuf})

    def append_columns(self, time_s: int, cols: list[int], vals: list[Any],
                       vectors: Mapping[int, Any]) -> None:
        """Record one step from the scalar series' column indices and values (None for NaN)
        and the vector series' values by column index; the rest get NaN."""
        n = self._n_buf
        row = self._buf[n]
        row.fill(np.nan)
        if cols:
            row[cols] = np.array(vals, dtype=float)  # None -> NaN
        for i, vbuf in self._vbuf.items():
            value = vectors.get(i)
            vbuf[n] = np.nan if value is None else value
        self._tbuf[n] = time_s
        self._n_buf += 1
        if self._n_buf == self._chunk or time.monotonic() - self._flushed_at > self._flush_s:
            self.flush()

    def append_block(self, times_s: Sequence[Any], cols: list[int], values: np.ndarray,
                     vectors: Mapping[int, Sequence[Any]]) -> None:
        """:meth:`append_columns` for consecutive steps at once: ``values`` holds a row per
        column of ``cols`` and a column per step (NaN for None), ``vectors`` each vector
        series' values, one per step; the same rows as one call per step."""
        k, m = 0, len(times_s)
        while k < m:
            n = self._n_buf
            take = min(m - k, self._chunk - n)
            if time.monotonic() - self._flushed_at > self._flush_s:
                take = 1  # a flush is due: after this step, as one call per step makes it
            rows = self._buf[n:n + take]
            rows.fill(np.nan)
            if cols:
                rows[:, cols] = values[:, k:k + take].T
            for i, vbuf in self._vbuf.items():
                part = vectors.get(i, (None,) * m)[k:k + take]
                if all(type(x) is list for x in part) or all(  # lists: the grid's rows
                        x is not None and np.ndim(x) == 1 for x in part):
                    vbuf[n:n + take] = part
                else:  # a step's None (NaN) or one number for the whole row
                    for j, x in enumerate(part):
                        vbuf[n + j] = np.nan if x is None else x
            self._tbuf[n:n + take] = times_s[k:k + take]
            self._n_buf += take
            k += take
            if self._n_buf == self._chunk or time.monotonic() - self._flushed_at > self._flush_s:
                self.flush()

    def flush(self) -> None:
        """Write buffered steps to the file and flush it to disk; a ``background`` writer
        hands them to a thread that writes them while the run goes on (HDF5's compression
        and writes release the GIL: on a second core), the buffers swapped for spare ones,
        and waits for that thread only at its next flush and on :meth:`close`."""
        n = self._n_buf
        if n == 0:
            return
        self._wait()
        buffers, start = (self._buf, self._vbuf, self._tbuf), self._n_written
        if not self._background:
            self._write(start, n, buffers)
        else:
            if self._spare is None:
                self._spare = (np.empty_like(self._buf),
                               {i: np.empty_like(v) for i, v in self._vbuf.items()},
                               np.empty_like(self._tbuf))
            (self._buf, self._vbuf, self._tbuf), self._spare = self._spare, buffers
            self._worker = threading.Thread(target=self._write_caught, args=(start, n, buffers),
                                            name="run-writer", daemon=True)
            self._worker.start()
        self._n_written = start + n
        self._n_buf = 0
        self._flushed_at = time.monotonic()

    def _write(self, start: int, n: int,
               buffers: tuple[np.ndarray, dict[int, np.ndarray], np.ndarray]) -> None:
        """Write ``n`` buffered steps at step ``start``: every series, then /time."""
        buf, vbufs, tbuf = buffers
        try:
            for i, d in enumerate(self._dsets):  # series first, /time last: readers cut at it
                vbuf = vbufs.get(i)
                _write_rows(d, start, buf[:n, i] if vbuf is None else vbuf[:n])
            # the series on disk before /time grows: HDF5 writes a dataset's new extent when
            # its cache evicts it, in no set order, so without this flush a kill could leave
            # /time longer than a series; with it no series is ever shorter than /time
            self._file.flush()
            clear_open_flag(self.partial)
            _write_rows(self._time, start, tbuf[:n])
            if self._kept is not None and not self._kept.add(buf[:n], vbufs, tbuf[:n]):
                self._kept = None  # more steps than announced: the judge reads the file
            self._file.flush()
            clear_open_flag(self.partial)
        except OSError as exc:
            self._abandon()
            raise ResultsWriteError(f"{self.partial}: writing the run failed after "
                                    f"{start} steps ({exc}); the previous result "
                                    f"is kept") from None

    def _write_caught(self, start: int, n: int,
                      buffers: tuple[np.ndarray, dict[int, np.ndarray], np.ndarray]) -> None:
        """:meth:`_write` in the writer's thread: a failure kept for the run's thread."""
        t0 = time.perf_counter()
        try:
            self._write(start, n, buffers)
        except ResultsWriteError as exc:
            self._failure = exc
        self._thread_s += time.perf_counter() - t0

    @property
    def thread_s(self) -> float:
        """Wall seconds the background writes took in their thread (the one running
        awaited)."""
        worker = self._worker
        if worker is not None:
            worker.join()
        return self._thread_s

    def _wait(self) -> None:
        """Wait for the writer's thread, if it runs; raise its failure (once)."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.join()
        failure, self._failure = self._failure, None
        if failure is not None:
            raise failure

    def _abandon(self) -> None:
        """Close the file after a failed write, quietly (it is incomplete anyway)."""
        file, self._file = self._file, None
        with contextlib.suppress(Exception):
            file.close()

    @property
    def n_steps(self) -> int:
        """Steps recorded so far (written or buffered)."""
        return self._n_written + self._n_buf

    def close(self, complete: bool = True, publish: bool = True) -> None:
        """Flush and close the partial file; if ``complete`` and ``publish``, make it the
        result at ``path`` (:func:`finish`, nothing more to write)."""
        self._wait()
        if self._file is None:
            return
        self.flush()
        self._wait()
        file, self._file = self._file, None
        try:
            file.close()
        except OSError as exc:
            raise ResultsWriteError(f"{self.partial}: closing the run failed ({exc})") from None
        if complete and publish:
            finish(self.path)
        elif complete and self._kept is not None:  # left for judging: its series in memory
            while len(_KEPT) >= 2:  # runs never judged (stopped): the oldest let go
                _KEPT.pop(next(iter(_KEPT)))
            _KEPT[self.partial.resolve()] = self._kept
        self._kept = None


def _write_rows(d: h5py.Dataset, start: int, rows: np.ndarray) -> None:
    """``d.resize(start + len(rows), axis=0); d[start:] = rows`` through h5py's low-level
    calls: the same HDF5 writes without the high-level layer's Python (in a background
    writer that Python holds the GIL against the run's thread)."""
    rows = np.ascontiguousarray(rows, dtype=d.dtype)
    shape = (start + len(rows), *rows.shape[1:])
    d.id.set_extent(shape)
    file_space = d.id.get_space()
    file_space.select_hyperslab((start,) + (0,) * (rows.ndim - 1), rows.shape)
    d.id.write(h5s.create_simple(rows.shape), file_space, rows)


def finish(path: str | Path, write: Any = None, complete: bool = True) -> Path:
    """Make the closed partial run of ``path`` its complete result: copy it to
    ``<path>.judging``, let ``write(judging_path)`` add the KPIs and tables, mark it complete
    and rename it over ``path`` (atomic), then remove the partial file. Killed at any moment,
    ``path`` holds a whole run (the previous one or this one) and ``.partial`` this run's
    series, ``complete`` False. ``complete=False`` publishes a run that stopped early (an
    aborted hardware test) as such."""
    path = Path(path)
    partial, judging = partial_path(path), judging_path(path)
    try:
        shutil.copyfile(partial, judging)
        try:
            if write is not None:
                write(judging)
        except BaseException:
            with contextlib.suppress(OSError):
                judging.unlink()
            raise
        with h5py.File(judging, "a") as f:
            f["meta"].attrs["n_steps_written"] = int(f["time"].shape[0])
            f["meta"].attrs["complete"] = bool(complete)
        with judging.open("rb+") as fh:
            os.fsync(fh.fileno())
        judging.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            judging.unlink()
        raise ResultsWriteError(f"{path}: writing the run's results failed ({exc}); the "
                                f"series are in {partial}, the previous result is kept"
                                ) from None
    with contextlib.suppress(OSError):
        dirfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
    with contextlib.suppress(OSError):
        partial.unlink()
    return path


def write_kpis(path: str | Path, kpis: Mapping[str, KPI]) -> None:
    """Write (or replace) the KPIs of a closed run file."""
    with h5py.File(path, "a") as f:
        group = f["kpi"] if "kpi" in f else f.create_group("kpi", track_order=True)
        for name, kpi in kpis.items():
            if name in group:
                del group[name]
            d = group.create_dataset(name, data=float(kpi.value))
            d.attrs["unit"] = kpi.unit
            d.attrs["description"] = kpi.description


def write_table(path: str | Path, name: str, rows: list[Mapping[str, Any]],
                description: str = "") -> None:
    """Write (or replace) a table of records at ``/<name>`` of a closed run file."""
    with h5py.File(path, "a") as f:
        if name in f:
            del f[name]
        fields = list(rows[0]) if rows else ["empty"]
        dtype = [(k, h5py.string_dtype() if isinstance(rows[0][k], str) else "f8")
                 for k in fields] if rows else [("empty", "f8")]
        table = np.array([tuple(r[k] for k in fields) for r in rows], dtype=dtype)
        d = f.create_dataset(name, data=table)
        d.attrs["description"] = description


def write_array(path: str | Path, name: str, array: np.ndarray, description: str = "") -> None:
    """Write (or replace) a structured array (a table with typed columns) at ``/<name>``;
    text columns are stored as UTF-8 strings."""
    if array.dtype.names:
        dtype = [(n, h5py.string_dtype() if array.dtype[n].kind == "U" else array.dtype[n])
                 for n in array.dtype.names]
        stored = np.empty(len(array), dtype=dtype)
        for n in array.dtype.names:
            stored[n] = array[n].astype(object) if array.dtype[n].kind == "U" else array[n]
        array = stored
    with h5py.File(path, "a") as f:
        if name in f:
            del f[name]
        d = f.create_dataset(name, data=array, compression="gzip", compression_opts=1)
        d.attrs["description"] = description


class Run:
    """A recorded run, read from its HDF5 file. Use as a context manager or call ``close``."""

    def __init__(self, path: str | Path, kept: Kept | None = None) -> None:
        self.path = Path(path)
        try:
            self._file = h5py.File(self.path, "r", libver="latest", swmr=True)
        except OSError as exc:
            raise ValueError(f"{self.path}: not a readable run file ({exc})") from None
        if "meta" not in self._file or "time" not in self._file:
            self._file.close()
            raise ValueError(f"{self.path}: not a park twin run file (no /meta or /time)")
        self._kinds: dict[str, Any] | None = None  # each entity's kind, read on first use
        # the writer's copies of the series (the same values), if as long as the file's
        self._kept = kept if kept is not None and kept.n_steps == self._steps else None

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
        if self._kept is not None:
            return self._kept.time_s()
        return self._file["time"][:]

    @property
    def _steps(self) -> int:  # /time's length: reads are cut at it (a killed run's series
        return self._file["time"].shape[0]  # may hold a flush more)

    @property
    def step_s(self) -> float:
        """The step of the run in seconds: an int when whole, else a float (0.1)."""
        step = float(self._file["meta"].attrs["step_s"])
        return int(step) if step.is_integer() else step

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
        if self._kinds is None or len(self._kinds) != len(group):  # an attribute read each
            self._kinds = {e: group[e].attrs.get("kind") for e in group}  # costs ~0.1 ms
        return [e for e, k in self._kinds.items() if k == kind]

    def entity_attrs(self, entity: str) -> dict[str, Any]:
        """Attributes of an entity's group (kind, spec as JSON text)."""
        return {k: _plain(v) for k, v in self._file[f"series/{entity}"].attrs.items()}

    def spec(self, entity: str) -> dict[str, Any]:
        """The spec the entity was built from (empty if none was recorded)."""
        text = self._file[f"series/{entity}"].attrs.get("spec")
        return json.loads(_plain(text)) if text is not None else {}

    def has(self, entity: str, attr: str) -> bool:
        """Whether the run recorded ``entity``'s ``attr``."""
        return f"series/{entity}/{attr}" in self._file

    def series(self, entity: str, attr: str) -> np.ndarray:
        """The values of one series, as long as :attr:`time_s`."""
        if self._kept is not None and (entity, attr) in self._kept:
            return self._kept.rows((entity, attr), 0, self._kept.n_steps)
        try:
            d = self._file[f"series/{entity}/{attr}"]
        except KeyError:
            raise KeyError(f"no series {entity}/{attr} in {self.path}") from None
        n = self._steps
        return d[:n]

    def row(self, entity: str, attr: str, i: int) -> np.ndarray:
        """Step ``i`` of one series (a vector's row), read alone; ``i`` counts the steps of
        :attr:`time_s`."""
        try:
            d = self._file[f"series/{entity}/{attr}"]
        except KeyError:
            raise KeyError(f"no series {entity}/{attr} in {self.path}") from None
        n = self._steps
        if not -n <= i < n:
            raise IndexError(f"step {i} of {self.path}, which has {n} steps")
        return np.asarray(d[i % n])

    def rows(self, entity: str, attr: str, start: int, stop: int) -> np.ndarray:
        """Steps ``start:stop`` of one series, read alone (a vector series in parts: a minute
        year's network voltages are 450 MB whole); from kept series a vector's rows are a
        read-only view."""
        if self._kept is not None and (entity, attr) in self._kept:  # a read-only view
            n = self._kept.n_steps
            return self._kept.rows((entity, attr), min(start, n), min(stop, n), view=True)
        try:
            d = self._file[f"series/{entity}/{attr}"]
        except KeyError:
            raise KeyError(f"no series {entity}/{attr} in {self.path}") from None
        n = self._steps
        return d[min(start, n):min(stop, n)]

    def info(self, entity: str, attr: str) -> SeriesInfo:
        """Unit and description of one series."""
        d = self._file[f"series/{entity}/{attr}"]
        columns = tuple(_plain(c) for c in d.attrs.get("columns", ()))
        return SeriesInfo(str(d.attrs.get("unit", "")), str(d.attrs.get("description", "")),
                          columns, str(d.attrs.get("aggregation", "mean")))

    def energy(self, entity: str, attr: str) -> float:
        """The total of one scalar series over the run, by its aggregation: a mean over the
        step (MW, kW) gives energy (MWh, kWh) as sum x step hours; an amount per step (kWh,
        counts) its plain sum. NaN (no value recorded) counts as nothing."""
        return energy_sum(self.series(entity, attr), self.info(entity, attr).aggregation,
                          float(self.step_s))

    def kpis(self) -> dict[str, KPI]:
        """The run's KPIs (empty for an incomplete run)."""
        group = self._file.get("kpi")
        if group is None:
            return {}
        return {
            name: KPI(float(d[()]), str(d.attrs.get("unit", "")), str(d.attrs.get("description", "")))
            for name, d in group.items()
        }

    def table(self, name: str) -> list[dict[str, Any]]:
        """The records of a table written with :func:`write_table` (empty if absent)."""
        d = self._file.get(name)
        if d is None or d.dtype.names == ("empty",):
            return []
        if d.dtype.names and len(d) > 10_000:
            raise ValueError(f"{name}: {len(d)} rows; read it with array()")
        return [{k: _plain(row[k]) for k in d.dtype.names} for row in d[:]]

    def array(self, name: str) -> np.ndarray:
        """A table of the run as a numpy structured array (e.g. ``carbon/hourly``)."""
        d = self._file.get(name)
        if d is None:
            raise KeyError(f"no table {name} in {self.path}")
        return d[:]

    def iter_series(self) -> Iterator[tuple[SeriesKey, SeriesInfo, np.ndarray]]:
        """Every series with its info and values."""
        for key in self.series_keys():
            yield key, self.info(*key), self.series(*key)


def energy_sum(values: np.ndarray, aggregation: str, step_s: float) -> float:
    """Total of a series by its aggregation: ``mean`` -> sum x step hours, ``sum`` -> sum."""
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation {aggregation!r}: expected one of {AGGREGATIONS}")
    total = float(np.nansum(np.asarray(values, dtype=float)))
    return total * step_s / 3600.0 if aggregation == "mean" else total


def open_run(path: str | Path, kept: Kept | None = None) -> Run:
    """Open a recorded run for reading (its series from ``kept``, :func:`kept_series`, where
    the writer kept them)."""
    return Run(path, kept)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode()
    return value
