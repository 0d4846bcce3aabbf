"""Scenario validation: every bad input gives one line naming file, field path and expectation."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT
from twin.scenario import ScenarioError, load, loads

GOOD = textwrap.dedent("""\
    park:
      name: test park
      latitude: 41.8
      longitude: 123.4
      timezone: Asia/Shanghai
      seed: 3
    period:
      start: 2027-01-01 00:00
      duration: 2d
      step: 15min
    weather:
      source: synthetic
    pv_plants:
      - name: pv-1
        p_dc_mwp: 10
        p_ac_mw: 8
    wind_farms:
      - name: wind-1
        turbine_type: E-141/4200
        n_turbines: 3
        hub_height_m: 130
    batteries:
      - name: bess-1
        p_max_mw: 5
        e_max_mwh: 20
        soc_min: 0.1
        soc_max: 0.9
    factory_loads:
      - name: plant-1
        kind: automotive
        p_peak_mw: 30
""")


def test_good_scenario_is_typed():
    s = loads(GOOD, "good.yaml")
    assert s.period.step_s == 900
    assert s.period.duration_s == 2 * 86400
    assert s.n_steps == 192
    assert s.batteries[0].soc_max == 0.9
    assert s.pv_plants[0].p_dc_mwp == 10.0
    assert s.start_utc.isoformat() == "2026-12-31T16:00:00+00:00"  # 00:00 in Shanghai
    assert s.with_days(1).n_steps == 96


BAD = [
    # (what to change, expected fragments of the one-line message)
    ("park:\n  name: x\n  latitude: 41.8\n  longitude: 123.4\n  colour: red\n",
     ["park.colour", "unknown key"]),
    ("  n_turbines: three\n", ["wind_farms[0].n_turbines", "expected an integer"]),
    ("  p_max_mw: -5\n", ["batteries[0].p_max_mw", "> 0", "-5"]),
    ("  soc_max: 1.5\n", ["batteries[0].soc_max", "<= 1"]),
    ("  turbine_type: Windmill-9000\n", ["wind_farms[0].turbine_type", "Windmill-9000"]),
    ("weather:\n  source: epw\n  path: nowhere.epw\n", ["weather.path", "no such file"]),
    ("period:\n  start: 2027-01-01\n  duration: forever\n", ["period.duration", "duration"]),
    ("  kind: shipyard\n", ["factory_loads[0].kind", "automotive"]),
]


def _mutate(change: str) -> str:
    """Apply a change: a top-level block replaces its block; an indented line replaces a key."""
    lines = GOOD.splitlines()
    if not change.startswith("  "):
        top = change.split(":", 1)[0]
        start = lines.index(f"{top}:")
        end = start + 1
        while end < len(lines) and lines[end].startswith(" "):
            end += 1
        return "\n".join(lines[:start] + change.rstrip("\n").splitlines() + lines[end:]) + "\n"
    key = change.strip().split(":", 1)[0]
    out = [f"    {change.strip()}" if line.strip().startswith(f"{key}:") else line
           for line in lines]
    assert out != lines, f"no key {key} in GOOD"
    return "\n".join(out) + "\n"


@pytest.mark.parametrize(("change", "fragments"), BAD)
def test_bad_input_names_field_and_expectation(change, fragments):
    with pytest.raises(ScenarioError) as info:
        loads(_mutate(change), "scenarios/bad.yaml")
    message = str(info.value)
    assert message.startswith("scenarios/bad.yaml:"), message
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_line_number_points_at_the_field():
    text = _mutate("  soc_max: 1.5\n")
    with pytest.raises(ScenarioError) as info:
        loads(text, "s.yaml")
    line = int(str(info.value).split(":")[1])
    assert text.splitlines()[line - 1].strip().startswith("soc_max")


def test_cross_field_rules():
    with pytest.raises(ScenarioError, match="soc_max > soc_min"):
        loads(_mutate("  soc_min: 0.95\n").replace("soc_max: 0.9", "soc_max: 0.9"), "s.yaml")
    dup = GOOD.replace("name: wind-1", "name: pv-1")
    with pytest.raises(ScenarioError, match="already used"):
        loads(dup, "s.yaml")
    with pytest.raises(ScenarioError, match="time zone"):
        loads(GOOD.replace("Asia/Shanghai", "Mars/Olympus"), "s.yaml")
    heat = GOOD + ("heat_supply:\n  - name: heat-1\n    q_design_mw: 20\n"
                   "    eboiler_mw: 5\n    store_mwh: 30\n    store_init_mwh: {}\n")
    assert loads(heat.format(30), "s.yaml").heat_supply[0].store_init_mwh == 30
    with pytest.raises(ScenarioError, match=r"heat_supply\[0\]\.store_init_mwh.*at most"):
        loads(heat.format(31), "s.yaml")


def test_missing_scenario_file(tmp_path):
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load(tmp_path / "nope.yaml")


def test_not_yaml():
    with pytest.raises(ScenarioError, match="not valid YAML"):
        loads("park: [unclosed\n", "s.yaml")


@pytest.mark.parametrize("change", [c for c, _ in BAD[:3]])
def test_cli_check_exits_2_with_one_line(tmp_path, change):
    path = tmp_path / "bad.yaml"
    path.write_text(_mutate(change))
    proc = subprocess.run([sys.executable, "-m", "twin", "check", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert str(path) in lines[0]


def test_cli_check_ok(tmp_path):
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    proc = subprocess.run([sys.executable, "-m", "twin", "check", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "ok" in proc.stdout


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_scenarios_validate(path):
    s = load(path)
    assert s.n_steps == 35040
    assert s.grid is not None
