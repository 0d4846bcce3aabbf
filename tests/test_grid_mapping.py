"""A network of one's own tied to the park's entities by a mapping table: pandapower's
mv_oberrhein (a network the project did not make) with the small park's entities mapped to its
elements by name and by index; every mistake in the table named in one line (file, line, field).

CIM/CGMES: pandapower ships no CGMES model in its installed package (its test data is not
installed), so only the JSON route is exercised here; the CIM route differs only in
reading the file (twin.models.grid.mapping.read_cim)."""

from __future__ import annotations

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
