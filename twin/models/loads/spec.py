"""What a scenario says about the park's loads: the specs of factories, EV charging hubs
and heat supply, light (no calendar, no models).

The models (:mod:`twin.models.loads.factory`, :mod:`twin.models.loads.ev`,
:mod:`twin.models.loads.heat`) import them from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from twin.core.fields import param

FACTORY_KINDS = ("automotive", "supplier", "electronics", "biopharma", "datacentre")
EV_KINDS = ("workplace", "fleet", "public")


@dataclass(frozen=True)
class FactorySpec:
    """An enterprise's electric load."""

    name: str = param(doc="unique entity name")
    kind: str = param(choices=FACTORY_KINDS, doc="enterprise kind (sets profiles and defaults)")
    p_peak_mw: float = param("MW", gt=0, doc="nameplate peak demand")
    hvac_share: float | None = param(
        "1", ge=0, le=1, default=None, doc="HVAC share of the peak; None: the kind's default"
    )
    noise_pct: float | None = param(
        "%", ge=0, default=None, doc="AR(1) noise standard deviation; None: the kind's default"
    )
    shifts: int | None = param(
        "1", ge=1, le=3, default=None, doc="shifts on workdays (1-3); None: the kind's default"
    )
    flex_share: float | None = param(
        "1", ge=0, le=1, default=None,
        doc="share of the load an EMS may shift in time; None: the kind's default"
    )


@dataclass(frozen=True)
class EVHubSpec:
    """A charging hub."""

    name: str = param(doc="unique entity name")
    kind: str = param(choices=EV_KINDS, doc="hub kind: workplace, fleet depot or public")
    n_chargers: int = param("1", ge=1, doc="number of charge points")
    p_charger_kw: float | None = param(
        "kW", gt=0, default=None, doc="rating of each charge point; None: the kind's default"
    )
    p_max_mw: float | None = param(
        "MW", gt=0, default=None, doc="hub connection limit; None: no limit beyond the chargers"
    )
    arrivals_per_day: float | None = param(
        "1/d", ge=0, default=None,
        doc="mean arrivals on a workday; None: the kind's per-charger rate x n_chargers",
    )
    e_mean_kwh: float | None = param(
        "kWh", gt=0, default=None, doc="mean energy wanted per session; None: the kind's default"
    )


@dataclass(frozen=True)
class HeatSupplySpec:
    """A heat supply station (heat pumps + boilers) serving part of the park."""

    name: str = param(doc="unique entity name")
    q_design_mw: float = param("MW", gt=0, doc="heat load at the design outdoor temperature")
    hp_q_max_mw: float = param(
        "MW", ge=0, default=0.0, doc="thermal capacity of the geothermal heat pumps"
    )
    t_design_c: float | None = param(
        "degC", default=None, doc="design outdoor temperature; None: Shenyang (data)"
    )
    t_base_c: float | None = param(
        "degC", default=None, doc="heating balance point / degree-day base; None: data"
    )
    dhw_share: float | None = param(
        "1", ge=0, le=1, default=None, doc="year-round hot-water share of q_design; None: data"
    )
    cop_nominal: float | None = param(
        "1", gt=1, default=None, doc="constant heat-pump COP; None: COP curve vs supply temp"
    )
    boiler_eff: float | None = param(
        "1", gt=0, le=1, default=None, doc="gas boiler efficiency (on NCV); None: data"
    )
    season_start: str | None = param(
        "MM-DD", default=None, doc="first day of the heating season; None: data"
    )
    season_end: str | None = param(
        "MM-DD", default=None, doc="last day of the heating season; None: data"
    )
    noise_pct: float | None = param(
        "%", ge=0, default=None, doc="AR(1) noise on heat demand; None: data"
    )
    ashp_q_max_mw: float = param(
        "MW", ge=0, default=0.0, doc="thermal capacity of air-source heat pumps (COP by air temp)"
    )
    waste_heat_q_max_mw: float = param(
        "MW", ge=0, default=0.0, doc="waste heat recovered by water-source heat pumps (thermal)"
    )
    eboiler_mw: float = param(
        "MW", ge=0, default=0.0, doc="electric boilers (electric input), run in valley hours"
    )
    store_mwh: float = param(
        "MWh", ge=0, default=0.0, doc="hot-water heat store filled by the electric boilers"
    )
    store_init_mwh: float = param(
        "MWh", ge=0, default=0.0,
        doc="heat in the store at the run's start (at most store_mwh; a run started inside a "
            "longer period goes on from that period's level)"
    )
