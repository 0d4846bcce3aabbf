"""The EMS on the live state, in recommendation mode: the twin's EMS plans from what the
telemetry measured and records what it recommends, sending nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from twin.core.results import open_run
from twin.live import faults, mapping
from twin.live.engine import LiveEngine
from twin.live.plant import StandInPlant, Straight
from twin.scenario import loads

SMALL = Path(__file__).parent / "scenarios" / "small.yaml"
EMS = "controller:\n  kind: ems\n  replan: 1h\n"


def follow_plant(tmp: Path, text: str, hours: float, fault_text: str = "faults: []\n"
                 ) -> tuple[LiveEngine, Path]:
    """The stand-in plant's readings fed straight to a live twin that recommends."""
    s = loads(text, SMALL).with_days(hours / 24)
    (tmp / "map.yaml").write_text(yaml.safe_dump(mapping.default_mapping(s)))
    tm = mapping.load(tmp / "map.yaml", s)
    (tmp / "faults.yaml").write_text(fault_text)
    engine = LiveEngine(s, tm, tmp / "live.h5", recommend=True)

    truth = StandInPlant(s, tm, Straight(engine), faults.load(tmp / "faults.yaml", tm), speed=0,
                         out_dir=tmp / "plant").run().path
    engine.close()
    return engine, truth


@pytest.fixture(scope="module")
def ems_park(tmp_path_factory):
    """Eight hours of the small park under its EMS, the battery's state of charge lost at 7 h
    (stale half an hour later)."""
    return follow_plant(tmp_path_factory.mktemp("advise"), SMALL.read_text() + EMS, 8,
                        "faults:\n  - {kind: lost, point: bess.soc, start: 7h}\n")


def test_the_twins_ems_recommends_what_the_plants_ems_did_from_the_same_readings(ems_park):
    """The plant runs the same EMS on its own outputs; the twin's, made from a step's readings
    for the step after, must agree with the plant's at that step to within 1 % of the
    battery's rating in most steps (the state of charge it starts from is the step's end, not
    its start, so a re-plan may fall a step apart and pick another of equally good plans;
    and the powers it steps on are the step's before, so near the plan's reserve for the lull
    after its horizon the twin may hold the battery where the plant still discharges: 7 of 28
    steps, 0.68 MW mean, with the 36 h lull and the low-wind outcome). Units or points mixed
    up would plan on the wrong state and miss by megawatts in most steps."""
    engine, truth_path = ems_park
    with open_run(engine.path) as live, open_run(truth_path) as truth:
        recommended = live.series("bess.recommended", "p_set_mw")[:29]  # to 7 h
        planned = live.series("ems.recommended", "p_import_plan_mw")[:29]
        sent = truth.series("cmd-bess", "p_set_mw")[:29]
    p_max = engine.s.batteries[0].p_max_mw
    assert np.isnan(recommended[0])  # nothing was recommended before the first reading
    assert np.ptp(sent) > 0.5 * p_max  # the plant's EMS charged and discharged
    miss = np.abs(recommended[1:] - sent[:-1])
    assert np.mean(miss < 0.01 * p_max) >= 0.7
    assert np.mean(miss) < 0.1 * p_max
    assert np.isfinite(planned[1:]).all()


def test_no_recommendation_from_a_stale_state_of_charge(ems_park):
    """The battery stops reporting: the twin's EMS recommends until the state of charge goes
    stale, then nothing (not a plan on a held value)."""
    engine, _ = ems_park
    with open_run(engine.path) as live:
        recommended = live.series("bess.recommended", "p_set_mw")
        stale = live.series("telemetry", "bess.soc")
    gone = np.flatnonzero(stale > 0)[0]
    assert gone == 30  # 7:30, half an hour after the last reading at 6:45
    assert np.isfinite(recommended[1:gone + 1]).all()
    assert np.isnan(recommended[gone + 1:]).all()
    assert engine.advisor.last.missing == ("bess.soc",)
    assert engine.advisor.n_recommended == np.isfinite(recommended).sum()
