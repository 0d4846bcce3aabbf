"""The vision side of the park's robotic AOI line.

    from twin.aoi import inspect, Finding
    from twin.aoi.board import BoardSpec, golden, sample

:mod:`twin.aoi.board` draws procedural golden boards and production samples (defects with
exact boxes, process variation labelled apart); :mod:`twin.aoi.gerber` renders pygerber's
KiCad example board as a real golden board; :func:`inspect` compares a test image with its
golden board (alignment, lighting correction, zone tolerances, blobs, CNN verifier);
:mod:`twin.aoi.verifier` trains and loads the verifier; :mod:`twin.aoi.evaluate` scores it.
"""

from twin.aoi.inspect import Finding, inspect

__all__ = ["Finding", "inspect"]
