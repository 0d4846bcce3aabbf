"""Scripted test sequences (``hil.sequence``) and the device's operating state and alarms.

- a sequence's setpoints replace the controller's command through the safety layer, its
  actions act, and each step's expectations are verdicts judged in the step's window, in the
  report, the JUnit XML and the JSON;
- ``twin check`` parses a sequence strictly (one line: file, line, field path);
- the device's operating state, connection and alarms are outputs of the run, judged by
  ``no alarm``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.emulators import Emulator
from tests.test_hil import scenario_text
from twin.core.results import open_run
from twin.scenario import assertions as asr
from twin.scenario import loads
from twin.scenario.hil import sequence_setpoint

SAFETY = "{p_max_mw: 0.8, ramp_mw_per_s: 2.0, stale_after: 2s}"
SEQUENCE = """  sequence:
    - at: 2s
      set: {bess: 0.5}
      expect: [bess tracks its setpoint within 5 % after 2 s, bess reports no alarm, no estop]
    - at: 5s
      set: {bess: 0}
      expect: [bess tracks its setpoint within 0.02 MW after 1 s]
    - {at: 7s, action: estop, expect: [bess.p_sent_mw within 0..0]}
"""


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emu = Emulator("battery", tmp_path_factory.mktemp("emu") / "battery.jsonl")
    yield emu
    emu.stop()


@pytest.fixture(scope="module")
def seq_run(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from hil import run as hil_run

    folder = tmp_path_factory.mktemp("seq")
    text = scenario_text(emulator.url, safety=SAFETY, extra=SEQUENCE)
    before = len(emulator.writes())
    result = hil_run.run(hil_run.prepare(loads(text, folder / "seq.yaml"), 8), out_dir=folder)
    return result, emulator.writes()[before:]


def test_a_sequence_setting_half_a_mw_then_zero_passes(seq_run: Any) -> None:
    result, writes = seq_run
    assert result.passed, [(v.text, v.detail) for v in result.verdicts if not v.passed]
    seq = [v for v in result.verdicts if v.text.startswith("sequence[")]
    assert [v.text.split(":")[0] for v in seq] == [
        "sequence[0] at 2 s (set bess 0.5 MW)"] * 3 + ["sequence[1] at 5 s (set bess 0 MW)",
                                                       "sequence[2] at 7 s (estop)"]
    assert {v.status for v in seq} == {"pass"}
    with open_run(result.path) as run:
        t = run.time_s
        cmd = run.series("bess", "p_cmd_mw")
        sent = run.series("bess", "p_sent_mw")
        device = run.series("bess", "p_device_mw")
    np.testing.assert_array_equal(cmd[(t >= 2) & (t < 5)], 0.5)  # in place of the controller
    np.testing.assert_array_equal(sent[(t >= 2) & (t < 5)], 0.5)
    np.testing.assert_allclose(device[(t >= 3) & (t < 5)], 0.5, atol=0.01)
    np.testing.assert_array_equal(sent[t >= 5], 0.0)
    wset = [w["points"]["704.WSet"] for w in writes if "704.WSet" in w["points"]]
    assert -0.5e6 in wset  # what reached the device (SunSpec: > 0 discharges; twin: charges)
    events = [json.loads(r) for r in result.trace.read_text().splitlines()]
    acts = [e for e in events if e.get("type") == "event" and e["kind"] == "action"
            and e["name"] == "estop"]
    assert [(a["t_s"], a["detail"]) for a in acts] == [(7.0, "sequence[2]")]


def test_the_expectations_are_in_the_junit_and_json_results(seq_run: Any) -> None:
    result, _ = seq_run
    xml = result.junit.read_text()
    assert "sequence[1] at 5 s (set bess 0 MW): bess tracks its setpoint" in xml
    data = json.loads(result.json.read_text())
    assert "sequence[2] at 7 s (estop): bess.p_sent_mw within 0..0" in json.dumps(data)


def test_the_device_state_and_alarms_are_recorded(seq_run: Any) -> None:
    result, _ = seq_run
    with open_run(result.path) as run:
        state = {a: run.series("bess", a) for a in ("inv_state", "connected", "alarms",
                                                    "bat_state")}
        assert "inv_state" in {a for e, a in run.series_keys() if e == "bess"}
    assert np.all(np.isfinite(state["inv_state"]))
    np.testing.assert_array_equal(state["connected"], 1.0)  # the emulator is connected
    np.testing.assert_array_equal(state["alarms"], 0.0)
    assert np.all(np.isfinite(state["bat_state"]))
    verdict = next(v for v in result.verdicts if "no alarm" in v.text)
    assert "alarm word 0 in all 3 readings" in verdict.detail


def test_an_impossible_expectation_fails_with_its_step_named(tmp_path: Path) -> None:
    from hil import run as hil_run

    text = scenario_text("sim", safety=SAFETY, extra="""  sequence:
    - {at: 1s, set: {bess: 0.5}, expect: [bess.p_mw within 0.45..0.55]}
    - {at: 2s, set: {bess: 0}, expect: [bess.p_mw at least 0.4]}
