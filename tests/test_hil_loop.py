"""The loop closed on the device: the controller on the device's state, nameplate checks,
setpoint tracking, wall-clock ramps, setpoints never older than their step, takeovers that
obey the limits and report the device's state only once read back, meters taken back after a
fault, and an EMS scenario that does not abort at its first step.

Each live test runs the park in real time against emulators on loopback (``twin emulate``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from hil import faults, points
from hil import run as hil_run
from hil.safety import Follower, Interlock, Limits
from tests.emulators import ROOT, Emulator
from twin.core.results import open_run
from twin.scenario import loads


def park(battery_url: str, extra: str = "", safety: str = "", soc_init: float = 0.5,
         meter_url: str | None = None, e_max_mwh: float = 4.0, binding: str = "") -> str:
    meter = (f"    - {{entity: plant, device: \"{meter_url}\", kind: meter}}\n"
             if meter_url else "")
    limits = {"p_max_mw": "0.5", "stale_after": "1s", "revert_after": "2s"}
    limits.update(item.strip().split(": ", 1) for item in safety.split(",") if item.strip())
    safety_text = ", ".join(f"{k}: {v}" for k, v in limits.items())
    return f"""
park: {{name: hil loop park, latitude: 41.8, longitude: 123.4, seed: 3}}
period: {{start: 2027-06-15 10:00, duration: 8, step: 1}}
pv_plants: [{{name: pv, p_dc_mwp: 3.0, p_ac_mw: 2.5}}]
factory_loads: [{{name: plant, kind: supplier, p_peak_mw: 6.0}}]
batteries: [{{name: bess, p_max_mw: 2.0, e_max_mwh: {e_max_mwh}, soc_init: {soc_init}}}]
hil:
  bindings:
    - {{entity: bess, device: "{battery_url}", kind: battery{binding},
       safety: {{{safety_text}}}}}
{meter}{extra}"""


def events(trace: Path) -> list[dict]:
    return [r for r in map(json.loads, trace.read_text().splitlines()) if r["type"] == "event"]


def exchanges(trace: Path, entity: str = "bess") -> list[dict]:
    return [r for r in map(json.loads, trace.read_text().splitlines())
            if r["type"] == "exchange" and r["entity"] == entity]


def disconnect_from_another_client(port: int) -> None:
    """What a second Modbus master does: SunSpec 802.SetOp = DISCONNECT."""
    from pymodbus.client import ModbusTcpClient

    client = ModbusTcpClient("127.0.0.1", port=port)
    client.connect()
    client.write_register(points.load("battery")["802.SetOp"].address, 2, device_id=1)
    client.close()


# --- the pure parts ---------------------------------------------------------------------------

def test_the_ramp_holds_in_wall_time_when_late_steps_run_back_to_back() -> None:
    lock = Interlock(Limits(-2.0, 2.0, ramp_mw_per_s=1.0), revert_s=None)
    lock.arm(at_s=0.0)
    p, _ = lock.command(2.0, 0.5, 1.0, now_s=1.0)
    assert p == pytest.approx(1.0)
    lock.confirm(p, 1.0)
    p, acted = lock.command(-2.0, 0.5, 1.0, now_s=4.0)  # after a 3 s stall: one step's worth
    assert p == pytest.approx(0.0)
    assert "ramp" in acted
    lock.confirm(p, 4.0)
    for now in (4.01, 4.02, 4.03):  # the late steps, 10 ms apart
        q, _ = lock.command(-2.0, 0.5, 1.0, now_s=now)
        assert abs(q - p) <= 0.01 + 1e-9
        lock.confirm(q, now)
        p = q


def test_a_setpoint_that_may_have_landed_narrows_the_next_one() -> None:
    lock = Interlock(Limits(-2.0, 2.0, ramp_mw_per_s=0.5), revert_s=2.0)
    lock.arm(at_s=0.0)
    lock.maybe(0.5, 1.0)  # the exchange failed after the write: 0 or 0.5 at the device
    p, _ = lock.command(-2.0, 0.5, 1.0, now_s=2.0)
    assert p == pytest.approx(0.0)  # 0.5 below 0.5, 0.5 below 0: within the ramp of both
    lock.confirm(0.5, 1.0)
    p, _ = lock.command(2.0, 0.5, 1.0, now_s=4.0)  # the device may have reverted to 0
    assert p == pytest.approx(0.5)  # within a step's ramp of 0 and of 0.5


def test_the_follower_needs_the_window_and_tolerates_one_step_of_lag() -> None:
    f = Follower(band_mw=0.05, window_s=3.0)
    assert f.update(0.0, 0.0, 0.0) is None
    assert f.update(1.0, 0.5, 0.0) is None  # one step behind: judged against 0 and 0.5
    assert f.update(2.0, 0.5, 0.49) is None
    for t in (3.0, 4.0, 5.0):
        assert f.update(t, 0.5, 0.0) is None
    assert f.update(6.0, 0.5, 0.0) == ("not_following", 3.0)
    assert f.update(7.0, 0.5, 0.0) is None  # reported once
    assert f.update(8.0, 0.5, 0.5)[0] == "following"


def test_a_held_setpoint_write_expires_at_its_deadline() -> None:
    import asyncio

    lf = faults.LinkFaults()
    now = [0.0]
    lf.clock = lambda: now[0]
    lf.set(faults.Active(latency_s=0.01))
    lf.deadline = 0.5
    now[0] = 0.6  # the link held it past its step
    with pytest.raises(faults.CommError) as exc:
        asyncio.run(lf.before(("write", 1), write=True))
    assert exc.value.status == "expired"
    assert asyncio.run(lf.before(("read", 1), write=False)) is None  # reads still go


# --- preflight: the nameplate -----------------------------------------------------------------

def test_a_tiny_device_bound_to_a_big_entity_is_refused(tmp_path: Path) -> None:
    emu = Emulator("battery", tmp_path / "tiny.jsonl", "--e-max-mwh", "0.02", "--p-max-mw",
                   "0.02")
    try:
        s = hil_run.prepare(loads(park(emu.url), tmp_path / "tiny.yaml"), 3)
        with pytest.raises(hil_run.HILError) as exc:
            hil_run.preflight(s)
        line = str(exc.value)
        assert "\n" not in line
        assert "tiny.yaml:" in line
        assert "hil.bindings[0]" in line
        assert "0.02 MWh on the device (WHRtg) against 4 MWh" in line
        assert "nameplate: ignore" in line
        ok = hil_run.prepare(loads(park(emu.url, binding=", nameplate: ignore"),
                                   tmp_path / "tiny.yaml"), 3)
        assert "nameplate ignored" in hil_run.preflight(ok)[0]
        loose = hil_run.prepare(loads(park(emu.url, e_max_mwh=0.021, binding=", "
                                           "nameplate_tolerance: 0.1").replace(
            "p_max_mw: 2.0", "p_max_mw: 0.02"), tmp_path / "tiny.yaml"), 3)
        assert "nameplate" not in hil_run.preflight(loose)[0]  # within 10 %
    finally:
        emu.stop()


# --- live: the loop closed on the device ------------------------------------------------------

@pytest.fixture(scope="module")
def disconnected_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """10 s: the device starts at SOC 0.9 (the entity at 0.5); another Modbus client
    disconnects it after step 1; the link drops at 7..9 s (watchdog trip, takeover)."""
    folder = tmp_path_factory.mktemp("loop")
    emu = Emulator("battery", folder / "emu.jsonl", "--soc", "0.9")
    try:
        s = hil_run.prepare(loads(park(emu.url, extra="""  overrun: warn
  faults: [{at: 7s, fault: drop, duration: 2s}]
  assertions: [soc within 0..1]
