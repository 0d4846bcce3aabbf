"""The park grid: the pandapower network of record and its per-step AC power flow.

:class:`FastSolver` (lightsim2grid Newton-Raphson on pandapower's compiled network, built
once) and :class:`RunppSolver` (``pandapower.runpp`` each call, the reference) share one
interface and return a :class:`PFResult`; :func:`check_network` refuses, with
:class:`GridError`, networks they cannot solve.
"""

from twin.models.grid.solver import (
    PF_OPTIONS,
    FastSolver,
    GridError,
    PFResult,
    RunppSolver,
    check_network,
)

__all__ = [
    "PF_OPTIONS",
    "FastSolver",
    "GridError",
    "PFResult",
    "RunppSolver",
    "check_network",
]
