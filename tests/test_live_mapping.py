"""The telemetry mapping and the fault schedule: validated like a scenario, one line per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.apps.cli import main
from twin.live import faults, mapping
from twin.scenario import load, loads

SMALL = Path(__file__).parent / "scenarios" / "small.yaml"

GOOD = """\
source:
  kind: mqtt
  port: 1883
  stale_after: 20min
tags:
  - {tag: met/t, point: weather.temp_air_c, unit: K}
  - {tag: pv/p, point: pv.p_mw, unit: kW}
  - {tag: bess/soc, point: bess.soc, unit: "%"}
"""


@pytest.fixture(scope="module")
def scenario():
    return load(SMALL)


def test_units_convert_to_the_declared_ones(scenario, tmp_path):
    path = tmp_path / "map.yaml"
    path.write_text(GOOD)
    tm = mapping.load(path, scenario)
    assert tm.source.stale_after == 1200
    assert tm.to_twin("met/t", 273.15) == pytest.approx(0.0)
    assert tm.to_twin("pv/p", 2500.0) == pytest.approx(2.5)
    assert tm.to_twin("bess/soc", 45.0) == pytest.approx(0.45)
    assert tm.from_twin("pv/p", tm.to_twin("pv/p", 1234.5)) == pytest.approx(1234.5)


@pytest.mark.parametrize(("line", "expected"), [
    ("  - {tag: x, point: pvv.p_mw, unit: kW}", "tags[3].point: no entity 'pvv'"),
    ("  - {tag: x, point: pv.q_mvar, unit: kW}", "tags[3].point: 'pv' records no attribute "
                                                 "'q_mvar'"),
    ("  - {tag: x, point: wind.p_mw, unit: MWh}", "tags[3].unit: wind.p_mw is in MW; expected "
                                                  "one of MW, kW, W, got 'MWh'"),
    ("  - {tag: pv/p, point: wind.p_mw, unit: kW}", "tags[3].tag: tag 'pv/p' is already used "
                                                    "by tags[1]"),
    ("  - {tag: x, point: pv.p_mw, unit: kW}", "tags[3].point: 'pv.p_mw' is already measured "
                                               "by tags[1]"),
    ("  - {tag: park/#, point: wind.p_mw, unit: kW}", "tags[3].tag: expected a tag name "
                                                      "without MQTT wildcards"),
    ("  - {tag: x, point: wind.p_mw, unit: kW, scale: 2}", "tags[3].scale: unknown key"),
])
def test_a_mistake_is_one_line_with_file_line_and_path(scenario, tmp_path, line, expected):
    path = tmp_path / "map.yaml"
    path.write_text(GOOD + line + "\n")
    with pytest.raises(mapping.MappingError) as caught:
        mapping.load(path, scenario)
    message = str(caught.value)
    assert message == message.strip()
    assert "\n" not in message
    assert message.startswith(f"{path}:9: {expected}")


def test_every_mistake_of_a_file_at_once(scenario, tmp_path):
    path = tmp_path / "map.yaml"
    path.write_text(GOOD.replace("port: 1883", "port: 0") +
                    "  - {tag: y, point: heat.p_mw, unit: GW}\n")
    with pytest.raises(mapping.MappingError) as caught:
        mapping.load(path, scenario)
    lines = str(caught.value).splitlines()
    assert [ln.split(": ")[1] for ln in lines] == ["source.port", "tags[3].unit"]
    assert lines[0].startswith(f"{path}:3: ")
    assert lines[1].startswith(f"{path}:9: ")


def test_faults_name_tags_of_the_mapping(scenario, tmp_path):
    path = tmp_path / "map.yaml"
    path.write_text(GOOD)
    tm = mapping.load(path, scenario)
    bad = tmp_path / "faults.yaml"
    bad.write_text("faults:\n  - {kind: stuck, point: pv.p_mw, start: 1h}\n"
                   "  - {kind: stuck, point: wind.p_mw, start: 1h}\n")
    with pytest.raises(mapping.MappingError) as caught:
        faults.load(bad, tm)
    assert str(caught.value).startswith(f"{bad}:3: faults[1].point: no tag of the mapping "
                                        "measures 'wind.p_mw'")
    bad.write_text("faults:\n  - {kind: melt, point: pv.p_mw, start: 1h}\n")
    with pytest.raises(mapping.MappingError) as caught:
        faults.load(bad, tm)
    assert str(caught.value).startswith(f"{bad}:2: faults[0].kind: expected one of "
                                        "'string_outage'")


def test_faults_act_on_the_published_values():
    f = faults.Faulty((
        faults.Fault("stuck", "w.p_mw", start=3600, duration=1800),
        faults.Fault("soc_drift", "b.soc", start=0, rate_per_h=0.04),
        faults.Fault("lost", "e.p_mw", start=900),
    ))
    assert [f.value("w.p_mw", t, v, 900) for t, v in
            ((1800, 1.0), (2700, 2.0), (3600, 3.0), (4500, 4.0), (5400, 5.0))] == \
        [1.0, 2.0, 2.0, 2.0, 5.0]  # frozen at the last reading before, released after
    assert f.value("b.soc", 2700, 0.5, 900) == pytest.approx(0.5 + 0.04)
    assert f.value("e.p_mw", 0, 1.0, 900) == 1.0
    assert f.value("e.p_mw", 900, 1.0, 900) is None


def test_the_commands_say_a_bad_mapping_in_one_line(tmp_path, capsys):
    path = tmp_path / "map.yaml"
    path.write_text(GOOD + "  - {tag: x, point: pvv.p_mw, unit: kW}\n")
    assert main(["live", str(SMALL), "--telemetry", str(path)]) == 2
    assert main(["plant", str(SMALL), "--telemetry", str(tmp_path / "none.yaml")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"error: {path}:9: tags[3].point: no entity 'pvv'")
    assert err[1] == f"error: {tmp_path / 'none.yaml'}: no such telemetry mapping file"


def test_the_plant_writes_the_mapping_the_twin_reads(scenario, tmp_path, capsys):
    path = tmp_path / "map.yaml"
    assert main(["plant", str(SMALL), "--write-mapping", str(path),
                 "--broker", "127.0.0.1:18830"]) == 0
    tm = mapping.load(path, scenario)
    assert (tm.source.kind, tm.source.port) == ("mqtt", 18830)
    points = {t.point for t in tm.tags}
    assert {"pv.p_mw", "wind.p_mw", "bess.soc", "weather.ghi_w_m2", "pcc.p_import_mw"} <= points
    assert tm.to_twin("pv/p_mw", 1500.0) == pytest.approx(1.5)  # published in kW
    assert main(["plant", str(SMALL), "--broker", "127.0.0.1:0"]) == 2
    assert capsys.readouterr().err.strip().endswith("expected HOST:PORT with a port 1 to 65535")


def test_measured_voltages_need_the_network_and_its_bus_names(scenario, tmp_path):
    path = tmp_path / "map.yaml"
    path.write_text(GOOD + "grid:\n  voltages:\n    - {tag: v1, bus: nowhere}\n")
    with pytest.raises(mapping.MappingError) as caught:
        mapping.load(path, scenario)
    assert str(caught.value) == f"{path}:9: grid: the scenario has no grid section: no " \
                                "network to estimate"
    with_grid = loads(SMALL.read_text() + "grid:\n  source: build\n", SMALL)
    text = GOOD.replace("pv.p_mw", "grid.vm_pu") + \
        "grid:\n  voltages:\n    - {tag: v1, bus: nowhere}\n    - {tag: v2, bus: pv/10kv}\n"
    path.write_text(text)
    with pytest.raises(mapping.MappingError) as caught:
        mapping.load(path, with_grid)
    lines = str(caught.value).splitlines()
    assert lines[0].startswith(f"{path}:7: tags[1].point: grid.vm_pu has a value per bus or "
                               "line; measure bus voltages under grid.voltages")
    path.write_text(GOOD + "grid:\n  voltages:\n    - {tag: v1, bus: nowhere}\n")
    with pytest.raises(mapping.MappingError) as caught:
        mapping.load(path, with_grid)
    assert str(caught.value).startswith(f"{path}:11: grid.voltages[0].bus: no bus 'nowhere' "
                                        "in the park's network")
