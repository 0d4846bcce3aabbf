"""Park loads: the working calendar, factory loads, EV charging hubs and the heat supply.

Each model is built once per entity (spec, calendar, seeded generator) and stepped in time
order with ``epoch_s`` (UTC unix s, start of the step) and ``dt_s``; outputs are means over
``[epoch_s, epoch_s + dt_s)``, loads positive.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from twin.models.loads.calendar import (
        DAY_TYPES,
        DayProfile,
        ParkCalendar,
        default_shutdown_windows,
    )
    from twin.models.loads.ev import EVFlex, EVHub, EVOutput, ev_params
    from twin.models.loads.factory import FactoryLoad, FactoryOutput, FactoryParams, factory_params
    from twin.models.loads.heat import HeatOutput, HeatSupply, heat_params
    from twin.models.loads.spec import (
        EV_KINDS,
        FACTORY_KINDS,
        EVHubSpec,
        FactorySpec,
        HeatSupplySpec,
    )

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


# where each name lives: imported on first use, so the light spec module (what a scenario
# needs) loads without the calendar's and the models' libraries
_MODULES = {
    "calendar": ("DAY_TYPES", "DayProfile", "ParkCalendar", "default_shutdown_windows"),
    "ev": ("EVFlex", "EVHub", "EVOutput", "ev_params"),
    "factory": ("FactoryLoad", "FactoryOutput", "FactoryParams", "factory_params"),
    "heat": ("HeatOutput", "HeatSupply", "heat_params"),
    "spec": ("EV_KINDS", "FACTORY_KINDS", "EVHubSpec", "FactorySpec", "HeatSupplySpec"),
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    """The package's names, each imported from its module on first use."""
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
