"""The pathway: the LP's optimum against enumeration, infeasibility named, tightening by
co-simulation, the command."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from twin import scenario as scenario_mod
from twin.apps.cli import main
from twin.studies.pathway import lp, prove
from twin.studies.pathway.profiles import Profiles
from twin.studies.pathway.settings import Accounting

HOURS = 48


def _profiles(**kw: object) -> Profiles:
    h = np.arange(HOURS)
    base = dict(
        price_cny_per_mwh=np.full(HOURS, 600.0), month=np.ones(HOURS, dtype=int),
        wind_per_mw=0.35 + 0.05 * np.sin(2 * np.pi * h / 24), pv_per_mwp=np.zeros(HOURS),
        factory_mwh=np.full(HOURS, 10.0), other_mwh=np.full(HOURS, 1.0),
        heat_mwh=np.full(HOURS, 8.0), cop=np.full(HOURS, 3.0), wind_mw=10.0, turbine_mw=4.2,
        hp_mw=2.0, heat_design_mw=10.0, gas_nm3_per_mwh=3600.0 / (0.92 * 38.931),
        export_price_cny_per_mwh=374.9, demand_cny_per_kw_month=33.0, gas_cny_per_nm3=3.6)
    base.update(kw)
    return Profiles(**base)  # type: ignore[arg-type]


def test_lp_optimum_matches_enumeration() -> None:
    # wind pays (exports earn more than its annuity) up to the 绿电直连 limit, heat pumps pay
    # (gas saved) up to the heat demand: the cheapest portfolio is 50 MW of wind (60 MW in
    # all: 24 MWh/h generated, 14.4 used, 9.6 = 40 % exported) and 6 MW of heat pumps
    use = 14.4 - 1.0 - 8.0 / 3.0  # factories' share of the 14.4 MWh/h used
    p = _profiles(wind_per_mw=np.full(HOURS, 0.4), factory_mwh=np.full(HOURS, use))
    levers = ("wind", "heat_pump")
    best = lp.solve(p, only=levers)
    assert best.status == "optimal"
    assert best.criteria["core_carbon_intensity"] <= p.core_max + 1e-6
    assert best.criteria["clean_energy_share"] >= p.clean_min - 1e-6
    # the same linear model evaluated on a grid of capacities (dispatch only)
    grid = []
    for wind, hp in itertools.product(np.arange(0.0, 100.01, 2.5), np.arange(0.0, 8.01, 1.0)):
        s = lp.solve(p, fixed={"wind": float(wind), "heat_pump": float(hp)})
        if s.status == "optimal":
            grid.append((s.annual_cost_cny, float(wind), float(hp)))
    assert grid, "no feasible grid point"
    cost, wind, hp = min(grid)
    assert (wind, hp) == (50.0, 6.0)
    assert best.annual_cost_cny <= cost + 1e-6 * abs(cost)  # nothing on the grid beats the LP
    assert best.annual_cost_cny == pytest.approx(cost, rel=1e-6)
    assert best.portfolio["wind"] == pytest.approx(wind, abs=1e-4)
    assert best.portfolio["heat_pump"] == pytest.approx(hp, abs=1e-4)
    assert best.binding == ["direct_line_share"]
    # the LP's own point, evaluated as a fixed portfolio, costs what the LP said
    again = lp.solve(p, fixed={k: best.portfolio[k] for k in levers})
    assert again.status == "optimal"
    assert again.annual_cost_cny == pytest.approx(best.annual_cost_cny, rel=1e-6)


def test_infeasible_names_the_binding_criterion() -> None:
    # wind blows every other hour and there is no storage: half of the use is imported,
    # which only the core indicator (location-based) cannot forgive; certificates clean it
    wind = np.tile([0.0, 1.0], HOURS // 2)
    p = _profiles(wind_per_mw=wind, heat_mwh=np.zeros(HOURS), hp_mw=0.0, heat_design_mw=0.0)
    s = lp.solve(p, only=("wind", "gec"))
    assert s.status == "infeasible"
    assert s.binding == ["core_carbon_intensity"]
    gap = s.criteria["core_carbon_intensity"] - p.core_max
    assert gap > 1.0
    assert s.relaxation["core_carbon_intensity"] == pytest.approx(gap, rel=1e-3)
    assert s.relaxation["clean_energy_share"] == pytest.approx(0.0, abs=1e-9)
    assert s.criteria["clean_energy_share"] >= p.clean_min - 1e-6
    assert s.portfolio["gec"] > 0


SMALL = """
park: {name: pathway test park, latitude: 41.8, longitude: 123.4, timezone: Asia/Shanghai,
       seed: 5}
