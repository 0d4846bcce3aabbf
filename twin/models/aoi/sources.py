"""The AOI line's input and output side: boards from image files or a camera, frames to files.

A board source has a reference image ``golden`` and ``draw(index, defective)``, which returns
an object with ``image`` (RGB array) and ``defects`` (``None`` where they are unknown):
:class:`FolderBoards` reads the images of a folder in turn (``folder:PATH``),
:class:`CameraBoards` the frames of an OpenCV capture (``device:N`` or a stream URL);
:func:`open_camera` picks one from such a source string. The simulated camera is
:class:`twin.models.aoi.calibration.SyntheticBoards`. :class:`FrameWriter` writes each rejected
board's annotated image and robot frames as PNG files. OpenCV is imported on first use.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from twin.models.aoi.line import BoardEvent

__all__ = ["CameraBoards", "FolderBoards", "Frame", "FrameWriter", "open_camera"]

FOLDER = "folder:"


@dataclasses.dataclass(frozen=True)
class Frame:
    """A camera image whose defects are unknown."""

    image: np.ndarray
    defects: None = None


class FolderBoards:
    """Boards from image files in a folder (``golden.*`` or the first file is the reference)."""

    SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

    def __init__(self, folder: Path) -> None:
        import cv2

        self._cv2 = cv2
        files = sorted(f for f in folder.iterdir() if f.suffix.lower() in self.SUFFIXES)
        if not files:
            raise ValueError(f"camera folder:{folder}: no images ({', '.join(self.SUFFIXES)})")
        golden = next((f for f in files if f.stem == "golden"), files[0])
        self.golden = self._read(golden)
        self.files = [f for f in files if f != golden] or [golden]

    def _read(self, path: Path) -> np.ndarray:
        image = self._cv2.imread(str(path), self._cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"cannot read image {path}")
        return image[:, :, ::-1].copy()

    def draw(self, index: int, defective: bool) -> Frame:
        """The folder's images in turn (``defective`` is decided by the image, not asked)."""
        return Frame(self._read(self.files[index % len(self.files)]))


class CameraBoards:
    """Boards from a camera (``device:N``) or a stream (``rtsp://...``); the first frame is
    the reference."""

    def __init__(self, source: str) -> None:
        import cv2

        target: int | str = int(source[len("device:"):]) if source.startswith("device:") \
            else source
        self.capture = cv2.VideoCapture(target)
        if not self.capture.isOpened():
            raise ValueError(f"camera {source!r} cannot be opened")
        self.source = source
        self.golden = self._frame()

    def _frame(self) -> np.ndarray:
        ok, image = self.capture.read()
        if not ok:
            raise RuntimeError(f"camera {self.source!r} gave no frame")
        return image[:, :, ::-1].copy()

    def draw(self, index: int, defective: bool) -> Frame:
        """The camera's next frame."""
        return Frame(self._frame())

    def close(self) -> None:
        """Release the camera."""
        self.capture.release()


OPENERS: dict[str, Callable[[str], Any]] = {}  # source prefix -> opener, registered from
#   above (hil.camera: "grab:" reads on a thread of its own and records, "replay:" replays)


def open_camera(source: str) -> Any:
    """The board source of ``folder:PATH``, ``device:N``, a stream URL, or a registered
    prefix of :data:`OPENERS`."""
    for prefix, opener in OPENERS.items():
        if source.startswith(prefix):
            return opener(source[len(prefix):])
    if source.startswith(FOLDER):
        return FolderBoards(Path(source[len(FOLDER):]))
    return CameraBoards(source)


class FrameWriter:
    """Writes each rejected board's annotated image and robot frames as PNG files."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder

    def __call__(self, event: BoardEvent) -> None:
        import cv2

        if not event.rejected or event.image is None:
            return
        stem = self.folder / f"board-{event.index:07d}"
        cv2.imwrite(f"{stem}.png", np.ascontiguousarray(event.image[:, :, ::-1]))
        for i, frame in enumerate(event.robot_frames):
            cv2.imwrite(f"{stem}-robot-{i:03d}.png", np.ascontiguousarray(frame[:, :, ::-1]))
