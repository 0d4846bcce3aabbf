"""A pandapower network of one's own as the park's grid: refused where the run would be wrong,
warned where the file holds what the run does not use.

The real case: pandapower's own ``mv_oberrhein`` (loads at scaling 0.6, static generators at
scaling 0.0) with some of its elements named after the park's entities.
"""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pandapower as pp
import pandapower.networks as pn
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT
from tests.test_grid_park import _small_net
from twin.apps.cli import main
from twin.models.grid.topology import ParkGrid
from twin.scenario import ScenarioError, loads

SMALL = (ROOT / "tests" / "scenarios" / "small.yaml").read_text(encoding="utf-8")
TIED_SGENS = ("pv/0", "pv/1", "wind/0", "wind/1", "wind/2")
TIED_LOADS = ("bess", "plant/0", "plant/1", "ev", "heat")


@pytest.fixture(scope="module")
def oberrhein():
    """mv_oberrhein as pandapower ships it, its first elements named after small.yaml's
    entities (a copy per test)."""
    net = pn.mv_oberrhein()
    net.sgen.loc[net.sgen.index[:len(TIED_SGENS)], "name"] = TIED_SGENS
    net.load.loc[net.load.index[:len(TIED_LOADS)], "name"] = TIED_LOADS
    return pp.to_json(net)


def _scenario(tmp_path, net_json: str, days: int = 2):
    (tmp_path / "net.json").write_text(net_json, encoding="utf-8")
    path = tmp_path / "s.yaml"
    path.write_text(SMALL.replace("duration: 365d", f"duration: {days}d")
                    + "grid:\n  source: json\n  path: net.json\n", encoding="utf-8")
    return path


def _error(path) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        loads(path.read_text(encoding="utf-8"), path)
    lines = str(info.value).splitlines()
    assert all(line.startswith(f"{path}:") and "grid.path: net.json: " in line
               for line in lines), lines
    return lines


