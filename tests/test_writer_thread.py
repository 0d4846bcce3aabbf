"""The recorder writes a run's chunks in a thread beside the run (``RunWriter(background=True)``:
HDF5's compression releases the GIL, so it takes the second core): a twin run's rows written
there, a background writer's file equal to a plain one's, and its failed write one line at its
next flush or close.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from twin import runner, scenario
from twin.core import results
from twin.core.results import ResultsWriteError, RunWriter, SeriesInfo

ROOT = Path(__file__).resolve().parents[1]
STEPS = 8


def test_a_run_records_in_the_writer_thread(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    park = scenario.load(ROOT / "scenarios" / "park.yaml")
    park = park.with_days(STEPS * park.period.step_s / 86400)
    threads: list[str] = []
    write = RunWriter._write

    def write_seen(self: Any, *args: Any) -> None:
        threads.append(threading.current_thread().name)
        write(self, *args)

    monkeypatch.setattr(RunWriter, "_write", write_seen)
    made = runner.run(park, out_dir=tmp_path)
    assert threads == ["run-writer"]  # the steps, written at the close, in the thread
    with h5py.File(made.path) as f:
        assert f["time"].shape == f["series/grid/vm_pu"].shape[:1] == (STEPS,)
        assert np.isfinite(f["series/grid/p_net_mw"][()]).all()


def _writer(path: Path, background: bool) -> RunWriter:
    series = {("pv", "p_mw"): SeriesInfo("MW", "AC power"),
              ("grid", "vm_pu"): SeriesInfo("p.u.", "voltages", ("a", "b", "c"))}
    return RunWriter(path, {"step_s": 900}, series, chunk_steps=4, background=background)


def test_a_background_writer_writes_what_a_plain_one_writes(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    p, vm = rng.uniform(0, 4, 11), rng.uniform(0.9, 1.1, (11, 3))
    for background in (False, True):
        w = _writer(tmp_path / f"{background}.h5", background)
        for i in range(11):  # two chunks in the thread, three steps at the close
            w.append(i * 900, {0: p[i], 1: vm[i]})
        w.close()
        assert w.n_steps == 11
    with h5py.File(tmp_path / "False.h5") as a, h5py.File(tmp_path / "True.h5") as b:
        for name in ("time", "series/pv/p_mw", "series/grid/vm_pu"):
            assert np.array_equal(a[name][()], b[name][()]), name
        assert np.array_equal(b["series/pv/p_mw"][()], p)


def test_a_failed_background_write_is_one_line_at_the_next_flush(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "park.h5"
    w = _writer(path, background=True)

    def full_disk(*a: Any, **k: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(results, "_write_rows", full_disk)  # h5py on a full disk
    for i in range(4):  # the fourth step fills the chunk: a flush, in the thread
        w.append(i * 900, {0: 1.0})
    with pytest.raises(ResultsWriteError) as err:
        w.close()
    assert "\n" not in str(err.value)
    assert "after 0 steps" in str(err.value)
    assert not path.exists()
    assert results.partial_path(path).exists()
