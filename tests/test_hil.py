"""Hardware in the loop on loopback: emulators as subprocesses on free ports, the park in real
time, the safety layer, the watchdog, record and replay, assertions, the report.

Tests marked ``hardware`` talk to a real device named by ``TWIN_HIL_DEVICE`` (for example
``modbus://192.168.1.20:502?unit=1``; read only) and are skipped without one.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hil import faults, points
from hil.devices import SunSpecBattery
from hil.modbus import Refused
from hil.pacer import Pacer, PacerSim
from hil.safety import Interlock, Limits, Watchdog
from hil.session import HILAbort
from tests.emulators import Emulator, free_port
from twin.core.results import open_run
from twin.scenario import ScenarioError, loads
from twin.scenario import assertions as asr

ROOT = Path(__file__).resolve().parents[1]
HARDWARE = os.environ.get("TWIN_HIL_DEVICE")


# --- emulators as subprocesses ----------------------------------------------------------------

@pytest.fixture(scope="module")
def battery_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emu = Emulator("battery", tmp_path_factory.mktemp("emu") / "battery.jsonl")
    yield emu
    emu.stop()


@pytest.fixture(scope="module")
def meter_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emu = Emulator("meter", tmp_path_factory.mktemp("emu") / "meter.jsonl", "--p-mw", "5")
    yield emu
    emu.stop()


def scenario_text(battery_url: str, meter_url: str | None = None, extra: str = "",
                  safety: str = "{p_max_mw: 0.5, ramp_mw_per_s: 2.0, stale_after: 1s}") -> str:
    meter = (f"    - {{entity: plant, device: \"{meter_url}\", kind: meter}}\n"
             if meter_url else "")
    return f"""
park: {{name: hil test park, latitude: 41.8, longitude: 123.4, seed: 3}}
period: {{start: 2027-06-15 10:00, duration: 8, step: 1}}
pv_plants: [{{name: pv, p_dc_mwp: 3.0, p_ac_mw: 2.5}}]
factory_loads: [{{name: plant, kind: supplier, p_peak_mw: 6.0}}]
batteries: [{{name: bess, p_max_mw: 2.0, e_max_mwh: 4.0, soc_init: 0.5}}]
hil:
  bindings:
    - {{entity: bess, device: "{battery_url}", kind: battery, safety: {safety}}}
{meter}{extra}"""


# --- data: point lists ------------------------------------------------------------------------

def test_battery_point_list_matches_the_sunspec_definitions() -> None:
    plist = points.load("battery")
    assert points.check_sunspec(plist) == []
    assert set(plist.models) == {1, 701, 702, 703, 704, 713, 802}
    assert plist.by_twin("p_set_mw").writable
    assert not plist.by_twin("p_mw").writable


def test_registers_round_trip_every_type() -> None:
    for typ, size, value in (("int16", 1, -123), ("uint32", 2, 70000), ("float32", 2, 1.5),
                             ("int32", 2, -2_000_000), ("string", 4, "EMU")):
        p = points.Point("x", 0, typ, size)
        assert points.decode(p, points.encode(p, value)) == value


# --- the emulator, read by pysunspec2's standard client ----------------------------------------

def test_pysunspec2_discovers_and_reads_the_emulator(battery_emulator: Emulator) -> None:
    from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

    dev = SunSpecModbusClientDeviceTCP(slave_id=1, ipaddr="127.0.0.1",
                                       ipport=battery_emulator.port)
    try:
        dev.scan()
        assert {1, 701, 702, 703, 704, 713, 802} <= {k for k in dev.models
                                                      if isinstance(k, int)}
        storage = dev.models[713][0]
        storage.read()
        assert 0 < storage.SoC.cvalue <= 100
        assert storage.WHRtg.cvalue == pytest.approx(4e6)
        assert dev.models[701][0].W.cvalue is not None
        assert dev.common[0].Mn.value == "park-twin"
    finally:
        dev.close()


def test_a_setpoint_out_of_range_is_refused_by_client_and_device(
        battery_emulator: Emulator) -> None:
    async def go() -> None:
        dev = SunSpecBattery(battery_emulator.url)
        await dev.open()
        with pytest.raises(Refused):
            await dev.write({"p_set_mw": 3.0})  # beyond the 2 MW rating: never sent
        # the device refuses it too when a careless client sends it anyway
        from hil.faults import CommError

        with pytest.raises(CommError, match="exception"):
            await dev.link.write(dev.client.points["704.WSet"].address, [0xFFD2, 0x3B80])
        await dev.close()

    before = len(battery_emulator.writes())
    asyncio.run(go())
    new = battery_emulator.writes()[before:]
    assert [w["accepted"] for w in new] == [False]  # only the careless raw write arrived
    assert abs(new[0]["points"]["704.WSet"]) > 2e6


# --- the park in real time with both devices, replayed -----------------------------------------

@pytest.fixture(scope="module")
def live_run(battery_emulator: Emulator, meter_emulator: Emulator,
             tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``twin hil`` end to end, 8 s: battery and metered factory bound to emulators."""
    from twin.apps import cli

    folder = tmp_path_factory.mktemp("hil")
    path = folder / "park-hil.yaml"
    path.write_text(scenario_text(battery_emulator.url, meter_emulator.url, """  assertions:
    - soc within 0.1..0.9
    - bess.p_sent_mw within -0.5..0.5
    - after comm loss the device reverts to 0 MW within 2 s
    - lateness max below 900 ms
    - no takeover
"""))
    before = len(battery_emulator.writes())
    t0 = time.monotonic()
    rc = cli.main(["hil", str(path), "--duration", "8", "--out", str(folder), "-q"])
    return {"rc": rc, "folder": folder, "scenario": path, "wall_s": time.monotonic() - t0,
            "writes": battery_emulator.writes()[before:]}