"""), folder / "loop.yaml"), 11)
        def progress(t: int) -> None:
            if t == 1:  # recorded step 1: wall about 1 s
                disconnect_from_another_client(emu.port)

        result = hil_run.run(s, out_dir=folder, progress=progress)
    finally:
        emu.stop()
    return {"result": result}


def test_the_controller_works_on_the_device_soc(disconnected_run: dict) -> None:
    result = disconnected_run["result"]
    with open_run(result.path) as run:
        device = run.series("bess", "soc")
        twin = run.series("bess.twin", "soc")
        online = run.series("bess", "on_device")
    assert device[1] == pytest.approx(0.9, abs=0.01)
    on = np.flatnonzero(online[1:] == 1) + 1
    # the controller's battery starts each step from the device's SOC of the step before
    assert np.max(np.abs(twin[on] - device[on - 1])) < 2e-3, (twin, device)


def test_a_device_not_following_its_setpoint_fails_the_run(disconnected_run: dict) -> None:
    result = disconnected_run["result"]
    evs = events(result.trace)
    off = [e for e in evs if e["name"] == "not_following"]
    assert len(off) == 1
    assert off[0]["entity"] == "bess"
    assert "0.000 MW while -0.500 MW was sent" in off[0]["detail"]
    assert 4.0 <= off[0]["wall_s"] <= 6.5  # 3 s after the disconnect after step 1
    assert not result.passed
    failed = [v for v in result.verdicts if v.status == "fail"]
    assert [v.text for v in failed] == [
        "no not_following (default: every device follows its setpoints)"]
    with open_run(result.path) as run:
        rows = run.table("hil/assertions")
    assert "fail" in {r["status"] for r in rows}


def test_a_takeover_obeys_the_limits_and_reports_the_device_only_once_read_back(
        disconnected_run: dict) -> None:
    result = disconnected_run["result"]
    evs = events(result.trace)
    take = next(e for e in evs if e["kind"] == "takeover")
    assert "sent to 0 MW" not in take["detail"]
    assert "once read back" in take["detail"]
    with open_run(result.path) as run:
        on = run.series("bess", "on_device")
        p = run.series("bess", "p_mw")
        cmd = run.series("bess", "p_cmd_mw")
    twin_steps = on == 0
    assert twin_steps.any()
    assert np.nanmin(cmd[twin_steps]) < -0.5  # the controller asked for more ...
    assert np.all(np.abs(p[twin_steps]) <= 0.5 + 1e-9)  # ... the twin held the limit
    back = next(e for e in evs if e["name"] == "reverted")
    first_ok = next(x for x in exchanges(result.trace)
                    if x["step"] > take["step"] and x["status"] == "ok")
    assert back["step"] >= first_ok["step"]  # reported from a reading, not from a command
    assert "read back" in back["detail"]


@pytest.fixture(scope="module")
def stalled_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """11 s, slow ramp: the link freezes (2.5 s latency) at 2..3 s, the loop stalls 2.5 s
    at step 7 (late steps then run back to back); a meter rides the same faults."""
    folder = tmp_path_factory.mktemp("stall")
    emu = Emulator("battery", folder / "emu.jsonl")
    meter = Emulator("meter", folder / "meter.jsonl", "--p-mw", "5")
    try:
        s = hil_run.prepare(loads(park(emu.url, meter_url=meter.url, safety=", "
                                       "ramp_mw_per_s: 0.1, stale_after: 5s", extra="""  overrun: warn
  faults: [{at: 2s, fault: latency, duration: 1s, delay: 2.5s}]
