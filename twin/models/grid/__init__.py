"""The park grid: the pandapower network of record and its per-step AC power flow.

:class:`FastSolver` (lightsim2grid Newton-Raphson on pandapower's compiled network, built
once) and :class:`RunppSolver` (``pandapower.runpp`` each call, the reference) share one
interface and return a :class:`PFResult`; :func:`check_network` refuses, with
:class:`GridError`, networks they cannot solve.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    """The solver's names, imported on first use: the package's light modules (the scenario's
    :mod:`twin.models.grid.layout`) load without pandapower and lightsim2grid."""
    if name in __all__:
        from twin.models.grid import solver

        return getattr(solver, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
