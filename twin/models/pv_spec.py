"""What a scenario says about a PV plant: :class:`PVSpec`, light (no pvlib).

The plant's model (:mod:`twin.models.pv`) imports it from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from twin.core.fields import param

# Keys of pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS['sapm'] (King et al. 2004,
# SAND2004-3535) for each mount choice.
SAPM_MOUNTS = {"open_rack": "open_rack_glass_polymer", "roof": "close_mount_glass_glass"}


@dataclass(frozen=True)
class PVSpec:
    """A fixed-tilt PV plant (PVWatts parameters).

    Defaults mirror ``twin/data/pv_defaults.yaml`` (sources there); a test keeps them equal.
    """

    name: str = param(doc="unique entity name")
    p_dc_mwp: float = param("MWp", doc="DC nameplate at STC (1000 W/m2, 25 degC)", gt=0)
    p_ac_mw: float = param("MW", doc="inverter AC rating; AC output clips here", gt=0)
    tilt_deg: float = param("deg", doc="module tilt from horizontal", default=30.0, ge=0, le=90)
    azimuth_deg: float = param(
        "deg", doc="module azimuth, clockwise from north (180 = south)", default=180.0, ge=0, le=360
    )
    albedo: float = param("1", doc="ground reflectance", default=0.2, ge=0, le=1)
    gamma_pdc_per_c: float = param(
        "1/degC", doc="DC power temperature coefficient", default=-0.0035, ge=-0.02, le=0
    )
    losses_pct: float = param(
        "%", doc="DC system losses (soiling, shading, wiring, ...)", default=14.08, ge=0, lt=100
    )
    eta_inv_nom: float = param("1", doc="inverter nominal efficiency", default=0.96, gt=0, le=1)
    mount: str = param(
        doc="racking for the SAPM cell-temperature model",
        default="open_rack",
        choices=tuple(SAPM_MOUNTS),
    )
