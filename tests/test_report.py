"""HTML reports: self-contained, open in a real browser without errors, show the run."""

from __future__ import annotations

import html
import re
import subprocess
import sys

import pytest

from tests.browser import page
from tests.conftest import SCENARIOS
from twin import data, runner, scenario
from twin.accounting.assessment import assess
from twin.accounting.economics import tariff_note
from twin.apps import report


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    s = scenario.load(SCENARIOS / "park.yaml").with_days(2)
    a = runner.run(s, out_dir=out / "a")
    b = runner.run(s.with_days(1), out_dir=out / "b")
    return a.path, b.path


def test_report_is_self_contained(runs, tmp_path):
    text = report.run_report(runs[0])
    assert "<script" not in text  # no scripts at all, so nothing to fetch either
    assert not re.search(r"(src|href)=\"https?://", text)
    assert text.count("<svg") >= 4  # energy, storage, voltages, loadings
    assert "e_import_mwh" in text


def test_report_shows_criteria_as_stored(runs):
    """The criteria table shows the same core indicator the run stored as a KPI."""
    from twin.core.results import open_run

    text = report.run_report(runs[0])
    with open_run(runs[0]) as run:
        core = run.kpis()["criterion_core_carbon_intensity"].value
        cbam = run.kpis()["cbam_steel-parts_eur"].value
    assert "National zero-carbon park criteria" in text
    assert "单位能耗碳排放" in text
    assert f">{report.fmt(core)}<" in text
    assert cbam > 0  # steel parts are a CBAM good
    assert "not a CBAM good" in text  # vehicles are not


def test_report_opens_in_chromium_without_errors(runs, tmp_path):
    path = report.write(report.run_report(runs[0]), tmp_path / "report.html")
    with page() as (pg, errors):
        pg.goto(path.as_uri())
        assert "run report" in pg.title()
        assert pg.locator("svg").count() >= 4
        assert pg.locator("table").count() >= 1
        assert pg.get_by_role("heading", name="Grid").count() == 1
        pg.screenshot(path=str(tmp_path / "report.png"))
    assert errors == []


