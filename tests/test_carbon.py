"""Carbon accounting: hand recomputation from the HDF5 series, properties, bookkeeping."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from tests.conftest import ROOT, SCENARIOS
from twin import runner, scenario
from twin.accounting.carbon import (
    cfe_scores,
    direct_line,
    emissions,
    factors,
    flows_from_run,
    gec_count,
    granular_certificates,
    ledger,
    national_criteria,
    park_flows,
)
from twin.accounting.carbon.criteria import core_threshold
from twin.core.results import open_run

REL = 1e-9
LOADS = ("factory", "ev", "heat", "aoi")
JAN_2027 = int(dt.datetime(2026, 12, 31, 16, tzinfo=dt.UTC).timestamp())  # local midnight


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Two-day runs: the reference park (network, grid losses) and the small park (lossless
    balance, a PCC without p_loss_mw)."""
    out = tmp_path_factory.mktemp("carbon")
    return {
        "park": runner.run(scenario.load(SCENARIOS / "park.yaml").with_days(2),
                          out_dir=out / "park").path,
        "small": runner.run(scenario.load(ROOT / "tests/scenarios/small.yaml").with_days(2),
                           out_dir=out / "small").path,
    }


# ---------------------------------------------------------------------------------------------
# Figures recomputed by hand: h5py and numpy only, factors read from the YAML file.
# ---------------------------------------------------------------------------------------------

def _hand(path: Path) -> dict[str, float]:
    """Core indicator, clean share and hourly CFE score straight from the stored series."""
    fac = {k: v["value"] for k, v in
           yaml.safe_load((ROOT / "twin/data/carbon.yaml").read_text(encoding="utf-8")).items()}
    with h5py.File(path, "r") as f:
        step_s = int(f["meta"].attrs["step_s"])
        n = f["time"].shape[0]
        per_h = 3600 // step_s
        assert n % per_h == 0
        assert str(f["meta"].attrs["start"]).endswith("T16:00:00+00:00")
        kinds = {e: f[f"series/{e}"].attrs["kind"] for e in f["series"]}

        def hourly(x: np.ndarray) -> np.ndarray:  # MW step means -> MWh per hour
            return x[:n].reshape(-1, per_h).sum(axis=1) * step_s / 3600

        def total(kind: str, attr: str = "p_mw") -> np.ndarray:
            return sum(f[f"series/{e}/{attr}"][:n] for e, k in kinds.items() if k == kind)

        pcc = next(e for e, k in kinds.items() if k == "pcc")
        gen = hourly(total("pv") + total("wind"))
        load = hourly(sum(total(k) for k in LOADS))
        imp = hourly(f[f"series/{pcc}/p_import_mw"][:n])
        exp = hourly(f[f"series/{pcc}/p_export_mw"][:n])
        gloss = hourly(f[f"series/{pcc}/p_loss_mw"][:n]) if "p_loss_mw" in f[f"series/{pcc}"] \
            else np.zeros_like(gen)
        batteries = [e for e, k in kinds.items() if k == "battery"]
        ch = hourly(sum(np.maximum(f[f"series/{b}/p_mw"][:n], 0) for b in batteries))
        dis = hourly(sum(np.maximum(-f[f"series/{b}/p_mw"][:n], 0) for b in batteries))
        sloss = hourly(sum(f[f"series/{b}/p_loss_mw"][:n] for b in batteries))
        e0 = sum(f[f"series/{b}/e_mwh"][0] - (f[f"series/{b}/p_mw"][0]
                                             - f[f"series/{b}/p_loss_mw"][0]) * step_s / 3600
                 for b in batteries)
        gas = float(total("heat", "gas_nm3").sum())
    grid_f = fac["grid_co2_northeast_2023"]  # kgCO2/kWh = tCO2/MWh
    co2 = gas * fac["gas_kgco2_per_nm3"] / 1000 + imp.sum() * grid_f
    elec = load.sum() + gloss.sum() + sloss.sum()
    tce = elec * fac["elec_kgce_per_kwh"] + gas * fac["gas_kgce_per_nm3"] / 1000
    # hourly attribution: exports from generation, then discharge, then import; charging
    # from the rest of the generation, then discharge (battery to battery), then import
    xg = np.minimum(exp, gen)
    xd = np.minimum(exp - xg, dis)
    xi = np.minimum(exp - xg - xd, imp)
    cg = np.minimum(ch, gen - xg)
    cd = np.minimum(ch - cg, dis - xd)
    ci = np.minimum(ch - cg - cd, imp - xi)
    # storage as one well-mixed pool: renewable part r, grid part g (initial content = grid)
    r, g = 0.0, float(e0)
    ren_share = np.zeros(len(gen))
    for h in range(len(gen)):
        r, g = r + cg[h], g + ci[h]
        ren_share[h] = r / (r + g)
        keep = 1 - (dis[h] - cd[h] + sloss[h]) / (r + g)
        r, g = r * keep, g * keep
    renewable_used = (gen - xg - cg) + (dis - xd - cd + sloss) * ren_share
    clean_share = renewable_used.sum() * fac["elec_kgce_per_kwh"] / tce
    # hourly CFE: consumption = loads + grid losses
    s = fac["grid_cfe_share_northeast_2023"]
    supply = (gen - cg) + (dis - cd) * (ren_share + (1 - ren_share) * s) + (imp - ci) * s
    cons = load + gloss
    return {"core": co2 / tce, "clean": clean_share,
            "cfe": np.minimum(cons, supply).sum() / cons.sum(), "tce": tce}


