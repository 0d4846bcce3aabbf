"""The live twin and the stand-in plant over a real MQTT broker (Debian's mosquitto, started on
a free loopback port and stopped by the test)."""

from __future__ import annotations

from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml

from twin.apps.cli import main
from twin.core.results import open_run
from twin.live import faults, mapping
from twin.live.engine import LiveEngine
from twin.live.inprocess import follow_plant
from twin.live.mqtt import MOSQUITTO, MqttPublisher, MqttSubscriber, free_port, mosquitto
from twin.live.plant import StandInPlant
from twin.scenario import load

SMALL = Path(__file__).parent / "scenarios" / "small.yaml"


@pytest.fixture(scope="module")
def broker():
    if not Path(MOSQUITTO).exists():
        pytest.skip("Debian's mosquitto is not installed (make test installs it)")
    with mosquitto(free_port()) as port:
        yield port


def mapping_file(tmp: Path, s, port: int) -> Path:
    data = mapping.default_mapping(s)
    data["source"].update(port=port, stale_after="20min")
    path = tmp / "map.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_twin_follows_the_plant_over_mqtt(broker, tmp_path):
    s = load(SMALL).with_days(10 / 24)
    tm = mapping.load(mapping_file(tmp_path, s, broker), s)
    (tmp_path / "faults.yaml").write_text(
        "faults:\n  - {kind: stuck, point: wind.p_mw, start: 2h}\n"
        "  - {kind: lost, point: heat.p_mw, start: 6h}\n")
    schedule = faults.load(tmp_path / "faults.yaml", tm)
    engine = LiveEngine(s, tm, tmp_path / "live.h5")
    source = MqttSubscriber(tm)  # subscribed (the broker acknowledged) before the plant starts
    publisher = MqttPublisher(tm.source.host, tm.source.port)
    plant = StandInPlant(s, tm, publisher, schedule, speed=90_000, out_dir=tmp_path / "plant")
    done = follow_plant(engine, source, plant, close=(publisher, source))
    assert done.n_readings == plant.n_published  # every reading arrived, none twice
    assert done.n_steps == s.n_steps == 40
    assert [(a.kind, a.point, a.raised_s) for a in done.alarms] == [
        ("stuck_meter", "wind.p_mw", 2 * 3600 + 900),  # the third equal reading
        ("lost_tag", "heat.p_mw", 6 * 3600 + 900)]  # 30 min without an update > 20 min
    with open_run(tmp_path / "live.h5") as run, open_run(tmp_path / "plant" / "small.h5") as truth:
        assert run.complete
        assert (run.series("pv", "p_mw") == truth.series("pv", "p_mw")).all()


def test_a_payload_that_is_not_a_reading_is_ignored(broker, tmp_path):
    s = load(SMALL).with_days(1 / 24)
    tm = mapping.load(mapping_file(tmp_path, s, broker), s)
    source = MqttSubscriber(tm, name="twin-live-bad")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", broker)
    client.loop_start()
    topic = tm.topic(tm.tags[0])
    for raw in (b"not json", b'{"t": 1}', b'{"t": 1, "v": "NaN"}', b'{"t": 1.5e9, "v": 3.0}'):
        client.publish(topic, raw, qos=1).wait_for_publish(5)
    try:
        assert source.get(timeout=5) == (tm.tags[0].tag, 1.5e9, 3.0)
        assert source.n_bad == 3
    finally:
        client.loop_stop()
        client.disconnect()
        source.close()


def test_no_broker_is_one_line(tmp_path, capsys):
    s = load(SMALL)
    path = mapping_file(tmp_path, s, free_port())
    assert main(["live", str(SMALL), "--telemetry", str(path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: cannot reach the MQTT broker at 127.0.0.1:")
