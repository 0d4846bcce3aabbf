"""A network of one's own tied to the park's entities by a mapping table: pandapower's
mv_oberrhein (a network the project did not make) with the small park's entities mapped to its
elements by name and by index; every mistake in the table named in one line (file, line, field).

CIM: cimpy's CIGRE MV sample (tests/data/cgmes/cigre_mv, a NEPLAN export of IEC 61970-452/456
profiles with no SteadyStateHypothesis file) read through a scenario with ``source: cim``: its
loads' powers sum to the StateVariables file's power flows, and pandapower's power flow on the
converted network reproduces the voltages NEPLAN solved (the same file's SvVoltage)."""

from __future__ import annotations

import logging
import re

import pandapower as pp
import pandapower.networks as pn
import pytest

from tests.conftest import ROOT
from twin.apps.cli import main
from twin.cosim.network import build_grid
from twin.scenario import ScenarioError, loads

SMALL = (ROOT / "tests" / "scenarios" / "small.yaml").read_text(encoding="utf-8")
TABLE = """entity,table,element
# the small park's entities on mv_oberrhein's elements
pv,sgen,Static Generator 0
pv,sgen,Static Generator 1
wind,sgen,2        # by index
wind,sgen,3
bess,load,LV Load 0
plant,load,LV Load 1
plant,load,LV Load 2
ev,load,LV Load 3
heat,load,4
"""


@pytest.fixture(scope="module")
def oberrhein() -> str:
    """mv_oberrhein with its elements at scaling 1 (a planner's export of the real powers)."""
    net = pn.mv_oberrhein()
    net.load["scaling"] = 1.0
    net.sgen["scaling"] = 1.0
    return pp.to_json(net)


def _scenario(tmp_path, net_json: str, table: str):
    (tmp_path / "net.json").write_text(net_json, encoding="utf-8")
    (tmp_path / "map.csv").write_text(table, encoding="utf-8")
    path = tmp_path / "s.yaml"
    path.write_text(SMALL + "grid:\n  source: json\n  path: net.json\n  mapping: map.csv\n",
                    encoding="utf-8")
    return path


def test_the_table_ties_each_entity_to_its_elements(tmp_path, oberrhein):
    s = loads(_scenario(tmp_path, oberrhein, TABLE).read_text(), tmp_path / "s.yaml")
    park = build_grid(s)
    net = pp.from_json_string(oberrhein)
    by_name = {t: dict(zip(net[t].name, net[t].index, strict=True)) for t in ("load", "sgen")}
    want = {"pv": ("sgen", [by_name["sgen"]["Static Generator 0"],
                            by_name["sgen"]["Static Generator 1"]]),
            "wind": ("sgen", [2, 3]), "bess": ("load", [by_name["load"]["LV Load 0"]]),
            "plant": ("load", [by_name["load"]["LV Load 1"], by_name["load"]["LV Load 2"]]),
            "ev": ("load", [by_name["load"]["LV Load 3"]]), "heat": ("load", [4])}
    assert {k: (t, sorted(i)) for k, (t, i) in park.elements.items()} == \
        {k: (t, sorted(i)) for k, (t, i) in want.items()}
    assert set(park.net.sgen.name[[0, 1, 2, 3]]) == {"pv/0", "pv/1", "wind/0", "wind/1"}


def test_each_mistake_of_the_table_on_its_line(tmp_path, oberrhein, capsys):
    bad = (TABLE.replace("wind,sgen,3", "wind,sgen,Static Generator 0")   # mapped twice
           .replace("ev,load,LV Load 3", "ev,load,LV Load 999")            # no such element
           .replace("heat,load,4\n", "")                                   # heat: no row
           + "boiler,load,LV Load 5\n"                                     # not an entity
           + "bess,sgen,Static Generator 7\n")                             # wrong table
    path = _scenario(tmp_path, oberrhein, bad)
    with pytest.raises(ScenarioError) as info:
        loads(path.read_text(), path)
    lines = str(info.value).splitlines()
    assert len(lines) == 5, lines
    assert all(line.startswith(f"{path}:") and ": grid.mapping: map.csv" in line
               for line in lines), lines
    text = "\n".join(lines)
    assert ("map.csv line 6, element: sgen 'Static Generator 0' is already mapped to pv on "
            "line 3") in text
    assert "map.csv line 10, element: no load named or numbered 'LV Load 999'" in text
    assert "map.csv line 11, entity: 'boiler' is not a park entity" in text
    assert "map.csv line 12, table: a battery entity drives load elements, got 'sgen'" in text
    assert "map.csv: no row for park entity 'heat' (heat)" in text
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "no row for park entity 'heat'" in err


