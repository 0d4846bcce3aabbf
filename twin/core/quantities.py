"""What a model takes and gives per step, declared once: name, unit, meaning, aggregation.

Each model module declares its per-step quantities next to the model as tuples of
:class:`Quantity` (``INPUTS``, ``OUTPUTS``; a few also ``SIGNALS``, values for other
simulators only). Everything else derives from these tuples: the mosaik adapters' attribute
tables and ``META`` (:class:`adapters.base.Model`), the units and descriptions the recorder
writes into the run's HDF5 file (:mod:`twin.core.results`), and which weather values the
wiring connects to which model (:mod:`twin.cosim.world`). A quantity another model already
declares is taken from it (:func:`pick`), not typed again.

Names carry their unit as a suffix (``p_mw``, ``temp_air_c``); ``"1"`` is dimensionless, ``""``
a structured value (a snapshot, a command envelope).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Aggregation = Literal["mean", "sum"]
AGGREGATIONS: tuple[Aggregation, ...] = ("mean", "sum")


@dataclass(frozen=True)
class Quantity:
    """One quantity of a model, per step.

    Parameters
    ----------
    name : str
        Attribute name (mosaik attribute, HDF5 series name), e.g. ``"p_mw"``.
    unit : str
        Unit of the value, e.g. ``"MW"``, ``"W/m2"``, ``"1"``.
    doc : str
        One line saying what the value is.
    agg : {"mean", "sum"}
        How the values of consecutive steps combine into a longer interval: ``"mean"`` for
        rates and states (a step's mean power, a temperature, a share), ``"sum"`` for amounts
        per step (energy, gas, boards, arrivals).
    """

    name: str
    unit: str
    doc: str
    agg: Aggregation = "mean"

    def __post_init__(self) -> None:
        if self.agg not in AGGREGATIONS:
            raise ValueError(f"quantity {self.name}: agg must be one of {AGGREGATIONS}, "
                             f"got {self.agg!r}")


def names(quantities: Iterable[Quantity]) -> tuple[str, ...]:
    """The names of ``quantities``, in order."""
    return tuple(q.name for q in quantities)


def pick(quantities: Iterable[Quantity], *wanted: str) -> tuple[Quantity, ...]:
    """The quantities named ``wanted``, in that order (a clear error for an unknown name)."""
    by_name = {q.name: q for q in quantities}
    missing = [name for name in wanted if name not in by_name]
    if missing:
        raise KeyError(f"no quantity {', '.join(missing)}; declared: {', '.join(by_name)}")
    return tuple(by_name[name] for name in wanted)
