"""The park balance at the point of common coupling (PCC).

Signs: generation > 0, load > 0, storage charging > 0; ``p_import_mw`` > 0 is import from the
public grid. Without a grid model the balance is lossless; the detailed grid adds losses.
"""

from __future__ import annotations

from dataclasses import dataclass


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
