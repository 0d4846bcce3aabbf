"""The co-simulation end to end: energy closes, runs reproduce, killed runs stay readable."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from tests.conftest import ENERGY_CLOSURE_REL, ROOT
from twin import runner, scenario
from twin.core.results import open_run, partial_path

SMALL = ROOT / "tests" / "scenarios" / "small.yaml"


@pytest.fixture(scope="module")
def year_run(tmp_path_factory):
    """One simulated year of the small park (shared by the tests that read it)."""
    out = tmp_path_factory.mktemp("year")
    return runner.run(scenario.load(SMALL), out_dir=out)


def _energy(f: h5py.File, entity: str, attr: str = "p_mw") -> float:
    return float(f[f"series/{entity}/{attr}"][:].sum()) * 0.25


def test_year_energy_closes(year_run):
    """generation + import = load + export + storage losses + ΔSOC, over a year, from the file."""
    with h5py.File(year_run.path) as f:
        assert len(f["time"]) == 35040
        assert f["meta"].attrs["complete"]
        gen = _energy(f, "pv") + _energy(f, "wind")
        load = _energy(f, "plant") + _energy(f, "ev") + _energy(f, "heat")
        imp, exp = _energy(f, "pcc", "p_import_mw"), _energy(f, "pcc", "p_export_mw")
        loss = _energy(f, "bess", "p_loss_mw")
        e = f["series/bess/e_mwh"][:]
        delta = float(e[-1]) - 0.3 * 40.0
    for value in (gen, load, imp, exp, loss):
        assert value > 0
    residual = gen + imp - (load + exp + loss + delta)
    assert abs(residual) <= ENERGY_CLOSURE_REL * (gen + imp)


def test_year_kpis_recorded(year_run):
    with open_run(year_run.path) as run:
        kpis = run.kpis()
        assert kpis["e_import_mwh"].unit == "MWh"
        assert abs(kpis["balance_residual_mwh"].value) < 1e-6 * kpis["e_load_mwh"].value
        soc = run.series("bess", "soc")
        # discharging stops at soc_min; only self-discharge takes it (slightly) below
        assert soc.min() >= 0.1 * 0.99
        assert soc.max() <= 0.9 + 1e-9
        assert 0 < kpis["self_sufficiency"].value < 1
        for key, info, values in run.iter_series():
            assert info.unit, f"{key} has no unit"
            assert len(values) == 35040


def test_same_seed_same_numbers(tmp_path):
    s = scenario.load(SMALL).with_days(3)
    a = runner.run(s, out_dir=tmp_path / "a")
    b = runner.run(s, out_dir=tmp_path / "b")
    with open_run(a.path) as ra, open_run(b.path) as rb:
        keys = ra.series_keys()
        assert keys == rb.series_keys()
        assert len(keys) > 20
        for key in keys:
            np.testing.assert_array_equal(ra.series(*key), rb.series(*key), err_msg=str(key))


def test_other_seed_other_numbers(tmp_path):
    s = scenario.load(SMALL).with_days(3)
    t = s.text.replace("seed: 11", "seed: 12")
    s2 = scenario.loads(t, SMALL).with_days(3)
    a = runner.run(s, out_dir=tmp_path / "a")
    b = runner.run(s2, out_dir=tmp_path / "b")
    with open_run(a.path) as ra, open_run(b.path) as rb:
        assert not np.array_equal(ra.series("plant", "p_mw"), rb.series("plant", "p_mw"))


def test_killed_run_leaves_readable_incomplete_file(tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "twin", "run", str(SMALL), "--out",
                             str(out), "-q"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    path = partial_path(out / "small.h5")  # the run's file until it is complete
    deadline = time.monotonic() + 120
    n = 0
    try:
        while time.monotonic() < deadline and n < 2000:
            time.sleep(0.5)
            if path.exists():
                try:
                    with open_run(path) as run:
                        n = len(run.time_s)
                except (OSError, ValueError):
                    n = 0
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert n >= 2000, "the run did not get far enough to test"
    assert not (out / "small.h5").exists()  # no result until a run completes
    with h5py.File(path) as f:  # a plain h5py opens the killed run's file
        assert not f["meta"].attrs["complete"]
    with open_run(path) as run:
        assert not run.complete
        steps = len(run.time_s)
        assert 2000 <= steps < 35040
        assert len(run.series("pcc", "p_import_mw")) == steps
        assert np.isfinite(run.series("pv", "p_mw")).all()


def test_cli_run_prints_kpis(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "twin", "run", str(SMALL), "--days", "1",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "e_import_mwh" in proc.stdout
    assert "96/96" in proc.stderr  # the progress bar reached the end
    assert (tmp_path / "small.h5").exists()


def test_a_shorter_run_is_the_start_of_a_longer_one(tmp_path):
    """Same seed, same numbers: a first look over a few days shows what the longer run will."""
    park = scenario.load(ROOT / "scenarios" / "park.yaml")
    short = runner.run(park.with_days(1), out_dir=tmp_path / "short")
    longer = runner.run(park.with_days(3), out_dir=tmp_path / "long")
    with open_run(short.path) as rs, open_run(longer.path) as rl:
        n = len(rs.time_s)
        for key in rs.series_keys():
            np.testing.assert_array_equal(rs.series(*key), rl.series(*key)[:n], err_msg=str(key))


def _ems_park() -> scenario.Scenario:
    """The reference park (AOI line, events) under the EMS: time-shifted links, hybrid sims."""
    s = scenario.load(ROOT / "scenarios" / "park.yaml").with_days(1)
    return dataclasses.replace(s, controller=dataclasses.replace(s.controller, kind="ems"))


@pytest.mark.parametrize("make", [lambda: scenario.load(SMALL).with_days(2), _ems_park],
                         ids=["small", "park-ems"])
def test_fast_progress_changes_nothing(tmp_path, make):
    """twin.cosim.scheduling only skips redundant work: the numbers are the same without it
    (step by step both: block stepping has its own tests, tests/test_blocks.py)."""
    s = make()
    fast = runner.run(s, out_dir=tmp_path / "fast", fast_progress=True, block_steps=1)
    slow = runner.run(s, out_dir=tmp_path / "slow", fast_progress=False)
    with open_run(fast.path) as rf, open_run(slow.path) as rs:
        assert rf.series_keys() == rs.series_keys()
        for key in rf.series_keys():
            if key == ("ems", "solve_ms"):  # a wall-clock time, not a simulated quantity
                continue
            np.testing.assert_array_equal(rf.series(*key), rs.series(*key), err_msg=str(key))
