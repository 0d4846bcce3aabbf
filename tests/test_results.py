"""The HDF5 layout: written in chunks, read back with units, incomplete until closed."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from twin.core.results import (
    KPI,
    RunWriter,
    SeriesInfo,
    kept_series,
    open_run,
    partial_path,
    write_kpis,
)


def _writer(path, chunk=4):
    series = {("pv-1", "p_mw"): SeriesInfo("MW", "AC power"),
              ("bess", "soc"): SeriesInfo("1", "state of charge")}
    return RunWriter(path, {"seed": 7, "step_s": 900}, series,
                     {"pv-1": {"kind": "pv", "spec": '{"p_dc_mwp": 2.0}'}}, chunk_steps=chunk)


def test_round_trip_with_units_and_kpis(tmp_path):
    path = tmp_path / "run.h5"
    w = _writer(path)
    cols = [w.column(k) for k in w.keys]
    for i in range(10):
        w.append(i * 900, {cols[0]: float(i), cols[1]: 0.5})
    w.close()
    write_kpis(path, {"e_pv_mwh": KPI(12.5, "MWh", "PV")})
    with open_run(path) as run:
        assert run.complete
        np.testing.assert_array_equal(run.time_s, np.arange(10) * 900)
        np.testing.assert_array_equal(run.series("pv-1", "p_mw"), np.arange(10.0))
        assert run.info("pv-1", "p_mw").unit == "MW"
        assert run.entities("pv") == ["pv-1"]
        assert run.spec("pv-1") == {"p_dc_mwp": 2.0}
        assert run.kpis()["e_pv_mwh"].value == 12.5
        assert run.meta["seed"] == 7
    with h5py.File(path) as f:  # plain h5py finds everything too
        assert f["series/bess/soc"].attrs["unit"] == "1"


def test_flushed_chunks_are_readable_before_close(tmp_path):
    path = tmp_path / "run.h5"
    w = _writer(path, chunk=4)
    col = w.column(("pv-1", "p_mw"))
    for i in range(9):  # two chunks flushed, one step buffered
        w.append(i * 900, {col: 1.0})
    assert not path.exists()  # written beside the result until complete
    with open_run(partial_path(path)) as run:
        assert not run.complete
        assert len(run.time_s) == 8
        assert len(run.series("bess", "soc")) == 8
        assert np.isnan(run.series("bess", "soc")).all()
    w.close(complete=False)
    with open_run(partial_path(path)) as run:
        assert not run.complete
        assert len(run.time_s) == 9


def test_not_a_run_file(tmp_path):
    bad = tmp_path / "x.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="not a readable run file"):
        open_run(bad)


def test_vector_series_round_trip(tmp_path):
    path = tmp_path / "run.h5"
    series = {("grid", "vm_pu"): SeriesInfo("p.u.", "bus voltages", ("b1", "b2", "b3")),
              ("grid", "p_loss_mw"): SeriesInfo("MW", "losses")}
    w = RunWriter(path, {"step_s": 900}, series, chunk_steps=4)
    vm, loss = w.column(("grid", "vm_pu")), w.column(("grid", "p_loss_mw"))
    for i in range(7):
        w.append(i * 900, {vm: [1.0, 0.99 - i / 100, 1.01], loss: float(i)} if i != 3
                 else {loss: 3.0})  # step 3 has no vector: NaN
    w.close()
    with open_run(path) as run:
        v = run.series("grid", "vm_pu")
        assert v.shape == (7, 3)
        assert run.info("grid", "vm_pu").columns == ("b1", "b2", "b3")
        np.testing.assert_allclose(v[5], [1.0, 0.94, 1.01], rtol=1e-6)
        assert np.isnan(v[3]).all()
        np.testing.assert_array_equal(run.series("grid", "p_loss_mw"), np.arange(7.0))


def test_kept_series_read_as_the_file_does(tmp_path):
    """A run left for judging (``publish=False``) hands its series to the judge from memory:
    each read (whole, rows, times; scalars, vectors, NaN steps) equals the file's; over its
    bytes, past the steps announced, or closed incomplete, it keeps none."""
    path = tmp_path / "run.h5"
    series = {("grid", "vm_pu"): SeriesInfo("p.u.", "bus voltages", ("b1", "b2")),
              ("grid", "p_loss_mw"): SeriesInfo("MW", "losses"),
              ("pv-1", "p_mw"): SeriesInfo("MW", "AC power")}
    w = RunWriter(path, {"step_s": 900}, series, chunk_steps=4, n_steps=11)
    vm, loss = w.column(("grid", "vm_pu")), w.column(("grid", "p_loss_mw"))
    rng = np.random.default_rng(5)
    for i in range(11):
        w.append(i * 900, {vm: rng.random(2).tolist(), loss: rng.random()} if i != 6
                 else {loss: None})
    w.close(publish=False)
    kept = kept_series(partial_path(path))
    assert kept is not None
    assert kept_series(partial_path(path)) is None  # handed over once
    with open_run(partial_path(path)) as disk, open_run(partial_path(path), kept) as mem:
        assert mem._kept is kept
        assert disk._kept is None
        np.testing.assert_array_equal(mem.time_s, disk.time_s)
        assert mem.time_s.dtype == disk.time_s.dtype
        for key in series:
            a, b = mem.series(*key), disk.series(*key)
            assert a.dtype == b.dtype
            assert a.shape == b.shape
            np.testing.assert_array_equal(a, b)
            for start, stop in ((0, 3), (3, 9), (9, 50), (20, 30)):
                np.testing.assert_array_equal(mem.rows(*key, start, stop),
                                              disk.rows(*key, start, stop))
        mem.series("pv-1", "p_mw")[:] = 1.0  # a caller's change is its own copy's
        assert np.isnan(mem.series("pv-1", "p_mw")).all()
        with pytest.raises(ValueError, match="read-only"):  # the judge's blocks: views
            mem.rows("grid", "vm_pu", 0, 4)[0, 0] = 1.0
    small = RunWriter(tmp_path / "small.h5", {"step_s": 900}, series, chunk_steps=4,
                      n_steps=3)  # more steps than announced
    for i in range(5):
        small.append(i * 900, {loss: 1.0})
    small.close(publish=False)
    assert kept_series(partial_path(tmp_path / "small.h5")) is None
    long = RunWriter(tmp_path / "long.h5", {"step_s": 900}, series, chunk_steps=4,
                     keep_bytes=10_000, n_steps=1000)  # known to need more: none from the start
    assert long._kept is None
    long.append(0, {loss: 1.0})
    long.close(publish=False)
    assert kept_series(partial_path(tmp_path / "long.h5")) is None
    stopped = RunWriter(tmp_path / "stopped.h5", {"step_s": 900}, series, chunk_steps=4,
                        n_steps=2)
    stopped.append(0, {loss: 1.0})
    stopped.close(complete=False, publish=False)
    assert kept_series(partial_path(tmp_path / "stopped.h5")) is None
