"""From the vision result to the robot: where a board goes, where it lies, and the takt.

- :func:`route`: a board with no finding passes; one whose findings are all part or solder
  faults goes to rework (a part replaced, re-placed or turned, a joint reflowed or cleared:
  the kinds IPC-7711/7721 rework covers); any bare-board fault (copper opened, shorted,
  added or bitten) scraps it: the etched copper cannot be restored under the mask. The
  split is this model's illustrative rule, not a standard's.
- :func:`board_offset_px`: where the camera found the board, from the inspection's warp
  (golden px -> test px): the shift of the image centre and the turn; the robot picks there
  (:meth:`twin.models.aoi.robot.RejectRobot.pick_and_place` ``pick_xy``), not where the
  simulator put the board.
- :func:`takt_check`: each station's time per board against the line's takt (the
  placement's ideal cycle): the AOI's time is its cycle or the vision's own compute time,
  whichever is longer; the robot's is its cycle times the share of boards it picks; the
  review station's its time times the share flagged. The line's takt is the placement
  machine's mean cycle (its ideal cycle ``takt_s`` over its ``performance``: the station the
  line is built around); the bottleneck is the station with the longest time per board, and
  the line keeps its takt when no other station needs longer than that. Means hide bursts:
  a robot slower than the pace falls behind during a run of rejects, and when its buffer is
  full the AOI stops; :func:`burst_absorbed` gives the longest run it takes, and the check
  how often a longer one comes at the picked share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from twin.models.aoi.spec import STATIONS, AOILineSpec

SCRAP_KINDS = frozenset({"open", "short", "mousebite", "spur", "pin_hole", "spurious_copper"})
REWORK_KINDS = frozenset({"missing", "shifted", "rotated", "tombstone", "polarity",
                          "solder_bridge", "insufficient_solder"})
ROUTES = ("pass", "rework", "scrap")


def route(findings: Sequence[Any]) -> str:
    """``pass`` (no finding), ``scrap`` (any bare-board fault) or ``rework`` (the rest: part
    and solder faults, and kinds this rule does not know, which a person should look at)."""
    if not findings:
        return "pass"
    return "scrap" if any(getattr(f, "kind", "") in SCRAP_KINDS for f in findings) else "rework"


class VisionResult(list):
    """Findings (a list) with where the camera found the board: ``offset_px`` (dx, dy of the
    image centre, test px) and ``turn_deg``; ``None`` where no alignment was made."""

    offset_px: tuple[float, float] | None = None
    turn_deg: float | None = None


def board_offset_px(warp: np.ndarray, shape: tuple[int, int]) -> tuple[float, float, float]:
    """(dx, dy, turn in degrees) of the board as the camera saw it: the warp (golden px ->
    test px) applied to the image centre, less the centre."""
    h, w = shape
    c = np.array([w / 2.0, h / 2.0])
    m = np.asarray(warp, float)
    moved = m[:, :2] @ c + m[:, 2]
    return (float(moved[0] - c[0]), float(moved[1] - c[1]),
            math.degrees(math.atan2(m[1, 0], m[0, 0])))


def pick_xy(nominal_xy_m: tuple[float, float], offset_px: tuple[float, float] | None,
            um_per_px: float) -> tuple[float, float]:
    """Where the robot picks (m, conveyor frame): the nominal place moved by the vision's
    offset (image x runs along the belt, y across it)."""
    if offset_px is None:
        return nominal_xy_m
    dx, dy = offset_px
    return (nominal_xy_m[0] + dy * um_per_px * 1e-6, nominal_xy_m[1] + dx * um_per_px * 1e-6)


@dataclass(frozen=True)
class TaktCheck:
    """Each station's mean time per board (s), the takt, the bottleneck and whether it holds."""

    takt_s: float
    per_board_s: dict[str, float]
    bottleneck: str
    holds: bool
    burst_boards: int | None = None  # rejects in a row the robot's buffer absorbs (None: any)
    buffer_boards: int = 0  # the buffer before the robot
    picked_share: float = 0.0

    def burst_every_boards(self) -> float | None:
        """Boards between bursts longer than the buffer absorbs (rejects drawn independently
        at ``picked_share``: a run of ``burst_boards + 1`` picks starts at a board with
        probability (1 - p) p^(n+1)); ``None`` when any burst is absorbed."""
        if self.burst_boards is None:
            return None
        p = self.picked_share
        rate = (1.0 - p) * p ** (self.burst_boards + 1)
        return math.inf if rate <= 0.0 else 1.0 / rate

    def utilisation(self) -> dict[str, float]:
        """Each station's time per board over the takt."""
        return {k: v / self.takt_s for k, v in self.per_board_s.items()}

    def message(self) -> str:
        """One line: the bottleneck and whether the line keeps its takt."""
        t = self.per_board_s[self.bottleneck]
        if self.holds:
            burst = ""
            if self.burst_boards is not None:
                every = self.burst_every_boards()
                burst = (f"; more than {self.burst_boards} rejects in a row fill the robot's "
                         f"{self.buffer_boards}-board buffer and stop the AOI (about once in "
                         f"{every:,.0f} boards at {self.picked_share:.1%} picked)"
                         if every is not None and math.isfinite(every) else "")
            return (f"takt {self.takt_s:.1f} s holds; the busiest station is {self.bottleneck} "
                    f"({t:.1f} s per board, {t / self.takt_s:.0%} of the takt){burst}")
        return (f"{self.bottleneck} is the bottleneck: {t:.1f} s per board > takt "
                f"{self.takt_s:.1f} s (the line makes {3600 / t:.0f} boards/h, not "
                f"{3600 / self.takt_s:.0f})")


