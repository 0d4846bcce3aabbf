"""HIL in CI: JUnit XML and JSON beside the report, the pytest plugin, the exit codes.

The runs bind the battery to its simulated device (``device: sim``): no emulator, a few
seconds of real time each.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hil import junit

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = """
park: {name: ci park, latitude: 41.8, longitude: 123.4, seed: 3}
period: {start: 2027-06-15 10:00, duration: 8, step: 1}
pv_plants: [{name: pv, p_dc_mwp: 3.0, p_ac_mw: 2.5}]
factory_loads: [{name: plant, kind: supplier, p_peak_mw: 6.0}]
batteries: [{name: bess, p_max_mw: 2.0, e_max_mwh: 4.0, soc_init: 0.5}]
hil:
  step: 1s
  duration: 3s
  bindings:
    - {entity: bess, device: sim, kind: battery,
       safety: {p_max_mw: 0.5, ramp_mw_per_s: 2.0, stale_after: 2s}}
  assertions:
    - soc within 0.1..0.9
    - import_mw below 80
    - bess.p_sent_mw within -0.1..0.1
"""
FAILING = "bess.p_sent_mw within -0.1..0.1"  # the rule discharges at the 0.5 MW limit


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``twin hil`` of the scenario (3 s of real time), as CI would start it."""
    tmp = tmp_path_factory.mktemp("ci")
    scenario = tmp / "bench.yaml"
    scenario.write_text(SCENARIO)
    r = subprocess.run([sys.executable, "-m", "twin", "hil", str(scenario), "--out", str(tmp),
                        "-q"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    return {"rc": r.returncode, "stdout": r.stdout, "stderr": r.stderr, "dir": tmp}


def test_a_failed_assertion_exits_1_and_names_the_files(cli_run: dict) -> None:
    assert cli_run["rc"] == 1, cli_run["stderr"]
    out = cli_run["stdout"]
    assert f"junit:   {cli_run['dir'] / 'bench-hil.xml'}" in out
    assert f"json:    {cli_run['dir'] / 'bench-hil.json'}" in out
    assert "verdict: FAIL" in out


def test_junit_has_one_testcase_per_assertion_and_a_failure_for_the_failed_one(
        cli_run: dict) -> None:
    data = json.loads((cli_run["dir"] / "bench-hil.json").read_text())
    root = ET.parse(cli_run["dir"] / "bench-hil.xml").getroot()
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    judged = [c for c in cases if c.get("classname", "").endswith(".assertions")]
    # every assertion the run judged (the scenario's three, and any default ones)
    assert [c.get("name") for c in judged] == [a["text"] for a in data["assertions"]]
    assert len(judged) >= 3
    assert int(suite.get("tests")) == len(cases) == len(judged) + 1
    failed = [c for c in judged if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == [FAILING]
    detail = next(a["detail"] for a in data["assertions"] if a["text"] == FAILING)
    assert failed[0].find("failure").get("message") == detail
    assert "outside" in detail
    assert int(suite.get("failures")) == 1
    assert int(suite.get("errors")) == 0
    passing = [c for c in judged if c.get("name") != FAILING]
    assert all(len(c) == 0 for c in passing)
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["verdict"] == "FAIL"
    assert props["exit_code"] == "1"
    assert float(props["pacing.lateness_p99_ms"]) >= 0.0


def test_json_holds_the_verdict_the_assertions_and_the_pacing(cli_run: dict) -> None:
    data = json.loads((cli_run["dir"] / "bench-hil.json").read_text())
    assert data["verdict"] == "FAIL"
    assert data["passed"] is False
    assert data["exit_code"] == cli_run["rc"] == 1
    assert data["steps"] == 3
    statuses = {a["text"]: a["status"] for a in data["assertions"]}
    assert statuses["soc within 0.1..0.9"] == "pass"
    assert statuses[FAILING] == "fail"
    pacing = data["pacing"]
    for key in ("lateness_mean_ms", "lateness_p99_ms", "lateness_max_ms", "end_offset_ms"):
        assert math.isfinite(pacing[key])
        assert 0.0 <= pacing[key] < 1000.0
    assert pacing["lateness_max_ms"] >= pacing["lateness_p99_ms"]
    assert pacing["overruns"] == 0
    assert data["kpis"]["hil_assertions_failed"]["value"] == 1.0
    assert Path(data["files"]["report"]).exists()
    assert Path(data["files"]["results"]).exists()


def test_an_aborted_run_is_an_error_in_junit() -> None:
    class S:
        path = Path("scenarios/bench.yaml")
        n_steps = 5
        period = type("P", (), {"step_s": 1})()
        hil = type("H", (), {"replay": None})()

    class V:
        def __init__(self, text: str, status: str, detail: str) -> None:
            self.text, self.status, self.detail = text, status, detail

    verdicts = [V("soc within 0.1..0.9", "pass", "ok"), V("no estop", "n/a", "no device")]
    data = junit.summary(S(), Path("r.h5"), verdicts, {}, "overrun at t = 3 s", "normal", {})
    assert data["verdict"] == "ABORTED"
    assert data["exit_code"] == 1
    suite = junit.junit_xml(data).find("testsuite")
    assert suite is not None
    assert suite.get("errors") == "1"
    assert suite.get("skipped") == "1"
    run_case = next(c for c in suite.findall("testcase") if c.get("name") == junit.RUN_CASE)
    assert run_case.find("error").get("message") == "overrun at t = 3 s"
    assert suite.findall("testcase")[1].find("skipped") is not None
    ok = junit.summary(S(), Path("r.h5"), verdicts[:1], {}, None, "normal", {})
    assert (ok["verdict"], ok["exit_code"]) == ("PASS", 0)


def test_the_plugin_makes_hil_runs_ordinary_pytest_tests(tmp_path: Path) -> None:
    (tmp_path / "bench.yaml").write_text(SCENARIO.replace("duration: 3s", "duration: 2s"))
    (tmp_path / "nohil.yaml").write_text(SCENARIO.split("hil:")[0])
    (tmp_path / "test_bench.py").write_text(textwrap.dedent(f"""
        import pytest
        from hil.pytest_plugin import hil_failures, hil_verdict

        pytestmark = pytest.mark.hil

        def test_verdicts(hil_run):
            result = hil_run({str(tmp_path / "bench.yaml")!r})
            assert hil_verdict(result, "soc within 0.1..0.9").status == "pass"
            assert hil_verdict(result, {FAILING!r}).status == "fail"
            assert result.junit.exists() and result.json.exists()

        def test_the_bench_passes(hil_run):
            result = hil_run({str(tmp_path / "bench.yaml")!r})
            assert result.passed, hil_failures(result)

        def test_no_hil_section(hil_run):
            hil_run({str(tmp_path / "nohil.yaml")!r})
    """))
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "hil.pytest_plugin", "-q",
                        "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                        "--hil-out", str(tmp_path / "out"), str(tmp_path / "test_bench.py")],
                       cwd=ROOT, capture_output=True, text=True, timeout=180)
    out = r.stdout
    assert r.returncode == 1, out + r.stderr
    assert "1 passed" in out
    assert "2 failed" in out
    assert f"FAIL {FAILING}: bess.p_sent_mw" in out  # the failed verdict, in the message
    assert "the scenario has no hil section" in out
    assert "hil/run.py" not in out  # the user's mistake is one line, not a traceback
    assert (tmp_path / "out" / "bench-hil.xml").exists()


def test_the_exit_codes_are_documented(capsys: pytest.CaptureFixture) -> None:
    from twin.apps.cli import hil as cli
    from twin.apps.cli import main

    assert (cli.EXIT_PASSED, cli.EXIT_FAILED, cli.EXIT_USAGE) == (
        junit.EXIT_PASSED, junit.EXIT_FAILED, junit.EXIT_USAGE) == (0, 1, 2)
    with pytest.raises(SystemExit) as done:  # twin hil --help, as printed
        main(["hil", "--help"])
    assert done.value.code == 0
    flat = " ".join(capsys.readouterr().out.split())
    assert "exit codes: 0 passed, 1 an assertion failed or the run aborted, 2 a user's" in flat
    readme = (ROOT / "README.md").read_text()
    assert "exit code" in readme.lower()
    assert "twin serve" in readme
