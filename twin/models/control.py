"""The simple default controller: charge storage from surplus, discharge it on deficit.

It stands until the energy management system exists. It sees the park's generation and load
of the current step and splits the surplus (or deficit) over the batteries in proportion to
their power ratings; each battery clips its setpoint to its own limits.
"""

from __future__ import annotations

from collections.abc import Sequence

from twin.core.quantities import Quantity

# What the rule takes each step and what it gives.
INPUTS = (
    Quantity("p_gen_mw", "MW", "generation of the park (sum of all sources)"),
    Quantity("p_load_mw", "MW", "load of the park without storage (sum of all sources)"),
)
OUTPUTS = (Quantity("p_surplus_mw", "MW", "generation minus load"),)


def rule_setpoints(
    p_gen_mw: float, p_load_mw: float, p_max_mw: Sequence[float]
) -> list[float]:
    """Battery setpoints (> 0 charge) that absorb the surplus ``p_gen_mw - p_load_mw``.

    Parameters
    ----------
    p_gen_mw : float
        Total generation of the park in the step (MW, > 0 generating).
    p_load_mw : float
        Total load of the park in the step, storage excluded (MW, > 0 consuming).
    p_max_mw : sequence of float
        Power rating of each battery (MW); the surplus is split in proportion to them.
    """
    total = float(sum(p_max_mw))
    if total <= 0.0:
        return [0.0 for _ in p_max_mw]
    surplus = p_gen_mw - p_load_mw
    return [surplus * p / total for p in p_max_mw]
