"""The multi-year appraisal from co-simulated years: the degraded year's energy and bill follow
the degradation, and the cash flows take them (interpolating between sampled years)."""

from __future__ import annotations

import html

import numpy as np
import pytest

from tests.conftest import ROOT
from twin import scenario
from twin.accounting.economics import hourly_prices, tariff_note
from twin.apps import appraise

SMALL = ROOT / "tests" / "scenarios" / "small.yaml"
LATE = 16  # PV aged 15 years, the battery replaced the year before: only PV differs


@pytest.fixture(scope="module")
def years(tmp_path_factory):
    s = scenario.load(SMALL).with_days(1)
    text, first, paths = appraise.report(s, [LATE], tmp_path_factory.mktemp("years"))
    return s, text, first, appraise.judged(paths), paths


def test_a_degraded_year_loses_the_pv_energy_the_degradation_says(years):
    s, _, _, by_year, _ = years
    new, old = by_year[1], by_year[LATE]
    pv_new = new.flows.total(new.flows.pv_mwh).sum()
    pv_old = old.flows.total(old.flows.pv_mwh).sum()
    assert pv_new > 0
    assert pv_old / pv_new == pytest.approx(appraise.left_in_year("pv", LATE), rel=2e-3)
    # the battery was replaced: the same capacity in both; years before, it had faded
    assert appraise.degraded(s, LATE).batteries[0].e_max_mwh == s.batteries[0].e_max_mwh
    assert appraise.degraded(s, 10).batteries[0].e_max_mwh == pytest.approx(
        s.batteries[0].e_max_mwh * appraise.left_in_year("battery", 10))
    # the energy PV no longer gives is bought (or not sold) at that hour's prices
    lost = new.flows.total(new.flows.pv_mwh) - old.flows.total(old.flows.pv_mwh)
    t = new.tariff
    price = hourly_prices(t, new.bill.hour, new.bill.month)
    low = float(np.sum(lost * np.minimum(price, t.export_price_cny_per_mwh)))
    high = float(np.sum(lost * price))
    more = (old.bill.annual_cny() - new.bill.annual_cny()) * new.years
    assert 0.9 * low <= more <= 1.1 * high
    assert more > 0


def test_the_cash_flows_take_the_sampled_years_and_interpolate_between(years):
    _, text, first, by_year, _ = years
    new, old = by_year[1], by_year[LATE]
    cf = new.appraise(years={LATE: old})
    f = cf.finance
    grid = new.grid_only.yearly_cny(f)
    esc = (1.0 + f.escalation_energy) ** np.arange(f.years)
    bills = {1: new.bill.annual_cny(), LATE: old.bill.annual_cny()}
    for y, bill in bills.items():
        assert cf.energy[y] == pytest.approx(grid[y - 1] - bill * esc[y - 1])
    mid = 8
    w = (mid - 1) / (LATE - 1)
    assert cf.energy[mid] == pytest.approx(
        grid[mid - 1] - ((1 - w) * bills[1] + w * bills[LATE]) * esc[mid - 1])
    assert cf.energy[f.years] == pytest.approx(grid[-1] - bills[LATE] * esc[-1])
    assert cf.simulated == (1, LATE)
    # the arithmetic appraisal from year 1 alone differs from the co-simulated one
    assert cf.npv_cny != pytest.approx(new.appraise().npv_cny, rel=1e-9)
    # the report says which years were simulated and which interpolated, and uses them
    said = f"co-simulated years 1, {LATE}"
    assert said in text
    assert said in first
    assert f"interpolated 2–{LATE - 1}, {LATE + 1}–{f.years}" in first
    assert f"NPV {cf.npv_cny / 1e6:,.1f} M CNY" in first


def test_appraise_refuses_years_outside_the_period(capsys):
    from twin.apps.cli import main

    assert main(["appraise", str(SMALL), "--days", "1", "--years", "0,30"]) == 2
    assert main(["appraise", str(SMALL), "--years", "ten"]) == 2
    err = capsys.readouterr().err
    assert "1..20" in err
    assert "1,10,20" in err
    assert "Traceback" not in err


def test_default_years_straddle_each_replacement():
    # the battery (15 years) is replaced within 20: its last faded year and its new one
    assert appraise.default_years(20) == [1, 15, 16, 20]
    assert appraise.default_years(30) == [1, 15, 16, 25, 26, 30]


def test_every_report_using_the_tariff_says_it_is_illustrative(years):
    from tests.test_sweep import _study, _table
    from twin.studies import report as study_report
    from twin.studies import sweep

    _, text, first, by_year, _ = years
    note = tariff_note(by_year[1].tariff.name)
    assert "illustrative" in note
    assert "1093" in note  # the national rule it follows
    assert note in first
    assert "the tariff are illustrative" in text
    df, meta = _table(passing=True)
    meta["tariff"] = sweep.meta(_study())["tariff"]
    assert "illustrative" in meta["tariff"]
    assert html.escape(meta["tariff"], quote=False) in study_report.study_report(df, meta)


def test_report_takes_the_run_files_of_later_years(years, tmp_path, capsys):
    from twin.apps.cli import main

    _, _, first, _, paths = years
    out = tmp_path / "r.html"
    assert main(["report", str(paths[1]), "--years", f"{LATE}={paths[LATE]}", "-o",
                 str(out)]) == 0
    printed = capsys.readouterr().out
    npv = next(line for line in first.splitlines() if "NPV" in line)
    assert npv in printed  # the same cash flows as twin appraise's
    assert f"co-simulated years 1, {LATE}" in out.read_text(encoding="utf-8")
    assert main(["report", str(paths[1]), "--years", f"{LATE}"]) == 2
    assert main(["report", str(paths[1]), "--years", f"30={paths[LATE]}"]) == 2
    err = capsys.readouterr().err
    assert "YEAR=RUN.h5" in err
    assert "1..20" in err