@pytest.mark.parametrize("name", ["park", "small"])
def test_figures_recomputed_by_hand_from_hdf5(runs, name):
    hand = _hand(runs[name])
    with open_run(runs[name]) as run:
        flows = flows_from_run(run)
    fac = factors(2023, "northeast")
    em = emissions(flows, fac)
    crit = {c.key: c for c in national_criteria(flows, em, fac)}
    assert crit["core_carbon_intensity"].value == pytest.approx(hand["core"], rel=REL)
    assert em.energy_total_tce == pytest.approx(hand["tce"], rel=REL)
    assert crit["clean_energy_share"].value == pytest.approx(hand["clean"], rel=REL)
    assert cfe_scores(flows, fac.grid_cfe_share)["hourly"] == pytest.approx(hand["cfe"], rel=REL)
    assert 0 < hand["clean"] < 1
    assert 0 < hand["cfe"] < 1


# ---------------------------------------------------------------------------------------------
# flows_from_run: energy bookkeeping
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["park", "small"])
def test_hourly_flows_equal_the_step_integrals(runs, name):
    with open_run(runs[name]) as run:
        flows = flows_from_run(run)
        dt_h = run.step_s / 3600
        n_steps = len(run.time_s)
        assert flows.n_hours == n_steps * run.step_s // 3600
        for kind, group in (("pv", flows.pv_mwh), ("wind", flows.wind_mwh),
                            *((k, flows.load_mwh) for k in LOADS)):
            for e in run.entities(kind):
                p = run.series(e, "p_mw")
                np.testing.assert_allclose(group[e], p.reshape(flows.n_hours, -1).sum(1) * dt_h,
                                           rtol=1e-12, atol=1e-12)
                assert group[e].sum() == pytest.approx(p.sum() * dt_h, rel=1e-12)
        pcc = run.entities("pcc")[0]
        assert flows.import_mwh.sum() == pytest.approx(
            run.series(pcc, "p_import_mw").sum() * dt_h, rel=1e-12)
        assert flows.export_mwh.sum() == pytest.approx(
            run.series(pcc, "p_export_mw").sum() * dt_h, rel=1e-12, abs=1e-12)
        has_loss = run.has(pcc, "p_loss_mw")
        assert (flows.grid_loss_mwh.sum() > 0) == has_loss == (name == "park")
        for h in run.entities("heat"):
            assert flows.gas_nm3[h].sum() == pytest.approx(run.series(h, "gas_nm3").sum())
        e_end = sum(float(run.series(b, "e_mwh")[-1]) for b in run.entities("battery"))
        e0 = sum(run.spec(b)["soc_init"] * run.spec(b)["e_max_mwh"]
                 for b in run.entities("battery"))
    assert flows.storage_e0_mwh == pytest.approx(e0, rel=1e-9)
    # the PCC balance closes in every hour, and the storage pool ends at the batteries' energy
    residual = (flows.total(flows.generation_mwh) + flows.import_mwh
                + flows.storage_discharge_mwh - flows.load_total_mwh - flows.grid_loss_mwh
                - flows.storage_charge_mwh - flows.export_mwh)
    assert np.abs(residual).max() < 1e-6
    assert ledger(flows).pool_end_mwh.sum() == pytest.approx(e_end, rel=1e-9)
    assert set(flows.local_month) == {1}
    assert set(flows.local_year) == {2027}


