"""Results that are never silently wrong: kill-safe files, refused outputs, sums by aggregation."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.conftest import interrupt
from twin.core import results
from twin.core.h5flag import _lookup3, clear_open_flag
from twin.core.results import (
    ResultsWriteError,
    RunWriter,
    SeriesInfo,
    energy_sum,
    open_run,
    partial_path,
)

ROOT = Path(__file__).resolve().parents[1]

# Runs a three-hour park run in forked children (imports paid once), each killed by SIGKILL
# after a random fraction of the recording time or at an aimed moment; after each, reports what a plain h5py.File sees.
_KILLER = r'''
import json, os, signal, sys, time
import h5py
from twin import runner
from twin.core import results
from twin.scenario import load

out, mode, args = sys.argv[1], sys.argv[2], sys.argv[3:]
s = load("scenarios/park.yaml").with_days(0.125)
init = results.RunWriter.__init__
def small_chunks(self, *a, **k):
    k["chunk_steps"], k["flush_s"] = 3, 0.0  # a flush every 3 steps: many kill targets
    init(self, *a, **k)
results.RunWriter.__init__ = small_chunks

def die(*a, **k):
    os.kill(os.getpid(), signal.SIGKILL)

def aim(where):
    if where.startswith("flush:"):  # inside the k-th flush: steps written, not yet flushed
        count, real = [0], h5py.File.flush
        def flush(self):
            count[0] += 1
            if count[0] == int(where[6:]):
                die()
            real(self)
        h5py.File.flush = flush
    elif where.startswith("time:"):  # at the k-th flush's /time: its series on disk
        count, real_rows = [0], results._write_rows
        def write_rows(d, start, rows):
            if d.name == "/time":
                count[0] += 1
                if count[0] == int(where[5:]):
                    die()
            real_rows(d, start, rows)
        results._write_rows = write_rows
    elif where == "before_kpis":
        runner.write_kpis = die
    elif where == "after_kpis":
        real = runner.write_kpis
        runner.write_kpis = lambda *a, **k: (real(*a, **k), die())
    elif where == "mid_tables":
        real = runner.write_array
        runner.write_array = lambda *a, **k: (real(*a, **k), die())
    elif where == "before_rename":
        real = os.replace
        results.os.replace = lambda src, dst: die() if str(dst).endswith(".h5") else \
            real(src, dst)

def look(path):
    try:
        with h5py.File(path) as f:
            lengths = sorted({f["series"][e][a].shape[0]
                              for e in f["series"] for a in f["series"][e]})
            seen = {"opens": True, "complete": bool(f["meta"].attrs["complete"]),
                    "time": f["time"].shape[0], "lengths": lengths,
                    "kpis": len(f["kpi"]) if "kpi" in f else 0, "tables": "carbon" in f}
        with results.open_run(path) as run:  # the twin's reader: every series cut at /time
            seen["read"] = sorted({run.series(*key).shape[0] for key in run.series_keys()})
        return seen
    except FileNotFoundError:
        return None
    except Exception as exc:
        return {"opens": False, "error": str(exc)[:120]}

path = runner.output_path(s, out)
for i, what in enumerate(["complete"] + args):
    pid = os.fork()
    aimed = what in ("before_kpis", "after_kpis", "mid_tables", "before_rename") \
        or what.startswith(("flush:", "time:"))
    if pid == 0:
        if aimed:
            aim(what)
        try:
            runner.run(s, out_dir=out)
        finally:
            os._exit(0)
    t0 = time.monotonic()
    if what == "complete":  # time the run: from its partial file's creation to its end
        while not os.path.exists(results.partial_path(path)) and \
                os.waitpid(pid, os.WNOHANG) == (0, 0):
            time.sleep(0.005)
        t_file = time.monotonic() - t0
    elif not aimed:
        # a fraction of the recording time (the part before it only builds the world)
        time.sleep(max(0.0, t_file - 0.05 + float(what) * (t_run - t_file + 0.05)))
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if what == "complete":
        t_run = time.monotonic() - t0
    print(json.dumps({"what": what, "killed": os.WIFSIGNALED(status),
                      "result": look(path), "partial": look(results.partial_path(path))}),
          flush=True)
'''


def _kill_runs(tmp_path: Path, moments: list[str]) -> list[dict]:
    proc = subprocess.run([sys.executable, "-c", _KILLER, str(tmp_path), "x", *moments],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    assert len(lines) == len(moments) + 1, proc.stderr[-2000:]
    return lines


def _assert_safe(report: dict) -> None:
    result, partial = report["result"], report["partial"]
    # the result is always a whole run: the previous complete one, or the new one
    assert result is not None, report
    assert result["opens"], report
    assert result["complete"], report
    assert result["kpis"] > 0, report
    assert result["tables"], report
    assert result["lengths"] == [result["time"]] == result["read"], report
    if partial is not None:  # the killed run's own file: plain-openable, incomplete
        assert partial["opens"], report
        assert not partial["complete"], report
        # no series shorter than /time (a kill within a flush may leave them a flush
        # longer), and read as the twin reads, every series exactly as long as /time
        assert partial["lengths"][0] >= partial["time"], report
        assert partial["read"] == [partial["time"]], report


def test_sigkill_at_random_moments_and_at_the_final_writes(tmp_path):
    rng = random.Random(17)
    moments = [f"{rng.uniform(0.0, 1.0):.3f}" for _ in range(2)]
    moments += [f"flush:{rng.randint(2, 12)}" for _ in range(2)]  # the 1st: the skeleton
    aimed = ["time:5", "before_kpis", "mid_tables", "before_rename"]
    reports = _kill_runs(tmp_path, moments + aimed)
    assert reports[0]["result"]["complete"]
    assert reports[0]["partial"] is None
    for report in reports[1:]:
        _assert_safe(report)
    for report in reports[3:5]:  # killed inside a flush: the steps before it, all series
        assert report["killed"], report
        assert report["partial"] is not None, report
        assert report["partial"]["time"] < 12, report
    # killed between a flush's series and its /time: the series on disk are a flush ahead,
    # the steps before it read whole
    ahead = reports[5]
    assert ahead["killed"], ahead
    assert 0 < ahead["partial"]["time"] < ahead["partial"]["lengths"][0], ahead
    for report in reports[-3:]:  # killed in the final writes: its series are all there
        assert report["killed"], report
        assert report["partial"] is not None, report
        assert report["partial"]["lengths"] == [12] == [report["partial"]["time"]], report


def _writer(path, chunk=4):
    series = {("pv", "p_mw"): SeriesInfo("MW", "AC power"),
              ("line", "e_kwh"): SeriesInfo("kWh", "energy per step", aggregation="sum")}
    return RunWriter(path, {"step_s": 900}, series, chunk_steps=chunk)


def test_a_new_run_keeps_the_previous_result_until_it_is_complete(tmp_path):
    path = tmp_path / "park.h5"
    w = _writer(path)
    w.append(0, {0: 1.0, 1: 2.0})
    w.close()
    w = _writer(path)
    for i in range(9):
        w.append(i * 900, {0: 5.0, 1: 1.0})
    with h5py.File(path) as f:  # still the first run, untouched
        assert f["time"].shape == (1,)
        assert f["meta"].attrs["complete"]
    with h5py.File(partial_path(path)) as f:  # the running one, plain-openable mid-run
        assert not f["meta"].attrs["complete"]
        assert f["time"].shape == (8,)
        assert f["series/pv/p_mw"].shape == (8,)
    w.close()
    with h5py.File(path) as f:
        assert f["time"].shape == (9,)
        assert f["meta"].attrs["complete"]
    assert not partial_path(path).exists()


def test_a_series_a_flush_longer_than_time_is_read_cut_at_time(tmp_path):
    """A kill between a flush's series and its /time leaves the series longer (the writer's
    order): the twin reads every series, each step and the last step by /time's count."""
    path = tmp_path / "park.h5"
    w = _writer(path)
    for i in range(5):
        w.append(i * 900, {0: float(i), 1: 1.0})
    w.close(complete=False)
    with h5py.File(partial_path(path), "a") as f:  # the next flush's series, not its /time
        d = f["series/pv/p_mw"]
        d.resize((7,))
        d[5:] = 99.0
    with open_run(partial_path(path)) as run:
        assert len(run.time_s) == 5
        np.testing.assert_array_equal(run.series("pv", "p_mw"), [0.0, 1.0, 2.0, 3.0, 4.0])
        np.testing.assert_array_equal(run.rows("pv", "p_mw", 3, 10), [3.0, 4.0])
        assert float(run.row("pv", "p_mw", -1)) == 4.0  # the last step of /time
        assert float(run.row("pv", "p_mw", 2)) == 2.0
        with pytest.raises(IndexError, match="5 steps"):
            run.row("pv", "p_mw", 5)


