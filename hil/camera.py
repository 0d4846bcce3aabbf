"""The AOI camera behind the device interface: a folder of images or an OpenCV capture.

The frames come from the AOI line's own board sources (:mod:`twin.models.aoi.sources`:
``FolderBoards`` for ``folder:PATH``, ``CameraBoards`` for ``device:N`` or a stream URL;
:class:`twin.models.aoi.calibration.SyntheticBoards` for the simulated camera): binding a camera in
``hil:`` sets the AOI line's ``camera`` to the device (``hil.run.prepare``), and these classes
give the same sources the interface of every bound device - ``read()`` a frame, ``write()``
nothing, ``health()`` - for the pre-flight check and for engineers who script a camera.

:class:`FrameGrabber` reads a source's frames on its own thread, never on the real-time one:
``draw()`` takes the newest frame read at once (waiting at most ``wait_s`` for the first), so a slow
camera delays no step, it only repeats a frame (counted as ``repeated``). With ``record`` it
writes each frame it hands out (``frame-NNNNNNN.npy``) and a line of ``frames.jsonl`` (board
index, frame number, wall time, read time, repeated); :class:`ReplayBoards` hands the same
frames out again in the same order, so a recorded AOI run replays frame for frame. The AOI line
opens ``grab:SOURCE`` (live, optionally ``grab:SOURCE|record=DIR``) and ``replay:DIR`` through
:data:`twin.models.aoi.sources.OPENERS`, which importing this module registers.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from hil.devices import Health, ReadOnly
from twin.models.aoi import sources


class FrameGrabber:
    """A board source read on a thread of its own; the same interface as the source."""

    def __init__(self, boards: Any, record: str | Path | None = None, wait_s: float = 0.05,
                 clock: Any = time.monotonic) -> None:
        self.boards = boards
        self.golden = boards.golden
        self.wait_s = wait_s
        self.clock = clock
        self.record = Path(record) if record else None
        self._cond = threading.Condition()
        self._latest: tuple[int, np.ndarray, float] | None = None  # number, image, read ms
        self._taken = -1
        self.read = self.repeated = self.errors = 0
        self.last_error = ""
        self._stop = threading.Event()
        if self.record is not None:
            self.record.mkdir(parents=True, exist_ok=True)
            np.save(self.record / "golden.npy", self.golden)
            self._index = (self.record / "frames.jsonl").open("a", encoding="utf-8")
        self._thread = threading.Thread(target=self._run, name="camera", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            t0 = time.perf_counter()
            try:
                image = self.boards.draw(n, False).image
            except (RuntimeError, ValueError) as exc:
                self.errors += 1
                self.last_error = str(exc)
                self._stop.wait(0.1)
                continue
            with self._cond:
                self._latest = (n, image, (time.perf_counter() - t0) * 1e3)
                self.read += 1
                self._cond.notify_all()
            n += 1

    def draw(self, index: int, defective: bool) -> sources.Frame:
        """The newest frame at once (the previous one again when no new one came since)."""
        with self._cond:
            if self._latest is None:  # only the first frame is waited for
                self._cond.wait(self.wait_s)
            if self._latest is None:
                raise RuntimeError(f"the camera gave no frame within {self.wait_s * 1e3:.0f} ms"
                                   + (f" ({self.last_error})" if self.last_error else ""))
            number, image, read_ms = self._latest
        repeated = number == self._taken
        self.repeated += repeated
        self._taken = number
        if self.record is not None:
            name = f"frame-{index:07d}.npy"
            np.save(self.record / name, image)
            self._index.write(json.dumps({"index": index, "frame": number, "file": name,
                                          "t_s": self.clock(), "read_ms": round(read_ms, 3),
                                          "repeated": repeated}) + "\n")
            self._index.flush()
        return sources.Frame(image)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        close = getattr(self.boards, "close", None)
        if close is not None:
            close()
        if self.record is not None:
            self._index.close()


class ReplayBoards:
    """The frames a :class:`FrameGrabber` recorded, handed out again by board index."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        index = self.folder / "frames.jsonl"
        if not index.is_file():
            raise ValueError(f"replay:{folder}: no frames.jsonl (record with grab:SOURCE|"
                             f"record={folder})")
        self.frames = {r["index"]: r for r in map(json.loads, index.read_text().splitlines())}
        self.golden = np.load(self.folder / "golden.npy")

    def draw(self, index: int, defective: bool) -> sources.Frame:
        rec = self.frames.get(index)
        if rec is None:
            raise RuntimeError(f"replay:{self.folder}: no frame of board {index}")
        return sources.Frame(np.load(self.folder / rec["file"]))


def open_grabbed(spec: str) -> FrameGrabber:
    """``SOURCE`` or ``SOURCE|record=DIR`` (the part after ``grab:``)."""
    source, _, option = spec.partition("|record=")
    return FrameGrabber(sources.open_camera(source), record=option or None)


sources.OPENERS.setdefault("grab:", open_grabbed)
sources.OPENERS.setdefault("replay:", ReplayBoards)


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
