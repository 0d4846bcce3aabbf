"""Results of a HIL run for CI: JUnit XML and JSON beside the HTML report.

``twin hil`` writes, beside ``<name>-hil.html``:

- ``<name>-hil.xml``: JUnit XML (what Jenkins, GitLab and GitHub test reporters read): one
  ``<testsuite>`` for the run, one ``<testcase>`` per assertion of the scenario (a failed
  assertion is a ``<failure>`` with its evidence, an assertion that could not be judged is
  ``<skipped>``), and one testcase ``run completed`` that is an ``<error>`` when the run
  aborted; the pacing figures and the verdict as ``<properties>``.
- ``<name>-hil.json``: the same for scripts: verdict, exit code, each assertion's status
  and detail, the pacing figures (lateness mean, p99, largest, end offset, overruns), the HIL
  KPIs, and where the results, trace and report are.

Exit codes of ``twin hil`` (:data:`EXIT_CODES`): 0 every assertion passed, 1 an assertion
failed or the run aborted, 2 a user's mistake (one line on stderr).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import socket
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from twin.core import atomic

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_CODES = {EXIT_PASSED: "every assertion passed", EXIT_FAILED: "an assertion failed or "
              "the run aborted", EXIT_USAGE: "a user's mistake (bad scenario, unreachable "
              "device, bad trace), one line on stderr"}
PACING = {"lateness_mean_ms": "hil_lateness_mean_ms", "lateness_p99_ms": "hil_lateness_p99_ms",
          "lateness_max_ms": "hil_lateness_max_ms", "end_offset_ms": "hil_end_offset_ms"}
RUN_CASE = "run completed"


def _value(kpi: Any) -> float | None:
    v = getattr(kpi, "value", kpi)
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def verdict(verdicts: Sequence[Any], aborted: str | None) -> str:
    """PASS, FAIL or ABORTED."""
    if aborted:
        return "ABORTED"
    return "FAIL" if any(v.status == "fail" for v in verdicts) else "PASS"


def summary(s: Any, path: Path, verdicts: Sequence[Any], kpis: Mapping[str, Any],
            aborted: str | None, scheduling: str, files: Mapping[str, Path],
            overruns: int = 0, wall_s: float | None = None) -> dict[str, Any]:
    """The run's results as plain data (the JSON file)."""
    v = verdict(verdicts, aborted)
    return {
        "verdict": v, "passed": v == "PASS", "exit_code": EXIT_PASSED if v == "PASS"
        else EXIT_FAILED, "aborted": aborted, "scenario": str(s.path),
        "steps": int(s.n_steps), "step_s": float(s.period.step_s),
        "replay": str(s.hil.replay) if s.hil.replay else None, "wall_s": wall_s,
        "assertions": [{"text": x.text, "status": x.status, "detail": x.detail}
                       for x in verdicts],
        "pacing": {**{name: _value(kpis.get(key)) for name, key in PACING.items()},
                   "overruns": overruns, "scheduling": scheduling},
        "kpis": {k: {"value": _value(x), "unit": getattr(x, "unit", "")}
                 for k, x in sorted(kpis.items()) if k.startswith("hil_")},
        "files": {"results": str(path), **{k: str(p) for k, p in files.items()}},
        "written_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def junit_xml(data: Mapping[str, Any]) -> ET.Element:
    """The JUnit XML tree of :func:`summary`'s data."""
    stem = Path(str(data["scenario"])).stem or "hil"
    cls = f"hil.{stem}"
    cases = data["assertions"]
    failures = sum(a["status"] == "fail" for a in cases)
    skipped = sum(a["status"] == "n/a" for a in cases)
    errors = 1 if data["aborted"] else 0
    wall = data.get("wall_s")
    top = ET.Element("testsuites", name="twin hil", tests=str(len(cases) + 1),
                     failures=str(failures), errors=str(errors), skipped=str(skipped),
                     time=f"{wall or 0.0:.3f}")
    suite = ET.SubElement(top, "testsuite", name=cls, tests=str(len(cases) + 1),
                          failures=str(failures), errors=str(errors), skipped=str(skipped),
                          time=f"{wall or 0.0:.3f}", timestamp=data["written_utc"],
                          hostname=socket.gethostname())
    props = ET.SubElement(suite, "properties")
    prop = {"verdict": data["verdict"], "exit_code": data["exit_code"],
            "scenario": data["scenario"], "steps": data["steps"], "step_s": data["step_s"],
            **{f"pacing.{k}": "" if v is None else v for k, v in data["pacing"].items()},
            **{f"file.{k}": v for k, v in data["files"].items()}}
    for name, value in prop.items():
        ET.SubElement(props, "property", name=name, value=str(value))
    for a in cases:
        case = ET.SubElement(suite, "testcase", classname=f"{cls}.assertions", name=a["text"],
                             time="0")
        if a["status"] == "fail":
            el = ET.SubElement(case, "failure", message=a["detail"], type="AssertionFailed")
            el.text = f"{a['text']}: {a['detail']}"
        elif a["status"] == "n/a":
            ET.SubElement(case, "skipped", message=a["detail"])
    case = ET.SubElement(suite, "testcase", classname=cls, name=RUN_CASE,
                         time=f"{wall or 0.0:.3f}")
    if data["aborted"]:
        el = ET.SubElement(case, "error", message=data["aborted"], type="Aborted")
        el.text = data["aborted"]
    out = ET.SubElement(suite, "system-out")
    out.text = "\n".join(f"{k}: {v}" for k, v in data["files"].items())
    return top


def write(s: Any, path: Path, verdicts: Sequence[Any], kpis: Mapping[str, Any],
          aborted: str | None, scheduling: str, report: Path, trace: Path,
          overruns: int = 0, wall_s: float | None = None) -> tuple[Path, Path]:
    """Write ``<report stem>.xml`` (JUnit) and ``<report stem>.json`` beside the report."""
    xml_path, json_path = report.with_suffix(".xml"), report.with_suffix(".json")
    data = summary(s, path, verdicts, kpis, aborted, scheduling,
                   {"report": report, "trace": trace, "junit": xml_path, "json": json_path},
                   overruns, wall_s)
    tree = ET.ElementTree(junit_xml(data))
    ET.indent(tree)
    # each replaced whole (twin.core.atomic): a killed run leaves the previous files whole
    atomic.write_bytes(xml_path, ET.tostring(tree.getroot(), encoding="utf-8",
                                             xml_declaration=True))
    atomic.write_text(json_path, json.dumps(data, indent=1, allow_nan=False) + "\n")
    return xml_path, json_path
