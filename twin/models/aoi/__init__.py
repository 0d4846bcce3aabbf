"""The vision side of the park's robotic AOI line.

    from twin.models.aoi import inspect, Finding
    from twin.models.aoi.board import BoardSpec, golden, sample

:mod:`twin.models.aoi.board` draws procedural golden boards and production samples (defects with
exact boxes, process variation labelled apart); :mod:`twin.models.aoi.gerber` renders pygerber's
KiCad example board as a real golden board; :func:`inspect` compares a test image with its
golden board (alignment, lighting correction, zone tolerances, blobs, CNN verifier);
:mod:`twin.models.aoi.verifier` trains and loads the verifier; :mod:`twin.models.aoi.evaluate` scores it.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from twin.models.aoi.inspect import Finding, inspect

__all__ = ["Finding", "inspect"]


def __getattr__(name: str) -> Any:
    """``Finding`` and ``inspect``, imported on first use: the package's light modules (the
    scenario's :mod:`twin.models.aoi.spec`) load without OpenCV."""
    if name in __all__:
        return getattr(importlib.import_module("twin.models.aoi.inspect"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Package(types.ModuleType):
    """The package, whose ``inspect`` stays the function when the submodule of that name
    loads (the import system sets a submodule as its package's attribute)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "inspect" and isinstance(value, types.ModuleType):
            value = value.inspect
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