def test_twin_hil_runs_end_to_end_and_writes_the_report(live_run: dict) -> None:
    assert live_run["rc"] == 0
    assert live_run["wall_s"] >= 7.0  # real time: 8 steps of 1 s
    folder = live_run["folder"]
    html = (folder / "park-hil-hil.html").read_text()
    for part in ("HIL test report", "PASS", "Pacing", "Device traffic", "<svg",
                 "park-twin BESS emulator"):
        assert part in html
    with open_run(folder / "park-hil.h5") as run:
        assert run.complete
        assert len(run.table("hil/traffic")) == 16  # 8 steps x 2 devices
        assert {r["status"] for r in run.table("hil/assertions")} == {"pass", "n/a"}
        assert run.entities("battery") == ["bess"]
        assert "bess.twin" in run.entities()
        plant = run.series("plant", "p_mw")
        assert np.all(np.abs(plant - 5.0) < 1.0)  # the meter's load, not the model's


def test_out_of_range_setpoints_never_reach_the_device(live_run: dict) -> None:
    with open_run(live_run["folder"] / "park-hil.h5") as run:
        cmd = run.series("bess", "p_cmd_mw")
        sent = run.series("bess", "p_sent_mw")
    assert np.nanmin(cmd) < -0.5  # the controller asked for more than the limit
    assert np.nanmax(np.abs(sent)) <= 0.5 + 1e-9
    wset = [w["points"]["704.WSet"] for w in live_run["writes"] if "704.WSet" in w["points"]]
    assert wset
    assert all(w["accepted"] for w in live_run["writes"])
    assert max(abs(x) for x in wset) <= 0.5e6


def test_pacer_lateness_is_recorded(live_run: dict) -> None:
    with open_run(live_run["folder"] / "park-hil.h5") as run:
        late = run.series("pacer", "lateness_s")
        kpis = run.kpis()
    assert len(late) == 8
    assert np.all(np.isfinite(late))
    assert 0 <= late[0] < 0.01
    assert np.all(late < 0.9)
    assert kpis["hil_lateness_p99_ms"].value == pytest.approx(np.percentile(late, 99) * 1e3)


def test_a_replayed_trace_reproduces_the_run_exactly(live_run: dict, monkeypatch) -> None:
    from hil import pacer
    from twin.apps import cli

    folder = live_run["folder"]
    waits: list[int] = []  # a replay takes the trace's times: it never waits for a deadline
    real_wait = pacer.Pacer.wait
    monkeypatch.setattr(pacer.Pacer, "wait", lambda self, k: (waits.append(k),
                                                             real_wait(self, k))[1])
    rc = cli.main(["hil", str(live_run["scenario"]), "--duration", "8", "--out", str(folder),
                   "-q", "--replay", str(folder / "park-hil.trace.jsonl")])
    assert rc == 0
    assert waits == []
    with open_run(folder / "park-hil.h5") as a, open_run(folder / "park-hil-replay.h5") as b:
        keys = a.series_keys()
        assert keys == b.series_keys()
        for key in keys:
            np.testing.assert_array_equal(a.series(*key), b.series(*key), err_msg=str(key))


# --- comm loss: the emulator dies mid-run ------------------------------------------------------