CIM = ROOT / "tests" / "data" / "cgmes" / "cigre_mv"
#: the small park without PV and wind (the CIGRE MV export has loads only)
LOADS_ONLY = re.sub(r"wind_farms:.*?(?=batteries:)", "", SMALL, flags=re.S)
CIM_TABLE = """entity,table,element
bess,load,Load1-H
plant,load,Load12-H
plant,load,Load12-I
ev,load,Load7-I
heat,load,5        # by index (Load3-H)
"""


def _cim_scenario(tmp_path, table: str):
    (tmp_path / "map.csv").write_text(table, encoding="utf-8")
    path = tmp_path / "s.yaml"
    path.write_text(LOADS_ONLY + f"grid:\n  source: cim\n  path: {CIM}\n  mapping: map.csv\n",
                    encoding="utf-8")
    return path


def _sv(tag: str, fields: str) -> list[tuple[str, ...]]:
    text = (CIM / "Rootnet_FULL_NE_24J13h_SV.xml").read_text(encoding="utf-8")
    return re.findall(rf"<cim:{tag} [^>]*>\s*{fields}", text)


@pytest.fixture(scope="module")
def cigre_mv(tmp_path_factory):
    path = _cim_scenario(tmp_path_factory.mktemp("cim"), CIM_TABLE)
    return build_grid(loads(path.read_text(), path))


def test_a_cgmes_export_loads_with_its_state_and_table(cigre_mv):
    net = cigre_mv.net
    flows = _sv("SvPowerFlow", r"<cim:SvPowerFlow.p>([-\d.e+]+)<")
    assert len(net.load) == len(flows) == 18
    assert net.load.p_mw.sum() == pytest.approx(sum(float(p) for p in flows), abs=1e-9)
    assert net.load.in_service.all()
    assert len(net.ext_grid) == 1
    by_name = dict(zip(net.load.origin_id, net.load.index, strict=True))
    table, idx = cigre_mv.elements["plant"]
    assert (table, sorted(idx)) == ("load", sorted([by_name["Load12-H"], by_name["Load12-I"]]))
    assert net.load.name[5] == "heat/0"
    pp.runpp(net, calculate_voltage_angles=True)
    solved = {node: float(v) for v, node in _sv(
        "SvVoltage", r"<cim:SvVoltage.v>([\d.e+]+)</cim:SvVoltage.v>\s*"
        r"<cim:SvVoltage.angle>[-\d.e+]+</cim:SvVoltage.angle>\s*"
        r'<cim:SvVoltage.TopologicalNode rdf:resource="#(\w+)"')}
    ours = dict(zip(net.bus.origin_id, net.res_bus.vm_pu * net.bus.vn_kv, strict=True))
    assert len(solved) == 15
    for node, v in solved.items():   # NEPLAN's solved voltages, kV
        assert ours[node] == pytest.approx(v, abs=1e-4), node


def test_a_cgmes_mapping_to_a_missing_element_is_refused(tmp_path):
    path = _cim_scenario(tmp_path, CIM_TABLE.replace("Load7-I", "Load99-I"))
    with pytest.raises(ScenarioError) as info:
        loads(path.read_text(), path)
    lines = str(info.value).splitlines()
    assert len(lines) == 1, lines
    assert "map.csv line 5, element: no load named or numbered 'Load99-I'" in lines[0]


def test_a_cgmes_export_reads_without_the_converters_tracebacks(tmp_path, caplog, recwarn):
    """pandapower's converter logs its errors with tracebacks (the empty in-service values of
    an export without SSH, which the state from SV fills): none reaches the console."""
    path = _cim_scenario(tmp_path, CIM_TABLE)
    with caplog.at_level(logging.DEBUG):
        loads(path.read_text(), path)
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []
    assert [str(w.message) for w in recwarn if issubclass(w.category, FutureWarning)] == []
