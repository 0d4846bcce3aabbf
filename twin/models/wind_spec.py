"""What a scenario says about a wind farm: :class:`WindFarmSpec`, light (no windpowerlib).

The farm's model (:mod:`twin.models.wind`) imports it from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from twin.core.fields import param


@dataclass(frozen=True)
class WindFarmSpec:
    """A wind farm of identical turbines.

    Defaults mirror ``twin/data/wind_defaults.yaml`` (sources there); a test keeps them equal.
    """

    name: str = param(doc="unique entity name")
    turbine_type: str = param(doc="turbine type in windpowerlib's library, e.g. 'E-141/4200'")
    n_turbines: int = param("1", doc="number of turbines", ge=1)
    hub_height_m: float = param("m", doc="hub height above ground", gt=0)
    availability: float = param(
        "1", doc="time-average share of turbines available", default=0.97, ge=0, le=1
    )
    wake_loss: float = param("1", doc="energy share lost to wakes", default=0.08, ge=0, le=1)
    electrical_loss: float = param(
        "1", doc="energy share lost in collector cables and transformers", default=0.02, ge=0, le=1
    )
    shear: str = param(
        doc="vertical wind profile: logarithmic with roughness, or Hellman power law",
        default="log",
        choices=("log", "hellman"),
    )
    hellman_exponent: float = param(
        "1", doc="Hellman exponent (used when shear='hellman')", default=1.0 / 7.0, gt=0, lt=1
    )

    @property
    def loss_factor(self) -> float:
        """Product of availability, (1 - wake loss) and (1 - electrical loss), dimensionless."""
        return self.availability * (1.0 - self.wake_loss) * (1.0 - self.electrical_loss)
