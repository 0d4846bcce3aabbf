"""``twin hil`` at 100 ms steps: mosaik time in milliseconds for a sub-second step, the park's
adapters in seconds, the results' time axis in (float) seconds; ``twin run`` at whole seconds
unchanged, bit for bit."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from adapters.base import MS, resolution_for
from adapters.pv_sim import PVSim
from hil.pacer import PacerSim
from twin.core.results import open_run
from twin.scenario import ScenarioError, load, loads

ROOT = Path(__file__).resolve().parents[1]
STEP_S, DURATION_S = 0.1, 3
N = round(DURATION_S / STEP_S)


def scenario_text(step: str = "100ms", controller: str = "", duration: str = "3s",
                  timers: str = "stale_after: 1s") -> str:
    return f"""
park: {{name: hil fast park, latitude: 41.8, longitude: 123.4, seed: 3}}
period: {{start: 2027-06-15 10:00, duration: 8, step: 1}}
{controller}pv_plants: [{{name: pv, p_dc_mwp: 3.0, p_ac_mw: 2.5}}]
factory_loads: [{{name: plant, kind: supplier, p_peak_mw: 6.0}}]
batteries: [{{name: bess, p_max_mw: 2.0, e_max_mwh: 4.0, soc_init: 0.5}}]
hil:
  step: {step}
  duration: {duration}
  bindings:
    - entity: bess
      device: sim
      kind: battery
      safety: {{p_max_mw: 0.5, ramp_mw_per_s: 2.0, {timers}}}
"""


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``twin hil`` of a park whose battery is the simulated device, 3 s at 100 ms steps."""
    from twin.apps import cli

    folder = tmp_path_factory.mktemp("hil-fast")
    path = folder / "fast.yaml"
    path.write_text(scenario_text())
    t0 = time.monotonic()
    rc = cli.main(["hil", str(path), "--out", str(folder), "-q"])
    return {"rc": rc, "folder": folder, "scenario": path, "wall_s": time.monotonic() - t0}


def test_a_100_ms_run_keeps_real_time_and_records_its_time_axis(fast_run: dict) -> None:
    assert fast_run["rc"] == 0
    assert fast_run["wall_s"] >= (N - 1) * STEP_S  # 30 steps of 100 ms, paced
    with open_run(fast_run["folder"] / "fast.h5") as run:
        assert run.complete
        assert run.step_s == STEP_S
        t = run.time_s
        assert t.dtype == np.float64
        assert np.array_equal(t, np.arange(N) / 10)  # seconds, each exact to the double
        assert run.meta["n_steps"] == N
        late = run.series("pacer", "lateness_s")
    assert len(late) == N
    assert np.all(np.isfinite(late))
    assert np.all(late >= 0)
    assert np.median(late) < 0.05  # most steps well within their 100 ms
    pace = [r for r in map(json.loads, (fast_run["folder"] / "fast.trace.jsonl").open())
            if r["type"] == "pace"]
    assert [round(r["t_s"], 9) for r in pace] == [round(k * STEP_S, 9) for k in range(N)]
    assert [r["lateness_s"] for r in pace] == pytest.approx(list(late))
    # deadlines 100 ms apart in wall time: step k (from 1) was due at t0 + k x 100 ms
    due = np.array([r["wall_s"] - r["lateness_s"] for r in pace[1:]])
    assert due == pytest.approx(np.arange(1, N) * STEP_S, abs=1e-6)


def test_a_100_ms_run_keeps_the_battery_energy_balance(fast_run: dict) -> None:
    with open_run(fast_run["folder"] / "fast.h5") as run:
        e = run.series("bess", "e_mwh")
        soc = run.series("bess", "soc")
        p = run.series("bess", "p_mw")
        loss = run.series("bess", "p_loss_mw")
        pv = run.series("pv", "p_mw")
        kpis = run.kpis()
    assert np.max(np.abs(p)) > 0.3  # the device moved (the controller asked for more)
    dt_h = STEP_S / 3600
    # the energy of each step is its power over 100 ms (a 1 s or 0 s step would be 10x off);
    # the tolerance is the self-discharge (2e-4 of it here)
    assert np.diff(e) == pytest.approx((p[1:] - loss[1:]) * dt_h, rel=1e-3)
    assert soc[-1] - soc[0] == pytest.approx(np.sum((p[1:] - loss[1:]) * dt_h) / 4.0,
                                             rel=1e-3)
    assert soc == pytest.approx(e / 4.0)
    # the accounts read the step from the file: energy = power x 100 ms
    assert kpis["e_pv_mwh"].value == pytest.approx(np.sum(pv) * dt_h)
    assert kpis["e_pv_mwh"].value == pytest.approx(np.mean(pv) * DURATION_S / 3600)


def test_a_100_ms_run_replays_bit_for_bit(fast_run: dict) -> None:
    from twin.apps import cli

    folder = fast_run["folder"]
    rc = cli.main(["hil", str(fast_run["scenario"]), "--replay", str(folder / "fast.trace.jsonl"),
                   "--out", str(folder), "-q"])
    assert rc == 0
    with open_run(folder / "fast.h5") as live, open_run(folder / "fast-replay.h5") as replay:
        assert np.array_equal(live.time_s, replay.time_s)
        for attr in ("p_mw", "soc", "p_sent_mw"):
            assert live.series("bess", attr).tobytes() == replay.series("bess", attr).tobytes()


