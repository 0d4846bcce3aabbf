"""The vision side of the park's robotic AOI line.

    from twin.models.aoi import inspect, Finding
    from twin.models.aoi.board import BoardSpec, golden, sample

:mod:`twin.models.aoi.board` draws procedural golden boards and production samples (defects with
exact boxes, process variation labelled apart); :mod:`twin.models.aoi.gerber` renders pygerber's
KiCad example board as a real golden board; :func:`inspect` compares a test image with its
golden board (alignment, lighting correction, zone tolerances, blobs, CNN verifier);
:mod:`twin.models.aoi.verifier` trains and loads the verifier; :mod:`twin.models.aoi.evaluate` scores it.
"""

from twin.models.aoi.inspect import Finding, inspect

__all__ = ["Finding", "inspect"]