def test_clear_open_flag_makes_a_killed_writer_file_plain_openable(tmp_path):
    path = tmp_path / "k.h5"
    code = ("import h5py,os,signal\n"
            f"f=h5py.File({str(path)!r},'w',libver='latest')\n"
            "d=f.create_dataset('x',shape=(0,),maxshape=(None,),dtype='f8',chunks=(4,))\n"
            "f.swmr_mode=True; d.resize((4,)); d[:]=3.0; f.flush()\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    subprocess.run([sys.executable, "-c", code], check=False)
    with pytest.raises(OSError, match="already open for write"):
        h5py.File(path)
    assert clear_open_flag(path)
    with h5py.File(path) as f:
        np.testing.assert_array_equal(f["x"][:], 3.0)


def test_the_superblock_checksum_is_lookup3_as_published():
    # the answers printed by lookup3.c's own driver (driver5, hashlittle with initval 0)
    assert _lookup3(b"") == 0xDEADBEEF
    assert _lookup3(b"Four score and seven years ago") == 0x17770551


def test_a_folder_that_is_a_file_is_refused_before_the_run(tmp_path):
    blocker = tmp_path / "out"
    blocker.write_text("a file where the output folder should be")
    with pytest.raises(ResultsWriteError, match="cannot create the output folder"):
        results.check_writable(blocker / "park.h5")


def test_a_read_only_folder_is_refused_before_the_run(tmp_path, monkeypatch):
    monkeypatch.setattr(results.os, "access", lambda *a, **k: False)
    with pytest.raises(ResultsWriteError, match="not writable"):
        results.check_writable(tmp_path / "park.h5")


def test_too_little_free_space_is_refused_before_the_run(tmp_path, monkeypatch):
    usage = results.shutil.disk_usage(tmp_path)
    monkeypatch.setattr(results.shutil, "disk_usage",
                        lambda p: usage._replace(free=10 << 20))
    results.check_writable(tmp_path / "a.h5", results.estimate_bytes(96, 100))
    with pytest.raises(ResultsWriteError, match="MiB free"):
        results.check_writable(tmp_path / "a.h5", results.estimate_bytes(35040 * 4, 200))


def test_a_failed_write_mid_run_is_one_line_and_keeps_the_previous_result(tmp_path,
                                                                          monkeypatch):
    path = tmp_path / "park.h5"
    w = _writer(path)
    w.append(0, {0: 1.0, 1: 1.0})
    w.close()
    w = _writer(path)

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(results, "_write_rows", full_disk)  # h5py on a full disk
    for i in range(3):
        w.append(i * 900, {0: 1.0, 1: 1.0})
    with pytest.raises(ResultsWriteError) as err:
        w.append(3 * 900, {0: 1.0, 1: 1.0})  # the fourth step fills the chunk: a flush
    assert "\n" not in str(err.value)
    assert "previous result is kept" in str(err.value)
    with h5py.File(path) as f:
        assert f["meta"].attrs["complete"]
        assert f["time"].shape == (1,)


def test_energy_sums_follow_each_series_aggregation(tmp_path):
    path = tmp_path / "run.h5"
    w = _writer(path)
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 4, 40)  # MW, mean over each 15-minute step
    e = rng.uniform(0, 100, 40)  # kWh per step
    for i in range(40):
        w.append(i * 900, {0: p[i], 1: e[i]})
    w.close()
    with open_run(path) as run:
        assert run.energy("pv", "p_mw") == pytest.approx(sum(p) / 4)  # MWh
        assert run.energy("line", "e_kwh") == pytest.approx(sum(e))  # kWh
    assert energy_sum(np.array([1.0, np.nan, 3.0]), "mean", 3600) == 4.0
    with pytest.raises(ValueError, match="aggregation"):
        energy_sum(np.ones(3), "max", 900)