def takt_check(spec: AOILineSpec, robot_cycle_s: float, vision_s: float = 0.0,
               picked_share: float = 1.0, flagged_share: float | None = None) -> TaktCheck:
    """The line's station times per board against its takt (the module doc).

    ``robot_cycle_s``: one pick-and-place; ``vision_s``: the inspection's compute time per
    board; ``picked_share``: the share of boards the robot picks (flagged, not released);
    ``flagged_share``: the share the review station sees (default ``picked_share``).
    """
    for name, v in (("picked_share", picked_share), ("flagged_share", flagged_share)):
        if v is not None and not 0.0 <= v <= 1.0:
            raise ValueError(f"{name}: expected 0..1, got {v}")
    cyc = list(spec.cycle_s)
    times = {STATIONS[0]: cyc[0], STATIONS[1]: spec.takt_s / spec.performance,
             STATIONS[2]: cyc[2], STATIONS[3]: max(cyc[3], vision_s)}
    if spec.review_s > 0:
        times["review"] = spec.review_s * (picked_share if flagged_share is None else flagged_share)
    times[STATIONS[4]] = (cyc[4] or robot_cycle_s) * picked_share
    takt = times[STATIONS[1]]
    neck = max(times, key=lambda k: (times[k], k == STATIONS[1]))
    buffer = spec.buffer_boards[3]
    return TaktCheck(takt, times, neck, times[neck] <= takt * (1 + 1e-9),
                     burst_absorbed(takt, cyc[4] or robot_cycle_s, buffer), buffer, picked_share)


def burst_absorbed(pace_s: float, robot_s: float, buffer: int) -> int | None:
    """The longest run of rejected boards, one every ``pace_s``, that a robot of cycle
    ``robot_s`` takes without its buffer of ``buffer`` boards filling (the AOI then waits to
    put the next one down); ``None`` when the robot keeps the pace (any run).

    The robot, busy from the first reject on, starts the j-th at j * robot_s; when the k-th
    arrives at k * pace_s, the earlier ones not yet started wait in the buffer:
    k - 1 - floor(k * pace_s / robot_s) of them; the k-th finds it full when that reaches
    ``buffer``.
    """
    if robot_s <= pace_s:
        return None
    k = 1
    while k - 1 - math.floor(k * pace_s / robot_s) < buffer:
        k += 1
    return k
