"""Open both ways to the mosaik ecosystem: third-party simulators in a scenario, and our
adapters in a plain mosaik script written without ``twin.cosim.world``."""

from __future__ import annotations

import runpy

import numpy as np
import pytest

from tests.conftest import CSV_PROFILE, ROOT, write_profile
from twin import runner, scenario
from twin.core.results import open_run

SMALL = (ROOT / "tests" / "scenarios" / "small.yaml").read_text()


def test_mosaik_csv_feeds_a_load_profile(tmp_path):
    """A scenario adds mosaik-csv (another package) by Python path and links its output."""
    profile = [round(12.5 + 3.0 * np.sin(i / 10), 6) for i in range(2 * 96)]
    write_profile(tmp_path, [f"{p:.6f}" for p in profile])  # it covers the run
    text = SMALL.replace("duration: 365d", "duration: 2d") + CSV_PROFILE
    path = tmp_path / "with_csv.yaml"
    path.write_text(text)
    s = scenario.load(path).with_days(1)
    result = runner.run(s, out_dir=tmp_path)
    with open_run(result.path) as run:
        np.testing.assert_allclose(run.series("plant", "p_mw"), profile[:96], rtol=1e-9)
        np.testing.assert_allclose(run.series("profile.Data_0", "P_mw"), profile[:96])
        # the profile flows on into the park balance
        load = sum(run.series(e, "p_mw") for e in ("plant", "ev", "heat"))
        np.testing.assert_allclose(run.series("pcc", "p_load_mw"), load, rtol=1e-12)


def test_external_link_to_unknown_entity_is_refused(tmp_path):
    text = SMALL + """
external:
  - name: profile
    python: mosaik_csv:CSV
    model: Data
    links:
      - source: profile.Data_0
        target: no-such-plant
        attrs: [[P_mw, p_profile_mw]]
"""
    with pytest.raises(scenario.ScenarioError, match=r"links\[0\]\.target"):
        scenario.loads(text, tmp_path / "x.yaml")


def test_plain_mosaik_script(tmp_path):
    """examples/plain_mosaik.py wires our adapters with mosaik alone, as the README shows."""
    module = runpy.run_path(str(ROOT / "examples" / "plain_mosaik.py"))
    energies = module["main"](tmp_path)
    assert energies["pv-roof"] > 0  # two June days of sun on 20 MWp
    assert energies["pv-roof"] < 20 * 2 * 14  # below nameplate x daylight
    assert 0 <= energies["wind"] <= 42 * 48