"""), folder / "stall.yaml"), 11)

        def progress(t: int) -> None:
            if t == 7:
                time.sleep(2.5)  # the loop stalls

        result = hil_run.run(s, out_dir=folder, progress=progress)
    finally:
        emu.stop()
        meter.stop()
    return {"result": result, "writes": emu.writes()}


def test_late_steps_do_not_ramp_faster_than_the_limit(stalled_run: dict) -> None:
    sets = [(w["t"], -w["points"]["704.WSet"] * 1e-6) for w in stalled_run["writes"]
            if "704.WSet" in w["points"] and w["accepted"]]
    assert len(sets) >= 8
    assert min(p for _, p in sets) < -0.15  # it did ramp
    rates = [abs(p1 - p0) / max(t1 - t0, 1e-6) for (t0, p0), (t1, p1) in zip(sets, sets[1:], strict=False)
             if p1 != 0.0]  # to the safe state at once is allowed (disarm, end of the run)
    assert max(rates) <= 0.1 * 1.05 + 1e-3 / 0.01, rates  # 0.1 MW/s (1 W rounding)
    with open_run(stalled_run["result"].path) as run:
        late = run.series("pacer", "lateness_s")
    assert np.max(late) > 1.0  # the stall happened


def test_setpoints_older_than_their_step_are_never_applied(stalled_run: dict) -> None:
    trace = stalled_run["result"].trace
    ex = exchanges(trace)
    assert any(e["name"] == "expired" and e["entity"] == "bess" for e in events(trace))
    sent = [round(-x["sent_mw"] * 1e6) for x in ex
            if x["sent_mw"] is not None and x["status"] == "ok"]
    writes = [w["points"]["704.WSet"] for w in stalled_run["writes"]
              if set(w["points"]) == {"704.WSet"}]
    # the setpoints that reached the device are those confirmed within their own exchange,
    # then the end of the run's safe state: none arrived late
    assert writes[:len(sent)] == sent, (writes, sent)
    assert all(w == 0 for w in writes[len(sent):])


def test_a_meter_is_taken_back_after_a_latency_fault(stalled_run: dict) -> None:
    result = stalled_run["result"]
    evs = [e for e in events(result.trace) if e["entity"] == "plant"]
    assert any(e["kind"] == "takeover" for e in evs)
    assert any(e["kind"] == "rearm" for e in evs)
    with open_run(result.path) as run:
        on = run.series("plant", "on_device")
    assert on[-1] == 1


# --- the EMS: its first plan is made before the clock starts ----------------------------------

def test_an_ems_scenario_does_not_abort_at_step_1(tmp_path: Path) -> None:
    emu = Emulator("battery", tmp_path / "emu.jsonl")
    try:
        text = (ROOT / "scenarios" / "hil-battery.yaml").read_text()
        text = text.replace("modbus://127.0.0.1:5020?unit=1", emu.url)
        text = text.replace("\ngrid: {}", "\ncontroller: {kind: ems}\ngrid: {}")
        text = text.split("  faults:")[0]  # no faults: just the start
        s = hil_run.prepare(loads(text, tmp_path / "hil-ems.yaml"), 3)
        assert s.controller.kind == "ems"
        t0 = time.monotonic()
        result = hil_run.run(s, out_dir=tmp_path)
        took = time.monotonic() - t0
    finally:
        emu.stop()
    assert result.aborted is None, result.aborted
    with open_run(result.path) as run:
        late = run.series("pacer", "lateness_s")
        replanned = run.series("ems", "replanned")
    assert len(late) == 3
    assert np.all(late < 0.5)
    assert replanned[0] == 1  # the first plan was made (in the untimed step 0)
    assert took > 3.0