def test_ctrl_c_during_twin_run_is_one_line_and_keeps_the_previous_result(tmp_path):
    from twin import runner
    from twin.scenario import load

    out = tmp_path / "out"
    park = str(ROOT / "scenarios" / "park.yaml")
    path = runner.run(load(park).with_days(0.125), out_dir=out).path  # the previous result
    assert path == out / "park.h5"
    rc, err = interrupt(["run", park, "--days", "2", "-q", "--out", str(out)],
                         lambda _: partial_path(path).exists())
    assert rc == 130, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("interrupted")
    with h5py.File(path) as f:  # the previous run, whole
        assert f["meta"].attrs["complete"]
        assert f["time"].shape == (12,)


STUDY = f"""\
name: tiny
base: {ROOT / "scenarios" / "park.yaml"}
fixed: {{grid: null}}
parameters:
  batteries[0].e_max_mwh: [400, 1600]
  park.seed: [1, 2]
options: {{days: 2}}
"""


def test_ctrl_c_during_a_quiet_sweep_is_one_line(tmp_path):
    study = tmp_path / "tiny.yaml"
    study.write_text(STUDY)
    rc, err = interrupt(["sweep", str(study), "-q", "-o", str(tmp_path / "t.parquet"),
                          "--workers", "2"], lambda e: "study tiny" in e)
    assert rc == 130, err
    assert "Traceback" not in err, err
    assert err.strip().splitlines()[-1].startswith("interrupted: 0 of 4 cases done"), err