def test_killing_the_device_trips_the_watchdog_and_the_twin_takes_over(
        tmp_path: Path) -> None:
    from hil import run as hil_run

    emu = Emulator("battery", tmp_path / "emu.jsonl")
    policy = os.sched_getscheduler(0)
    try:
        s = hil_run.prepare(loads(scenario_text(emu.url), tmp_path / "kill.yaml"), 8,
                            realtime=True)
        threading.Timer(3.2, emu.stop).start()  # mid-run
        result = hil_run.run(s, out_dir=tmp_path)
    finally:
        emu.stop()
    assert result.aborted is None
    assert "scheduling" in result.scheduling  # granted or refused, it is said
    assert os.sched_getscheduler(0) == policy  # and undone after the run
    with open_run(result.path) as run:
        assert run.complete
        assert len(run.time_s) == 8
        on = run.series("bess", "on_device")
        p = run.series("bess", "p_mw")
        online = run.series("bess", "online")
    assert on[0] == 1
    assert on[-1] == 0
    assert np.all(np.isfinite(p))  # the run went on
    assert online[-1] == 0
    trace = {e["kind"] for e in json.loads("[" + ",".join(
        result.trace.read_text().splitlines()) + "]") if e["type"] == "event"}
    assert {"comm", "watchdog", "takeover"} <= trace
    assert result.kpis["hil_takeovers"].value == 1


def test_an_unreachable_device_is_one_line_and_exit_2(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    from twin.apps import cli

    path = tmp_path / "nobody.yaml"
    path.write_text(scenario_text(f"modbus://127.0.0.1:{free_port()}?unit=1"))
    assert cli.main(["hil", str(path), "--duration", "3", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "hil.bindings[0].device: cannot reach" in err[0]
    assert "twin emulate battery" in err[0]


def test_a_camera_folder_behind_the_device_interface(tmp_path: Path) -> None:
    import cv2

    from hil import camera
    from hil import run as hil_run

    for name, shade in (("golden", 40), ("board-1", 90)):
        cv2.imwrite(str(tmp_path / f"{name}.png"), np.full((64, 80, 3), shade, np.uint8))
    assert "80x64 px" in camera.probe(f"folder:{tmp_path}")

    async def two_frames() -> list[int]:
        cam = camera.CameraDevice(f"folder:{tmp_path}")
        await cam.open()
        frames = [int((await cam.read())["frame"].mean()) for _ in range(2)]
        assert cam.health().answers == 2
        await cam.close()
        return frames

    assert asyncio.run(two_frames()) == [90, 90]
    text = scenario_text("sim", extra=f"""    - {{entity: line, device: "folder:{tmp_path}", kind: camera}}
""").replace("batteries:", "aoi_lines: [{name: line}]\nbatteries:")
    s = hil_run.prepare(loads(text, tmp_path / "cam.yaml"), 5, out_dir=tmp_path / "out")
    line = s.aoi_lines[0]
    frames = tmp_path / "out" / "cam.frames" / "line"
    assert (line.camera, line.fidelity) == (f"grab:folder:{tmp_path}|record={frames}", "full")
    s = hil_run.prepare(loads(text, tmp_path / "cam.yaml"), 5,
                        record=tmp_path / "rec" / "bench.trace.jsonl")
    assert s.aoi_lines[0].camera == (f"grab:folder:{tmp_path}|record="
                                     f"{tmp_path / 'rec' / 'bench.frames' / 'line'}")


def test_a_live_camera_is_recorded_and_its_replay_uses_the_frames(tmp_path: Path) -> None:
    """``twin hil`` with a folder camera: its frames are read on the grabber's thread and
    recorded beside the trace; the replay takes them from there, not from the folder."""
    import cv2

    from hil import run as hil_run

    images = tmp_path / "images"
    images.mkdir()
    for name, shade in (("golden", 40), ("board-1", 90), ("board-2", 120)):
        cv2.imwrite(str(images / f"{name}.png"), np.full((256, 256, 3), shade, np.uint8))
    text = scenario_text("sim", extra=f"""    - {{entity: line, device: "folder:{images}", kind: camera}}
""").replace("batteries:", "aoi_lines: [{name: line, takt_s: 0.5, cycle_s: [0.5, 0.5, 0.5, "
                  "0.5, 0.5], reflow_transit_s: 0.5, robot: calibrated, verifier: none}]\n"
                  "batteries:")
    path = tmp_path / "cam.yaml"
    path.write_text(text)
    out = tmp_path / "out"
    live = hil_run.run(hil_run.prepare(loads(text, path), 3, out_dir=out), out_dir=out)
    assert live.aborted is None
    frames = out / "cam.frames" / "line"
    index = [json.loads(r) for r in (frames / "frames.jsonl").read_text().splitlines()]
    assert index, "no frame recorded"
    shades = {int(np.load(frames / r["file"]).mean()) for r in index}
    assert shades <= {90, 120}
    for f in images.glob("board-*.png"):  # the replay must not need the camera's folder
        f.unlink()
    replay = hil_run.run(hil_run.prepare(loads(text, path), replay=live.trace, out_dir=out),
                         out_dir=out)
    assert replay.aborted is None
    with open_run(live.path) as a, open_run(replay.path) as b:
        for key in [k for k in a.series_keys() if k[0] == "line"]:
            np.testing.assert_array_equal(a.series(*key), b.series(*key), err_msg=str(key))


# --- the pure parts: safety, watchdog, faults, pacer, assertions --------------------------------

LIMITS = Limits(p_min_mw=-1.0, p_max_mw=1.0, ramp_mw_per_s=0.5, soc_min=0.1, soc_max=0.9)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.floats(-1e3, 1e3) | st.just(math.nan), st.floats(0, 1)),
                min_size=1, max_size=30))