def test_mv_oberrhein_as_shipped_is_refused_by_check_and_run(tmp_path, oberrhein, capsys):
    """Its scalings would take 40 % of every load and all of PV and wind out of the power
    flow while the KPIs count them: refused by both commands, each entity on its line."""
    path = _scenario(tmp_path, oberrhein)
    assert main(["check", str(path)]) == 2
    run = subprocess.run([sys.executable, "-m", "twin", "run", str(path)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 2, run.stderr
    for stderr in (capsys.readouterr().err, run.stderr):
        assert "Traceback" not in stderr
        lines = stderr.removeprefix("error: ").splitlines()
        assert len(lines) == 6, stderr  # bess, ev, heat, plant, pv, wind
        pv = next(line for line in lines if "of pv's power" in line)
        assert "carry 0.0% of pv's power" in pv
        assert "sgen 0 'pv/0' scaling = 0" in pv
        assert "sgen 1 'pv/1' scaling = 0" in pv
        plant = next(line for line in lines if "of plant's power" in line)
        assert "carry 60.0% of plant's power" in plant
        assert "load 2 'plant/1' scaling = 0.6" in plant
    assert not list(tmp_path.glob("**/*.h5*"))  # nothing ran


def test_tied_elements_out_of_service_are_refused(tmp_path, oberrhein):
    net = pp.from_json_string(oberrhein)
    for table in ("load", "sgen"):
        net[table]["scaling"] = 1.0
    wind_1 = net.sgen.index[net.sgen.name == "wind/1"][0]
    net.sgen.at[wind_1, "in_service"] = False
    plant_1 = net.load.index[net.load.name == "plant/1"][0]
    lonely = pp.create_bus(net, 20.0, name="lonely", in_service=False)
    net.load.at[plant_1, "bus"] = lonely
    lines = _error(_scenario(tmp_path, pp.to_json(net)))
    assert len(lines) == 2, lines
    assert "carry 50.0% of plant's power" in lines[0]
    assert f"load {plant_1} 'plant/1' on bus {lonely} whose in_service = False" in lines[0]
    assert "carry 66.7% of wind's power" in lines[1]
    assert f"sgen {wind_1} 'wind/1' in_service = False" in lines[1]


def test_unmapped_elements_are_warned_and_carry_nothing(tmp_path, oberrhein):
    """Fixed scalings: the scenario loads, the 290 elements tied to no entity are warned with
    the file's power, and a step of the network shows that they carry nothing (the PCC
    exchange is the tied entities' balance plus the losses)."""
    net = pp.from_json_string(oberrhein)
    tied = net.sgen.name.isin(TIED_SGENS)
    net.sgen.loc[tied, "scaling"] = 1.0
    net.load.loc[net.load.name.isin(TIED_LOADS), "scaling"] = 1.0
    path = _scenario(tmp_path, pp.to_json(net))
    s = loads(path.read_text(encoding="utf-8"), path)
    free_load = net.load.p_mw[~net.load.name.isin(TIED_LOADS)].sum()
    free_gen = net.sgen.p_mw[~tied].sum()
    assert len(s.warnings) == 1
    warning = s.warnings[0]
    assert "142 loads and 148 sgens are tied to no park entity" in warning
    assert "load 5 'LV Load 5'" in warning
    assert f"{free_load:.1f} MW of load at scaling 0.6" in warning
    assert f"{free_gen:.1f} MW of generation at scaling 0" in warning

    grid = ParkGrid(net)
    powers = {"pv": 1.5, "wind": 3.0, "plant": 2.0, "ev": 0.5, "heat": 0.4, "bess": -0.2}
    p = np.zeros(len(grid.names))
    for name, mw in powers.items():
        p[grid.index[name]] = mw
    lossless = sum(powers[n] for n in ("plant", "ev", "heat", "bess")) - 1.5 - 3.0
    step = grid.step(p, lossless)
    assert step.converged
    assert step.p_net_mw == pytest.approx(lossless + step.p_loss_mw, abs=1e-6)
    assert 0 < step.p_loss_mw < 1.0  # against 60 MW of loads tied to nothing


def test_bad_numbers_in_a_grid_json_are_refused_all_at_once(tmp_path, oberrhein):
    """A NaN impedance, a negative rating, an infinite transformer, vkr above vk, a bus of
    0 kV and a line of no impedance: each on its line, with the element and the column."""
    net = pp.from_json_string(oberrhein)
    net.line.at[3, "r_ohm_per_km"] = np.nan
    net.line.at[5, "max_i_ka"] = -1.0
    net.line.loc[[0, 1], ["r_ohm_per_km", "x_ohm_per_km"]] = 0.0
    net.trafo.at[114, "sn_mva"] = np.inf
    net.trafo.at[142, "vkr_percent"] = 20.0
    net.bus.at[58, "vn_kv"] = 0.0
    lines = _error(_scenario(tmp_path, pp.to_json(net)))
    for fragment in ("line 3 'Line 3': r_ohm_per_km = nan; expected a finite number >= 0",
                     "line 5 'Line 5': max_i_ka = -1.0; expected a finite number > 0",
                     "trafo 114 'HV/MV Transformer 0': sn_mva = ",
                     "trafo 142 'HV/MV Transformer 1': vkr_percent = 20.0 and vk_percent "
                     "= 11.2; expected vkr_percent <= vk_percent",
                     "bus 58 'Bus 38': vn_kv = 0.0; expected a finite number > 0",
                     "line 0 'Line 0': r_ohm_per_km = 0.0 and x_ohm_per_km = 0.0 are both 0",
                     "line 1 'Line 1': r_ohm_per_km = 0.0 and x_ohm_per_km = 0.0 are both 0"):
        assert sum(fragment in line for line in lines) == 1, (fragment, lines)
    assert len(lines) == 7, lines


def test_a_grid_json_that_is_not_utf8_is_one_line(tmp_path, oberrhein):
    path = _scenario(tmp_path, oberrhein)
    (tmp_path / "net.json").write_bytes(oberrhein.encode("utf-16"))
    lines = _error(path)
    assert len(lines) == 1, lines
    assert "UTF" in lines[0], lines


NUMBER = re.compile(r"-?\d+\.\d+(?:e-?\d+)?")
SMALL_NET = pp.to_json(_small_net())
NUMBERS = [m.span() for m in NUMBER.finditer(SMALL_NET)  # the element tables' numbers
           if m.start() < SMALL_NET.index('"std_types"')]


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, len(NUMBERS) - 1),
                          st.sampled_from(["NaN", "-1.0", "Infinity", "1e999", "0.0", '\\"x\\"',
                                           "truncate"])), min_size=1, max_size=4))
