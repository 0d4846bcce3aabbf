"""A Ctrl-C during a run's steps stops the run as an interrupt: mosaik takes one for a cancel
and returns as if the run had ended, so the run would have been judged incomplete
(``ResultsWriteError``, "3 of 8 steps recorded") instead (twin.cosim.world)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from twin import runner, scenario

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def python_sigint():
    """Python's own Ctrl-C handler, as in a terminal, also where the tests run in the
    background (a shell starts background jobs with SIGINT ignored, and Python keeps that);
    the process's handler back afterwards."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


@pytest.mark.usefixtures("python_sigint")
def test_ctrl_c_during_the_steps_is_an_interrupt(tmp_path: Path) -> None:
    s = scenario.load(ROOT / "scenarios" / "park.yaml")
    s = s.with_days(8 * s.period.step_s / 86400)
    seen: list[int] = []

    def progress(t: int) -> None:
        seen.append(t)
        if len(seen) == 3:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(KeyboardInterrupt):
        runner.run(s, out_dir=tmp_path, block_steps=1, progress=progress)
    assert len(seen) == 3  # stopped there
    assert not (tmp_path / "park.h5").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Python's again
