"""The park balance at the point of common coupling (PCC).

Signs: generation > 0, load > 0, storage charging > 0; ``p_import_mw`` > 0 is import from the
public grid. Without a grid model the balance is lossless; the detailed grid adds losses.
"""

from __future__ import annotations

from dataclasses import dataclass

from twin.core.quantities import Quantity

# What the PCC takes each step (sums over the park's entities) and what it gives.
INPUTS = (
    Quantity("p_gen_mw", "MW", "generation connected to the park (sum of all sources)"),
    Quantity("p_load_mw", "MW", "loads (sum of all sources)"),
    Quantity("p_storage_mw", "MW", "storage, > 0 charging (sum of all sources)"),
)
OUTPUTS = (
    Quantity("p_net_mw", "MW", "exchange with the public grid, > 0 import"),
    Quantity("p_import_mw", "MW", "import from the public grid"),
    Quantity("p_export_mw", "MW", "export to the public grid"),
    Quantity("p_gen_mw", "MW", "total generation seen at the PCC"),
    Quantity("p_load_mw", "MW", "total load seen at the PCC"),
    Quantity("p_storage_mw", "MW", "total storage power seen at the PCC, > 0 charging"),
)
# What a park cut off from the public grid, or from part of its own network, loses
# (:func:`twin.models.disturbances.island`); the grid model gives them too.
ISLAND = (
    Quantity("p_shed_mw", "MW", "load not served (an island short of power, a tripped line)"),
    Quantity("p_curtailed_mw", "MW", "generation not taken (an island with a surplus, a tripped "
             "line)"),
    Quantity("islanded", "1", "1 while the public grid is lost (grid outage)"),
)


@dataclass(frozen=True)
class PCCFlow:
    """Power at the point of common coupling in one step."""

    p_net_mw: float  # > 0 import, < 0 export
    p_import_mw: float
    p_export_mw: float


def pcc_flow(p_gen_mw: float, p_load_mw: float, p_storage_mw: float) -> PCCFlow:
    """The exchange with the public grid that closes the park's balance in one step."""
    net = p_load_mw + p_storage_mw - p_gen_mw
    return PCCFlow(p_net_mw=net, p_import_mw=max(net, 0.0), p_export_mw=max(-net, 0.0))
