"""Product carbon footprints and EU CBAM exposure of goods made in the park.

Footprint: all of an enterprise's energy and emissions over a period are allocated to its
product(s) by units made (a product with ``share`` < 1 takes that fraction of its enterprise)::

    units            = units_per_year * period_years        (or the counted units)
    x_per_unit       = share * enterprise_x / units

for energy (MWh), Scope 1 and Scope 2 location- and market-based emissions (t -> kg per unit).
Process emissions not seen in the energy flows (``direct_t_per_unit``) are added as their own
field.

CBAM (Regulation (EU) 2023/956, definitive period from 2026)::

    embedded_direct   = (scope1 + process) per unit * units exported         (actual values)
                      = default_direct * mass * units * (1 + mark-up(year))   (default values)
    embedded_indirect = electricity emissions, only for sectors that count them (cement,
                        fertilisers): location-based Scope 2 per unit (or market-based, for a
                        direct line or PPA the rules accept), or the default value x mark-up
    certificates      = embedded * (1 - CBAM factor(year))          (free-allocation phase-out)
    cost              = certificates * EUA price

The CBAM factor is the regulation's: the share of free allocation EU producers keep (97.5 % in
2026 ... 0 % from 2034), so the share of embedded emissions that needs certificates rises from
2.5 % to 100 %. With ``fa_benchmark_t_per_t`` on the product the deduction follows the
benchmark instead: ``certificates = max(0, embedded - benchmark * mass * units * CBAM factor)``.
Rules and prices come from ``twin/data/cbam.yaml`` (:func:`cbam_rules`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from twin import data
from twin.core.fields import param

CBAM_SECTORS: tuple[str, ...] = (
    "iron_steel",
    "aluminium",
    "cement",
    "fertilisers",
    "hydrogen",
    "electricity",
)
INDIRECT_BASES: tuple[str, ...] = ("location", "market")
KG_PER_T = 1000.0
SHARE_TOL = 1e-9


@dataclass(frozen=True)
class ProductSpec:
    """A product made in the park by one enterprise."""

    name: str = param(doc="unique product name")
    enterprise: str = param(doc="entity name of the enterprise that makes it")
    units_per_year: float = param("unit/yr", gt=0, doc="units made per year")
    unit: str = param(doc="what one unit is, e.g. 'vehicle', 'board', 't'", default="unit")
    cbam_sector: str | None = param(
        doc="CBAM sector of the good, or none for goods outside CBAM",
        default=None,
        choices=CBAM_SECTORS,
    )
    direct_t_per_unit: float = param(
        "tCO2/unit", ge=0, default=0.0, doc="process emissions per unit not seen in energy flows"
    )
    share: float = param(
        "1", gt=0, le=1, default=1.0, doc="share of the enterprise's energy and emissions"
    )
    mass_t_per_unit: float = param(
        "t/unit", gt=0, default=1.0,
        doc="mass of one unit (MWh for electricity); CBAM counts per tonne of good",
    )
    cn_code: str = param(doc="EU Combined Nomenclature code of the good", default="")
    default_direct_t_per_t: float | None = param(
        "tCO2/t", ge=0, default=None,
        doc="CBAM default direct emissions of the good's CN code and origin (none: sector value)",
    )
    default_indirect_t_per_t: float | None = param(
        "tCO2/t", ge=0, default=None,
        doc="CBAM default indirect emissions of the good's CN code and origin (none: sector value)",
    )
    fa_benchmark_t_per_t: float | None = param(
        "tCO2/t", ge=0, default=None,
        doc="free-allocation benchmark of the good (none: proportional phase-out)",
    )
    lines: tuple[str, ...] = param(
        default=(),
        doc="production lines (AOI lines) that make it: its units are their boards out in the "
        "run and its energy and emissions theirs (at the park's hourly supply), times share",
    )

    def __post_init__(self) -> None:
        if self.cbam_sector is not None and self.cbam_sector not in CBAM_SECTORS:
            raise ValueError(
                f"product {self.name}: unknown CBAM sector {self.cbam_sector!r}; expected one of "
                f"{', '.join(CBAM_SECTORS)} or None"
            )
        if not self.units_per_year > 0:
            raise ValueError(f"product {self.name}: units_per_year must be > 0")
        if not 0 < self.share <= 1:
            raise ValueError(f"product {self.name}: share must be in (0, 1]")
        object.__setattr__(self, "lines", tuple(str(x) for x in (
            self.lines if isinstance(self.lines, list | tuple) else [self.lines])))


@dataclass(frozen=True)
class Footprint:
    """Energy and emissions per unit of a product over a period (kgCO2 per unit).

    ``location_kg_per_unit`` and ``market_kg_per_unit`` are Scope 2 (electricity) location- and
    market-based; ``scope1_kg_per_unit`` is on-site fuel; ``process_kg_per_unit`` the process
    emissions given on the product. Totals are the properties ``total_*_kg_per_unit``.
    """

    product: str
    period_units: float
    energy_mwh_per_unit: float
    location_kg_per_unit: float
    market_kg_per_unit: float
    scope1_kg_per_unit: float
    process_kg_per_unit: float
    enterprise: str
    unit: str
    period_years: float
    share: float

    @property
    def total_location_kg_per_unit(self) -> float:
        """Scope 1 + process + Scope 2 location-based, kgCO2 per unit."""
        return self.scope1_kg_per_unit + self.process_kg_per_unit + self.location_kg_per_unit

    @property
    def total_market_kg_per_unit(self) -> float:
        """Scope 1 + process + Scope 2 market-based, kgCO2 per unit."""
        return self.scope1_kg_per_unit + self.process_kg_per_unit + self.market_kg_per_unit


def _nonneg(**values: float) -> None:
    for key, v in values.items():
        if not (np.isfinite(v) and v >= 0):
            raise ValueError(f"{key} must be a finite number >= 0, got {v}")


def footprint(
    product: ProductSpec,
    enterprise_energy_mwh: float,
    enterprise_location_t: float,
    enterprise_market_t: float,
    enterprise_scope1_t: float,
    period_years: float,
    units_in_period: float | None = None,
) -> Footprint:
    """Allocate an enterprise's energy and emissions over a period to one of its products.

    Parameters
    ----------
    product : ProductSpec
        The product; ``share`` is its fraction of the enterprise's totals.
    enterprise_energy_mwh : float
        The enterprise's final energy use over the period, MWh.
    enterprise_location_t, enterprise_market_t : float
        Its Scope 2 emissions, location- and market-based, tCO2.
    enterprise_scope1_t : float
        Its Scope 1 emissions (on-site fuel), tCO2.
    period_years : float
        Length of the period in years (e.g. days / 365).
    units_in_period : float, optional
        Units counted in the period (e.g. by the production line); default
        ``units_per_year * period_years``.

    Returns
    -------
    Footprint
        Per-unit figures; ``x_per_unit * period_units == share * enterprise_x``.
    """
    _nonneg(
        enterprise_energy_mwh=enterprise_energy_mwh,
        enterprise_location_t=enterprise_location_t,
        enterprise_market_t=enterprise_market_t,
        enterprise_scope1_t=enterprise_scope1_t,
    )
    if not period_years > 0:
        raise ValueError(f"period_years must be > 0, got {period_years}")
    units = product.units_per_year * period_years if units_in_period is None else units_in_period
    if not units > 0:
        raise ValueError(f"product {product.name}: units in the period must be > 0, got {units}")
    k = product.share / units
    return Footprint(
        product=product.name,
        period_units=float(units),
        energy_mwh_per_unit=k * enterprise_energy_mwh,
        location_kg_per_unit=k * enterprise_location_t * KG_PER_T,
        market_kg_per_unit=k * enterprise_market_t * KG_PER_T,
        scope1_kg_per_unit=k * enterprise_scope1_t * KG_PER_T,
        process_kg_per_unit=product.direct_t_per_unit * KG_PER_T,
        enterprise=product.enterprise,
        unit=product.unit,
        period_years=float(period_years),
        share=product.share,
    )


def check_shares(products: Iterable[ProductSpec]) -> dict[str, float]:
    """Sum of product shares per enterprise; raises ValueError where one exceeds 1."""
    sums: dict[str, float] = {}
    for p in products:
        sums[p.enterprise] = sums.get(p.enterprise, 0.0) + p.share
    over = {e: s for e, s in sums.items() if s > 1.0 + SHARE_TOL}
    if over:
        raise ValueError(f"product shares exceed 1 for enterprises {over}")
    return sums


# --------------------------------------------------------------------------- CBAM


@dataclass(frozen=True)
class CbamRules:
    """CBAM rules and prices (from ``twin/data/cbam.yaml`` by :func:`cbam_rules`)."""

    sectors: tuple[str, ...]
    indirect_sectors: tuple[str, ...]
    de_minimis_t: float
    de_minimis_sectors: tuple[str, ...]
    markup_by_year: Mapping[int, float]
    markup_by_year_by_sector: Mapping[str, Mapping[int, float]]
    cbam_factor_by_year: Mapping[int, float]
    eua_eur_per_t_by_year: Mapping[int, float]
    eur_cny: float
    default_t_per_t: Mapping[str, tuple[float, float]]

    def markup(self, year: int, sector: str) -> float:
        """Mark-up on default values in ``year`` (0 before the first year listed)."""
        table = self.markup_by_year_by_sector.get(sector, self.markup_by_year)
        return _step_lookup(table, year, before=0.0)

    def cbam_factor(self, year: int) -> float:
        """Share of free allocation kept in ``year`` (1 before CBAM, 0 once phased out)."""
        return _step_lookup(self.cbam_factor_by_year, year, before=1.0)

    def obligation_share(self, year: int) -> float:
        """Share of embedded emissions that needs certificates: 1 - CBAM factor."""
        return 1.0 - self.cbam_factor(year)

    def eua_eur_per_t(self, year: int) -> float:
        """EU ETS allowance price, EUR/t, linear between the years listed, held outside."""
        years = sorted(self.eua_eur_per_t_by_year)
        prices = [self.eua_eur_per_t_by_year[y] for y in years]
        return float(np.interp(year, years, prices))


def _step_lookup(table: Mapping[int, float], year: int, before: float) -> float:
    """Value of the latest year <= ``year`` in ``table``; ``before`` if none."""
    years = sorted(y for y in table if y <= year)
    return float(table[years[-1]]) if years else before


def cbam_rules() -> CbamRules:
    """CBAM rules, default values and prices from ``twin/data/cbam.yaml``."""
    d = data.load("cbam")
    sectors = tuple(d["sectors"])
    by_sector = {
        key.removeprefix("default_markup_by_year_"): {int(y): float(v) for y, v in val.items()}
        for key, val in d.items()
        if key.startswith("default_markup_by_year_")
    }
    defaults = {
        s: (float(d[f"default_{s}"]["direct_t_per_t"]), float(d[f"default_{s}"]["indirect_t_per_t"]))
        for s in sectors
        if f"default_{s}" in d
    }
    return CbamRules(
        sectors=sectors,
        indirect_sectors=tuple(d["indirect_sectors"]),
        de_minimis_t=float(d["de_minimis_t"]),
        de_minimis_sectors=tuple(d["de_minimis_sectors"]),
        markup_by_year={int(y): float(v) for y, v in d["default_markup_by_year"].items()},
        markup_by_year_by_sector=by_sector,
        cbam_factor_by_year={int(y): float(v) for y, v in d["cbam_factor_by_year"].items()},
        eua_eur_per_t_by_year={int(y): float(v) for y, v in d["eua_eur_per_t_by_year"].items()},
        eur_cny=float(d["eur_cny"]),
        default_t_per_t=defaults,
    )


@dataclass(frozen=True)
class CbamExposure:
    """CBAM certificates and cost of one product's exports to the EU in one year.

    ``certificates_t`` and the costs are the liability as if the importer were liable;
    ``below_de_minimis`` says the exported mass alone is within the 50 t/yr exemption (which is
    per importer, over all of its CBAM goods).
    """

    product: str
    year: int
    embedded_direct_t: float
    embedded_indirect_t: float
    markup: float
    cbam_factor: float
    eua_eur_per_t: float
    certificates_t: float
    cost_eur: float
    cost_cny: float
    below_de_minimis: bool
    units_exported: float
    mass_t: float
    obligation_share: float
    uses_default_values: bool
    indirect_counted: bool

    @property
    def embedded_t(self) -> float:
        """Embedded emissions that count under CBAM, tCO2e."""
        return self.embedded_direct_t + self.embedded_indirect_t


def _embedded_t(
    fp: Footprint,
    product: ProductSpec,
    rules: CbamRules,
    units_exported: float,
    markup: float,
    use_default_values: bool,
    indirect_basis: str,
) -> tuple[float, float]:
    sector = product.cbam_sector
    assert sector is not None
    counts_indirect = sector in rules.indirect_sectors
    if use_default_values:
        d_dir, d_ind = rules.default_t_per_t.get(sector, (None, None))
        d_dir = product.default_direct_t_per_t if product.default_direct_t_per_t is not None else d_dir
        d_ind = (
            product.default_indirect_t_per_t
            if product.default_indirect_t_per_t is not None
            else d_ind
        )
        if d_dir is None or (counts_indirect and d_ind is None):
            raise ValueError(f"product {product.name}: no CBAM default value for {sector}")
        mass = product.mass_t_per_unit * units_exported
        direct = d_dir * mass * (1.0 + markup)
        indirect = d_ind * mass * (1.0 + markup) if counts_indirect else 0.0
        return direct, indirect
    direct = (fp.scope1_kg_per_unit + fp.process_kg_per_unit) / KG_PER_T * units_exported
    scope2 = fp.location_kg_per_unit if indirect_basis == "location" else fp.market_kg_per_unit
    indirect = scope2 / KG_PER_T * units_exported if counts_indirect else 0.0
    return direct, indirect


def cbam_exposure(
    fp: Footprint,
    product: ProductSpec,
    year: int,
    units_exported: float,
    eua_eur_per_t: float | None = None,
    use_default_values: bool = False,
    *,
    indirect_basis: str = "location",
    rules: CbamRules | None = None,
) -> CbamExposure | None:
    """CBAM exposure of ``units_exported`` units of a product imported into the EU in ``year``.

    Parameters
    ----------
    fp : Footprint
        The product's footprint (actual values); unused with default values.
    product : ProductSpec
        The product; None is returned for goods outside CBAM (``cbam_sector`` None).
    year : int
        Import year; no certificates before 2026 (CBAM factor 1).
    units_exported : float
        Units imported into the EU in the year (>= 0).
    eua_eur_per_t : float, optional
        Certificate price, EUR/t; default the year's price from ``cbam.yaml``.
    use_default_values : bool
        Use the EU default values (of the product's CN code if given, else the sector's) with
        the year's mark-up instead of the footprint.
    indirect_basis : {'location', 'market'}
        Electricity factor of actual indirect emissions: the grid average (location), or the
        contractual one (market), which the rules accept for a direct technical connection
        (绿电直连) or a PPA meeting their conditions.
    rules : CbamRules, optional
        Rules and prices; default :func:`cbam_rules`.

    Returns
    -------
    CbamExposure or None
    """
    if product.cbam_sector is None:
        return None
    if fp.product != product.name:
        raise ValueError(f"footprint of {fp.product!r} given for product {product.name!r}")
    if indirect_basis not in INDIRECT_BASES:
        raise ValueError(f"indirect_basis must be one of {INDIRECT_BASES}, got {indirect_basis!r}")
    _nonneg(units_exported=units_exported)
    rules = cbam_rules() if rules is None else rules
    if product.cbam_sector not in rules.sectors:
        raise ValueError(f"sector {product.cbam_sector!r} is not in the CBAM rules' sectors")
    markup = rules.markup(year, product.cbam_sector) if use_default_values else 0.0
    direct, indirect = _embedded_t(
        fp, product, rules, units_exported, markup, use_default_values, indirect_basis
    )
    factor = rules.cbam_factor(year)
    mass = product.mass_t_per_unit * units_exported
    if product.fa_benchmark_t_per_t is None:
        certificates = (direct + indirect) * (1.0 - factor)
    else:
        deduction = product.fa_benchmark_t_per_t * mass * factor
        certificates = max(0.0, direct + indirect - deduction)
    price = rules.eua_eur_per_t(year) if eua_eur_per_t is None else float(eua_eur_per_t)
    cost_eur = certificates * price
    return CbamExposure(
        product=product.name,
        year=int(year),
        embedded_direct_t=direct,
        embedded_indirect_t=indirect,
        markup=markup,
        cbam_factor=factor,
        eua_eur_per_t=price,
        certificates_t=certificates,
        cost_eur=cost_eur,
        cost_cny=cost_eur * rules.eur_cny,
        below_de_minimis=(
            product.cbam_sector in rules.de_minimis_sectors and mass <= rules.de_minimis_t
        ),
        units_exported=float(units_exported),
        mass_t=mass,
        obligation_share=1.0 - factor,
        uses_default_values=use_default_values,
        indirect_counted=product.cbam_sector in rules.indirect_sectors,
    )
