"""The AOI line's camera and reject robot on the page, rendered beside the running twin.

Inspecting every board and simulating every pick takes longer than the accelerated twin
gives (thirty boards per 15-minute step), so a worker thread shows a sample at a lower rate:
while the line produces (its last step sent boards out), it draws a board from the line's
synthetic board source with the line's defective share now (a defect burst raises it),
inspects it with the real inspector (:class:`twin.models.aoi.calibration.ImageInspector`), draws the
findings, and when the board is flagged, runs the PyBullet reject robot's pick and keeps a
frame of it. The line's counts on the page are the co-simulation's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twin.core.rng import generator
from twin.models.aoi.line import AOILineSpec
from twin.models.disturbances import defect_share

log = logging.getLogger(__name__)


@dataclass
class Shot:
    """The latest inspected board and robot frame, as JPEG bytes."""

    version: int = 0
    board_jpg: bytes = b""
    robot_jpg: bytes = b""
    robot_version: int = 0
    index: int = 0
    flagged: bool = False
    defective: bool = False
    findings: list[dict[str, Any]] = field(default_factory=list)
    p_defect: float = 0.0
    wall_ms: float = 0.0
    time: str = ""


MARK_MIN = 0.12  # a finding's mark spans at least this share of the image (visitors see it)


def draw_large(image: np.ndarray, findings: list[Any]) -> np.ndarray:
    """The board with each finding marked large enough to see from across a room: a thick red
    box at least :data:`MARK_MIN` of the image wide and its kind on a label."""
    import cv2

    out = np.ascontiguousarray(image.copy())
    if out.ndim == 2:
        out = cv2.cvtColor(out, cv2.COLOR_GRAY2RGB)
    h, w = out.shape[:2]
    side = int(MARK_MIN * max(h, w))
    thick = max(3, w // 120)
    red = (230, 30, 30)
    for f in findings:
        x0, y0, x1, y1 = (int(v) for v in f.box)
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        half_w, half_h = max((x1 - x0) // 2 + thick, side // 2), max((y1 - y0) // 2 + thick,
                                                                       side // 2)
        cv2.rectangle(out, (cx - half_w, cy - half_h), (cx + half_w, cy + half_h), red, thick)
        label = str(getattr(f, "kind", "")) or "defect"
        scale = w / 700.0
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
        ty = max(cy - half_h - 6, th + 6)
        cv2.rectangle(out, (cx - half_w, ty - th - 6), (cx - half_w + tw + 8, ty + 4), red, -1)
        cv2.putText(out, label, (cx - half_w + 4, ty), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (255, 255, 255), 2, cv2.LINE_AA)
    return out


def jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    """JPEG bytes of an RGB image."""
    import cv2

    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(image[:, :, ::-1]),
                            [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("cannot encode the image")
    return data.tobytes()


class AOICamera:
    """A worker thread that inspects a board every ``interval_s`` while the line produces.

    ``state`` returns ``(producing, simulated time text, windows in force)`` of the twin now.
    """

    def __init__(self, spec: AOILineSpec, seed: int,
                 state: Callable[[], tuple[bool, str, list[Any]]],
                 interval_s: float = 1.5, robot: bool = True) -> None:
        self.spec, self.seed, self.state = spec, int(seed), state
        self.interval_s, self.use_robot = float(interval_s), robot
        self.shot = Shot(p_defect=spec.p_defect)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rng = generator(seed, f"{spec.name}:camera")

    def start(self) -> AOICamera:
        """Start the worker."""
        self._thread = threading.Thread(target=self._main, name="aoi-camera", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the worker."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)

    def latest(self) -> Shot:
        """The latest shot (a copy of its fields)."""
        with self._lock:
            return Shot(**vars(self.shot))

    def _main(self) -> None:
        try:
            from twin.models.aoi.calibration import ImageInspector, SyntheticBoards

            boards = SyntheticBoards(self.spec.board, self.spec.um_per_px, self.spec.image_px,
                                     self.seed)
            inspect = ImageInspector(boards.golden, verifier=self.spec.verifier)
            robot = self._robot()
        except Exception:  # the page shows the line's counts without pictures
            log.exception("the AOI camera cannot start")
            return
        index = 0
        try:
            while not self._stop.wait(self.interval_s if index else 0.2):
                producing, when, active = self.state()
                if not producing and index:
                    continue
                index += 1
                self._shoot(index, when, active, boards, inspect, robot)
        finally:
            if robot is not None:
                robot.close()

    def _robot(self) -> Any:
        if not self.use_robot:
            return None
        try:
            from twin.models.aoi.robot import RejectRobot

            return RejectRobot()
        except Exception:
            log.exception("no reject robot: PyBullet cannot start")
            return None

    def _shoot(self, index: int, when: str, active: list[Any], boards: Any, inspect: Any,
               robot: Any) -> None:
        t0 = time.perf_counter()
        p = defect_share(self.spec.name, self.spec.p_defect, active)
        defective = bool(self._rng.random() < p)
        board = boards.draw(10_000_000 + index, defective)
        findings = [f for f in inspect(board) if getattr(f, "score", 1.0) >= self.spec.min_score]
        board_jpg = jpeg(draw_large(board.image, findings))
        robot_jpg = b""
        if findings and robot is not None:
            cycle = robot.pick_and_place(render_every=60)
            if cycle.frames:
                robot_jpg = jpeg(cycle.frames[len(cycle.frames) // 2])
        with self._lock:
            s = self.shot
            s.version += 1
            s.board_jpg, s.index, s.flagged = board_jpg, index, bool(findings)
            s.defective = bool(board.defects)
            s.findings = [{"kind": str(getattr(f, "kind", "")),
                           "score": round(float(getattr(f, "score", 1.0)), 2),
                           "box": [int(v) for v in f.box]} for f in findings]
            s.p_defect, s.time = p, when
            if robot_jpg:
                s.robot_jpg, s.robot_version = robot_jpg, s.version
            s.wall_ms = round((time.perf_counter() - t0) * 1000.0, 1)
