"""What a scenario says about an AOI line: :class:`AOILineSpec`, light (no SimPy, no vision).

The line itself (:mod:`twin.models.aoi.line`) imports it from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twin import data
from twin.core.fields import param

STATIONS = ("printer", "placement", "reflow", "aoi", "robot")
FIDELITIES = ("statistical", "full")
DAY_TYPE_NAMES = ("workday", "weekend", "holiday", "shutdown")
_D = data.load("aoi_line")


def parse_camera(value: Any) -> str:
    """Check a camera source: ``synthetic``, ``folder:PATH``, ``device:N`` or an RTSP URL."""
    text = str(value)
    if text == "synthetic" or text.startswith(("rtsp://", "rtsps://")):
        return text
    if text.startswith("folder:") and len(text) > len("folder:"):
        return text
    if text.startswith("device:") and text[len("device:"):].isdigit():
        return text
    raise ValueError(f"unknown camera source {text!r}")


def _days(value: Any) -> tuple[str, ...]:
    days = tuple(str(v) for v in (value if isinstance(value, list | tuple) else [value]))
    bad = [d for d in days if d not in DAY_TYPE_NAMES]
    if bad:
        raise ValueError(f"unknown day type {bad[0]!r}")
    return days


HOLD_KINDS = ("grid_outage", "demand_response", "price_signal")


def _hold_on(value: Any) -> tuple[str, ...]:
    kinds = tuple(str(v) for v in (value if isinstance(value, list | tuple) else [value]))
    bad = [k for k in kinds if k not in HOLD_KINDS]
    if bad:
        raise ValueError(f"unknown event kind {bad[0]!r} (expected {', '.join(HOLD_KINDS)})")
    return kinds


@dataclass(frozen=True)
class AOILineSpec:
    """A robotic SMT/AOI line; per-station tuples follow :data:`STATIONS`."""

    name: str = param(doc="unique entity name")
    fidelity: str = param(choices=FIDELITIES, default="statistical",
                          doc="full: board by board, really inspected; statistical: sampled")
    takt_s: float = param("s", gt=0, default=_D["takt_s"], doc="ideal placement cycle")
    shifts: int = param("1", ge=1, le=3, default=_D["shifts"], doc="shifts per production day")
    days: tuple[str, ...] = param(default=_D["days"], parse=_days, doc="producing day types",
                                  expect="a list of workday, weekend, holiday, shutdown")
    cycle_s: tuple[float, ...] = param("s", default=_D["cycle_s"], doc="ideal cycle per station")
    reflow_transit_s: float = param("s", gt=0, default=_D["reflow_transit_s"],
                                    doc="time a board spends in the oven")
    buffer_boards: tuple[int, ...] = param("boards", default=_D["buffer_boards"],
                                           doc="the four buffers between the stations")
    performance: float = param("1", gt=0, le=1, default=_D["performance"],
                               doc="ideal / mean actual placement cycle")
    mtbf_h: tuple[float, ...] = param("h", default=_D["mtbf_h"], doc="production hours between "
                                      "breakdowns per station (0: never)")
    mttr_min: tuple[float, ...] = param("min", default=_D["mttr_min"], doc="mean repair time")
    p_defect: float = param("1", ge=0, le=1, default=_D["p_defect"], doc="defective share")
    board: str = param(choices=("enig", "hasl"), default=_D["board"], doc="synthetic board")
    camera: str = param(default="synthetic", parse=parse_camera, doc="full mode's images",
                        expect="synthetic, folder:PATH, device:N or rtsp://...")
    um_per_px: float = param("um/px", ge=5, le=50, default=_D["um_per_px"], doc="resolution")
    image_px: int = param("px", ge=256, le=8192, default=_D["image_px"], doc="camera frame")
    verifier: str = param(default=_D["verifier"], doc="AOI verifier: none, default (CNN)")
    min_score: float = param("1", ge=0, default=_D["min_score"], doc="weakest flagging finding")
    robot: str = param(choices=("pybullet", "calibrated"), default="pybullet",
                       doc="full mode: simulate each pick, or draw calibrated cycle times")
    p_run_kw: tuple[float, ...] = param("kW", default=_D["p_run_kw"], doc="processing power")
    p_idle_kw: tuple[float, ...] = param("kW", default=_D["p_idle_kw"], doc="idle power")
    p_off_kw: tuple[float, ...] = param("kW", default=_D["p_off_kw"], doc="standby power")
    reflow_warmup_s: float = param("s", ge=0, default=_D["reflow_warmup_s"], doc="oven heat-up")
    reflow_warmup_kw: float = param("kW", ge=0, default=_D["reflow_warmup_kw"],
                                    doc="oven power while heating up")
    review_s: float = param("s", ge=0, default=_D["review_s"],
                            doc="full mode: an operator reviews each flagged board (0: none)")
    lot_boards: int = param("boards", ge=0, default=_D["lot_boards"],
                            doc="boards per product lot, then a changeover (0: none)")
    changeover_min: float = param("min", ge=0, default=_D["changeover_min"],
                                  doc="printer and placement changing over to the next product")
    hold_on: tuple[str, ...] = param(
        default=("grid_outage",), parse=_hold_on,
        doc="the park's events that hold the line: the printer stops, the line drains, the "
        "oven goes to standby when the hold is longer than its warm-up (grid_outage: "
        "unscheduled downtime, demand_response and price_signal: taken out of the planned "
        "time)")

    def __post_init__(self) -> None:
        for name in ("cycle_s", "mtbf_h", "mttr_min", "p_run_kw", "p_idle_kw", "p_off_kw"):
            values = getattr(self, name)
            if len(values) != len(STATIONS) or min(values) < 0:
                raise ValueError(f"{name}: expected {len(STATIONS)} numbers >= 0 "
                                 f"({', '.join(STATIONS)})")
        if len(self.buffer_boards) != len(STATIONS) - 1 or min(self.buffer_boards) < 1:
            raise ValueError("buffer_boards: expected 4 integers >= 1")
        for name in ("cycle_s", "mtbf_h", "mttr_min", "p_run_kw", "p_idle_kw", "p_off_kw",
                     "buffer_boards"):  # lists from JSON or mosaik become tuples
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "days", _days(self.days))
        object.__setattr__(self, "hold_on", _hold_on(self.hold_on))