def test_the_interlock_never_sends_beyond_its_limits(steps: list[tuple[float, float]]) -> None:
    lock = Interlock(LIMITS)
    lock.arm()
    last = 0.0
    for cmd, soc in steps:
        p, _ = lock.command(cmd, soc, 1.0)
        assert -1.0 <= p <= 1.0
        assert abs(p - last) <= 0.5 + 1e-12 or p == 0.0  # only the SOC guard jumps, to 0
        assert not (p > 0 and soc >= 0.9)
        assert not (p < 0 and soc <= 0.1)
        last = p


def test_interlock_disarmed_and_estop_send_the_safe_state() -> None:
    lock = Interlock(LIMITS)
    assert lock.command(0.8, 0.5, 1.0) == (0.0, {"disarmed"})
    lock.arm()
    assert lock.command(0.8, 0.5, 1.0) == (0.5, {"ramp"})
    assert lock.command(5.0, 0.5, 1.0) == (1.0, {"clamp"})
    lock.estop()
    lock.arm()  # latched: no re-arming after an emergency stop
    assert lock.command(0.8, 0.5, 1.0) == (0.0, {"estop"})


def test_watchdog_trips_on_silence_and_on_a_frozen_heartbeat() -> None:
    dog = Watchdog(2.0)
    assert dog.update(0.0, True, {"heartbeat": 1}) is None
    assert dog.update(1.0, False, None) is None
    assert "no answer" in dog.update(2.5, False, None)
    dog = Watchdog(2.0)
    for t in range(3):
        assert dog.update(float(t), True, {"heartbeat": t}) is None
    assert dog.update(4.0, True, {"heartbeat": 2}) is None
    assert "heartbeat unchanged" in dog.update(4.5, True, {"heartbeat": 2})


def test_fault_windows_and_actions_follow_the_schedule() -> None:
    s = loads(scenario_text("sim", extra="""  faults:
    - {at: 2s, fault: drop, duration: 2s, entity: bess}
    - {at: 3s, fault: latency, duration: 1s, delay: 200ms}
    - {at: 5s, fault: estop}
"""))
    f = s.hil.faults
    assert faults.active(f, "bess", 1.0).names == ()
    assert faults.active(f, "bess", 3.0).names == ("latency", "drop")
    assert faults.active(f, "bess", 3.0).latency_s == pytest.approx(0.2)
    assert faults.actions(f, "bess", 5.0, 1.0) == ["estop"]


def test_stuck_and_corrupt_faults_change_what_the_client_sees() -> None:
    lf = faults.LinkFaults()
    lf.set(faults.Active())
    assert asyncio.run(lf.before("k", False)) is None
    assert lf.after("k", [1, 2]) == [1, 2]
    lf.set(faults.Active(stuck=True, corrupt=True))
    assert asyncio.run(lf.before("k", False)) == [1, 2]
    assert lf.after("k", [5, 6]) == [5 ^ 0x8000, 6 ^ 0x8000]
    lf.set(faults.Active(reboot=True))
    with pytest.raises(faults.CommError):
        asyncio.run(lf.before("k", False))
    lf.set(faults.Active())
    assert lf.rebooted


def test_the_pacer_sleeps_to_absolute_deadlines() -> None:
    now = [100.0]
    jitter = iter([0.0, 0.3, 0.01, 0.02, 0.5, 0.0] * 10)

    def sleep(dt: float) -> None:
        now[0] += dt + next(jitter) * 0.01  # every sleep overshoots a little

    pacer = Pacer(1.0, clock=lambda: now[0], sleep=sleep)
    late = [pacer.wait(k)[0] for k in range(50)]
    assert late[0] == 0.0
    assert max(late) < 0.006
    assert pacer.wait(50)[1] == pytest.approx(50.0, abs=0.006)