""")
    result = hil_run.run(hil_run.prepare(loads(text, tmp_path / "bad.yaml"), 3),
                         out_dir=tmp_path)
    assert not result.passed
    failed = [v for v in result.verdicts if not v.passed]
    assert [v.text for v in failed] == [
        "sequence[1] at 2 s (set bess 0 MW): bess.p_mw at least 0.4"]
    assert "bess.p_mw 0..0" in failed[0].detail
    ok = next(v for v in result.verdicts if v.text.startswith("sequence[0]"))
    assert ok.status == "pass", ok.detail
    assert 'failures="1"' in result.junit.read_text()


class Alarms:
    """Evidence of a run whose device reported ``alarms`` each step."""

    def __init__(self, alarms: list[float]) -> None:
        self.values = np.asarray(alarms, dtype=float)
        self.time_s = np.arange(len(alarms), dtype=float)
        self.lateness_s = np.zeros(len(alarms))
        self.events: list[dict] = []

    def matching(self, entity: str | None, attr: str) -> list[tuple[str, str]]:
        return [("bess", "alarms")] if attr == "alarms" and entity in (None, "bess") else []

    def series(self, entity: str, attr: str) -> np.ndarray:
        return self.values

    def episodes(self, entity: str | None, trigger: str = "comm loss") -> list[dict]:
        return []


def test_no_alarm_fails_on_an_alarm_bit_and_on_no_readings() -> None:
    nan = float("nan")
    a = asr.parse_assertion("bess reports no alarm")
    assert a.evaluate(Alarms([0, 0, nan, 0])).status == "pass"
    v = a.evaluate(Alarms([0, 0, 4, 0]))
    assert v.status == "fail"
    assert "alarms 4 (bits 0x4) at 2 s" in v.detail
    assert a.evaluate(Alarms([nan, nan])).status == "fail"  # never read: not shown
    assert asr.parse_assertion("between 0s and 2s no alarm").evaluate(
        Alarms([0, 0, 4])).status == "pass"


def test_a_release_gives_the_command_back_to_the_controller() -> None:
    s = loads(scenario_text("sim", safety=SAFETY, extra="""  sequence:
    - {at: 2s, set: {bess: 0.5}}
    - {at: 4s, action: estop}
    - {at: 6s, action: release}
"""))
    got = [sequence_setpoint(s.hil, "bess", float(t), 1.0) for t in range(8)]
    assert got == [None, None, 0.5, 0.5, 0.5, 0.5, None, None]


@pytest.mark.parametrize(("step", "where"), [
    ("{at: 2s, set: {nobody: 0.5}}", "hil.sequence[0].set.nobody: expected a bound battery"),
    ("{at: 2s, set: {plant: 0.5}}", "hil.sequence[0].set.plant: expected a bound battery"),
    ("{at: 2s, sett: {bess: 0.5}}", "hil.sequence[0].sett: unknown key"),
    ("{at: 2s, set: {bess: .nan}}", "hil.sequence[0].set.bess: expected a finite number"),
    ("{at: 2s, action: boom}", "hil.sequence[0].action: expected one of"),
    ("{at: 2s}", "hil.sequence[0]: expected set, action or expect"),
    ("{at: 2s, expect: [bess trax its setpoint]}", "hil.sequence[0].expect[0]: cannot read"),
    ("{at: 2s, expect: [lateness p99 below 20 ms]}", "hil.sequence[0].expect[0]: judges the "
     "whole run"),
    ("{at: 2s, expect: [from 3s bess.p_mw within 0..1]}", "hil.sequence[0].expect[0]: an "
     "expectation is judged from its step to the next"),
    ("{at: 2s, expect: [nobody.p_mw within 0..1]}", "hil.sequence[0].expect[0]: no entity"),
    ("{at: 5s, action: arm}\n    - {at: 3s, action: disarm}", "hil.sequence[1].at: expected "
     "a time after the previous step's (5 s)"),
    ("{at: 20min, action: arm}", "hil.sequence[0].at: expected a time within the run"),
])
def test_twin_check_refuses_a_bad_sequence_in_one_line(
        step: str, where: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from twin.apps import cli

    path = tmp_path / "bad.yaml"
    path.write_text(scenario_text("sim", safety=SAFETY, extra=f"""  sequence:
    - {step}
"""))
    assert cli.main(["check", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    lines = path.read_text().splitlines()
    first = next(i for i, t in enumerate(lines, 1) if "- {at:" in t)
    line = first + (1 if "sequence[1]" in where else 0)
    assert f"bad.yaml:{line}: {where}" in err[0]