def test_fuzz_a_grid_json_loads_or_gives_one_line_per_error(tmp_path, mutations):
    """Numbers of a network replaced by NaN, negative, infinite, zero or text, or the file cut:
    it loads, or every mistake is one line naming the scenario's grid.path; never another
    exception."""
    text = SMALL_NET
    for k, value in sorted(mutations, reverse=True):  # from the end: the spans stay valid
        a, b = NUMBERS[k]
        text = text[:a] if value == "truncate" else text[:a] + value + text[b:]
    path = _scenario(tmp_path, text)
    try:
        loads(path.read_text(encoding="utf-8"), path)
    except ScenarioError as exc:
        for line in str(exc).splitlines():
            assert line.startswith(f"{path}:") or line.startswith("... and "), line
            assert "grid.path: net.json: " in line or line.startswith("... and "), line


@pytest.mark.parametrize(("old", "new", "fragment"), [
    ('\\"bess\\",1,1.0', '\\"bess\\",7,1.0', "load 0 'bess': bus = 7; expected the index of a "
     "bus of the network"),
    ('\\"bess\\",1,1.0', '\\"bess\\",\\"x\\",1.0', "load 0 'bess': bus = 'x'"),
    ('\\"const_z_p_percent\\"', '\\"const_z_p_percent\\"', None),  # unchanged: it loads
], ids=["missing-bus", "text-bus", "unchanged"])
def test_an_element_on_a_bus_that_does_not_exist_is_one_line(tmp_path, old, new, fragment):
    assert old in SMALL_NET
    path = _scenario(tmp_path, SMALL_NET.replace(old, new, 1))
    if fragment is None:
        assert loads(path.read_text(encoding="utf-8"), path).warnings == ()
        return
    lines = _error(path)
    assert len(lines) == 1, lines
    assert fragment in lines[0], lines


def test_the_grid_adapter_refuses_bad_numbers_in_a_plain_mosaik_script():
    """A network handed to the adapter directly (no twin check) is checked too: one message
    with the element, not a traceback deep in the power flow."""
    from adapters.grid_sim import GridSim
    from twin.models.grid.solver import GridError

    net = _small_net()
    net.trafo["vk_percent"] = np.nan
    sim = GridSim()
    sim.init("Grid-0", start="2027-01-01T00:00:00+08:00", step_s=900)
    with pytest.raises(GridError) as info:
        sim.create(1, "Grid", name="grid", net_json=pp.to_json(net), solver="lightsim2grid")
    assert str(info.value).startswith("grid: trafo 0: vk_percent = nan; expected a finite "
                                      "number > 0"), str(info.value)


@pytest.mark.parametrize(("change", "element"), [
    (lambda net: net.sgen.loc.__setitem__((0, "scaling"), 0.0), "sgen 0 'pv' scaling = 0"),
    (lambda net: net.load.loc.__setitem__((1, "in_service"), False),
     "load 1 'plant' in_service = False"),
])
def test_the_grid_adapter_refuses_a_park_element_that_would_not_carry_its_power(change,
                                                                                element):
    """A plain mosaik script hands the adapter a network of its own: the elements of the
    entities that send it their powers must carry them whole (as twin check demands);
    elements no entity sends to are left alone."""
    from adapters.grid_sim import GridSim
    from twin.models.grid.solver import GridError

    net = _small_net()
    change(net)
    sim = GridSim()
    sim.init("Grid-0", start="2027-01-01T00:00:00+08:00", step_s=900)
    sim.create(1, "Grid", name="grid", net_json=pp.to_json(net), solver="lightsim2grid")
    inputs = {"p_gen_mw": {"PV-0.wind": 1.0}, "p_load_mw": {"Loads-0.bess": 0.5}}
    sim.step(0, {"grid": inputs}, 10**9)  # wind and bess carry their power: accepted
    assert sim.get_data({"grid": ["p_gen_mw"]})["grid"]["p_gen_mw"] == 1.0
    source = "PV-0.pv" if element.startswith("sgen") else "Loads-0.plant"
    inputs["p_gen_mw" if element.startswith("sgen") else "p_load_mw"][source] = 2.0
    with pytest.raises(GridError) as info:
        sim.step(900, {"grid": inputs}, 10**9)
    message = str(info.value)
    assert message.startswith(f"grid: first-step balance: the power flow would carry 0.0% of "
                              f"{source.split('.')[1]}'s power"), message
    assert element in message, message
    assert message.endswith(f"(sent by {source})"), message
