"""The AOI camera behind the device interface: a folder of images or an OpenCV capture.

The frames come from the AOI line's own board sources (:mod:`twin.models.aoi.sources`:
``FolderBoards`` for ``folder:PATH``, ``CameraBoards`` for ``device:N`` or a stream URL;
:class:`twin.models.aoi.calibration.SyntheticBoards` for the simulated camera): binding a camera in
``hil:`` sets the AOI line's ``camera`` to the device (``hil.run.prepare``), and these classes
give the same sources the interface of every bound device - ``read()`` a frame, ``write()``
nothing, ``health()`` - for the pre-flight check and for engineers who script a camera.
"""

from __future__ import annotations

import time
from typing import Any

from hil.devices import Health, ReadOnly


class CameraDevice(ReadOnly):
    """A real camera (``device:N``, ``rtsp://...``) or a folder of images (``folder:PATH``)."""

    kind = "camera"

    def __init__(self, source: str) -> None:
        self.source = source
        self.boards: Any = None
        self.frames = 0
        self._health = Health()

    async def open(self) -> dict[str, Any]:
        from twin.models.aoi.sources import open_camera

        self.boards = open_camera(self.source)
        h, w = self.boards.golden.shape[:2]
        return {"identity": {"source": self.source}, "ratings": {"width_px": w, "height_px": h}}

    async def read(self) -> dict[str, Any]:
        """The next frame (RGB array) with its index and the time it took."""
        t0 = time.perf_counter()
        try:
            frame = self.boards.draw(self.frames, False).image
        except (RuntimeError, ValueError) as exc:
            self._health = Health(False, self._health.answers, self._health.errors + 1, str(exc))
            raise
        self.frames += 1
        self._health = Health(True, self._health.answers + 1, self._health.errors, "")
        return {"frame": frame, "index": self.frames - 1,
                "read_ms": (time.perf_counter() - t0) * 1e3}

    def health(self) -> Health:
        return self._health

    async def close(self) -> None:
        close = getattr(self.boards, "close", None)
        if close is not None:
            close()


class SimCamera(CameraDevice):
    """The simulated camera: synthetic boards rendered from the golden board."""

    def __init__(self, board: str = "enig", um_per_px: float = 20.0, image_px: int = 512,
                 seed: int = 0) -> None:
        super().__init__("synthetic")
        self.args = (board, um_per_px, image_px, seed)

    async def open(self) -> dict[str, Any]:
        from twin.models.aoi.calibration import SyntheticBoards

        self.boards = SyntheticBoards(*self.args)
        return {"identity": {"source": "synthetic"}, "ratings": {}}


def probe(source: str) -> str:
    """Open a camera source and read one frame; a line saying what it gave."""
    import asyncio

    async def once() -> str:
        cam = CameraDevice(source)
        try:
            info = await cam.open()
            frame = await cam.read()
        finally:
            await cam.close()
        r = info["ratings"]
        return (f"{source}: {r['width_px']}x{r['height_px']} px, first frame in "
                f"{frame['read_ms']:.1f} ms")

    return asyncio.run(once())