def test_twin_serve_steps_at_100_ms_too(tmp_path: Path) -> None:
    import socket

    from hil import serve

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    path = tmp_path / "served.yaml"
    path.write_text(scenario_text())
    s = serve.prepare(load(path), duration_s=2)
    assert (s.period.step_s, s.n_steps) == (STEP_S, 20)
    t0 = time.monotonic()
    result = serve.serve(s, port=port, out_dir=tmp_path)
    assert time.monotonic() - t0 >= 1.9
    with open_run(result.path) as run:
        assert run.step_s == STEP_S
        assert np.array_equal(run.time_s, np.arange(20) / 10)
        late = run.series("pacer", "lateness_s")
    assert len(late) == 20
    assert np.median(late) < 0.05


def test_sub_second_ticks_are_exact_in_the_adapters() -> None:
    sim = PVSim()
    sim.init("PV-0", time_resolution=resolution_for(0.1), start="2027-06-15T10:00+08:00",
             step_s=0.1)
    assert (sim.ticks_per_s, sim.step_ticks, sim.seconds(300)) == (1000, 100, 0.3)
    assert 0.3 // 0.1 == 2.0  # the trap: a float floor division is one step short
    assert [sim.index(sim.seconds(k * 100)) for k in range(50)] == list(range(50))
    assert [resolution_for(s) for s in (900, 1, 0.25, 0.1)] == [1.0, 1.0, MS, MS]
    pacer = PacerSim()
    pacer.init("Pacer-0", time_resolution=MS, step_s=0.1, policy="warn")
    assert pacer.pacer.step_s == pytest.approx(0.1)  # wall seconds, not ticks
    with pytest.raises(ValueError, match="time_resolution 1 s or 1 ms"):
        PVSim().init("PV-1", time_resolution=0.1, step_s=1)


@pytest.mark.parametrize(("step", "timers"), [
    ("100ms", "stale_after: 1s"), ("0.2", "stale_after: 1s"), ("250ms", "stale_after: 1s"),
    ("0.5", "stale_after: 1s"), ("1s", "stale_after: 1s"),
    ("2", "stale_after: 2s, revert_after: 3s"),
    ("30s", "stale_after: 30s, rearm_after: 30s, follow_within: 30s, revert_after: 60s")])
def test_hil_step_accepts_100_ms_to_60_s(step: str, timers: str) -> None:
    s = loads(scenario_text(step, duration="60s", timers=timers))
    assert s.hil is not None
    assert s.hil.step == pytest.approx(float(step.rstrip("ms")) / (
        1000 if step.endswith("ms") else 1))


@pytest.mark.parametrize(("step", "controller", "message"), [
    ("50ms", "", r"hil.step: expected 100 ms to 60 s, got 0.05 s"),
    ("61s", "", r"hil.step: expected 100 ms to 60 s, got 61 s"),
    ("300ms", "", r"hil.step: expected a step that divides a second .* got 300 ms"),
    ("0.1234", "", r"hil.step: expected a step that divides a second"),
    ("1.5", "", r"hil.step: expected whole seconds from 1 s"),
    ("100ms", "controller: {kind: ems}\n", r"hil.step: the EMS plans in steps of the park"),
])
def test_hil_step_refuses_what_the_park_cannot_step(step: str, controller: str,
                                                    message: str) -> None:
    with pytest.raises(ScenarioError, match=r"<memory>:\d+: " + message) as info:
        loads(scenario_text(step, controller, duration="60s"))
    assert "\n" not in str(info.value)


def test_twin_run_is_unchanged_by_the_millisecond_path(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """``twin run`` keeps 1 s ticks; forcing 1 ms ticks on the same 2 days of the shipped
    example gives the same file, bit for bit (the tick conversion changes no number)."""
    from twin import runner
    from twin.cosim import world

    s = load(ROOT / "scenarios" / "hil-battery.yaml").with_days(2)
    one = runner.run(dataclasses.replace(s, output=dataclasses.replace(s.output, name="s")),
                     tmp_path)
    monkeypatch.setattr(world, "resolution_for", lambda step_s: MS)
    ms = runner.run(dataclasses.replace(s, output=dataclasses.replace(s.output, name="ms")),
                    tmp_path)
    with h5py.File(one.path) as a, h5py.File(ms.path) as b:
        assert a["time"].dtype == b["time"].dtype == np.int64
        assert np.array_equal(a["time"][:], np.arange(192) * 900)
        assert a["time"][:].tobytes() == b["time"][:].tobytes()
        names: list[str] = []
        a["series"].visit(lambda name: names.append(name)
                          if isinstance(a["series"][name], h5py.Dataset) else None)
        assert len(names) > 30
        for name in names:
            assert a["series"][name][()].tobytes() == b["series"][name][()].tobytes(), name
        assert a["meta"].attrs["step_s"] == b["meta"].attrs["step_s"] == 900
    assert one.kpis.keys() == ms.kpis.keys()
    for key, kpi in one.kpis.items():
        assert kpi.value == ms.kpis[key].value or (np.isnan(kpi.value)
                                                    and np.isnan(ms.kpis[key].value)), key