def test_ledger_certificates_and_direct_line_close_on_the_run(runs):
    with open_run(runs["park"]) as run:
        flows = flows_from_run(run)
    led = ledger(flows)
    assert ledger(flows) is led  # once per flows object; another one's its own
    fresh = ledger(dataclasses.replace(flows))
    assert fresh is not led
    np.testing.assert_array_equal(fresh.pool_share, led.pool_share)
    gen = sum(v.sum() for v in flows.generation_mwh.values())
    assert gen > 0
    renewable_lost = (led.storage_loss_mwh * led.renewable_pool_share).sum()
    renewable_left = led.pool_end_mwh[:-1].sum()
    gc = granular_certificates(flows)
    assert gc["mwh"].sum() == pytest.approx(gen - renewable_lost - renewable_left, rel=1e-9)
    assert np.abs(gc["wh"] - gc["mwh"] * 1e6).max() <= 0.5
    assert (gc["mwh"] > 0).all()
    assert gc["from_storage"].any()
    assert set(gc["technology"]) == {"wind", "solar"}
    np.testing.assert_allclose(np.sort(np.unique(gc["hour_s"])), np.unique(gc["hour_s"]))
    by_text = np.lexsort((gc["from_storage"], ~gc["consumed_in_park"], gc["device"],
                          gc["hour_s"]))  # ordered by hour, device name, destination
    np.testing.assert_array_equal(by_text, np.arange(len(gc)))
    line = direct_line(flows)
    np.testing.assert_allclose(line.consumed_mwh + line.exported_mwh,
                               flows.total(flows.wind_mwh), atol=1e-9)
    assert line.share == pytest.approx(1 - (line.exported_mwh.sum()
                                            + line.exported_from_storage_mwh.sum())
                                       / flows.total(flows.wind_mwh).sum())
    assert gec_count(flows) == pytest.approx(gen, abs=len(flows.generation_mwh))


class _FakeRun:
    """A run with a 5-minute step starting at hh:40 and a lossless PCC."""

    step_s = 300
    meta = {"start": "2027-03-31T15:40:00+00:00", "timezone": "Asia/Shanghai"}

    def __init__(self, n: int) -> None:
        rng = np.random.default_rng(3)
        self.time_s = np.arange(n) * self.step_s
        self._s = {("pv1", "p_mw"): rng.uniform(0, 5, n), ("f1", "p_mw"): rng.uniform(1, 9, n),
                   ("pcc", "p_import_mw"): rng.uniform(0, 3, n),
                   ("pcc", "p_export_mw"): np.zeros(n)}
        self._kinds = {"pv1": "pv", "f1": "factory", "pcc": "pcc"}

    def entities(self, kind=None):
        return [e for e, k in self._kinds.items() if kind in (None, k)]

    def series(self, entity, attr):
        return self._s[(entity, attr)]

    def has(self, entity, attr):
        return (entity, attr) in self._s

    def spec(self, entity):
        return {}


def test_partial_hours_and_other_steps():
    run = _FakeRun(40)  # 15:40 .. 19:00 UTC: 4 steps in the first hour, 12 in the next ones
    flows = flows_from_run(run)
    start = int(dt.datetime(2027, 3, 31, 15, tzinfo=dt.UTC).timestamp())
    np.testing.assert_array_equal(flows.hour_s, start + 3600 * np.arange(4))
    pv = run.series("pv1", "p_mw") / 12
    np.testing.assert_allclose(flows.pv_mwh["pv1"],
                               [pv[:4].sum(), pv[4:16].sum(), pv[16:28].sum(), pv[28:].sum()])
    # 23:00 local on 31 March, then April
    np.testing.assert_array_equal(flows.local_month, [3, 4, 4, 4])
    assert not flows.grid_loss_mwh.any()
    run.step_s = 420  # 7 minutes do not divide an hour
    with pytest.raises(ValueError, match="divides an hour"):
        flows_from_run(run)


# ---------------------------------------------------------------------------------------------
# Factors and criteria
# ---------------------------------------------------------------------------------------------

def test_unknown_factor_year_or_region_is_a_clear_error():
    with pytest.raises(ValueError, match=r"region 'northeast' in 2019.*2022, 2023"):
        factors(2019, "northeast")
    with pytest.raises(ValueError, match=r"unknown grid region 'liaoning'.*northeast, national"):
        factors(2023, "liaoning")
    f22 = factors(2022, "northeast")
    assert f22.grid_t_per_mwh == pytest.approx(0.5564)
    assert f22.grid_t_per_mwh > factors(2023, "northeast").grid_t_per_mwh
    assert any("residual" in n for n in f22.notes)  # the 2023 national residual stands in
    nat = factors(2023, "national")
    assert nat.grid_t_per_mwh < nat.residual_t_per_mwh < nat.fossil_t_per_mwh


