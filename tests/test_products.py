"""Product footprints (allocation closes on enterprise totals) and EU CBAM exposure."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.accounting.carbon import products
from twin.accounting.carbon.products import ProductSpec
from twin.core import specload

REL = 1e-12
ENTERPRISE = {"enterprise_energy_mwh": 12_000.0, "enterprise_location_t": 6_000.0,
              "enterprise_market_t": 1_500.0, "enterprise_scope1_t": 800.0}
RULES = products.cbam_rules()


def _fp(p: ProductSpec, period_years: float = 1.0, **totals: float) -> products.Footprint:
    return products.footprint(p, **{**ENTERPRISE, **totals}, period_years=period_years)


def _steel(**kw) -> ProductSpec:
    return ProductSpec(**{"name": "part", "enterprise": "forge", "units_per_year": 20_000.0,
                          "unit": "part", "cbam_sector": "iron_steel", "mass_t_per_unit": 0.05,
                          **kw})


def test_footprint_per_unit_times_units_equals_enterprise_totals():
    car = ProductSpec(name="car", enterprise="oem", units_per_year=260_000.0, unit="vehicle")
    fp = _fp(car, period_years=0.25)
    assert fp.period_units == pytest.approx(65_000.0)
    assert fp.energy_mwh_per_unit * fp.period_units == pytest.approx(12_000.0, rel=REL)
    assert fp.location_kg_per_unit * fp.period_units == pytest.approx(6_000e3, rel=REL)
    assert fp.market_kg_per_unit * fp.period_units == pytest.approx(1_500e3, rel=REL)
    assert fp.scope1_kg_per_unit * fp.period_units == pytest.approx(800e3, rel=REL)
    assert fp.total_location_kg_per_unit == pytest.approx(
        fp.scope1_kg_per_unit + fp.location_kg_per_unit)
    counted = products.footprint(car, **ENTERPRISE, period_years=0.25, units_in_period=50_000)
    assert counted.period_units == 50_000
    assert counted.energy_mwh_per_unit * 50_000 == pytest.approx(12_000.0, rel=REL)


def test_shared_enterprise_allocates_by_share_and_closes():
    a = ProductSpec(name="a", enterprise="pcb", units_per_year=1e6, unit="board", share=0.7)
    b = ProductSpec(name="b", enterprise="pcb", units_per_year=2e5, unit="board", share=0.3)
    assert products.check_shares([a, b]) == {"pcb": pytest.approx(1.0)}
    total = sum(_fp(p).location_kg_per_unit * _fp(p).period_units for p in (a, b))
    assert total == pytest.approx(6_000e3, rel=REL)
    with pytest.raises(ValueError, match="pcb"):
        products.check_shares([a, b, a])


def test_process_emissions_are_added_per_unit():
    p = _steel(direct_t_per_unit=0.02)
    fp = _fp(p)
    assert fp.process_kg_per_unit == pytest.approx(20.0)
    assert fp.total_market_kg_per_unit == pytest.approx(
        fp.scope1_kg_per_unit + 20.0 + fp.market_kg_per_unit)


def test_non_cbam_product_has_no_exposure():
    car = ProductSpec(name="car", enterprise="oem", units_per_year=1000.0)
    assert products.cbam_exposure(_fp(car), car, 2027, 500) is None


def test_steel_counts_no_indirect_emissions_while_cement_does():
    steel = _steel(direct_t_per_unit=0.01)
    cement = _steel(name="cem", cbam_sector="cement", unit="t", mass_t_per_unit=1.0)
    fs, fc = _fp(steel), _fp(cement)
    es = products.cbam_exposure(fs, steel, 2030, 10_000)
    ec = products.cbam_exposure(fc, cement, 2030, 10_000)
    assert es.embedded_indirect_t == 0.0
    assert not es.indirect_counted
    assert es.embedded_direct_t == pytest.approx(
        (fs.scope1_kg_per_unit + fs.process_kg_per_unit) / 1000 * 10_000, rel=REL)
    assert ec.indirect_counted
    assert ec.embedded_indirect_t == pytest.approx(fc.location_kg_per_unit / 1000 * 10_000, rel=REL)
    # market-based factor (direct line, PPA) lowers the indirect part
    em = products.cbam_exposure(fc, cement, 2030, 10_000, indirect_basis="market")
    assert em.embedded_indirect_t < ec.embedded_indirect_t
    # default values: cement carries a default indirect part, steel none
    dc = products.cbam_exposure(fc, cement, 2030, 10_000, use_default_values=True)
    ds = products.cbam_exposure(fs, steel, 2030, 10_000, use_default_values=True)
    assert dc.embedded_indirect_t > 0
    assert ds.embedded_indirect_t == 0.0


def test_default_value_markups_by_year():
    p = _steel()
    fp = _fp(p)
    d_dir = RULES.default_t_per_t["iron_steel"][0]
    base_t = d_dir * p.mass_t_per_unit * 1000
    for year, markup in ((2026, 0.10), (2027, 0.20), (2028, 0.30), (2031, 0.30)):
        e = products.cbam_exposure(fp, p, year, 1000, use_default_values=True)
        assert e.markup == pytest.approx(markup)
        assert e.embedded_direct_t == pytest.approx(base_t * (1 + markup), rel=REL)
    actual = products.cbam_exposure(fp, p, 2028, 1000)
    assert actual.markup == 0.0
    assert not actual.uses_default_values
    own = products.cbam_exposure(fp, _steel(default_direct_t_per_t=6.12), 2027, 1000,
                                 use_default_values=True)
    assert own.embedded_direct_t == pytest.approx(6.12 * 0.05 * 1000 * 1.2, rel=REL)
    fert = _steel(name="urea", cbam_sector="fertilisers", unit="t", mass_t_per_unit=1.0)
    ef = products.cbam_exposure(_fp(fert), fert, 2028, 100, use_default_values=True)
    assert ef.markup < 0.1  # fertilisers: a lower mark-up than 30 %


def test_certificates_grow_with_the_free_allocation_phase_out():
    p = _steel()
    fp = _fp(p)
    schedule = {2025: 0.0, 2026: 0.025, 2027: 0.05, 2028: 0.10, 2029: 0.225, 2030: 0.485,
                2031: 0.61, 2032: 0.735, 2033: 0.86, 2034: 1.0, 2040: 1.0}
    last = -1.0
    for year, share in schedule.items():
        e = products.cbam_exposure(fp, p, year, 5000, eua_eur_per_t=80.0)
        assert e.certificates_t == pytest.approx(e.embedded_t * share, rel=1e-9, abs=1e-12)
        assert e.cbam_factor == pytest.approx(1 - share)
        assert e.certificates_t >= last
        last = e.certificates_t
        assert e.cost_eur == pytest.approx(e.certificates_t * 80.0, rel=REL)
        assert e.cost_cny == pytest.approx(e.cost_eur * RULES.eur_cny, rel=REL)


def test_benchmark_deduction_replaces_proportional_phase_out():
    p = _steel(fa_benchmark_t_per_t=1.0)
    e = products.cbam_exposure(_fp(p), p, 2030, 5000, use_default_values=True)
    expected = e.embedded_t - 1.0 * e.mass_t * 0.515
    assert e.certificates_t == pytest.approx(expected, rel=1e-9)
    clean = _steel(fa_benchmark_t_per_t=100.0)
    assert products.cbam_exposure(_fp(clean), clean, 2026, 10).certificates_t == 0.0


def test_eua_price_follows_the_reference_path():
    assert RULES.eua_eur_per_t(2025) == pytest.approx(75.0)
    assert 85.0 <= RULES.eua_eur_per_t(2030) <= 87.0
    assert RULES.eua_eur_per_t(2025) < RULES.eua_eur_per_t(2028) < RULES.eua_eur_per_t(2030)
    e = products.cbam_exposure(_fp(_steel()), _steel(), 2028, 2000)
    assert e.eua_eur_per_t == pytest.approx(RULES.eua_eur_per_t(2028))


def test_de_minimis_flag_is_the_exported_mass_against_50_t():
    p = _steel()  # 0.05 t a part: 1000 parts = 50 t
    fp = _fp(p)
    assert products.cbam_exposure(fp, p, 2027, 980).below_de_minimis
    assert products.cbam_exposure(fp, p, 2027, 1000).below_de_minimis
    assert not products.cbam_exposure(fp, p, 2027, 1020).below_de_minimis
    h2 = _steel(name="h2", cbam_sector="hydrogen", unit="t", mass_t_per_unit=1.0)
    assert not products.cbam_exposure(_fp(h2), h2, 2027, 1).below_de_minimis


def test_product_spec_from_yaml_values():
    spec = specload.build(ProductSpec, {"name": "pcb", "enterprise": "smt", "unit": "board",
                                        "units_per_year": 1e6, "cbam_sector": None})
    assert spec.cbam_sector is None
    assert spec.share == 1.0
    with pytest.raises(specload.SpecError, match="cbam_sector"):
        specload.build(ProductSpec, {"name": "x", "enterprise": "e", "units_per_year": 1,
                                     "cbam_sector": "textiles"})
    with pytest.raises(ValueError, match="sector"):
        ProductSpec(name="x", enterprise="e", units_per_year=1.0, cbam_sector="textiles")
    with pytest.raises(ValueError, match="period_years"):
        products.footprint(spec, **ENTERPRISE, period_years=0.0)


@settings(max_examples=100, deadline=None)
@given(
    units=st.floats(1.0, 1e7),
    share=st.floats(0.01, 1.0),
    years=st.floats(0.01, 3.0),
    energy=st.floats(0, 1e6),
    loc=st.floats(0, 1e6),
    mkt=st.floats(0, 1e6),
    s1=st.floats(0, 1e6),
)
def test_allocation_closes_for_any_inputs(units, share, years, energy, loc, mkt, s1):
    p = ProductSpec(name="p", enterprise="e", units_per_year=units, share=share)
    fp = products.footprint(p, energy, loc, mkt, s1, years)
    n = fp.period_units
    assert fp.energy_mwh_per_unit * n == pytest.approx(share * energy, rel=1e-9, abs=1e-9)
    assert fp.location_kg_per_unit * n == pytest.approx(share * loc * 1000, rel=1e-9, abs=1e-6)
    assert fp.market_kg_per_unit * n == pytest.approx(share * mkt * 1000, rel=1e-9, abs=1e-6)
    assert fp.scope1_kg_per_unit * n == pytest.approx(share * s1 * 1000, rel=1e-9, abs=1e-6)
    assert min(fp.location_kg_per_unit, fp.market_kg_per_unit, fp.scope1_kg_per_unit) >= 0
