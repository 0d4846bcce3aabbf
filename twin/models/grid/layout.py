"""Parameters of a built park network: light (no pandapower), so a scenario validates fast.

:func:`twin.models.grid.network.build_network` builds the network from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from twin.core.fields import param


@dataclass(frozen=True)
class GridLayout:
    """Parameters of a network built by :func:`build_network` (lengths are illustrative)."""

    pcc_line_km: float = param("km", gt=0, default=5.0,
                               doc="220 kV line from the public grid's PCC to the park")
    hv_transformers: int = param("1", ge=1, le=6, default=2, doc="220/66 kV main transformers")
    hv_cable_km: float = param("km", gt=0, default=3.0,
                               doc="66 kV cable from the main busbar to each substation")
    feeder_km: float = param("km", gt=0, default=2.0, doc="length of each 10 kV feeder")
    feeder_segments: int = param("1", ge=1, le=10, default=3,
                                 doc="buses along each feeder and collector string")
    direct_line_km: float = param("km", gt=0, default=40.0,
                                  doc="绿电直连 220 kV line from each wind farm to the park")
    collector_km: float = param("km", gt=0, default=6.0,
                                doc="length of each 35 kV collector string")
    substation_tap_pos: int = param("1", ge=-8, le=8, default=-2,
                                    doc="fixed tap of the 66/10 kV substations (1.25 %/step, "
                                    "negative raises the 10 kV voltage); the voltage rule "
                                    "moves it where the design cases need")
    n1: bool = param(default=True, doc="build for N-1 below the main transformers: the "
                     "public grid line, 66 kV cables and 10 kV feeders in two or more circuits "
                     "(one out, the others carry the design peak); each substation of two or "
                     "more transformers on a split 10 kV busbar, and the 66 kV busbar split per "
                     "main transformer, with normally open bus couplers that close when a "
                     "transformer is lost (automatic transfer)")
    voltage_rule: bool = param(default=True, doc="size for the voltage band: substation taps "
                               "and feeders chosen so that the design cases keep every bus in "
                               "vm_band_pu (false: by current alone, the voltage left to "
                               "control)")


@dataclass(frozen=True)
class VoltageControl:
    """Voltage and reactive power control in the power flow (:mod:`twin.models.grid.control`;
    characteristics and bands in ``twin/data/grid_control.yaml``)."""

    oltc: Literal["none", "main", "substations", "all"] = param(
        default="none", doc="transformers whose on-load tap changer holds their low-voltage "
        "busbar in its band: the main 220/66 kV ones (park-trafo-*), the 66/10 kV substations "
        "(*/substation), or every transformer")
    inverters: Literal["none", "q_u", "cos_phi_p"] = param(
        default="none", doc="reactive power of the PV, wind and storage inverters: none "
        "(unity power factor), Q(U) from their bus voltage, or cos φ(P) from their power")