def test_core_threshold_bands_and_input_criteria(runs):
    assert core_threshold(0.5e6)[0] == pytest.approx(0.20)
    assert core_threshold(1.5e6)[0] == pytest.approx(0.30)
    assert core_threshold(0.1e6)[0] == pytest.approx(0.20)
    with open_run(runs["small"]) as run:
        flows = flows_from_run(run)
    fac = factors()
    em = emissions(flows, fac)
    crit = {c.key: c for c in national_criteria(flows, em, fac, {"water_reuse": 0.7,
                                                                 "waste_heat_utilisation": 0.6})}
    assert crit["water_reuse"].source == "input"
    assert crit["water_reuse"].met is False
    assert crit["waste_heat_utilisation"].met is True
    assert crit["solid_waste_utilisation"].value is None
    assert crit["solid_waste_utilisation"].met is None
    assert "scaled to a year" in crit["core_carbon_intensity"].note
    with pytest.raises(ValueError, match="unknown criteria inputs"):
        national_criteria(flows, em, fac, {"water_recycling": 0.9})
    with pytest.raises(ValueError, match="fraction"):
        national_criteria(flows, em, fac, {"water_reuse": 85})
    # green certificates cut market-based, never location-based, emissions
    em_gec = emissions(flows, fac, gec_mwh=float(flows.import_mwh.sum()) / 2)
    assert em_gec.scope2_location_total_t == pytest.approx(em.scope2_location_total_t)
    assert em_gec.scope2_market_total_t == pytest.approx(em.scope2_market_total_t / 2)


# ---------------------------------------------------------------------------------------------
# Matching, direct line, certificates on cases with known answers
# ---------------------------------------------------------------------------------------------

def _hours(n: int, start: int = JAN_2027, every_h: int = 1) -> np.ndarray:
    return start + 3600 * every_h * np.arange(n)


def test_day_night_matching_and_direct_line():
    # wind 20 MWh by day, 0 by night; a flat 10 MWh load: annual 100 %, hourly 50 %
    wind = np.tile([20.0, 0.0], 24)
    load = np.full(48, 10.0)
    flows = park_flows(_hours(48), timezone="Asia/Shanghai", load_mwh={"plant": load},
                       wind_mwh={"w": wind}, import_mwh=np.maximum(load - wind, 0),
                       export_mwh=np.maximum(wind - load, 0))
    scores = cfe_scores(flows, 0.0)
    assert scores["hourly"] == pytest.approx(0.5)
    assert scores["annual"] == pytest.approx(1.0)
    assert cfe_scores(flows, 1.0)["hourly"] == pytest.approx(1.0)  # a fully clean grid
    line = direct_line(flows)
    assert line.share == pytest.approx(0.5)
    assert line.met is False
    np.testing.assert_allclose(line.exported_mwh, np.tile([10.0, 0.0], 24))
    # PV beside the wind shares the exports pro rata: wind 10 + PV 10, load 5 -> 7.5 exported
    flows = park_flows(_hours(1), load_mwh={"p": [5.0]}, wind_mwh={"w": [10.0]},
                       pv_mwh={"pv": [10.0]}, export_mwh=[15.0])
    assert direct_line(flows).share == pytest.approx(0.25)


def test_storage_released_certificates_and_gec_count():
    # hour 0: wind 10, load 4, charge 6 (loss 1); hour 1: no wind, discharge 5 to the load
    flows = park_flows(_hours(2), load_mwh={"p": [4.0, 5.0]}, wind_mwh={"w": [10.0, 0.0]},
                       storage_charge_mwh=[6.0, 0.0], storage_discharge_mwh=[0.0, 5.0],
                       storage_loss_mwh=[0.5, 0.5])
    gc = granular_certificates(flows)
    stored = gc[gc["from_storage"]]
    assert len(stored) == 1
    assert stored["hour_s"][0] == flows.hour_s[1]
    assert stored["mwh"][0] == pytest.approx(5.0)
    assert stored["wh"][0] == 5_000_000
    assert gc["consumed_in_park"].all()
    # certified = generation - storage losses - what is still stored (6 - 0.5 - 5.5 = 0)
    assert gc["mwh"].sum() == pytest.approx(10.0 - 1.0)
    assert cfe_scores(flows, 0.0)["hourly"] == pytest.approx(1.0)
    assert direct_line(flows).share == pytest.approx(1.0)
    # GECs: floor per device and month; 0.6 MWh in each of two months gives none
    hours = np.array([JAN_2027, JAN_2027 + 40 * 86400])  # January and February
    flows = park_flows(hours, timezone="Asia/Shanghai", pv_mwh={"pv": [0.6, 0.6]},
                       wind_mwh={"w": [2.5, 1.0]})
    assert gec_count(flows) == 3


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