def test_cli_report_and_compare(runs, tmp_path):
    out = tmp_path / "r.html"
    proc = subprocess.run([sys.executable, "-m", "twin", "report", str(runs[0]), "-o",
                           str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 10_000
    cmp = tmp_path / "c.html"
    args = [sys.executable, "-m", "twin", "compare", str(runs[0]), str(runs[1]), "-o", str(cmp)]
    # a 2-day run against a 1-day run: refused in one line, unless told to annualise
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "different periods" in proc.stderr
    assert "2027-01-01 + 2 days" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not cmp.exists()
    proc = subprocess.run([*args, "--annualise"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "e_import_mwh" in proc.stdout
    assert "a/park: 2027-01-01 + 2 days" in proc.stdout  # each run's period
    assert "b/park: 2027-01-01 + 1 days" in proc.stdout
    note = tariff_note("liaoning-illustrative")
    assert note in proc.stdout  # the tariff is said to be illustrative, here and in the page
    assert html.escape(note, quote=False) in cmp.read_text(encoding="utf-8")
    with page() as (pg, errors):
        pg.goto(cmp.as_uri())
        assert pg.locator("table tr").count() > 10
        assert pg.get_by_text("--annualise").count() >= 1  # the report says it scaled
    assert errors == []


def test_missing_run_file_is_one_line_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "twin", "report", str(tmp_path / "x.h5")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "no such run file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_compare_appraises_against_the_first_run(runs):
    from twin.core.results import open_run

    with open_run(runs[0]) as a, open_run(runs[1]) as b:
        assert report.check_periods([a, a], ["a", "a"], annualise=False) == ""
        with pytest.raises(ValueError, match="different periods"):
            report.check_periods([a, b], ["a", "b"], annualise=False)
        (c,) = report.appraisal([a, b])
        base, cand = assess(a), assess(b)
    # same park, same assets: no extra investment, no replacement; the saving is the
    # difference of the yearly bills, each run's energy and gas scaled to a year and its
    # monthly demand charge counted twelve times (one January in each)
    assert c.capex[0] == 0
    assert not c.replacement.any()
    price = float(data.load("costs")["gas_price"])
    year = [(x.cost.total_cny - x.cost.demand_cny + x.flows.gas_total_nm3.sum() * price)
            * 365 / days + x.cost.demand_cny * 12 for x, days in ((base, 2), (cand, 1))]
    assert c.energy[1] == pytest.approx(year[0] - year[1], rel=1e-6)


def test_cli_footprint(runs):
    proc = subprocess.run([sys.executable, "-m", "twin", "footprint", str(runs[0]),
                           "steel-parts"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "kgCO2/unit" in proc.stdout
    assert "CBAM" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "twin", "footprint", str(runs[0]),
                           "nothing"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "no product" in proc.stderr


def test_run_file_traces_the_accounts_to_the_hour(runs):
    import numpy as np

    from twin.core.results import open_run

    with open_run(runs[0]) as run:
        hourly = run.array("carbon/hourly")
        certificates = run.array("carbon/certificates")
        kpis = run.kpis()
        wind = sum(run.series(e, "p_mw").sum() for e in run.entities("wind")) * 0.25
    assert len(hourly) == 48
    assert hourly["scope2_location_t"].sum() == pytest.approx(
        kpis["co2_scope2_location_t"].value, rel=1e-9)
    # every hour of direct-line wind is either consumed in the park or exported
    np.testing.assert_allclose(
        hourly["direct_line_consumed_mwh"].sum() + hourly["direct_line_exported_mwh"].sum(),
        wind, rtol=1e-9)
    assert set(certificates["technology"].astype(str)) <= {"wind", "solar"}
    np.testing.assert_array_equal(certificates["wh"], np.round(certificates["mwh"] * 1e6))


GLYPHS_JS = """(font) => {
  const draw = (ch) => {
    const c = document.createElement('canvas'); c.width = 40; c.height = 40;
    const g = c.getContext('2d'); g.font = '32px ' + font; g.fillText(ch, 2, 34);
    return Array.from(g.getImageData(0, 0, 40, 40).data).join(',');
  };
  return [draw('达'), draw('标'), draw('\\u{10FFFD}')];
}"""

OVERLAPS_JS = """(sel) => {
  const kids = Array.from(document.querySelector(sel).children)
    .filter(e => e.tagName !== 'STYLE').map(e => e.getBoundingClientRect());
  const bad = [];
  for (let i = 1; i < kids.length; i++)
    if (kids[i].top < kids[i - 1].bottom - 0.5) bad.push(i);
  const cells = Array.from(document.querySelectorAll(sel + ' td, ' + sel + ' th'))
    .filter(td => td.scrollWidth > td.clientWidth + 1).map(td => td.textContent);
  return {stacked: bad, overflowing: cells, height: document.querySelector(sel)
    .getBoundingClientRect().height};
}"""


def test_committee_report_first_page_in_chromium(runs, tmp_path):
    """The first page: verdicts as judged, cost and payback as appraised, illustrative costs
    marked; in Chromium nothing overlaps, Chinese glyphs are drawn, it fits an A4 page."""
    from twin.core.results import open_run

    with open_run(runs[0]) as run:
        a = assess(run)
    cf = a.appraise()
    text = report.run_report(runs[0], a)
    missed = [c for c in a.criteria if c.met is False]
    assert f"{len(missed)} criteria not met" in text
    assert f">{report.fmt(cf.npv_cny / 1e6)}<" in text  # NPV of the measures, M CNY
    assert f">{report.fmt(a.capex_cny / 1e6)}<" in text
    assert "illustrative" in text  # every unit cost is labelled illustrative in costs.yaml
    assert "GB/T 2589" in text
    # the method page: the core indicator at the gas coefficient's reference value and at the
    # grid factor of the other published year, by hand
    em = a.emissions
    gas = a.flows.gas_total_nm3.sum()
    at_ref = em.total_location_t / (em.energy_total_tce - gas * (1.33 - 1.2143) / 1000)
    assert f"core {report.fmt(at_ref)} at 1.2143" in text
    at_2022 = (em.scope1_total_t + em.scope2_location_total_t * 0.5564 / 0.5122) / (
        em.energy_total_tce)
    assert f"–{report.fmt(at_2022)}<" in text
    path = report.write(text, tmp_path / "committee.html")
    with page() as (pg, errors):
        pg.goto(path.as_uri())
        pg.locator("section.first").screenshot(path=str(tmp_path / "first.png"))
        assert (tmp_path / "first.png").stat().st_size > 20_000
        zh, zh2, missing = pg.evaluate(GLYPHS_JS, pg.eval_on_selector(
            ".zh", "e => getComputedStyle(e).fontFamily"))
        assert zh != zh2  # two different glyphs, not two tofu boxes
        assert zh != missing
        layout = pg.evaluate(OVERLAPS_JS, "section.first")
        assert layout["stacked"] == []
        assert layout["overflowing"] == []
        pg.emulate_media(media="print")
        # A4 less 12 mm margins at 96 px/in: the first page fits one printed page
        assert pg.evaluate(OVERLAPS_JS, "section.first")["height"] <= 273 / 25.4 * 96
        pdf = pg.pdf(format="A4")
    assert pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages") >= 3
    assert errors == []


def test_bill_and_capex_of_a_recorded_run(runs):
    """The demand charge on the month's highest 15-minute mean import; capex of every asset
    of the scenario: the direct lines, substations and every charger."""
    import numpy as np

    from twin.accounting import economics
    from twin.core.results import open_run

    s = scenario.load(SCENARIOS / "park.yaml")
    with open_run(runs[0]) as run:
        a = assess(run)
        p = run.series("grid", "p_import_mw")  # 15-minute steps: the meter's means
        kpi = run.kpis()["demand_charge_cny"].value
    t = economics.tariff(s.economics.tariff)
    assert kpi == pytest.approx(float(np.max(p)) * 1000 * t.demand_charge_cny_per_kw_month,
                                rel=1e-9)  # two January days: one month
    hourly = p[: p.size // 4 * 4].reshape(-1, 4).mean(axis=1).max()
    assert kpi > hourly * 1000 * t.demand_charge_cny_per_kw_month  # hourly means are lower
    by_kind: dict[str, float] = {}
    for i in a.investments:
        by_kind[i.kind] = by_kind.get(i.kind, 0.0) + i.size
        assert i.source
    assert by_kind["direct_line_220kv"] == pytest.approx(
        len(s.wind_farms) * s.grid.layout.direct_line_km)
    assert by_kind["substation_220kv"] > 0
    assert by_kind["substation_66kv"] > 0
    assert by_kind["heat_pump"] > 0
    assert by_kind["gas_boiler"] > 0
    ac = [h for h in s.ev_hubs if h.kind == "workplace"]
    assert by_kind["ev_charger_ac"] == sum(h.n_chargers for h in ac)
    assert a.capex_cny == pytest.approx(sum(i.capex_cny for i in a.investments))
