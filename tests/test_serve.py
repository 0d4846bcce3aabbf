"""``twin serve``: the park as a virtual plant for a real controller (controller in the loop).

The end-to-end test runs ``twin serve`` and a third-party controller (tests/sunspec_controller.py:
pymodbus only, started with ``python -I`` from a folder outside the project, so it cannot use
the park's code) as two processes on a free loopback port, then judges the recorded run.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hil import serve
from twin.core.results import open_run
from twin.models.battery import BatterySpec
from twin.scenario import loads

ROOT = Path(__file__).resolve().parents[1]
PARK = """
park: {name: serve test park, latitude: 41.8, longitude: 123.4, seed: 3}
period: {start: 2027-06-15 10:00, duration: 8, step: 1}
pv_plants: [{name: pv, p_dc_mwp: 3.0, p_ac_mw: 2.5}]
factory_loads: [{name: plant, kind: supplier, p_peak_mw: 6.0}]
batteries: [{name: bess, p_max_mw: 2.0, e_max_mwh: 4.0, soc_init: 0.5}]
"""
SET_W = -1_000_000  # SunSpec sign: < 0 charging; the twin's p_mw = +1.0 MW


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``twin serve`` (14 steps of 1 s at 4 x real time) and the controller, side by side."""
    tmp = tmp_path_factory.mktemp("serve")
    scenario = tmp / "park.yaml"
    scenario.write_text(PARK)
    port = free_port()
    park = subprocess.Popen(
        [sys.executable, "-m", "twin", "serve", str(scenario), "--port", str(port),
         "--duration", "14", "--step", "1", "--speed", "4", "--out", str(tmp), "-q"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ctl_dir = tmp / "controller"
    ctl_dir.mkdir()
    script = ctl_dir / "controller.py"
    script.write_text((ROOT / "tests" / "sunspec_controller.py").read_text())
    seen = tmp / "seen.json"
    ctl = subprocess.run(
        [sys.executable, "-I", str(script), "127.0.0.1", str(port), str(seen), "--meter", "1",
         "--battery", "10", "--set-w", str(SET_W), "--write-at-beat", "4",
         "--stop-at-beat", "12", "--timeout", "40"],
        cwd=ctl_dir, capture_output=True, text=True, timeout=60)
    out, err = park.communicate(timeout=60)
    assert park.returncode == 0, err
    assert ctl.returncode == 0, ctl.stderr
    return {"seen": json.loads(seen.read_text()), "stdout": out, "stderr": err,
            "h5": tmp / "park-serve.h5"}


def test_the_controller_process_uses_only_pymodbus() -> None:
    text = (ROOT / "tests" / "sunspec_controller.py").read_text()
    imports = {line.split()[1].split(".")[0] for line in text.splitlines()
               if line.startswith(("import ", "from "))}
    assert imports <= {"__future__", "argparse", "json", "struct", "sys", "time", "pathlib",
                       "pymodbus"}


def test_the_log_names_each_unit_and_its_entity(served: dict) -> None:
    err = served["stderr"]
    assert "unit 1: meter pcc (SunSpec models 1, 203" in err
    assert "unit 10: battery bess" in err
    assert "unit 100: pv pv (SunSpec models 1, 701, 702, 704" in err
    seen = served["seen"]
    assert seen["models"]["meter"] == [1, 203]
    assert {1, 701, 704, 802} <= set(seen["models"]["battery"])


def test_the_battery_follows_the_external_setpoint_from_the_next_step(served: dict) -> None:
    with open_run(served["h5"]) as run:
        p = np.asarray(run.series("bess", "p_mw"))
        cmd = np.asarray(run.series("bess", "p_cmd_mw"))
        remote = np.asarray(run.series("bess", "remote"))
        remote_mw = np.asarray(run.series("bess", "p_remote_mw"))
    on = np.flatnonzero(remote == 1.0)
    assert len(on) >= 3, remote
    first = on[0]
    # the write happened at heartbeat 4 (4 steps done): steps before follow the controller
    assert first >= 4
    assert np.all(remote[first:] == 1.0)
    np.testing.assert_allclose(p[:first], cmd[:first], atol=1e-9)
    np.testing.assert_allclose(remote_mw[first:], -SET_W * 1e-6)
    np.testing.assert_allclose(p[first:], 1.0, atol=1e-9)  # within 2 MW and the SOC window
    assert np.all(cmd[first:] < -0.5)  # the rule wanted to discharge: the setpoint replaced it


def test_the_pcc_import_changes_and_the_energy_balances(served: dict) -> None:
    with open_run(served["h5"]) as run:
        net = np.asarray(run.series("pcc", "p_net_mw"))
        gen = np.asarray(run.series("pcc", "p_gen_mw"))
        load = np.asarray(run.series("pcc", "p_load_mw"))
        storage = np.asarray(run.series("pcc", "p_storage_mw"))
        p = np.asarray(run.series("bess", "p_mw"))
        loss = np.asarray(run.series("bess", "p_loss_mw"))
        e = np.asarray(run.series("bess", "e_mwh"))
        remote = np.asarray(run.series("bess", "remote"))
        twin_e = np.asarray(run.series("bess.twin", "e_mwh"))
        twin_p = np.asarray(run.series("bess.twin", "p_mw"))
        twin_loss = np.asarray(run.series("bess.twin", "p_loss_mw"))
    np.testing.assert_allclose(net, load - gen + storage, atol=1e-9)
    # the controller's twin starts each step from the served battery's state of charge
    np.testing.assert_allclose(twin_e[1:] - e[:-1], (twin_p[1:] - twin_loss[1:]) / 3600.0,
                               atol=1e-12)
    np.testing.assert_allclose(storage, p, atol=1e-12)
    np.testing.assert_allclose(np.diff(e), (p[1:] - loss[1:]) / 3600.0, atol=1e-12)
    on = remote == 1.0
    assert np.all(np.abs(net[~on]) < 1e-6)  # the rule balanced the park: no import
    np.testing.assert_allclose(net[on], load[on] - gen[on] + 1.0, atol=1e-9)
    assert np.all(net[on] > 1.0)
    # and the controller saw it on the meter (after its write, within a few steps)
    seen = served["seen"]
    before = [r["pcc_w"] for r in seen["seen"] if r["beat"] < seen["written"]["beat"]]
    after = [r["pcc_w"] for r in seen["seen"] if r["beat"] >= seen["written"]["beat"] + 2]
    assert before
    assert after
    assert max(abs(w) for w in before) < 1e4
    assert min(after) > 1.0e6
    assert min(r["bess_w"] for r in seen["seen"][-3:]) == pytest.approx(SET_W, abs=1e3)


def test_pysunspec2_discovers_every_served_map() -> None:
    from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP

    spec = BatterySpec(name="bess", p_max_mw=2.0, e_max_mwh=4.0)
    port = free_port()
    server = serve.PlantServer([serve.meter_device(1, "pcc", 10.0),
                                serve.battery_device(10, spec),
                                serve.pv_device(100, "pv", 2.5)], "127.0.0.1", port)
    server.start()
    try:
        found = {}
        for unit in (1, 10, 100):
            d = SunSpecModbusClientDeviceTCP(slave_id=unit, ipaddr="127.0.0.1", ipport=port)
            d.scan()
            found[unit] = sorted(int(m) for m in d.models if str(m).isdigit())
            if unit == 10:
                d.models[702][0].read()
                assert d.models[702][0].WMaxRtg.cvalue == pytest.approx(2.0e6)
            d.close()
    finally:
        server.stop()
    assert found[1] == [1, 203]
    assert found[100] == [1, 701, 702, 704]
    assert {1, 701, 702, 704, 713, 802} <= set(found[10])


def write(device: serve.ServedDevice, key: str, raw: int) -> object:
    """A client's write of one point through the server's action hook."""
    from hil import points as pts

    p = device.plist[key]
    current = list(device.image)
    return asyncio.run(device.action(16, device.plist.base, p.address, p.size, current,
                                     pts.encode(p, raw)))


def test_writes_outside_the_writable_points_or_their_limits_are_refused() -> None:
    from pymodbus.constants import ExcCodes

    writes: list[serve.Write] = []
    d = serve.battery_device(10, BatterySpec(name="bess", p_max_mw=2.0, e_max_mwh=4.0),
                             writes.append)
    assert write(d, "704.WSet", 3_000_000) == ExcCodes.ILLEGAL_VALUE  # beyond 2 MW
    assert d.raw("704.WSet") == 0
    assert write(d, "701.W", 5) == ExcCodes.ILLEGAL_ADDRESS  # a measurement
    assert write(d, "704.WSet", -1_500_000) is None
    assert d.raw("704.WSet") == -1_500_000
    assert [w.refused is None for w in writes] == [False, False, True]


def step_served(model: str, device: serve.ServedDevice, value: float, **params: object) -> dict:
    sim = serve.ServeSim()
    sim.init("Serve-0", start="2027-06-15T10:00:00+08:00", step_s=1,
             server=serve.PlantServer([device]))
    sim.create(1, model, name=device.entity, unit=device.unit, **params)
    attr = "p_cmd_mw" if model == "Battery" else "p_avail_mw"
    sim.step(0, {device.entity: {attr: {"src": value}}}, 1)
    return sim.out[device.entity]


def test_a_pv_plant_obeys_the_written_curtailment_limit() -> None:
    d = serve.pv_device(100, "pv", 2.5)
    assert step_served("PV", d, 2.0)["p_mw"] == pytest.approx(2.0)
    write(d, "704.WMaxLimPct", 400)  # 40.0 % of 2.5 MW (WMaxLimPct_SF = -1)
    assert step_served("PV", d, 2.0)["p_mw"] == pytest.approx(2.0)  # not enabled yet
    write(d, "704.WMaxLimPctEna", 1)
    out = step_served("PV", d, 2.0)
    assert out["p_mw"] == pytest.approx(1.0)
    assert out["p_limit_mw"] == pytest.approx(1.0)
    assert d.si("701.W") == pytest.approx(1.0e6, rel=1e-3)


def test_a_silent_controller_is_reverted_when_it_asked_for_it() -> None:
    spec = BatterySpec(name="bess", p_max_mw=2.0, e_max_mwh=4.0)
    d = serve.battery_device(10, spec)
    for key, raw in (("704.WSet", -1_000_000), ("704.WSetRvrt", 0), ("704.WSetRvrtTms", 5),
                     ("704.WSetEnaRvrt", 1), ("704.WSetEna", 1)):
        assert write(d, key, raw) is None
    out = step_served("Battery", d, -0.5, spec=spec)
    assert out["p_mw"] == pytest.approx(1.0)
    d.last_write = {k: t - 10.0 for k, t in d.last_write.items()}  # 10 s of silence
    out = step_served("Battery", d, -0.5, spec=spec)
    assert out["p_mw"] == pytest.approx(0.0)
    assert out["remote"] == 1.0
    write(d, "802.SetOp", 2)  # disconnect
    assert d.raw("802.State") == 3
    step_served("Battery", d, -0.5, spec=spec)
    assert d.raw("802.State") == 1


def test_the_help_states_the_unit_ids_and_the_exit_codes() -> None:
    from twin.apps.cli import hil as cli

    assert (serve.METER_UNIT, serve.BATTERY_UNIT0, serve.PV_UNIT0) == (1, 10, 100)
    assert "1 the PCC meter" in cli.SERVE_UNITS
    assert "10, 11" in cli.SERVE_UNITS
    assert "100, 101" in cli.SERVE_UNITS
    help_text = subprocess.run([sys.executable, "-m", "twin", "serve", "--help"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout
    assert "exit codes: 0" in " ".join(help_text.split())


def test_user_mistakes_are_one_line_and_exit_2(tmp_path: Path) -> None:
    scenario = tmp_path / "park.yaml"
    scenario.write_text(PARK)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "twin", "serve", str(scenario), "--port",
                            str(port), "--duration", "2", "-q"], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert "cannot listen on 127.0.0.1" in r.stderr
    assert "Traceback" not in r.stderr
    empty = tmp_path / "empty.yaml"
    empty.write_text(PARK.split("pv_plants")[0] + "factory_loads: [{name: plant, kind: "
                     "supplier, p_peak_mw: 6.0}]\n")
    r = subprocess.run([sys.executable, "-m", "twin", "serve", str(empty), "--step", "0.5"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0
    assert "--step" in r.stderr
    with pytest.raises(serve.ServeError, match="nothing to serve"):
        serve.prepare(loads(empty.read_text()))
    assert math.isfinite(serve.park_rating_mw(loads(PARK)))


def test_an_iec104_client_sets_the_battery_and_sees_the_pcc(tmp_path: Path) -> None:
    pytest.importorskip("c104")
    scenario = tmp_path / "park.yaml"
    scenario.write_text(PARK)
    port, iec_port = free_port(), free_port()
    park = subprocess.Popen(
        [sys.executable, "-m", "twin", "serve", str(scenario), "--port", str(port),
         "--iec104-port", str(iec_port), "--duration", "12", "--step", "1", "--speed", "4",
         "--out", str(tmp_path), "-q"], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    seen = tmp_path / "seen.json"
    ctl = subprocess.run(
        [sys.executable, "-I", str(ROOT / "tests" / "iec104_controller.py"), "127.0.0.1",
         str(iec_port), str(seen), "--set-mw", "-1.0", "--after", "3", "--total", "9"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    _, err = park.communicate(timeout=60)
    assert park.returncode == 0, err
    assert ctl.returncode == 0, ctl.stderr
    assert f"IEC 60870-5-104 on 127.0.0.1:{iec_port}, common address 1" in err
    got = json.loads(seen.read_text())
    with open_run(tmp_path / "park-serve.h5") as run:
        p = np.asarray(run.series("bess", "p_mw"))
        remote = np.asarray(run.series("bess", "remote"))
        net = np.asarray(run.series("pcc", "p_net_mw"))
    on = remote == 1.0
    assert on.sum() >= 3
    assert not on[0]
    np.testing.assert_allclose(p[on], 1.0, atol=1e-9)  # -1 MW "discharging" = 1 MW charging
    assert np.all(net[on] > 1.0)
    assert max(r["pcc_mw"] for r in got["seen"]) > 1.0  # the client saw the import rise
