"""Binding real devices: SunSpec discovery (legacy 103/123 inverters, 701/702/704/802 batteries
without 713), PV curtailment, read-only commissioning, per-binding I/O budgets, Modbus RTU over a
serial line (a ``socat`` pseudo-terminal pair), heartbeats that must change to count as alive,
and the emulator's fidelity to the SunSpec models (every mandatory point, 703, ACType).

Every device here is ``twin emulate`` in its own process, on a free loopback port or a pty.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hil import points
from hil import trace as tr
from hil.devices import HeartbeatCheck, SunSpecBattery, SunSpecPV
from hil.faults import CommError
from hil.modbus import Refused, parse_address
from tests.emulators import Emulator
from twin.scenario import ScenarioError, loads

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def emulate(tmp_path: Path) -> Iterator:
    started: list[Emulator] = []

    def start(kind: str, *args: str, serial: str | None = None) -> Emulator:
        emu = Emulator(kind, tmp_path / f"{kind}-{len(started)}.jsonl", *args, serial=serial)
        started.append(emu)
        return emu

    yield start
    for emu in started:
        emu.stop()


def run(coro):  # noqa: ANN001, ANN201 - a test's coroutine, whatever it returns
    return asyncio.run(coro)


# --- discovery ------------------------------------------------------------------------------

def test_a_legacy_pv_inverter_with_models_1_103_123_is_discovered_and_curtailed(
        emulate) -> None:
    emu = emulate("pv", "--models", "1,103,123", "--p-mw", "1.5", "--p-max-mw", "2")

    async def go() -> tuple[dict, dict, dict]:
        pv = SunSpecPV(emu.url)
        info = await pv.open()
        before = await pv.read()
        await pv.arm(60)
        await pv.write({"p_limit_pct": 25.0})  # 25 % of 2 MW: 0.5 MW
        after = await pv.read()
        with pytest.raises(Refused, match="rating"):  # 1, 103, 123 state no rating
            await pv.write({"p_limit_mw": 1.0})
        await pv.close()
        return info, before, after

    info, before, after = run(go())
    assert set(map(int, info["models"])) == {1, 103, 123}
    assert before["p_mw"] == pytest.approx(1.5, abs=1e-3)  # read from 103.W
    assert after["p_mw"] == pytest.approx(0.5, abs=1e-3)
    assert after["p_limit_pct"] == pytest.approx(25.0)
    written = {k for w in emu.writes() for k in w["points"]}
    assert {"123.WMaxLimPct", "123.WMaxLim_Ena"} <= written
    assert all(w["accepted"] for w in emu.writes())

    async def as_battery() -> None:
        dev = SunSpecBattery(emu.url)
        try:
            await dev.open()
        finally:
            await dev.close()

    with pytest.raises(CommError, match="lacks SunSpec model 704"):  # no control model
        run(as_battery())


def test_a_pv_inverter_with_701_704_is_curtailed_through_704(emulate) -> None:
    emu = emulate("pv", "--p-mw", "1.5", "--p-max-mw", "2")

    async def go() -> tuple[dict, dict]:
        pv = SunSpecPV(emu.url)
        info = await pv.open()
        await pv.arm(60)
        await pv.write({"p_limit_mw": 0.8})  # the rating (702.WMaxRtg) is known: 40 %
        reading = await pv.read()
        await pv.close()
        return info, reading

    info, reading = run(go())
    assert {1, 701, 702, 703, 704} == set(map(int, info["models"]))
    assert info["ratings"]["p_max_mw"] == pytest.approx(2.0)
    assert reading["p_mw"] == pytest.approx(0.8, abs=1e-3)
    assert any(w["points"].get("704.WMaxLimPct") == 400 for w in emu.writes())


def test_a_battery_with_701_702_704_802_and_no_713_is_bound(emulate) -> None:
    emu = emulate("battery", "--models", "1,701,702,704,802", "--soc", "0.6")

    async def go() -> tuple[dict, dict]:
        dev = SunSpecBattery(emu.url)
        info = await dev.open()
        await dev.arm(60)
        await dev.write({"p_set_mw": -0.5})  # discharge 0.5 MW
        await asyncio.sleep(0.2)
        reading = await dev.read()
        await dev.safe()
        await dev.disarm()
        await dev.close()
        return info, reading

    info, reading = run(go())
    assert set(map(int, info["models"])) == {1, 701, 702, 704, 802}
    assert reading["soc"] == pytest.approx(0.6, abs=0.01)  # from 802.SoC: 713 is not there
    assert reading["p_mw"] == pytest.approx(-0.5, abs=1e-3)
    assert "e_mwh" not in reading  # 713.WHAvail: not on this device
    assert reading["bat_state"] == 3  # 802.State CONNECTED
    ops = {k for w in emu.writes() for k in w["points"]}
    assert {"704.WSet", "802.SetOp", "802.CtrlHb"} <= ops  # arming and the heartbeat via 802


def test_the_emulator_serves_every_mandatory_point_of_701_702_703_704_802(emulate) -> None:
    """pysunspec2, the standard client, finds models 703 and every mandatory point of 701,
    702, 704 and 802 implemented (ACType among them)."""
    from sunspec2 import device as ss_device
    from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

    emu = emulate("battery")
    dev = SunSpecModbusClientDeviceTCP(slave_id=1, ipaddr="127.0.0.1", ipport=emu.port)
    try:
        dev.scan()
        missing = []
        for model_id in (701, 702, 703, 704, 713, 802):
            model = dev.models[model_id][0]
            model.read()
            for d in ss_device.get_model_def(model_id)["group"]["points"]:
                if d.get("mandatory") == "M" and getattr(model, d["name"]).value is None:
                    missing.append(f"{model_id}.{d['name']}")
        assert missing == []
        assert dev.models[701][0].ACType.value == 2  # three phase
        assert dev.models[703][0].ES.value == 1  # in service
        bank = dev.models[802][0]
        assert bank.WHRtg.cvalue == pytest.approx(4e6)
        assert bank.WDisChaRteMax.cvalue == pytest.approx(2e6)
    finally:
        dev.close()


# --- heartbeats -----------------------------------------------------------------------------

def test_a_frozen_device_heartbeat_is_not_alive(emulate) -> None:
    frozen = emulate("battery", "--freeze-heartbeat-after", "0")
    alive = emulate("battery")

    async def reads(url: str, n: int) -> list[str]:
        dev = SunSpecBattery(url, frozen_reads=3, heartbeat_s=0.2)
        out = []
        await dev.open()
        for _ in range(n):
            try:
                r = await dev.read()
                out.append(f"ok {r['heartbeat']:g}")
            except CommError as exc:
                out.append(f"{exc.status}: {exc}")
            await asyncio.sleep(0.15)
        await dev.close()
        return out

    seen = run(reads(frozen.url, 5))
    assert seen[:3] == ["ok 0"] * 3  # the same value, too soon to judge
    assert seen[4].startswith("stale: heartbeat frozen at 0")
    assert all(s.startswith("ok") for s in run(reads(alive.url, 1)))
    # the check counts reads and time: an advancing heartbeat is alive at any read rate
    check, now = HeartbeatCheck(3, 1.0, clock=lambda: now), 0.0
    for i in range(40):
        now = i * 0.1
        check.check(float(int(now)))  # advances once a second, read ten times a second


def test_a_frozen_controller_heartbeat_makes_the_device_revert(emulate) -> None:
    emu = emulate("battery")

    async def go() -> list[float]:
        dev = SunSpecBattery(emu.url)
        await dev.open()
        await dev.arm(60)  # a long reversion timer: only the heartbeat can trip it
        await dev.write({"p_set_mw": -0.5})
        seen = [(await dev.read())["p_mw"]]
        for _ in range(4):  # the same CtrlHb four times: frozen
            await dev.client.write({"802.CtrlHb": 7, "704.WSet": 0.5e6})
        await asyncio.sleep(0.1)
        seen.append((await dev.read())["p_mw"])
        await dev.client.write({"802.CtrlHb": 8})  # it changes again: alive
        await asyncio.sleep(0.1)
        seen.append((await dev.read())["p_mw"])
        await dev.disarm()
        await dev.close()
        return seen

    p = run(go())
    assert p[0] == pytest.approx(-0.5, abs=1e-3)
    assert p[1] == pytest.approx(0.0, abs=1e-3)  # reverted to WSetRvrt = 0 W
    assert p[2] == pytest.approx(-0.5, abs=1e-3)
    reverted = emu.records("reverted")
    assert [r["reason"] for r in reverted] == ["controller heartbeat frozen"]
    assert emu.records("fault")


# --- Modbus RTU over a serial line ----------------------------------------------------------

@pytest.fixture
def pty_pair(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two connected pseudo-terminals (Debian's socat; ``make test`` installs it)."""
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed (make test installs it: apt-get install socat)")
    a, b = tmp_path / "ttyA", tmp_path / "ttyB"
    proc = subprocess.Popen(["socat", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not (a.exists() and b.exists()):
        assert time.monotonic() < deadline, "socat made no pty pair"
        time.sleep(0.05)
    yield str(a), str(b)
    proc.kill()
    proc.wait(timeout=10)


def test_modbus_rtu_over_a_pty_pair(emulate, pty_pair: tuple[str, str]) -> None:
    device_side, client_side = pty_pair
    emu = emulate("battery", "--baud", "19200", serial=device_side)
    url = f"rtu://{client_side}?baud=19200&unit=1"
    assert parse_address(url).serial == client_side

    async def go() -> tuple[dict, dict]:
        dev = SunSpecBattery(url, timeout_s=1.0)
        for attempt in range(20):  # the emulator opens its end of the line after booting
            try:
                info = await dev.open()
                break
            except CommError:
                if attempt == 19:
                    raise
                await asyncio.sleep(0.25)
        await dev.arm(60)
        await dev.write({"p_set_mw": 0.4})  # charge 0.4 MW
        await asyncio.sleep(0.1)
        reading = await dev.read()
        await dev.disarm()
        await dev.close()
        return info, reading

    info, reading = run(go())
    assert info["identity"]["SN"] == "EMU-0001"
    assert reading["p_mw"] == pytest.approx(0.4, abs=1e-3)
    assert any(w["points"].get("704.WSet") == -400000 for w in emu.writes())


def test_rtu_addresses_are_checked_by_twin_check() -> None:
    base = """
park: {name: p, latitude: 41.8, longitude: 123.4}
period: {start: 2027-06-15 10:00, duration: 8, step: 1}
batteries: [{name: bess, p_max_mw: 2.0, e_max_mwh: 4.0}]
hil:
  bindings:
    - {entity: bess, device: "DEVICE", kind: battery}
"""
    s = loads(base.replace("DEVICE", "rtu:///dev/ttyUSB0?baud=19200&parity=E&unit=3"))
    assert s.hil.bindings[0].device.startswith("rtu://")
    for bad, what in (("rtu://dev/ttyUSB0?unit=1", "three slashes"),
                      ("rtu:///dev/ttyUSB0?baud=fast", "baud"),
                      ("rtu:///dev/ttyUSB0?parity=X", "parity"),
                      ("rtu:///dev/ttyUSB0?speed=9600", "unknown option")):
        with pytest.raises(ScenarioError, match=what) as err:
            loads(base.replace("DEVICE", bad))
        assert "hil.bindings[0].device" in str(err.value)


# --- twin hil: read-only commissioning and I/O budgets ---------------------------------------

def hil_scenario(url: str, binding: str = "", section: str = "") -> str:
    return f"""
park: {{name: hil device test, latitude: 41.8, longitude: 123.4, seed: 3}}
period: {{start: 2027-06-15 10:00, duration: 4, step: 1}}
pv_plants: [{{name: pv, p_dc_mwp: 3.0, p_ac_mw: 2.5}}]
factory_loads: [{{name: plant, kind: supplier, p_peak_mw: 6.0}}]
batteries: [{{name: bess, p_max_mw: 2.0, e_max_mwh: 4.0, soc_init: 0.5}}]
hil:
  overrun: warn
{section}  bindings:
    - {{entity: bess, device: "{url}", kind: battery{binding}}}
"""


def twin_hil(folder: Path, text: str, seconds: int = 3) -> list[dict]:
    """``twin hil`` of ``text``; the exchanges of its trace, in step order."""
    from twin.apps import cli

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bind.yaml"
    path.write_text(text)
    rc = cli.main(["hil", str(path), "--duration", str(seconds), "--out", str(folder), "-q"])
    assert rc in (0, 1), rc
    return tr.read(folder / "bind.trace.jsonl").exchange_list()


def test_read_only_writes_nothing_and_the_io_budget_is_per_binding(emulate,
                                                                   tmp_path: Path) -> None:
    """A device answering in 70 ms needs several requests a step: the old fixed 250 ms
    budget fails every exchange, while the binding's own 400 ms passes them. Commissioning
    (``mode: read-only``) reads the device every step and never writes it, not even at the
    start (arming) or the end (safe state); ``armed: false`` alone still writes."""
    emu = emulate("battery", "--delay-ms", "70")
    tight = twin_hil(tmp_path / "tight", hil_scenario(emu.url, ", armed: false",
                                                      section="  io_budget: 250ms\n"))
    assert "ok" not in {x["status"] for x in tight}  # late (or busy behind a late one)
    assert emu.writes()  # disarm and the 0 MW setpoint: why read-only exists
    before = len(emu.writes())
    fits = twin_hil(tmp_path / "fits", hil_scenario(
        emu.url, ", mode: read-only, io_budget: 400ms", section="  io_budget: 250ms\n"))
    # after step 0 (it discovers the device: a dozen requests) 4 reads of 70 ms each
    assert [x["status"] for x in fits][1:] == ["ok"] * 2
    assert all("p_mw" in x["reading"] and "soc" in x["reading"] for x in fits[1:])
    assert emu.writes()[before:] == []


def test_io_budgets_default_from_the_step_and_are_checked() -> None:
    s = loads(hil_scenario("modbus://127.0.0.1:5020?unit=1"))
    assert s.hil.budget_for(s.hil.bindings[0]) == pytest.approx(0.5)  # half the 1 s step
    s = loads(hil_scenario("modbus://127.0.0.1:5020?unit=1", ", io_budget: 300ms"))
    assert s.hil.budget_for(s.hil.bindings[0]) == pytest.approx(0.3)
    with pytest.raises(ScenarioError, match=r"hil.bindings\[0\].io_budget.*at most the step"):
        loads(hil_scenario("modbus://127.0.0.1:5020?unit=1", ", io_budget: 2s"))
    with pytest.raises(ScenarioError, match=r"hil.bindings\[0\].mode"):
        loads(hil_scenario("modbus://127.0.0.1:5020?unit=1", ", mode: readonly"))


# --- point lists ----------------------------------------------------------------------------

def test_the_built_in_point_lists_match_the_sunspec_definitions() -> None:
    for kind in ("battery", "pv", "meter-sunspec"):
        plist = points.load(kind)
        assert points.check_sunspec(plist) == [], kind
    battery = points.load("battery")
    mandatory_802 = {f"802.{d['name']}" for d in points._model_def(802)["points"]
                     if d.get("mandatory") == "M" and d["name"] not in ("ID", "L")}
    assert mandatory_802 <= set(battery.points)
    assert battery.missing([1, 103, 123]) == ["704"]
    assert battery.missing([1, 701, 704]) == []
    meter = points.load("meter-sunspec")
    assert not any(p.writable for p in meter.points.values())
    relocated = points.relocate(meter, points.layout([1, 701, 203]))
    assert relocated.by_twin("p_mw").key == "203.W"  # the meter model before 701


# --- camera frames off the real-time thread, recorded and replayed ----------------------------

class SlowCamera:
    """A board source that takes 300 ms a frame (a camera on a slow link)."""

    def __init__(self) -> None:
        import numpy as np

        self.np = np
        self.golden = np.zeros((8, 8, 3), np.uint8)

    def draw(self, index: int, defective: bool):  # noqa: ANN201 - a Frame
        from twin.models.aoi.sources import Frame

        time.sleep(0.3)
        return Frame(self.np.full((8, 8, 3), index % 256, self.np.uint8))


def test_camera_frames_are_read_off_the_loop_recorded_and_replayed(tmp_path: Path) -> None:
    from hil import camera
    from twin.models.aoi import sources

    grabber = camera.FrameGrabber(SlowCamera(), record=tmp_path / "frames", wait_s=0.5)
    try:
        t0 = time.perf_counter()
        first = grabber.draw(0, False).image  # waits for the first frame only
        waits = []
        for i in range(1, 6):
            t = time.perf_counter()
            grabber.draw(i, False)
            waits.append(time.perf_counter() - t)
            time.sleep(0.1)  # the loop's 100 ms step
        assert time.perf_counter() - t0 < 1.5
        assert max(waits) < 0.05  # never the camera's own 300 ms a frame
        assert grabber.repeated >= 1  # the slow camera repeats frames, it does not stall
    finally:
        grabber.close()
    records = [json.loads(line) for line in (tmp_path / "frames" / "frames.jsonl").open()]
    assert [r["index"] for r in records] == list(range(6))
    replay = sources.open_camera(f"replay:{tmp_path / 'frames'}")
    assert (replay.draw(0, False).image == first).all()
    for r in records:
        assert int(replay.draw(r["index"], False).image[0, 0, 0]) == r["frame"] % 256
