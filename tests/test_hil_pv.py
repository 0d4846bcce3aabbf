"""A PV inverter bound in ``twin hil``: the measured power in the park's power flow, the
curtailment limit through the safety layer to the device, the nameplate checked.

Against ``twin emulate pv`` on loopback (available power 1.5 MW, rating 2.5 MW).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.emulators import Emulator
from twin.core.results import open_run
from twin.scenario import ScenarioError, loads


@pytest.fixture(scope="module")
def pv_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emu = Emulator("pv", tmp_path_factory.mktemp("emu") / "pv.jsonl", "--p-max-mw", "2.5",
                   "--p-mw", "1.5")
    yield emu
    emu.stop()


def park(url: str, p_ac_mw: float = 2.5, hil: str = "") -> str:
    return f"""
park: {{name: pv hil park, latitude: 41.8, longitude: 123.4, seed: 3}}
period: {{start: 2027-06-15 10:00, duration: 8, step: 1}}
pv_plants: [{{name: pv, p_dc_mwp: 3.0, p_ac_mw: {p_ac_mw}}}]
factory_loads: [{{name: plant, kind: supplier, p_peak_mw: 6.0}}]
hil:
  bindings:
    - {{entity: pv, device: "{url}", kind: pv, safety: {{p_max_mw: 2.0, stale_after: 2s}}}}
{hil}"""


@pytest.fixture(scope="module")
def pv_run(pv_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """6 s: no limit for 3 s, then the sequence curtails the plant to 1 MW; then a limit
    above the safety layer's 2 MW."""
    from hil import run as hil_run

    folder = tmp_path_factory.mktemp("pv")
    text = park(pv_emulator.url, hil="""  sequence:
    - {at: 3s, set: {pv: 1.0}, expect: [pv.p_mw at most 1.01]}
    - {at: 5s, set: {pv: 9.0}}
""")
    before = len(pv_emulator.writes())
    result = hil_run.run(hil_run.prepare(loads(text, folder / "pv.yaml"), 6), out_dir=folder)
    return {"result": result, "writes": pv_emulator.writes()[before:]}


def test_the_measured_pv_power_reaches_the_pcc(pv_run: dict) -> None:
    result = pv_run["result"]
    assert result.aborted is None
    with open_run(result.path) as run:
        p = run.series("pv", "p_mw")
        device = run.series("pv", "p_device_mw")
        twin = run.series("pv.twin", "p_mw")
        gen = run.series("pcc", "p_gen_mw")
        assert run.entities("pv") == ["pv"]
    np.testing.assert_allclose(p[:3], 1.5, atol=0.01)  # the emulator's sun, not the model's
    assert not np.allclose(twin[:3], 1.5, atol=0.01)
    np.testing.assert_array_equal(p, device)
    np.testing.assert_allclose(gen, p)  # the only generator at the PCC is the device


def test_a_curtailment_is_obeyed_within_the_safety_limit(pv_run: dict) -> None:
    result = pv_run["result"]
    with open_run(result.path) as run:
        p = run.series("pv", "p_mw")
        sent = run.series("pv", "p_sent_mw")
        t = run.time_s
    assert np.isnan(sent[0])  # step 0 arms the device, with no limit yet
    assert np.all(sent[(t >= 1) & (t < 3)] == 2.0)  # no limit: the safety layer's ceiling
    assert np.all(sent[(t >= 3) & (t < 5)] == 1.0)
    assert np.all(p[(t >= 3) & (t < 5)] <= 1.0 + 1e-3)  # the device obeyed
    assert np.all(sent[t >= 5] == 2.0)  # 9 MW asked, clamped to 2 MW
    pct = [w["points"]["704.WMaxLimPct"] / 10 for w in pv_run["writes"]  # raw: SF -1
           if "704.WMaxLimPct" in w["points"] and w["accepted"]]
    assert min(pct) == pytest.approx(40.0, abs=0.1)  # 1 MW of the 2.5 MW rating
    assert max(pct) <= 100.0  # 2 MW of 2.5 MW is 80 %; 100 % only when arming
    verdicts = {v.text: v for v in result.verdicts}
    seq = next(v for text, v in verdicts.items() if text.startswith("sequence[0]"))
    assert seq.status == "pass", seq.detail


def test_a_mismatched_pv_nameplate_is_refused(pv_emulator: Emulator, tmp_path: Path) -> None:
    from hil import run as hil_run

    s = hil_run.prepare(loads(park(pv_emulator.url, p_ac_mw=10.0), tmp_path / "big.yaml"), 3)
    with pytest.raises(hil_run.HILError, match=r"power rating 2.5 MW on the device \(WMaxRtg\)"
                       r" against 10 MW"):
        hil_run.preflight(s)
    ok = hil_run.preflight(hil_run.prepare(loads(park(pv_emulator.url), tmp_path / "ok.yaml"),
                                           3))
    assert "pv:" in ok[0]


def test_a_pv_binding_needs_a_pv_plant_and_sunspec(tmp_path: Path) -> None:
    text = park("modbus://127.0.0.1:5020?unit=1").replace("entity: pv,", "entity: plant,")
    with pytest.raises(ScenarioError, match=r"hil.bindings\[0\].entity: expected a pv_plants"):
        loads(text, tmp_path / "wrong.yaml")
    with pytest.raises(ScenarioError, match=r"hil.bindings\[0\].protocol: a pv speaks sunspec"):
        loads(park("sim"), tmp_path / "sim.yaml")
