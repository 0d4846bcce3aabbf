"""What the park network takes and gives each step (:class:`twin.models.grid.topology.ParkGrid`).

It takes what the lossless PCC balance takes (:data:`twin.models.balance.INPUTS`, one value
per source entity) and gives the exchange at the PCC, losses and extremes (:data:`SCALARS`),
what an island or a tripped line loses (:data:`twin.models.balance.ISLAND`) and one value per
bus, line or transformer (:data:`VECTORS`, named by
:func:`twin.models.grid.network.element_names`).
"""

from __future__ import annotations

from twin.core.quantities import Quantity, pick
from twin.models import balance

INPUTS = balance.INPUTS
SCALARS = (
    Quantity("p_net_mw", "MW", "exchange with the public grid at the PCC, > 0 import"),
    *pick(balance.OUTPUTS, "p_import_mw", "p_export_mw"),
    Quantity("p_loss_mw", "MW", "losses in lines and transformers"),
    Quantity("p_gen_mw", "MW", "total generation connected"),
    Quantity("p_load_mw", "MW", "total load connected"),
    Quantity("p_storage_mw", "MW", "total storage power, > 0 charging"),
    Quantity("p_direct_line_mw", "MW", "power sent into the 绿电直连 direct lines by the wind farms"),
    Quantity("vm_min_pu", "p.u.", "lowest bus voltage"),
    Quantity("vm_max_pu", "p.u.", "highest bus voltage"),
    Quantity("line_loading_max_pct", "%", "highest line loading"),
    Quantity("trafo_loading_max_pct", "%", "highest transformer loading"),
    Quantity("converged", "1", "1 if the AC power flow converged, 0 if not"),
    Quantity("q_inverter_mvar", "Mvar",
             "reactive power the inverters' voltage control set, > 0 injected"),
)
VECTORS = (
    Quantity("vm_pu", "p.u.", "voltage of each bus"),
    Quantity("line_loading_pct", "%", "loading of each line"),
    Quantity("trafo_loading_pct", "%", "loading of each transformer"),
    Quantity("line_p_from_mw", "MW", "active power into each line at its from bus"),
    Quantity("trafo_tap_pos", "1", "tap position of each transformer"),
)
OUTPUTS = SCALARS + balance.ISLAND + VECTORS