def test_the_aoi_line_records_no_nan_and_its_series_sum_to_its_own_totals(tmp_path):
    import dataclasses

    from twin import runner, scenario

    s = scenario.load(ROOT / "scenarios" / "park.yaml").with_days(1)
    s = dataclasses.replace(s, grid=None, period=dataclasses.replace(
        s.period, start=s.period.start.replace(day=5)))  # a Tuesday: the line works
    result = runner.run(s, out_dir=tmp_path)
    kpis = result.kpis  # the line's own totals over the run (its summary), not the series
    with open_run(result.path) as run:
        [line] = run.entities("aoi")
        for attr in ("e_kwh", "oee", "kwh_per_board", "lead_time_s", "producing"):
            assert not np.isnan(run.series(line, attr)).any(), attr
        assert run.info(line, "e_kwh").aggregation == "sum"
        # per-step values on the park's 15-minute axis: the sums are the line's totals
        # (held hourly values summed four times gave 4x)
        assert run.energy(line, "e_kwh") == pytest.approx(kpis["e_aoi_mwh"].value * 1000)
        assert run.energy(line, "p_mw") == pytest.approx(kpis["e_aoi_mwh"].value)
        assert run.energy(line, "boards_out") == kpis["aoi_boards_out"].value
        assert kpis["aoi_boards_out"].value > 0
        producing = run.series(line, "producing")
        idle = producing == 0
        assert idle.any()
        assert (run.series(line, "boards_out")[idle] == 0).all()
        assert (run.series(line, "kwh_per_board")[idle] == 0).all()
        assert (run.series(line, "kwh_per_board")[~idle] > 0).all()


def test_ctrl_c_during_twin_pathway_is_one_line(tmp_path):
    out = tmp_path / "pw"
    rc, err = interrupt(["pathway", str(ROOT / "scenarios" / "baseline-2025.yaml"), "--days",
                          "2", "--out", str(out)],
                         lambda _: any(out.glob("*.partial")))
    assert rc == 130, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