def test_an_overrun_aborts_under_the_abort_policy() -> None:
    sim = PacerSim()
    sim.init("Pacer-0", policy="abort", max_lateness_s=0.1)
    sim.create(1, "Pacer", name="pacer")
    sim._after(3, 3, 0.05, 3.05)
    with pytest.raises(HILAbort, match="overrun"):
        sim._after(4, 4, 0.2, 4.2)


class FakeEvidence:
    def __init__(self) -> None:
        self.data = {("bess", "soc"): np.array([0.5, 0.6, 0.95]),
                     ("pcc", "p_import_mw"): np.array([10.0, 79.0, 50.0])}
        self.lateness_s = np.array([0.0, 0.001, 0.03])
        self.events = [{"kind": "interlock", "name": "clamp", "t_s": 3, "entity": "bess",
                        "detail": "on"}]
        self.eps: list[dict] = []

    def matching(self, entity: str | None, attr: str) -> list[tuple[str, str]]:
        return [k for k in self.data if entity in (None, k[0]) and k[1] in (attr, f"p_{attr}")]

    def series(self, entity: str, attr: str) -> np.ndarray:
        return self.data[(entity, attr)]

    def episodes(self, entity: str | None, trigger: str = "comm loss") -> list[dict]:
        return self.eps


@pytest.mark.parametrize(("text", "status"), [
    ("soc within 0.1..0.9", "fail"), ("soc within 10..99 %", "pass"),
    ("import_mw below 80", "pass"), ("import_mw below 79", "fail"),
    ("pcc.import_mw at most 79", "pass"), ("bess.soc above 0.5", "fail"),
    ("lateness p99 below 20 ms", "fail"), ("lateness p50 below 2 ms", "pass"),
    ("end offset below 10ms", "fail"), ("no estop", "pass"), ("no clamp", "fail"),
    ("after comm loss the device reverts to 0 MW within 2 s", "n/a"),
])
def test_assertions_pass_and_fail_as_they_should(text: str, status: str) -> None:
    assert asr.parse_assertion(text).evaluate(FakeEvidence()).status == status


def test_the_reversion_assertion_judges_each_comm_loss() -> None:
    ev = FakeEvidence()
    a = asr.parse_assertion("after comm loss bess reverts to 0 MW within 2 s")
    ev.eps = [{"entity": "bess", "onset_t_s": 9.0, "readings": [(1.2, 0.0)], "revert_s": 5,
               "tol_mw": 0.02}]
    assert a.evaluate(ev).status == "pass"
    ev.eps[0]["readings"] = [(4.0, 0.0)]  # seen late: not observed in time, whatever the
    assert a.evaluate(ev).status == "fail"  # device's reversion timer is configured to
    ev.eps[0]["revert_s"] = 1
    assert a.evaluate(ev).status == "fail"
    ev.eps[0]["readings"] = [(4.0, -0.8)]
    assert a.evaluate(ev).status == "fail"
    ev.eps[0]["readings"] = []
    assert a.evaluate(ev).status == "fail"


def test_scenario_errors_name_the_hil_field() -> None:
    bad = scenario_text("sim", extra="  assertions: [soc is fine]\n")
    with pytest.raises(ScenarioError, match=r"<memory>:\d+: hil.assertions\[0\]: cannot read"):
        loads(bad)
    with pytest.raises(ScenarioError, match="hil.bindings\\[0\\].device: expected modbus://"):
        loads(scenario_text("tcp://x:1"))
    with pytest.raises(ScenarioError, match="hil.faults\\[0\\].duration"):
        loads(scenario_text("sim", extra="  faults: [{at: 1s, fault: drop}]\n"))
    assert math.isclose(loads(scenario_text("sim")).hil.bindings[0].safety.stale_after, 1.0)


# --- a real device ------------------------------------------------------------------------------

@pytest.mark.hardware
@pytest.mark.skipif(not HARDWARE, reason="set TWIN_HIL_DEVICE=modbus://HOST:PORT?unit=N")
def test_a_real_battery_inverter_is_discovered_and_read() -> None:
    async def go() -> dict:
        dev = SunSpecBattery(str(HARDWARE), timeout_s=1.0)
        try:
            info = await dev.open()
            reading = await dev.read()
        finally:
            await dev.close()
        return {**info, "reading": reading}

    out = asyncio.run(go())
    assert out["ratings"]["p_max_mw"] > 0
    assert 0.0 <= out["reading"]["soc"] <= 1.0
