"""Proving runs follow the pathway LP's hourly plan: the heat supply's setpoints (heat pumps
first, the electric boilers at the planned power, the heat store as planned, also with spare
power) and the storage taking each step's deviation from the hour's planned grid exchange."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from tests.test_pathway import SMALL
from twin import scenario as scenario_mod
from twin.core.rng import generator
from twin.models.loads import HeatSupply, HeatSupplySpec, ParkCalendar
from twin.models.loads.heat import HeatPlan, heat_params
from twin.studies.pathway import prove

# the small park of the pathway's tests over a day of 15-minute steps, a smaller plant (a
# surplus in windy hours), electric boilers and a heat store
DAY = (SMALL.replace("duration: 2d, step: 1h", "duration: 1d, step: 15min")
       .replace("p_peak_mw: 20", "p_peak_mw: 6")
       .replace("hp_q_max_mw: 3}", "hp_q_max_mw: 3, eboiler_mw: 8, store_mwh: 40,\n"
                "               store_init_mwh: 30}"))


def _supply() -> HeatSupply:
    spec = HeatSupplySpec(name="heat", q_design_mw=20.0, hp_q_max_mw=8.0, eboiler_mw=20.0,
                          store_mwh=40.0, store_init_mwh=20.0, noise_pct=0.0)
    return HeatSupply(spec, ParkCalendar(years=range(2026, 2028)), generator(1, "heat"))


EPOCH = 1_796_140_800  # 2026-12-01 00:00 UTC, in the heating season


def test_a_heat_plan_puts_the_heat_pumps_first_and_draws_the_store_with_spare_power() -> None:
    # plenty of spare power: the merit order boils it first (the heat pumps idle, the store
    # kept); the plan's heat pumps, boilers and store discharge are what the step gives
    free = _supply().step(EPOCH, 3600, -10.0, spare_mw=100.0)
    assert free.p_eboiler_mw == pytest.approx(20.0)
    assert free.q_store_mw == 0.0
    q = free.q_heat_mw  # the same demand in every fresh supply (no noise)
    assert free.e_store_mwh > 20.0  # the boilers' heat beyond the demand stored
    eff = float(heat_params()["eboiler_eff"])
    planned = _supply().step(EPOCH, 3600, -10.0, spare_mw=100.0, plan=HeatPlan(
        q_hp_mw=0.3 * q, p_eboiler_mw=0.3 * q / eff, q_store_mw=-0.4 * q))
    assert planned.q_hp_mw + planned.q_air_mw + planned.q_waste_mw == pytest.approx(0.3 * q)
    assert planned.p_eboiler_mw == pytest.approx(0.3 * q / eff)
    assert planned.q_eboiler_mw == pytest.approx(0.3 * q)
    assert planned.q_store_mw == pytest.approx(0.4 * q)
    assert planned.q_boiler_mw == pytest.approx(0.0, abs=1e-9)
    # the boilers within the spare power; what the plan leaves: heat pumps' spare capacity
    # before the store and gas
    short = _supply().step(EPOCH, 3600, -10.0, spare_mw=1.0,
                           plan=HeatPlan(q_hp_mw=2.0, p_eboiler_mw=10.0, q_store_mw=0.0))
    assert short.p_eboiler_mw == pytest.approx(1.0)
    assert short.q_hp_mw == pytest.approx(8.0)  # all the heat pumps have, for the rest
    # a planned charge: the boilers' heat beyond the demand goes into the store
    warm = _supply().step(EPOCH, 3600, 14.0, spare_mw=100.0,
                          plan=HeatPlan(q_hp_mw=0.0, p_eboiler_mw=20.0, q_store_mw=15.0))
    assert warm.q_boiler_mw == 0.0
    assert warm.e_store_mwh > 20.0 + 0.99 * 20.0 - warm.q_heat_mw - 0.5


def test_follow_hands_the_answer_s_hours_to_the_run() -> None:
    hours = {"ch": np.array([2.0, 0.0]), "dis": np.array([0.0, 1.5]),
             "imp": np.array([0.0, 3.0]), "exp": np.array([4.0, 0.0]),
             "peb": np.array([5.0, 0.0]), "tc": np.array([1.0, 0.0]),
             "td": np.array([0.0, 2.0]), "qhp": np.array([3.0, 4.0]),
             "qa": np.array([1.0, 0.0])}
    c = prove.follow(_scenario_from_text(DAY), SimpleNamespace(hourly=[hours]), 0).controller  # type: ignore[arg-type]
    assert c.storage_schedule_mw == (2.0, -1.5)
    assert c.grid_schedule_mw == (4.0, -3.0)
    assert c.eboiler_schedule_mw == (5.0, 0.0)
    assert c.heat_pump_schedule_mw == (4.0, 4.0)
    assert c.heat_store_schedule_mw == (1.0, -2.0)


def _scenario_from_text(text: str):  # noqa: ANN202
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "day.yaml"
        path.write_text(text, encoding="utf-8")
        return scenario_mod.load(path)


def test_the_run_follows_the_heat_plan_and_the_hour_s_grid_exchange(tmp_path) -> None:  # noqa: ANN001
    from twin import runner
    from twin.core.results import open_run

    day = _scenario_from_text(DAY)
    # the boilers' plan more than the demand leaves: they cover the rest, the store the heat
    # beyond it; no fallback to the merit order in the plan's hours
    plan = dataclasses.replace(
        day.controller, heat_pump_schedule_mw=(1.5,) * 12, eboiler_schedule_mw=(8.0,) * 12,
        heat_store_schedule_mw=(-2.0,) * 6 + (1.0,) * 6, storage_schedule_mw=(0.0,) * 12,
        grid_schedule_mw=(-1.0,) * 12)

    def series(s, name: str) -> dict[str, np.ndarray]:  # noqa: ANN001
        with open_run(runner.run(s, tmp_path / name).path) as run:
            return {f"{e}.{a}": np.asarray(run.series(e, a), dtype=float) for e, a in (
                ("heat", "q_hp_mw"), ("heat", "q_air_mw"), ("heat", "q_waste_mw"),
                ("heat", "p_eboiler_mw"), ("heat", "q_eboiler_mw"), ("heat", "q_store_mw"),
                ("heat", "q_heat_mw"), ("heat", "q_boiler_mw"), ("wind", "p_mw"), ("pv", "p_mw"),
                ("bess", "p_mw"), ("bess", "soc"), ("controller", "p_surplus_mw"))}

    ran = series(dataclasses.replace(day, controller=plan), "plan")
    free = series(day, "free")
    k = 12 * 4  # the plan's steps
    h = {a.split(".")[1]: v[:k] for a, v in ran.items()}
    gen = ran["wind.p_mw"][:k] + ran["pv.p_mw"][:k]
    pumps = h["q_hp_mw"] + h["q_air_mw"] + h["q_waste_mw"]
    ok = gen >= 8.0  # the boilers may take up to the park's generation
    assert ok.sum() >= 24
    np.testing.assert_allclose(pumps[ok], 1.5, atol=1e-9)
    np.testing.assert_allclose(h["q_store_mw"][:24][ok[:24]], 2.0, atol=1e-9)  # as planned
    assert np.all(h["q_store_mw"][24:][ok[24:]] == 0.0)
    np.testing.assert_allclose(h["q_eboiler_mw"], h["q_heat_mw"] - pumps - h["q_store_mw"]
                               - h["q_boiler_mw"], atol=1e-9)
    assert np.all(h["p_eboiler_mw"] <= np.minimum(gen, 8.0) + 1e-9)
    assert np.all(h["p_eboiler_mw"][24:][ok[24:]] > h["q_eboiler_mw"][24:][ok[24:]] + 0.1)
    assert np.all(pumps[~ok] >= 1.5 - 1e-9)  # short of power: the heat pumps make it up
    # the merit order does otherwise: the boilers first on the spare power, the heat pumps
    # after them, the store kept for the hours without
    f = {a.split(".")[1]: v[:k] for a, v in free.items()}
    assert np.abs(f["q_hp_mw"] + f["q_air_mw"] + f["q_waste_mw"] - 1.5).max() > 0.5
    assert np.abs(f["q_store_mw"][:24] - 2.0).max() > 0.5
    # the storage takes the park's surplus less the hour's planned export (within its
    # rating, where its state of charge is within its limits)
    inside = (h["soc"] > 0.1 + 1e-6) & (h["soc"] < 0.9 - 1e-6)
    assert inside.sum() >= 4
    np.testing.assert_allclose(h["p_mw"][inside],
                               np.clip(h["p_surplus_mw"] + 1.0, -5.0, 5.0)[inside], atol=1e-6)
