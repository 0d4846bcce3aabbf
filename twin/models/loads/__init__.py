"""Park loads: the working calendar, factory loads, EV charging hubs and the heat supply.

Each model is built once per entity (spec, calendar, seeded generator) and stepped in time
order with ``epoch_s`` (UTC unix s, start of the step) and ``dt_s``; outputs are means over
``[epoch_s, epoch_s + dt_s)``, loads positive.
"""

from twin.models.loads.calendar import DAY_TYPES, DayProfile, ParkCalendar, default_shutdown_windows
from twin.models.loads.ev import EV_KINDS, EVFlex, EVHub, EVHubSpec, EVOutput, ev_params
from twin.models.loads.factory import (
    FACTORY_KINDS,
    FactoryLoad,
    FactoryOutput,
    FactoryParams,
    FactorySpec,
    factory_params,
)
from twin.models.loads.heat import HeatOutput, HeatSupply, HeatSupplySpec, heat_params

__all__ = [
    "DAY_TYPES",
    "EV_KINDS",
    "FACTORY_KINDS",
    "DayProfile",
    "EVFlex",
    "EVHub",
    "EVHubSpec",
    "EVOutput",
    "FactoryLoad",
    "FactoryOutput",
    "FactoryParams",
    "FactorySpec",
    "HeatOutput",
    "HeatSupply",
    "HeatSupplySpec",
    "ParkCalendar",
    "default_shutdown_windows",
    "ev_params",
    "factory_params",
    "heat_params",
]