period: {start: 2027-01-01 00:00, duration: 2d, step: 1h}
weather: {source: synthetic}
wind_farms: [{name: wind, turbine_type: E-141/4200, n_turbines: 4, hub_height_m: 129}]
pv_plants: [{name: pv, p_dc_mwp: 5, p_ac_mw: 4}]
batteries: [{name: bess, p_max_mw: 5, e_max_mwh: 20}]
factory_loads: [{name: plant, kind: supplier, p_peak_mw: 20}]
heat_supply: [{name: heat, q_design_mw: 10, hp_q_max_mw: 3}]
"""


@pytest.fixture
def small(tmp_path):  # noqa: ANN001, ANN201
    path = tmp_path / "small.yaml"
    path.write_text(SMALL, encoding="utf-8")
    return scenario_mod.load(path)


def test_tightening_resolves_until_the_run_passes(small, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    calls = []

    def judge(path, acct):  # noqa: ANN001, ANN202
        calls.append(path)
        if len(calls) == 1:  # the baseline run
            return {"core_carbon_intensity": 1.0, "clean_energy_share": 0.3,
                    "direct_line_share": 0.9}
        ok = {"core_carbon_intensity": 0.15, "clean_energy_share": 0.92,
              "direct_line_share": 0.8}
        return {**ok, "clean_energy_share": 0.85} if len(calls) == 2 else ok

    monkeypatch.setattr(prove, "judge", judge)
    road = prove.pathway(small, tmp_path / "runs", rounds=4)  # the acceptance year alone
    assert len(road.rounds) == 2
    assert road.proven
    first, second = road.rounds
    assert first.missed == {"clean_energy_share": pytest.approx(0.05)}
    step = prove.TIGHTEN_FACTOR * 0.05
    assert second.tighten == {"clean_energy_share": pytest.approx(step)}
    assert second.solution.thresholds["clean_energy_share"] == pytest.approx(0.9 + step)
    assert second.solution.status == "optimal"
    assert second.solution.criteria["clean_energy_share"] >= 0.9 + step - 1e-6
    assert first.run_path is not None
    assert first.run_path.exists()


def test_command_prints_the_road_and_writes_the_report(small, tmp_path, capsys, monkeypatch) -> None:  # noqa: ANN001
    out = tmp_path / "road"
    code = main(["pathway", str(small.path), "--rounds", "1", "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "core indicator" in text
    assert "co-sim" in text
    assert "round 1" in text
    for line in ("2025  baseline", "2026  build-up", "2027  acceptance", "2028  after"):
        assert line in text  # the road year by year, by default 2025-2028
    assert "the project's own" in text  # the net balance is not labelled national
    page = (out / "pathway.html").read_text(encoding="utf-8")
    assert "The road year by year" in page
    assert page.count("<svg") >= 4  # the waterfall and the criteria by year
    assert "location-based" in page
    assert "3 co-simulations made" in text
    # a price changed (the efficiency programme's, 1 % dearer) and the same portfolio: the
    # rerun makes no co-simulation, it reuses the three in --out
    from twin.studies.pathway import measures

    load = measures.data.load

    def dearer(name: str):  # noqa: ANN202
        table = load(name)
        if name != "measures":
            return table
        eff = {**table["efficiency"], "cost_cny_per_mwh_saved":
               1.01 * float(table["efficiency"]["cost_cny_per_mwh_saved"])}
        return {**table, "efficiency": eff}

    monkeypatch.setattr(measures.data, "load", dearer)
    assert main(["pathway", str(small.path), "--rounds", "1", "--out", str(out)]) == 0
    again = capsys.readouterr().out
    assert again.split("\n\n")[1] == text.split("\n\n")[1]  # the same portfolio
    assert "0 co-simulations made" in again
    assert "3 reused from --out" in again
    monkeypatch.undo()
    assert main(["pathway", str(small.path), "--years", "2028-2025"]) == 2
    assert main(["pathway", str(small.path), "--gas-kgce", "2.0"]) == 2
    assert main(["pathway", str(small.path), "--criteria", "core,beauty"]) == 2
    assert main(["pathway", str(small.path), "--cfe", "1.5"]) == 2
    err = capsys.readouterr().err
    assert "GB/T 2589" in err
    assert "beauty" in err or "core, clean, direct" in err
    assert "Traceback" not in err


def test_market_based_emissions_let_certificates_lower_the_core_indicator() -> None:
    # the park of the infeasible test: location-based, certificates cannot forgive the
    # imports; market-based (an option), enough certificates bring the core indicator down
    from twin.studies.pathway.settings import Accounting

    wind = np.tile([0.0, 1.0], HOURS // 2)
    p = _profiles(wind_per_mw=wind, heat_mwh=np.zeros(HOURS), hp_mw=0.0, heat_design_mw=0.0)
    location = lp.solve(p, only=("wind", "gec"))
    market = lp.solve(p, only=("wind", "gec"), acct=Accounting(emissions="market"))
    assert location.status == "infeasible"
    assert market.status == "optimal"
    assert market.criteria["core_carbon_intensity"] <= p.core_max + 1e-6
    # the certificates needed: import uncovered at most 0.2 x tce / residual factor
    imp = market.flows["import_mwh"]
    uncovered = p.core_max * market.flows["energy_tce"] / p.residual_t_per_mwh
    assert market.portfolio["gec"] == pytest.approx(imp - uncovered, rel=1e-4)
    # the grid's non-fossil share counted as clean lifts the clean share of the same point
    fixed = {"wind": market.portfolio["wind"]}
    plain = lp.solve(p, fixed=fixed, criteria=False)
    grid = lp.solve(p, fixed=fixed, criteria=False, acct=Accounting(grid_share_clean=True))
    gap = grid.criteria["clean_energy_share"] - plain.criteria["clean_energy_share"]
    expected = (p.grid_cfe_share * plain.flows["import_mwh"] * p.elec_tce_per_mwh
                / plain.flows["energy_tce"])
    assert gap == pytest.approx(expected, rel=1e-6)


def test_hourly_cfe_target_and_criteria_choice() -> None:
    from twin.studies.pathway.settings import Accounting

    p = _profiles(wind_per_mw=0.35 + 0.3 * np.sin(2 * np.pi * np.arange(HOURS) / 24))
    only = ("wind", "heat_pump", "gec")
    loose = lp.solve(p, only=only, acct=Accounting(criteria=("direct_line_share",)))
    assert loose.status == "optimal"
    assert "hourly_cfe" not in loose.criteria
    # without the target the cheapest answer scores about 0.87: ask 0.9
    cfe = lp.solve(p, only=only, acct=Accounting(criteria=("direct_line_share",), cfe=0.9))
    assert cfe.status == "optimal"
    assert cfe.criteria["hourly_cfe"] >= 0.9 - 1e-6
    assert "hourly_cfe" in cfe.binding
    assert cfe.annual_cost_cny > loose.annual_cost_cny
    # the cheaper answer, evaluated with the target, falls short of it
    check = lp.solve(p, fixed=loose.portfolio, criteria=False, acct=Accounting(cfe=0.9))
    assert check.criteria["hourly_cfe"] < 0.9 - 1e-2
    assert "hourly_cfe" in lp.solve(p, only=only, acct=Accounting(cfe=0.95)).binding
    with pytest.raises(ValueError, match="GB/T 2589"):
        Accounting(gas_kgce_per_nm3=2.0)


def test_weather_years_hold_in_every_year() -> None:
    # a calm year and a windy year (exports earn nothing): the portfolio must meet the core
    # indicator and the clean share in both, so it is about the calm year's; the windy year's
    # cheaper answer fails the calm year
    from twin.studies.pathway.settings import Accounting

    acct = Accounting(criteria=("core_carbon_intensity", "clean_energy_share"))
    h = np.arange(HOURS)
    calm = _profiles(wind_per_mw=0.3 + 0.2 * np.sin(2 * np.pi * h / 24),
                     export_price_cny_per_mwh=0.0)
    windy = _profiles(wind_per_mw=0.5 + 0.2 * np.sin(2 * np.pi * h / 24),
                      export_price_cny_per_mwh=0.0)
    only = ("wind", "heat_pump", "gec")
    both = lp.solve([windy, calm], only=only, acct=acct)
    assert both.status == "optimal"
    assert len(both.by_weather) == 2
    for year in both.by_weather:
        assert year["core_carbon_intensity"] <= calm.core_max + 1e-6
        assert year["clean_energy_share"] >= calm.clean_min - 1e-6
    assert both.by_weather[1]["core_carbon_intensity"] == pytest.approx(calm.core_max)
    alone = lp.solve(windy, only=only, acct=acct)
    in_calm = lp.solve(calm, fixed=alone.portfolio, criteria=False)
    assert in_calm.criteria["core_carbon_intensity"] > 5 * calm.core_max
    calm_alone = lp.solve(calm, only=only, acct=acct)
    assert both.portfolio["wind"] > 2 * alone.portfolio["wind"]
    assert both.portfolio["wind"] == pytest.approx(calm_alone.portfolio["wind"], rel=0.01)


def test_staged_road_year_by_year(small, tmp_path) -> None:  # noqa: ANN001
    road = prove.pathway(small, tmp_path / "runs", rounds=2, years=(2025, 2028))
    assert [(y.year, y.stage) for y in road.years] == [
        (2025, "baseline"), (2026, "build-up"), (2027, "acceptance"), (2028, "after")]
    base, build, acc, after = road.years
    assert base.portfolio == {}
    assert base.capex_cny == 0.0
    assert base.proven == road.baseline
    # what is built stays built; the acceptance year adds the rest; nothing new after
    for key, amount in build.portfolio.items():
        assert acc.portfolio.get(key, 0.0) >= amount - 1e-6
    assert after.capex_cny == pytest.approx(0.0, abs=1.0)
    assert acc.proven == road.final.proven
    # the build-up year builds only what pays: its annualised cost is below the baseline's
    ps = road.weather
    nothing = lp.solve(ps, fixed={}, criteria=False).annual_cost_cny
    assert lp.solve(ps, fixed=build.portfolio, criteria=False).annual_cost_cny <= nothing
    assert build.portfolio  # on this park, heat pumps pay for themselves (gas saved)
    # each year was co-simulated: the build-up year's run is its own file
    assert build.run_path is not None
    assert build.run_path.exists()
    assert build.run_path != road.baseline_path
    # the waterfall starts at the LP's baseline and its bars end at the LP's answer
    assert road.waterfall[0][0] == "baseline"
    assert road.waterfall[-1][1] == pytest.approx(
        road.final.solution.criteria["core_carbon_intensity"], abs=1e-6)
    # the proving run's own accounting costs the assets the LP built (the heat measures
    # from twin/data/measures.yaml included) as the LP does, at the amounts applied
    final = road.final
    assert final.cost_run["assets"] > 0
    assert final.cost_run["assets"] == pytest.approx(final.cost_lp["assets"],
                                                     rel=prove.COST_TOLERANCE)
    # where the run and the LP part: the run's totals are its own criteria's, and the
    # core indicator's gap splits into import, gas and energy use adding up to it
    import re

    from twin.studies.pathway import report

    run = final.flows_run
    assert run["co2_t"] / run["energy_tce"] == pytest.approx(
        final.proven["core_carbon_intensity"], rel=1e-9)
    gap = final.proven["core_carbon_intensity"] - final.solution.criteria[
        "core_carbon_intensity"]
    total, *parts = (float(x) for x in re.findall(r"([+-]\d+\.\d+) (?:tCO2|from)",
                                                  report.gap_note(road)))
    assert len(parts) == 3
    assert total == pytest.approx(gap, abs=1e-3)
    assert sum(parts) == pytest.approx(total, abs=2e-3)
    gas = road.profiles.gas_t_per_nm3 * (run["gas_nm3"] - final.solution.flows["gas_nm3"])
    assert parts[1] == pytest.approx(gas / run["energy_tce"], abs=1e-3)


def test_weather_years_are_seeds_and_the_proof_takes_the_worst(small, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from twin.studies.pathway import settings

    seen: dict[str, dict[str, float]] = {}
    real = settings.judge_file

    def judge(path, acct):  # noqa: ANN001, ANN202
        seen[path.name] = real(path, acct)
        return seen[path.name]

    monkeypatch.setattr(prove, "judge", judge)
    road = prove.pathway(small, tmp_path / "runs", rounds=1, weather_years=2)
    assert len(road.weather) == 2
    # another seed is another weather year: the wind differs hour by hour
    assert not np.allclose(road.weather[0].wind_per_mw, road.weather[1].wind_per_mw)
    assert set(seen) >= {"pathway-baseline.h5", "pathway-baseline-w1.h5",
                         "pathway-round1.h5", "pathway-round1-w1.h5"}
    a, b = seen["pathway-round1.h5"], seen["pathway-round1-w1.h5"]
    assert a["core_carbon_intensity"] != b["core_carbon_intensity"]  # the proving runs too
    assert road.final.proven["core_carbon_intensity"] == max(a["core_carbon_intensity"],
                                                             b["core_carbon_intensity"])
    assert road.final.proven["clean_energy_share"] == min(a["clean_energy_share"],
                                                          b["clean_energy_share"])
    assert len(road.final.solution.by_weather) == 2


def test_judge_by_default_settings_matches_the_run_kpis(small, tmp_path) -> None:  # noqa: ANN001
    # the proof's judge, with the default (the notice's) settings, reads a run as the
    # accounting module's KPIs do; market-based counts the residual mix instead
    from twin import runner
    from twin.studies.pathway.settings import Accounting, judge_file

    result = runner.run(small, tmp_path)
    judged = judge_file(result.path, Accounting())
    for c in ("core_carbon_intensity", "clean_energy_share", "direct_line_share"):
        assert judged[c] == pytest.approx(float(result.kpis[f"criterion_{c}"].value), rel=1e-9)
    market = judge_file(result.path, Accounting(emissions="market"))
    assert market["core_carbon_intensity"] > judged["core_carbon_intensity"]  # no GEC bought
    lighter = judge_file(result.path, Accounting(gas_kgce_per_nm3=1.1))
    assert lighter["core_carbon_intensity"] > judged["core_carbon_intensity"]  # fewer tce
    # 绿电交易 contracts are settled on the run's own import: a flat block counts in full
    # up to the month's import, and lowers market-based Scope 2 in proportion
    from twin.accounting.carbon import flows_from_run
    from twin.core.results import open_run
    from twin.studies.pathway.settings import settled

    with open_run(result.path) as run:
        imp = float(np.maximum(flows_from_run(run).import_mwh, 0.0).sum())
        flows = flows_from_run(run)
    assert imp > 0
    assert settled(flows, {"contract_flat": imp / 4}) == pytest.approx(imp / 4, rel=1e-9)
    assert settled(flows, {"contract_flat": 10 * imp}) == pytest.approx(imp, rel=1e-9)
    drop = [market["core_carbon_intensity"] - judge_file(
        result.path, Accounting(emissions="market"), {"contract_flat": v}
    )["core_carbon_intensity"] for v in (imp / 4, imp / 2, 10 * imp)]
    assert drop[0] > 0
    assert drop[1] == pytest.approx(2 * drop[0], rel=1e-9)
    assert drop[2] == pytest.approx(4 * drop[0], rel=1e-9)  # no more than the import
    assert judge_file(result.path, Accounting(), {"contract_flat": imp})[
        "core_carbon_intensity"] == judged["core_carbon_intensity"]  # location-based
    # the hourly CFE counts a contract's delivery against the import consumed in the same
    # hour, as the LP does: a flat block lifts it by what it matches hour by hour
    from twin.accounting.carbon import cfe_scores, factors, ledger
    from twin.studies.pathway.settings import delivery, hourly_cfe

    g = 0.3
    cfe = Accounting(cfe=0.5)
    plain = judge_file(result.path, cfe)["hourly_cfe"]
    share = factors(2023, "northeast").grid_cfe_share  # the run's (the scenario's default)
    assert plain == pytest.approx(cfe_scores(flows, share)["hourly"], rel=1e-12)
    led = ledger(flows)
    block = {"contract_flat": imp / 4}
    matched = np.minimum(led.import_consumed_mwh, delivery(flows, block)).sum()
    assert 0 < matched < imp / 4  # hour by hour: less than the volume
    lift = hourly_cfe(flows, g, block) - hourly_cfe(flows, g)
    most = (1 - g) * matched / led.consumption_mwh.sum()
    assert 0.9 * most < lift <= most + 1e-12
    assert judge_file(result.path, cfe, block)["hourly_cfe"] > plain


def _heat_park(**kw: object) -> Profiles:
    # wind blows at night (8 h a day) and exports earn nothing; 8 MW of heat every hour; the
    # afternoon is too cold for air-source heat pumps
    h = np.arange(HOURS) % 24
    base = dict(wind_per_mw=np.where(h < 8, 0.9, 0.05), factory_mwh=np.full(HOURS, 4.0),
                heat_mwh=np.full(HOURS, 8.0), hp_mw=0.0, heat_design_mw=10.0,
                cop_air=np.where((h >= 14) & (h < 20), 0.0, 2.5), export_price_cny_per_mwh=0.0)
    return _profiles(**{**base, **kw})


def test_heat_levers_store_night_wind_and_bind() -> None:
    # cost alone: the night's surplus wind heats the park through electric boilers and a heat
    # store; the cheapest store holds exactly the 16 windless hours' heat (with its losses),
    # the boilers deliver a day's heat in the 8 windy hours; no gas is left
    from twin.studies.pathway.profiles import defaults

    p = _heat_park(wind_mw=70.0)
    heat = ("air_heat_pump", "electric_boiler", "heat_store")
    s = lp.solve(p, only=heat, criteria=False)
    assert s.status == "optimal"
    keep = p.store_keep_per_h
    assert keep == pytest.approx(defaults()["store_keep_per_h"])
    assert keep < 1.0
    assert s.portfolio["heat_store"] == pytest.approx(8.0 * sum(keep ** -j for j in range(1, 17)),
                                                      rel=1e-6)
    assert s.portfolio["electric_boiler"] == pytest.approx(8.0 * 24 / 8 / p.eboiler_eff,
                                                           rel=5e-3)
    assert s.portfolio["air_heat_pump"] == pytest.approx(0.0, abs=1e-6)
    assert s.flows["gas_nm3"] == pytest.approx(0.0, abs=1e-6)
    supplied = sum(s.flows[f] for f in lp.HEAT_FLOWS.values())
    assert supplied == pytest.approx(p.heat_mwh.sum(), rel=1e-6)  # the hourly heat balance
    # the same park under the core indicator (location-based) with less wind: air-source heat
    # pumps cannot reach it (gas in the cold afternoons), the electric boilers and store can
    p = _heat_park()
    acct = Accounting(criteria=("core_carbon_intensity",))
    without = lp.solve(p, only=("wind", "air_heat_pump"), acct=acct)
    assert without.status == "infeasible"
    assert without.binding == ["core_carbon_intensity"]
    assert without.flows["gas_nm3"] > 0
    assert without.flows["heat_air_mwh"] <= 8.0 * (HOURS - 12) + 1e-6  # not in the cold hours
    with_store = lp.solve(p, only=("wind", *heat), acct=acct)
    assert with_store.status == "optimal"
    assert with_store.portfolio["heat_store"] > 0
    assert with_store.criteria["core_carbon_intensity"] <= p.core_max + 1e-6


def test_contracts_count_month_by_month() -> None:
    # month 1 is calm (the park imports), month 2 windy (it imports nothing): a wind-shaped
    # contract delivers in month 2 and counts nothing; a flat block counts its month-1 half
    h = np.arange(HOURS)
    month = np.where(h < 24, 1, 2)
    p = _profiles(wind_per_mw=np.where(month == 1, 0.0, 2.0), month=month,
                  heat_mwh=np.zeros(HOURS), hp_mw=0.0, heat_design_mw=0.0)
    acct = Accounting(emissions="market", criteria=("core_carbon_intensity",))
    s = lp.solve(p, only=("contract_flat", "contract_wind"), acct=acct)
    assert s.status == "optimal"
    assert s.portfolio["contract_wind"] == pytest.approx(0.0, abs=1e-6)
    flat = s.portfolio["contract_flat"]
    assert flat > 0
    assert s.certificates_mwh == pytest.approx(flat / 2, rel=1e-6)  # the month-1 half
    uncovered = p.core_max * s.flows["energy_tce"] / p.residual_t_per_mwh
    assert s.certificates_mwh == pytest.approx(s.flows["import_mwh"] - uncovered, rel=1e-4)
    # wind-shaped alone cannot count: the smallest relaxation is the whole gap
    wind = lp.solve(p, only=("contract_wind",), acct=acct)
    assert wind.status == "infeasible"
    assert wind.certificates_mwh == pytest.approx(0.0, abs=1e-6)


def test_flexible_load_moves_within_the_day() -> None:
    # dear afternoons, cheap nights: an EMS park shifts the factories' load by the lever's
    # limit, energy-neutral each day; a rule-controlled park is not offered the lever
    h = np.arange(HOURS) % 24
    price = np.where(h >= 12, 900.0, 300.0)
    kw = dict(price_cny_per_mwh=price, heat_mwh=np.zeros(HOURS), hp_mw=0.0,
              heat_design_mw=0.0, demand_cny_per_kw_month=0.0, wind_per_mw=np.zeros(HOURS))
    ems = _profiles(flexible=True, **kw)
    rule = _profiles(**kw)
    base = lp.solve(ems, fixed={}, criteria=False)
    s = lp.solve(ems, only=("flex_load",), criteria=False)
    top = 0.15  # twin/data/measures.yaml flex_load max_share
    assert s.portfolio["flex_load"] == pytest.approx(top, abs=1e-6)
    assert s.flows["electricity_mwh"] == pytest.approx(base.flows["electricity_mwh"], rel=1e-9)
    moved = top * 10.0 * 12 * 2  # MWh moved from the dear half of each day to the cheap half
    saving = moved * 600.0 / ems.year_share
    assert base.cost["electricity"] - s.cost["electricity"] == pytest.approx(saving, rel=1e-6)
    assert lp.solve(rule, only=("flex_load",), criteria=False).portfolio["flex_load"] == 0.0


def test_heat_supply_runs_the_levers_in_merit_order() -> None:
    # the co-simulation's heat supply: waste heat, ground-source, air-source (not below its
    # lowest air temperature), then electric boilers in the valley hours filling the store,
    # the store outside them, gas last; the balance holds every step
    import datetime as dt

    from twin import data
    from twin.core.rng import generator
    from twin.models.loads import HeatSupply, HeatSupplySpec
    from twin.models.loads.calendar import ParkCalendar
    from twin.models.loads.heat import charge_hours

    cal = ParkCalendar(years=range(2026, 2028))
    spec = HeatSupplySpec(name="heat", q_design_mw=100.0, hp_q_max_mw=10.0, noise_pct=0.0,
                          waste_heat_q_max_mw=5.0, ashp_q_max_mw=20.0, eboiler_mw=30.0,
                          store_mwh=100.0)
    supply = HeatSupply(spec, cal, generator(1, "heat"))
    valley = charge_hours()
    periods = data.load("tariff")["liaoning-illustrative"]["periods"]
    assert valley == {h for h, name in enumerate(periods) if name == "valley"}
    start = int(dt.datetime(2027, 1, 15, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp())
    lowest = float(data.load("heat")["ashp_min_air_c"])
    stored = 0.0
    for i in range(48):
        temp = lowest - 1.0 if i % 24 in (14, 15) else -10.0
        o = supply.step(start + 3600 * i, 3600, temp)
        parts = o.q_waste_mw + o.q_hp_mw + o.q_air_mw + o.q_eboiler_mw + o.q_store_mw
        assert parts + o.q_boiler_mw == pytest.approx(o.q_heat_mw, rel=1e-12)
        assert o.q_waste_mw == pytest.approx(5.0)
        assert o.q_hp_mw == pytest.approx(10.0)
        assert o.q_air_mw == (0.0 if temp < lowest else pytest.approx(20.0))
        if i % 24 in valley:
            assert o.p_eboiler_mw == pytest.approx(30.0)  # full power: demand, then the store
            assert o.q_store_mw == 0.0
            assert o.e_store_mwh >= stored * 0.99
        else:
            assert o.p_eboiler_mw == 0.0
            assert o.q_store_mw <= stored + 1e-9
        assert o.p_mw > o.p_hp_mw + o.p_eboiler_mw  # and the circulation pumps
        stored = o.e_store_mwh
    # a mild day: the heat pumps cover the demand, the valley hours fill the store to its size
    mild = [supply.step(start + 3600 * (48 + h), 3600, 10.0) for h in range(24)]
    assert max(o.e_store_mwh for o in mild) == pytest.approx(100.0, rel=1e-12)
    assert all(o.q_boiler_mw == 0.0 for o in mild)
    # with the weather's wind the boilers run in windy hours, whatever the hour of the day
    from twin.models.loads.heat import windy

    calm, gale = (4.0, 100.0, 0.1), (12.0, 100.0, 0.1)
    assert not windy(*calm)
    assert windy(*gale)
    noon = start + 3600 * (72 + 12)  # not a valley hour
    assert 12 not in valley
    assert supply.step(noon, 3600, 10.0, gale).p_eboiler_mw > 0
    assert supply.step(noon + 3600, 3600, 10.0, calm).p_eboiler_mw == 0.0


def test_scenario_sets_the_emissions_basis(tmp_path, capsys) -> None:  # noqa: ANN001
    text = SMALL.replace("period: {start: 2027-01-01 00:00, duration: 2d, step: 1h}",
                         "period: {start: 2027-01-01 00:00, duration: 1d, step: 1h}\n"
                         "carbon: {emissions: market}")
    path = tmp_path / "market.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["pathway", str(path), "--years", "2027-2027", "--rounds", "1",
                 "--out", str(tmp_path / "road")]) == 0
    out = capsys.readouterr().out
    assert "emissions of the core indicator: market-based" in out
    from twin.apps.cli import build_parser
    from twin.apps.cli.pathway import _accounting

    args = build_parser().parse_args(["pathway", str(path), "--emissions", "location"])
    assert _accounting(args, "market").emissions == "location"  # the flag overrides
    path.write_text(text.replace("emissions: market", "emissions: marked"), encoding="utf-8")
    assert main(["pathway", str(path)]) == 2
    err = capsys.readouterr().err
    assert "carbon.emissions" in err
    assert "Traceback" not in err


def test_a_weather_file_is_one_more_weather_year(small, tmp_path, capsys) -> None:  # noqa: ANN001
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "scenarios" / "weather-example.csv"
    road = prove.pathway(small, tmp_path / "runs", days=1, rounds=1, weather_files=(example,))
    assert len(road.weather) == 2
    assert (tmp_path / "runs" / "pathway-baseline-f1.h5").exists()
    assert (tmp_path / "runs" / "pathway-round1-f1.h5").exists()
    # the file's weather, not the synthetic year's: the heat demand differs hour by hour
    assert not np.allclose(road.weather[0].heat_mwh, road.weather[1].heat_mwh)
    assert any("weather file weather-example.csv" in n for n in road.notes)
    assert len(road.final.solution.by_weather) == 2  # the LP's criteria hold in both
    # a file of another site is refused before anything runs: one line, exit 2
    import pvlib

    other = Path(pvlib.__file__).parent / "data" / "723170TYA.CSV"
    assert main(["pathway", str(small.path), "--weather-files", str(other),
                 "--out", str(tmp_path / "other")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --weather-files")
    assert "Traceback" not in err
    assert not (tmp_path / "other").exists()


@pytest.mark.parametrize("large", [False, True])
def test_one_penalised_solve_gives_the_three_solves_answer(large, monkeypatch) -> None:  # noqa: ANN001
    # where a portfolio passes, the penalised solve is the cheapest one; where none does,
    # the cheapest at the least relaxation: as the criteria-hard solve, then the least
    # relaxation, then the cheapest at it; a large model (a year) solved as one penalised
    # interior-point solve with crossover gives the same portfolio
    if large:
        monkeypatch.setattr(lp, "LARGE", 0)
    wind = np.tile([0.0, 1.0], HOURS // 2)
    cases = [(_profiles(), None),
             (_profiles(wind_per_mw=wind, heat_mwh=np.zeros(HOURS), hp_mw=0.0,
                        heat_design_mw=0.0), ("wind", "gec")),
             (_heat_park(), None)]
    statuses = set()
    for p, only in cases:
        one, three = lp.solve(p, only=only), lp.solve(p, only=only, three=True)
        statuses.add(one.status)
        assert one.status == three.status
        assert one.annual_cost_cny == pytest.approx(three.annual_cost_cny, rel=1e-5)
        for c, gap in three.relaxation.items():
            assert one.relaxation[c] == pytest.approx(gap, rel=1e-4, abs=1e-7)
        assert one.binding == three.binding
        for key, amount in three.portfolio.items():
            assert one.portfolio[key] == pytest.approx(amount, rel=1e-4, abs=1e-3), key
    assert statuses == {"optimal", "infeasible"}


def test_a_small_penalty_never_hides_a_passing_portfolio(monkeypatch) -> None:  # noqa: ANN001
    # with a penalty so small that relaxing pays, the penalised solve's relaxation is within
    # RESOLUTION: there the criteria-hard solve decides, and a passing portfolio is found
    p = _heat_park()
    hard = lp.solve(p, three=True)
    assert hard.status == "optimal"
    monkeypatch.setattr(lp, "RESOLUTION", 1e9)
    cheap = lp.solve(p)
    assert cheap.status == "optimal"
    assert cheap.annual_cost_cny == pytest.approx(hard.annual_cost_cny, rel=1e-6)
    assert not any(cheap.relaxation.values())


def test_runs_are_reused_only_when_nothing_they_read_changed(small, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    # a second pathway after a change of a price reuses the runs; a change of the scenario,
    # of a file it reads or of the code makes a new run
    from twin import runner

    made = []

    def fake(s, out):  # noqa: ANN001, ANN202
        path = runner.output_path(s, out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("run", encoding="utf-8")
        made.append(path.name)
        return runner.RunResult(path=path, kpis={}, wall_s=0.0, n_steps=0)

    monkeypatch.setattr(prove.runner, "run", fake)
    a = prove.apply(small, None, {}, "pathway-baseline")[0]
    assert prove.cached_run(a, tmp_path) == prove.cached_run(a, tmp_path)
    assert made == ["pathway-baseline.h5"]
    prove.cached_run(a.with_days(1), tmp_path)  # another period
    assert len(made) == 2
    read = tmp_path / "profile.csv"  # a file the scenario reads, changed
    read.write_text("1", encoding="utf-8")
    key = prove.run_key(dataclasses.replace(a, path=read))
    read.write_text("22", encoding="utf-8")
    assert prove.run_key(dataclasses.replace(a, path=read)) != key
    prove._code_digest.cache_clear()
    monkeypatch.setattr(prove, "SOURCES", ("twin/studies",))  # other code
    prove.cached_run(a.with_days(1), tmp_path)
    assert len(made) == 3
    prove._code_digest.cache_clear()


def test_electric_boilers_run_on_the_parks_spare_power() -> None:
    # with the park's spare power (generation less its other loads) the electric boilers
    # take it first, after the circulation pumps: to the demand, then into the store; the
    # heat pumps the rest; without spare power the store is drawn before the heat pumps
    import datetime as dt

    from twin.core.rng import generator
    from twin.models.loads import HeatSupply, HeatSupplySpec
    from twin.models.loads.calendar import ParkCalendar

    spec = HeatSupplySpec(name="heat", q_design_mw=100.0, hp_q_max_mw=10.0, noise_pct=0.0,
                          eboiler_mw=30.0, store_mwh=100.0)
    supply = HeatSupply(spec, ParkCalendar(years=range(2026, 2028)), generator(1, "heat"))
    from twin import data

    heat = data.load("heat")
    eff, loss = float(heat["eboiler_eff"]), float(heat["store_loss_per_day"])
    t0 = int(dt.datetime(2027, 1, 15, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp())
    o = supply.step(t0, 3600, -10.0, spare_mw=20.0)  # a little spare power, a cold hour
    assert o.p_eboiler_mw == pytest.approx(20.0 - o.p_pump_mw, rel=1e-12)
    assert o.q_eboiler_mw == pytest.approx(o.p_eboiler_mw * eff, rel=1e-12)  # all to demand
    assert o.q_hp_mw == pytest.approx(10.0)  # the heat pumps, then gas, for the rest
    assert o.e_store_mwh == 0.0
    o = supply.step(t0 + 3600, 3600, 10.0, spare_mw=500.0)  # a mild, windy hour
    assert o.p_eboiler_mw == pytest.approx(30.0)  # at most their rating
    assert o.q_hp_mw == 0.0  # the boilers cover the demand
    filled = o.e_store_mwh
    assert filled == pytest.approx(30.0 * eff - o.q_eboiler_mw, rel=1e-12)
    o = supply.step(t0 + 7200, 3600, -10.0, spare_mw=-5.0)  # calm: the store first
    assert o.p_eboiler_mw == 0.0
    assert o.q_store_mw == pytest.approx(filled * (1 - loss) ** (1 / 24), rel=1e-12)
    assert o.q_store_mw + o.q_hp_mw + o.q_boiler_mw == pytest.approx(o.q_heat_mw, rel=1e-12)
    assert o.q_hp_mw == pytest.approx(10.0)  # then the heat pumps, then gas


def test_a_park_with_electric_boilers_steps_alike_in_blocks(small, tmp_path) -> None:  # noqa: ANN001
    # the boilers read the park's generation: block stepping gives the steps' answer, and
    # the boilers never draw more than the generation less the other loads
    from twin import runner
    from twin.core.results import open_run

    built = prove.apply(small, None, {}, "boilers", 1.0, (
        (("heat_supply", 0, "eboiler_mw"), 30.0), (("heat_supply", 0, "store_mwh"), 60.0)))[0]
    series = []
    for steps in (1, None):
        path = runner.run(built, tmp_path / f"b{steps}", block_steps=steps).path
        with open_run(path) as run:
            get = {a: np.asarray(run.series("heat", a)) for a in ("p_eboiler_mw", "p_mw",
                                                                   "q_store_mw", "p_pump_mw")}
            gen = sum(np.asarray(run.series(e, "p_mw")) for e in ("wind", "pv"))
            other = np.asarray(run.series("plant", "p_mw"))
        series.append(get)
    assert series[0]["p_eboiler_mw"].max() > 0
    for a in series[0]:
        np.testing.assert_allclose(series[1][a], series[0][a], rtol=0, atol=1e-9)
    heat = series[0]
    spare = gen - other - heat["p_pump_mw"]  # the boilers first, after the circulation pumps
    assert np.all(heat["p_eboiler_mw"] <= np.maximum(spare, 0.0) + 1e-9)
    assert np.all(heat["p_eboiler_mw"][spare <= 0] == 0.0)


def test_twin_check_bounds_the_heat_technologies(tmp_path, capsys) -> None:  # noqa: ANN001
    # each new heat field has a plausible range (warned, with its source) and a limit
    # beyond any real asset (refused in one line, exit code 2)
    path = tmp_path / "heat.yaml"
    fields = {"ashp_q_max_mw": (5000, 1e6), "waste_heat_q_max_mw": (900, 1e6),
              "eboiler_mw": (5000, 1e6), "store_mwh": (50000, 2e6)}
    for name, (odd, absurd) in fields.items():
        heat = "heat_supply: [{name: heat, q_design_mw: 10, hp_q_max_mw: 3"
        path.write_text(SMALL.replace(heat, f"{heat}, {name}: {odd}"), encoding="utf-8")
        assert main(["check", str(path)]) == 0
        err = capsys.readouterr().err
        assert f"heat_supply[0].{name}: {odd:g}" in err
        assert "outside the plausible range" in err
        assert "illustrative" in err
        path.write_text(SMALL.replace(heat, f"{heat}, {name}: {absurd:.1e}"), encoding="utf-8")
        assert main(["check", str(path)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        assert f"heat.yaml:10: heat_supply[0].{name}" in err
        assert "beyond any real asset" in err


@pytest.mark.parametrize("three", [False, True])
def test_the_storage_never_charges_and_discharges_at_once(three, monkeypatch) -> None:  # noqa: ANN001
    # the park's own battery costs nothing and the 绿电直连 limit binds: an LP free to charge
    # and discharge in the same hour burns wind in the losses (energy use, not export); one
    # battery cannot, nor does the run's controller, so neither may the LP's answer
    p = _profiles(storage_mw=5.0, storage_mwh=20.0)
    s = lp.solve(p, only=("wind",), three=three)
    assert s.flows["both_mwh"] <= HOURS * lp.BOTH_TOL
    ch, dis = s.hourly[0]["ch"], s.hourly[0]["dis"]
    assert float(np.minimum(ch, dis).max()) <= lp.BOTH_TOL
    assert dis.sum() > 1.0  # the battery works, one direction at a time
    # the same LP allowed to burn does, and no answer without it relaxes the criteria less
    monkeypatch.setattr(lp, "BOTH_TOL", float("inf"))
    free = lp.solve(p, only=("wind",), three=three)
    assert free.flows["both_mwh"] > 1.0
    assert sum(s.relaxation.values()) >= sum(free.relaxation.values()) - 1e-9


def test_the_rule_follows_a_storage_schedule_where_it_can(small, tmp_path) -> None:  # noqa: ANN001
    # hours 0-8 follow the schedule (charge, idle, discharge; one the battery cannot take
    # whole is clipped to its rating); the hours after it are the rule's own
    from twin import runner
    from twin.core.results import open_run

    schedule = (2.0, 2.0, 2.0, 0.0, 0.0, -1.5, -1.5, -1.5, 9.0)
    day = small.with_days(1)

    def storage(s):  # noqa: ANN001, ANN202
        with open_run(runner.run(s, tmp_path / str(len(s.controller.storage_schedule_mw))
                                 ).path) as run:
            return np.asarray(run.series("bess", "p_mw"))

    rule = storage(day)
    ruled = dataclasses.replace(day.controller, storage_schedule_mw=schedule)
    followed = storage(dataclasses.replace(day, controller=ruled))
    cap = small.batteries[0].p_max_mw
    np.testing.assert_allclose(followed[:9], np.clip(schedule, -cap, cap), atol=1e-9)
    assert np.abs(rule[:9] - followed[:9]).max() > 1.0
    # after the schedule the rule charges where the park has a surplus, discharges where not
    assert np.any(followed[9:] != 0.0)
    # the electric boilers leave the scheduled charge out of the park's spare power
    boiled = prove.apply(small, None, {}, "boilers", 1.0, (
        (("heat_supply", 0, "eboiler_mw"), 30.0), (("heat_supply", 0, "store_mwh"), 60.0)))[0]
    charge = dataclasses.replace(boiled.controller, storage_schedule_mw=(cap,) * 24)
    with open_run(runner.run(dataclasses.replace(boiled, controller=charge),
                             tmp_path / "boilers").path) as run:
        boilers = np.asarray(run.series("heat", "p_eboiler_mw"))
        spare = (sum(np.asarray(run.series(e, "p_mw")) for e in ("wind", "pv"))
                 - np.asarray(run.series("plant", "p_mw"))
                 - np.asarray(run.series("heat", "p_pump_mw")))
    assert boilers.max() > 0
    assert np.all(boilers <= np.maximum(spare - cap, 0.0) + 1e-9)
    assert np.any(boilers < np.minimum(np.maximum(spare, 0.0), 30.0) - 1.0)  # held back
    # and their hourly most (the LP's boilers), all the heat supplies together

    def boiling(**schedules):  # noqa: ANN003, ANN202
        c = dataclasses.replace(boiled.controller, **schedules)
        name = "most" if schedules else "free"
        with open_run(runner.run(dataclasses.replace(boiled, controller=c),
                                 tmp_path / name).path) as run:
            return (np.asarray(run.series("heat", "p_eboiler_mw")),
                    np.asarray(run.series("heat", "p_pump_mw")))

    most = 4.0
    (free, _), (capped, pump) = boiling(), boiling(eboiler_schedule_mw=(most,) * 12)
    assert free[:12].max() > most + 1.0
    # (within the spare power less the circulation pumps, as the boilers always are)
    np.testing.assert_allclose(capped[:12], np.minimum(free[:12], most - pump[:12]), atol=1e-6)
