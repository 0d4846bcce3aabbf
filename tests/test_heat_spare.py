"""The heat supply's electric boilers on the park's spare power in a whole run: the spare is
the generation less every load the park's balance counts, the production line's and the
FMUs' too (the FMUs' a step late where one reads the loads simulator: a same-step cycle)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from twin import runner, scenario
from twin.core.kinds import GENERATORS, LOADS
from twin.core.results import open_run

ROOT = Path(__file__).resolve().parents[1]
EBOILER_MW = 60.0  # more than the spare power ever is: the spare power sets theirs

# the small park with a production line, two days from a Monday, and electric boilers with a
# store too large to fill in two days (all the spare power is taken)
PARK = (ROOT / "tests" / "scenarios" / "small.yaml").read_text(encoding="utf-8").replace(
    "start: 2027-01-01 00:00\n  duration: 365d", "start: 2027-01-04 00:00\n  duration: 2d"
).replace("    hp_q_max_mw: 8\n", f"    hp_q_max_mw: 8\n    eboiler_mw: {EBOILER_MW}\n"
          "    store_mwh: 100000\n") + (
    "aoi_lines:\n  - name: line\n    fidelity: statistical\n    shifts: 3\n")

# an FMU drawing a fifth of the power it reads (MW in, MW out)
TAP = '''
from pythonfmu import Fmi2Causality, Fmi2Slave, Real


class Tap(Fmi2Slave):
    author = "tests"
    description = "a load of a fifth of the power it reads"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.P_in = self.P_out = 0.0
        self.register_variable(Real("P_in", causality=Fmi2Causality.input))
        self.register_variable(Real("P_out", causality=Fmi2Causality.output))

    def do_step(self, current_time, step_size):
        self.P_out = 0.2 * self.P_in
        return True
'''
TAPS = """fmus:
  - {name: tap-pv, path: Tap.fmu, role: load, inputs: {P_in: pv.p_mw},
     outputs: [{quantity: p_mw, variable: P_out, unit: MW}]}
  - {name: tap-plant, path: Tap.fmu, role: load, inputs: {P_in: plant.p_mw},
     outputs: [{quantity: p_mw, variable: P_out, unit: MW}]}
"""


def _run(tmp_path: Path, text: str, **kw) -> dict[str, np.ndarray]:
    """Run the park; the series the spare power is made of, by entity."""
    s = scenario.loads(text, tmp_path / "park.yaml")
    with open_run(runner.run(s, out_dir=tmp_path, **kw).path) as run:
        out = {"gen": sum(run.series(e, "p_mw") for k in GENERATORS for e in run.entities(k))}
        out |= {e: run.series(e, "p_mw") for k in (*LOADS, "fmu") for e in run.entities(k)}
        out |= {a: run.series("heat", a) for a in ("p_pump_mw", "p_eboiler_mw")}
    assert (out["line"] > 0).sum() > 100  # the line works most of the two days
    return out


def _check(x: dict[str, np.ndarray], spare: np.ndarray) -> None:
    taking = spare > 0
    assert 20 < taking.sum() < len(spare)  # spare power in some steps, not all
    np.testing.assert_allclose(x["p_eboiler_mw"], np.where(taking, spare, 0.0), rtol=0,
                               atol=1e-9)


def test_eboilers_take_generation_less_every_load_the_balance_counts(tmp_path):
    x = _run(tmp_path, PARK)
    _check(x, x["gen"] - x["plant"] - x["ev"] - x["line"] - x["p_pump_mw"])


def test_eboilers_count_the_fmus_loads_one_reading_the_loads_a_step_late(tmp_path):
    pytest.importorskip("pythonfmu")
    pytest.importorskip("fmpy")
    from pythonfmu.builder import FmuBuilder

    (tmp_path / "tap.py").write_text(TAP)
    built = Path(FmuBuilder.build_FMU(tmp_path / "tap.py", dest=tmp_path))
    built.rename(tmp_path / "Tap.fmu")
    x = _run(tmp_path, PARK + TAPS)  # FMUs: one step at a time
    np.testing.assert_allclose(x["tap-plant"], 0.2 * x["plant"], rtol=1e-12)
    # the FMUs' simulator reads the plant: both FMUs' loads of the step before (none at first)
    taps = x["tap-plant"] + x["tap-pv"]
    before = np.concatenate([[0.0], taps[:-1]])
    _check(x, x["gen"] - x["plant"] - x["ev"] - x["line"] - before - x["p_pump_mw"])
