"""HIL runs as ordinary pytest tests: ``pytest -p hil.pytest_plugin``.

The ``hil_run`` fixture runs a scenario as ``twin hil`` does (prepare, preflight, run: the
HDF5 file, the HTML report, the JUnit XML and JSON beside it) and returns its
:class:`hil.run.HILResult`; a test asserts on the verdicts::

    def test_battery_bench(hil_run):
        result = hil_run("scenarios/hil-battery.yaml", duration="1min")
        assert result.passed, hil_failures(result)
        assert hil_verdict(result, "no estop").status == "pass"

Options: ``--hil-out DIR`` keeps every run's files in DIR (default: the test's ``tmp_path``);
``--hil-duration 30s`` shortens every run that does not give its own duration. A user's
mistake (no hil section, an unreachable device, a bad trace) fails the test with its one
line, not a traceback. ``hil_failures`` and ``hil_verdict`` are helpers for the asserts;
``pytest.mark.hil`` marks such tests (``-m "not hil"`` leaves them out).

Enable it per run (``-p hil.pytest_plugin``), in ``conftest.py``
(``pytest_plugins = ["hil.pytest_plugin"]``) or in ``addopts``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hil", "hardware in the loop (hil.pytest_plugin)")
    group.addoption("--hil-out", default=None, help="folder for the HIL runs' files "
                    "(default: each test's tmp_path)")
    group.addoption("--hil-duration", default=None, help="length of every HIL run that does "
                    "not give one, e.g. 30s")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hil: a hardware-in-the-loop run (hil.pytest_plugin)")


def hil_failures(result: Any) -> str:
    """The failed assertions (and the abort) of a result, one per line: a message for
    ``assert result.passed, hil_failures(result)``."""
    lines = [f"FAIL {v.text}: {v.detail}" for v in result.verdicts if v.status == "fail"]
    if result.aborted:
        lines.insert(0, f"ABORTED {result.aborted}")
    return "\n".join(lines) + f"\nreport: {result.report}"


def hil_verdict(result: Any, text: str) -> Any:
    """The verdict of the assertion whose text is ``text`` (KeyError naming what there is)."""
    for v in result.verdicts:
        if v.text == text:
            return v
    raise KeyError(f"no assertion {text!r}; the run has: "
                   + "; ".join(v.text for v in result.verdicts))


@pytest.fixture
def hil_run(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., Any]:
    """Run a HIL scenario: ``hil_run(path, duration=None, replay=None, record=None,
    out_dir=None, realtime=None)`` -> :class:`hil.run.HILResult`."""
    from hil import run as hil
    from hil.trace import TraceError
    from twin.core.errors import UserError
    from twin.scenario import ScenarioError, load, parse_duration

    def run(scenario: str | Path, duration: str | int | None = None,
            replay: str | Path | None = None, record: str | Path | None = None,
            out_dir: str | Path | None = None, realtime: bool | None = None) -> Any:
        duration = duration if duration is not None else request.config.getoption(
            "--hil-duration")
        out = out_dir or request.config.getoption("--hil-out") or tmp_path
        try:
            seconds = parse_duration(duration) if duration is not None else None
        except ValueError as exc:
            pytest.fail(f"duration: expected e.g. 90, 30s or 10min: {exc}", pytrace=False)
        try:
            s = hil.prepare(load(scenario), seconds, replay, record, realtime)
            hil.preflight(s)
            return hil.run(s, out_dir=out)
        except (ScenarioError, hil.HILError, TraceError, UserError) as exc:
            pytest.fail(str(exc), pytrace=False)

    return run
