"""The live twin and the stand-in plant over OPC UA (asyncua): the plant serves its tags, the
twin subscribes (no polling), readings carry the measurement's time as source timestamp."""

from __future__ import annotations

from pathlib import Path

import yaml

from twin.apps.cli import main
from twin.live import faults, mapping
from twin.live.engine import LiveEngine
from twin.live.inprocess import follow_plant
from twin.live.mqtt import free_port
from twin.live.opcua import OpcUaServer, OpcUaSubscriber
from twin.live.plant import StandInPlant
from twin.scenario import load

SMALL = Path(__file__).parent / "scenarios" / "small.yaml"


def opcua_mapping(tmp: Path, s, port: int) -> Path:
    data = mapping.default_mapping(s)
    data["source"].update(kind="opcua", port=port, stale_after="20min")
    data["tags"][0]["tag"] = "ns=2;s=met-mast/ghi"  # a node id as a real server names it
    path = tmp / "opcua.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_twin_subscribes_to_the_plants_opcua_server(tmp_path):
    s = load(SMALL).with_days(6 / 24)
    tm = mapping.load(opcua_mapping(tmp_path, s, free_port()), s)
    (tmp_path / "faults.yaml").write_text(
        "faults:\n  - {kind: stuck, point: wind.p_mw, start: 2h}\n"
        "  - {kind: lost, point: heat.p_mw, start: 4h}\n")
    server = OpcUaServer(tm)
    try:
        source = OpcUaSubscriber(tm)
        engine = LiveEngine(s, tm, tmp_path / "live.h5")
        plant = StandInPlant(s, tm, server, faults.load(tmp_path / "faults.yaml", tm),
                             speed=0, out_dir=tmp_path / "plant")
        done = follow_plant(engine, source, plant, close=(source,))
    finally:
        server.close()
    # every write is a reading, also a repeated value (PV at night, a stuck meter)
    assert done.n_readings == plant.n_published
    assert engine.n_late == 0
    assert [(a.kind, a.point, a.raised_s) for a in done.alarms] == [
        ("stuck_meter", "wind.p_mw", 2 * 3600 + 900),
        ("lost_tag", "heat.p_mw", 4 * 3600 + 900)]


def test_no_server_is_one_line(tmp_path, capsys):
    s = load(SMALL)
    path = opcua_mapping(tmp_path, s, free_port())
    assert main(["live", str(SMALL), "--telemetry", str(path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: cannot reach the OPC UA server at opc.tcp://127.0.0.1:")
