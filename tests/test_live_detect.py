"""The live twin scored against the stand-in plant: every injected fault found within 30
simulated minutes, with its type; no alarm over a clean period; the models on measured inputs
give the plant's own truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from twin.core.results import open_run
from twin.live import faults, mapping
from twin.live.engine import LiveEngine
from twin.live.plant import StandInPlant, Straight
from twin.scenario import load

SMALL = Path(__file__).parent / "scenarios" / "small.yaml"
DETECT_WITHIN_S = 1800

# (fault, the alarm expected); the small park starts 2027-01-01 00:00 local: PV is up 08-16 h
SCHEDULE = [
    ({"kind": "stuck", "point": "wind.p_mw", "start": "3h", "duration": "2h"}, "stuck_meter"),
    ({"kind": "soc_drift", "point": "bess.soc", "start": "5h", "duration": "3h",
      "rate_per_h": 0.02}, "soc_drift"),
    ({"kind": "sign_flip", "point": "plant.p_mw", "start": "7h", "duration": "2h"}, "sign_flip"),
    ({"kind": "string_outage", "point": "pv.p_mw", "start": "10h", "duration": "3h",
      "share": 0.25}, "pv_underperformance"),
    ({"kind": "lost", "point": "ev.p_mw", "start": "12h"}, "lost_tag"),
    # at -25 degC: a third of the wind farm's power lost while it follows the wind is icing,
    # the farm held flat at 15 MW of the 22 MW its wind gives is curtailment
    ({"kind": "string_outage", "point": "wind.p_mw", "start": "6h", "duration": "2h",
      "share": 0.3}, "wind_icing"),
    ({"kind": "curtail", "point": "wind.p_mw", "start": "13h", "duration": "2h",
      "limit_mw": 15}, "wind_curtailment"),
    # the battery charges, then discharges: a fifth of its capacity gone, not a drift
    ({"kind": "capacity_fade", "point": "bess.soc", "start": "1h", "duration": "3h",
      "share": 0.2}, "capacity_fade"),
]


def follow_plant(tmp: Path, hours: float, schedule: list[dict]) -> tuple[LiveEngine, Path]:
    """The plant's readings fed straight to the twin (the transport is tests/test_live_mqtt.py)."""
    s = load(SMALL).with_days(hours / 24)
    data = mapping.default_mapping(s)
    data["source"]["stale_after"] = "20min"
    (tmp / "map.yaml").write_text(yaml.safe_dump(data))
    tm = mapping.load(tmp / "map.yaml", s)
    (tmp / "faults.yaml").write_text(yaml.safe_dump({"faults": schedule}))
    engine = LiveEngine(s, tm, tmp / "live.h5")

    result = StandInPlant(s, tm, Straight(engine), faults.load(tmp / "faults.yaml", tm), speed=0,
                          out_dir=tmp / "plant").run()
    engine.close()
    return engine, result.path


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    return follow_plant(tmp_path_factory.mktemp("faulty"), 16, [f for f, _ in SCHEDULE])


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return follow_plant(tmp_path_factory.mktemp("clean"), 48, [])


@pytest.mark.parametrize(("fault", "kind"), SCHEDULE, ids=[k for _, k in SCHEDULE])
def test_every_fault_is_found_within_30_minutes_with_its_type(faulty, fault, kind):
    engine, _ = faulty
    start = int(fault["start"].rstrip("h")) * 3600
    found = [a for a in engine.detector.alarms if a.point == fault["point"]
             and a.raised_s >= start]
    assert found, f"no alarm on {fault['point']}"
    first = min(found, key=lambda a: a.raised_s)
    assert first.kind == kind
    assert first.raised_s - start <= DETECT_WITHIN_S


def test_no_alarm_but_for_the_faults(faulty):
    engine, _ = faulty
    assert len(engine.detector.alarms) == len(SCHEDULE)
    with open_run(engine.path) as run:
        rows = run.table("live/alarms")
    assert [(r["kind"], r["point"]) for r in rows] == \
        [(a.kind, a.point) for a in engine.detector.alarms]


def test_no_false_alarm_over_two_clean_days(clean):
    engine, _ = clean
    assert engine.n_steps == 192
    assert engine.detector.alarms == []


def test_measured_weather_drives_the_models_to_the_plants_truth(faulty):
    """The twin's PV power comes from the measured weather alone: it matches the plant's own
    run (the truth) also while the telemetry shows a quarter of the strings out."""
    engine, truth_path = faulty
    with open_run(engine.path) as live, open_run(truth_path) as truth:
        assert np.array_equal(live.time_s, truth.time_s)
        hours = live.time_s / 3600
        twin_pv, true_pv = live.series("pv.twin", "p_mw"), truth.series("pv", "p_mw")
        measured_pv = live.series("pv", "p_mw")
        twin_wind, true_wind = live.series("wind.twin", "p_mw"), truth.series("wind", "p_mw")
    assert true_pv.max() > 5.0  # a day with sun
    np.testing.assert_allclose(twin_pv, true_pv, atol=1e-6)
    np.testing.assert_allclose(twin_wind, true_wind, atol=1e-6)
    out = (hours >= 10) & (hours < 13)
    np.testing.assert_allclose(measured_pv[out], 0.75 * true_pv[out], atol=1e-6)


def test_a_lost_tag_is_held_and_flagged_stale(faulty):
    engine, truth_path = faulty
    with open_run(engine.path) as live, open_run(truth_path) as truth:
        hours = live.time_s / 3600
        stale = live.series("telemetry", "ev.p_mw")
        held = live.series("ev", "p_mw")
        last = truth.series("ev", "p_mw")[hours == 11.75][0]
    assert not stale[hours < 12.25].any()
    assert stale[hours >= 12.25].all()
    np.testing.assert_array_equal(held[hours >= 11.75], last)


def test_the_feeder_balance_counts_every_load_of_the_park():
    """A production line's metered power is a load in the PCC's balance (as in the park's):
    a PCC exchange that is the metered loads less generation raises nothing, one that leaves
    the line out is a feeder mismatch."""
    from twin.live.checks import Detector, Role, Step

    roles = {"pv.p_mw": Role("pv", 10.0), "plant.p_mw": Role("factory", 30.0),
             "line.p_mw": Role("aoi", 0.0), "pcc.p_import_mw": Role("pcc", 0.0),
             "pcc.p_export_mw": Role("pcc", 0.0)}
    for with_line, raised in ((True, []), (False, ["feeder_mismatch"])):
        detector = Detector(roles)
        kinds = []
        for k in range(4):  # an hour of readings, each moving
            fresh = {"pv.p_mw": 4.0 + 0.1 * k, "plant.p_mw": 12.0 - 0.2 * k,
                     "line.p_mw": 3.0 + 0.05 * k}
            pcc = fresh["plant.p_mw"] - fresh["pv.p_mw"] + with_line * fresh["line.p_mw"]
            kinds += [a.kind for a in detector.step(Step(
                900 * k, {**fresh, "pcc.p_import_mw": pcc, "pcc.p_export_mw": 0.0}, set()))]
        assert kinds == raised
