"""Work beside the run's thread gives the run's own results.

A planning run in blocks solves the grid's Newton-Raphson of a block in a worker thread while
the other simulators compute the next block (:class:`adapters.block.Deferred`), and the
recorder writes its chunks in a thread of its own (``RunWriter(background=True)``). The
reference park runs 48 steps step by step and in blocks of 8 without events (every block's
grid in the worker, the recorder holding blocks back): every recorded series equal within
1e-9 (``tests/test_blocks.py``'s comparison). A worker's failure ends the run with its error;
a background writer's files equal a plain one's, and its failed write is one line at its
next flush.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from adapters import blocks
from tests.test_blocks import _assert_same, _series
from twin import runner, scenario
from twin.core import results
from twin.core.results import ResultsWriteError, RunWriter, SeriesInfo

ROOT = Path(__file__).resolve().parents[1]
STEPS, BLOCK = 48, 8


@pytest.fixture(scope="module")
def park() -> scenario.Scenario:
    s = scenario.load(ROOT / "scenarios" / "park.yaml")
    return s.with_days(STEPS * s.period.step_s / 86400)


def test_blocks_with_the_grid_in_a_worker_equal_steps(park: scenario.Scenario, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []
    held: list[int] = []
    solve, write_held = blocks.BlockGridSim._solve, blocks.BlockRecorderSim._write_held

    def solve_seen(self: Any, calls: Any) -> Any:
        threads.append(threading.current_thread().name)
        time.sleep(0.02)  # a slow worker: the recorder holds the block back
        return solve(self, calls)

    def write_held_seen(self: Any) -> None:
        held.append(self._held is not None)
        write_held(self)

    monkeypatch.setattr(blocks.BlockGridSim, "_solve", solve_seen)
    monkeypatch.setattr(blocks.BlockRecorderSim, "_write_held", write_held_seen)
    steps = _series(runner.run(park, out_dir=tmp_path / "steps", block_steps=1).path)
    assert not threads
    made = runner.run(park, out_dir=tmp_path / "blocks", block_steps=BLOCK)
    assert len(threads) == STEPS // BLOCK  # each block's Newton-Raphson ...
    assert all(name.startswith("grid-blocks") for name in threads)  # ... in the worker
    assert made.timing["Grid"]["thread_s"] > 0
    assert any(held)  # blocks written a block later (the first and the last at once)
    assert _assert_same(steps, _series(made.path)) > 150


@pytest.mark.parametrize("failing_block", [3, STEPS // BLOCK])  # amid the run, its last
def test_a_failure_in_the_worker_ends_the_run_with_it(park: scenario.Scenario,
                                                      tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      failing_block: int) -> None:
    solve = blocks.BlockGridSim._solve
    count = [0]

    def failing(self: Any, calls: Any) -> Any:
        count[0] += 1
        if count[0] == failing_block:
            raise MemoryError(f"no memory for block {failing_block}")
        return solve(self, calls)

    monkeypatch.setattr(blocks.BlockGridSim, "_solve", failing)
    with pytest.raises(MemoryError, match=f"block {failing_block}"):
        runner.run(park, out_dir=tmp_path, block_steps=BLOCK)
    assert not (tmp_path / "park.h5").exists()  # nothing published
    with h5py.File(results.partial_path(tmp_path / "park.h5")) as f:  # closed, incomplete
        assert not f["meta"].attrs["complete"]
        assert f["time"].shape[0] == f["series/grid/p_net_mw"].shape[0] < STEPS


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


def test_a_failed_background_write_is_one_line_at_the_next_flush(tmp_path: Path) -> None:
    path = tmp_path / "park.h5"
    w = _writer(path, background=True)

    def full_disk(*a: Any, **k: Any) -> None:
        raise OSError(28, "No space left on device")

    w._time.resize = full_disk
    for i in range(4):  # the fourth step fills the chunk: a flush, in the thread
        w.append(i * 900, {0: 1.0})
    with pytest.raises(ResultsWriteError) as err:
        w.close()
    assert "\n" not in str(err.value)
    assert "after 0 steps" in str(err.value)
    assert not path.exists()
    assert results.partial_path(path).exists()