def _series(n: int) -> st.SearchStrategy:
    return arrays(np.float64, n, elements=st.floats(0, 100, allow_nan=False, width=32))


@st.composite
def _random_flows(draw):
    n = draw(st.integers(1, 40))
    every = draw(st.sampled_from([1, 7, 200]))  # an hour, a week, ~8 days apart
    a = lambda: draw(_series(n))  # noqa: E731
    return park_flows(
        _hours(n, JAN_2027 - 3600 * draw(st.integers(0, 2000)), every),
        timezone="Asia/Shanghai", load_mwh={"a": a(), "b": a()}, pv_mwh={"pv": a()},
        wind_mwh={"w": a()}, storage_charge_mwh=a(), storage_discharge_mwh=a(),
        storage_loss_mwh=a(), grid_loss_mwh=a(), import_mwh=a(), export_mwh=a(),
        gas_nm3={"b": a()}, storage_e0_mwh=draw(st.floats(0, 100)))


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(flows=_random_flows(), share=st.floats(0, 1))
def test_hourly_never_beats_monthly_never_beats_annual(flows, share):
    s = cfe_scores(flows, share)
    if np.isnan(s["hourly"]):
        assert flows.load_total_mwh.sum() + flows.grid_loss_mwh.sum() == 0
        return
    assert 0 <= s["hourly"] <= s["monthly"] + 1e-12
    assert s["monthly"] <= s["annual"] + 1e-12 <= 1 + 2e-12


@FAST
@given(flows=_random_flows(), gec=st.floats(0, 1e4))
def test_emissions_never_negative(flows, gec):
    fac = factors()
    em = emissions(flows, fac, gec_mwh=gec)
    for group in (em.scope1_t, em.scope2_location_t, em.scope2_market_t, em.energy_tce):
        for v in group.values():
            assert (v >= 0).all()
    assert em.scope2_location_total_t == pytest.approx(
        flows.import_mwh.sum() * fac.grid_t_per_mwh, rel=1e-9, abs=1e-9)
    assert em.scope2_market_total_t <= flows.import_mwh.sum() * fac.residual_t_per_mwh + 1e-9


def _balanced(load: np.ndarray, pv: np.ndarray, e_max: float = 30.0) -> dict:
    """Hourly park flows with a greedy battery (charges surplus, discharges deficits)."""
    eta, p_max, e = 0.9, 10.0, e_max / 2
    imp, exp, ch, dis, loss = (np.zeros(len(load)) for _ in range(5))
    for h, net in enumerate(load - pv):
        if net < 0:
            ch[h] = min(-net, p_max, (e_max - e) / eta)
            loss[h] = ch[h] * (1 - eta)
            e += ch[h] * eta
        else:
            dis[h] = min(net, p_max, e * eta)
            loss[h] = dis[h] / eta - dis[h]
            e -= dis[h] / eta
        imp[h] = max(net + ch[h] - dis[h], 0.0)
        exp[h] = max(-(net + ch[h] - dis[h]), 0.0)
    return {"import_mwh": imp, "export_mwh": exp, "storage_charge_mwh": ch,
            "storage_discharge_mwh": dis, "storage_loss_mwh": loss, "storage_e0_mwh": e_max / 2}


@FAST
@given(data=st.data())
def test_more_onsite_pv_never_raises_location_based_emissions(data):
    n = data.draw(st.integers(1, 48))
    a, b = data.draw(_series(n)), data.draw(_series(n))
    pv = data.draw(_series(n))
    extra = data.draw(_series(n))
    fac = factors()
    em = {}
    for name, p in (("base", pv), ("more", pv + extra)):
        flows = park_flows(_hours(n), load_mwh={"a": a, "b": b}, pv_mwh={"pv": p},
                           **_balanced(a + b, p))
        em[name] = emissions(flows, fac)
    assert em["more"].scope2_location_total_t <= em["base"].scope2_location_total_t + 1e-9
    for e in ("a", "b"):
        assert (em["more"].scope2_location_t[e].sum()
                <= em["base"].scope2_location_t[e].sum() + 1e-9)
