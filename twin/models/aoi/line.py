"""The park's robotic SMT/AOI line: printer -> placement -> reflow oven -> AOI -> reject robot.

Boards flow through five stations with buffers between them; the AOI flags boards, the reject
robot moves flagged boards to a tray, the others leave the line as good. Stations break down
(time to failure exponential in production hours with mean ``mtbf_h``, repair exponential
with mean ``mttr_min``) from one schedule per station that both fidelities share, so their
results can be compared on the same breakdowns.

Two fidelities behind one interface (``step(epoch_s, dt_s) -> LineOutput``):

* :class:`FullLine`: a SimPy model, board by board: each board is generated and really
  inspected (a :class:`BoardSource` and an :class:`Inspector`); the robot's cycle time comes
  from a PyBullet pick per rejected board (:mod:`twin.models.aoi.robot`) or from the calibration.
* :class:`StatisticalLine`: per interval, aggregated: production time from the shift windows
  minus breakdown stops (less what the buffers absorb), counts from the placement machine's
  mean cycle, outcomes drawn as binomials with the calibrated detection and false-call
  probabilities (:class:`Calibration`). Cheap enough for a year at 15-minute steps.

Shifts: ``shifts`` windows per production day from ``loads_profiles.yaml`` ``shift_windows_h``
(local time); the day types that produce are ``days``. At a window's end the printer stops
and the line drains. Electric power follows each station's state: off (standby) outside
the on-window (production window plus drain), idle when on, running while processing; the
oven warms up for ``reflow_warmup_s`` before each on-window after a gap.

KPIs per interval (``LineOutput``): OEE = availability x performance x quality (the product
SEMI E79, "Specification for Definition and Measurement of Equipment Productivity", defines),
measured at the placement machine (the bottleneck): availability = its processing time /
planned time (planned: the shift windows plus any processing after them), performance = ideal
cycle time x boards / processing time, quality = first-pass yield = boards passed / boards
inspected. Each factor is <= 1 by construction. Which time is planned follows the equipment
states of SEMI E10 ("Specification for Definition and Measurement of Equipment Reliability,
Availability, and Maintainability (RAM) and Utilization"): outside the shifts is
non-scheduled time; a breakdown is unscheduled downtime; the park's holds (``hold_on``) are a
grid outage, kept as unscheduled downtime (facilities-related: planned time the line cannot
use, lowering availability), and a demand-response request, taken as non-scheduled time (out
of the planned time). The mapping of the factors onto these states is this model's own
reading, not the standard's text. ``escape_rate`` and ``false_call_rate`` are per board
inspected: defective boards passed, good boards rejected. Where the truth of a board is
unknown (a camera or an image folder), they are unknown, not zero: ``calls_unreviewed``
counts flagged boards whose truth nobody gave (false calls are among them) and
``passes_unverified`` passed boards whose truth is unknown (escapes are among them); a rate
whose count is not zero is NaN. A review station (``review_s`` > 0, full mode) gives each
flagged board's truth: an operator (``reviewer``) confirms the call (to the reject robot)
or overrides it (the board leaves as good, ``boards_released``); without a reviewer the
synthetic truth stands for a perfect operator.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import simpy

from twin.core.quantities import Quantity
from twin.core.rng import generator
from twin.models.aoi.routing import board_offset_px, pick_xy, route
from twin.models.aoi.schedule import Breakdowns, ShiftClock, overlap_s, shift_windows_h
from twin.models.aoi.spec import STATIONS, AOILineSpec  # re-exported: the scenario's light spec

PRINTER, PLACEMENT, REFLOW, AOI, ROBOT = range(5)


@dataclass(frozen=True)
class Calibration:
    """What statistical mode samples from (measured by :mod:`twin.models.aoi.calibration`)."""

    p_flag_defective: float  # P(board flagged | board defective)
    p_false_call: float  # P(board flagged | board good)
    robot_cycle_s: float  # mean robot pick-and-place cycle (simulated s)
    robot_cycle_sd_s: float = 0.0
    detect_p: dict[str, float] = field(default_factory=dict)  # per defect kind
    inspect_wall_s: float = 0.0  # mean inspection compute time per board
    source: str = ""

    def cycle(self, rng: np.random.Generator) -> float:
        """One robot cycle time drawn around the calibrated mean (s, >= half the mean)."""
        return max(0.5 * self.robot_cycle_s,
                   self.robot_cycle_s + self.robot_cycle_sd_s * rng.standard_normal())


PERFECT = Calibration(p_flag_defective=1.0, p_false_call=0.0, robot_cycle_s=3.0,
                      source="a perfect inspector")


@dataclass(frozen=True)
class LineOutput:
    """What the line did in one interval (counts are boards; rates per board inspected)."""

    p_mw: float  # mean electric power over the interval
    e_kwh: float
    boards_in: int
    boards_out: int  # inspected and left the line (passed or rejected)
    boards_good: int  # passed the AOI
    boards_rejected: int  # flagged and moved to the tray
    boards_defective: int  # truth (synthetic boards); escapes + flagged defective
    boards_escaped: int  # defective but passed
    false_calls: int  # good but flagged
    throughput_per_h: float
    availability: float
    performance: float
    quality: float
    oee: float
    fpy: float
    wip: int
    lead_time_s: float
    escape_rate: float
    false_call_rate: float
    kwh_per_board: float
    kgco2_per_board: float
    planned_s: float
    busy_s: float  # placement processing time
    calls_unreviewed: int = 0  # flagged, truth unknown: the false-call rate is unknown
    passes_unverified: int = 0  # passed, truth unknown: the escape rate is unknown
    boards_released: int = 0  # flagged, overridden at review, left as good
    held_s: float = 0.0  # shift time the park held the line (an outage, a demand response)
    changeovers: int = 0  # product changeovers started
    boards_held: float = 0.0  # boards not made while held: held shift time / mean placement cycle


# What a line gives each step (recorded): fields of LineOutput.
OUTPUTS = (
    Quantity("p_mw", "MW", "electric load of the line (mean over its step)"),
    Quantity("e_kwh", "kWh", "electric energy in the step", "sum"),
    Quantity("boards_in", "1", "boards started at the printer", "sum"),
    Quantity("boards_out", "1", "boards inspected that left the line (passed or rejected)", "sum"),
    Quantity("boards_good", "1", "boards that passed the AOI", "sum"),
    Quantity("boards_rejected", "1", "boards flagged and moved to the reject tray", "sum"),
    Quantity("boards_escaped", "1", "defective boards that passed", "sum"),
    Quantity("false_calls", "1", "good boards rejected", "sum"),
    Quantity("throughput_per_h", "1/h", "boards out per hour"),
    Quantity("availability", "1", "placement processing time / planned time"),
    Quantity("performance", "1", "ideal cycle x boards / processing time (placement)"),
    Quantity("oee", "1", "availability x performance x quality"),
    Quantity("fpy", "1", "first-pass yield: boards passed / boards inspected"),
    Quantity("wip", "1", "boards in the line at the end of the step"),
    Quantity("lead_time_s", "s", "mean time from printer to leaving the line"),
    Quantity("escape_rate", "1", "defective boards passed per board inspected"),
    Quantity("false_call_rate", "1", "good boards rejected per board inspected"),
    Quantity("kwh_per_board", "kWh", "electric energy per board out in the step"),
    Quantity("kgco2_per_board", "kg", "CO2 per board out in the step"),
    Quantity("calls_unreviewed", "1", "flagged boards whose truth is unknown (false-call rate "
             "unknown while not 0)", "sum"),
    Quantity("passes_unverified", "1", "passed boards whose truth is unknown (escape rate "
             "unknown while not 0)", "sum"),
    Quantity("boards_released", "1", "flagged boards an operator overrode at review", "sum"),
    Quantity("changeovers", "1", "product changeovers started (lot_boards boards per lot)",
             "sum"),
    Quantity("held_s", "s", "shift time the park held the line (a grid outage, a demand-"
             "response request)", "sum"),
    Quantity("boards_held", "1", "boards not made while the park held the line (its held "
             "shift time over the placement's mean cycle)", "sum"),
)
# What is recorded: the outputs, with a step without boards out flagged (``producing`` = 0)
# and its per-board ratios (PER_BOARD) recorded as 0, never NaN.
PRODUCING = Quantity("producing", "1", "1 when boards left the line in the step, else 0 (its "
                     "per-board ratios are then recorded as 0, not NaN)")
# What a demand-response request could take off the line (its flexibility, for the EMS) and
# what a hold in force takes off.
P_FLEX = Quantity("p_flex_mw", "MW", "load a demand-response hold would take off: the step's "
                  "mean power above standby (0 when no request or price signal holds the line)")
P_HELD = Quantity("p_held_mw", "MW", "load the park's hold takes off the line in the step: "
                  "its held share of the step times its last producing step's power above "
                  "standby (0 when no request or price signal holds the line)")
RECORDED = (*OUTPUTS, PRODUCING, P_FLEX, P_HELD)
PER_BOARD = ("availability", "performance", "oee", "fpy", "lead_time_s", "escape_rate",
             "false_call_rate", "kwh_per_board", "kgco2_per_board")


class LineBase:
    """What both fidelities share: spec, clock, breakdowns, power and KPI bookkeeping."""

    def __init__(self, spec: AOILineSpec, start_epoch_s: float, seed: int = 0,
                 calibration: Calibration = PERFECT, co2_kg_per_kwh: float = 0.0,
                 day_type: Callable[[int], str] | None = None,
                 utc_offset_s: int = 8 * 3600) -> None:
        self.spec = spec
        self.calibration = calibration
        self.co2_kg_per_kwh = co2_kg_per_kwh
        self.t = float(start_epoch_s)
        cyc = list(spec.cycle_s)
        cyc[PLACEMENT] = spec.takt_s
        cyc[ROBOT] = cyc[ROBOT] or calibration.robot_cycle_s
        self.cycle_s = cyc
        self.mean_cycle_s = spec.takt_s / spec.performance
        self.lag_s = cyc[REFLOW] + spec.reflow_transit_s + cyc[AOI]
        self.drain_boards = spec.buffer_boards[0] + 1
        self.oven_slots = math.ceil(spec.reflow_transit_s / cyc[REFLOW]) if cyc[REFLOW] else 1
        drain_s = self.drain_boards * self.mean_cycle_s + self.lag_s + cyc[ROBOT]
        self.clock = ShiftClock(shift_windows_h(spec.shifts), spec.days, day_type, utc_offset_s,
                                drain_s=drain_s, warmup_s=spec.reflow_warmup_s)
        self.breakdowns = Breakdowns(self.clock, spec.mtbf_h, spec.mttr_min,
                                     [generator(seed, f"{spec.name}:breakdown:{s}")
                                      for s in STATIONS], self.t)
        self.rng = generator(seed, f"{spec.name}:boards")
        self.p_defect = spec.p_defect  # defective share now (a defect burst raises it)
        #: the defective share at an epoch second, where it changes within a step (full mode
        #: draws each board's truth at its inspection time); None: ``p_defect`` throughout
        self.p_defect_at: Callable[[float], float] | None = None
        self.totals: dict[str, float] = {}
        self.wip = 0

    def energy_kwh(self, t0: float, t1: float, busy_s: Sequence[float]) -> float:
        """Electric energy of the line in [t0, t1) given each station's processing time."""
        s = self.spec
        on, warm = self.clock.on_warm_s(t0, t1)
        dt = t1 - t0
        e = 0.0
        for k in range(len(STATIONS)):
            w = warm if k == REFLOW else 0.0
            e += (s.p_off_kw[k] * max(dt - on - w, 0.0) + s.p_idle_kw[k] * on
                  + (s.p_run_kw[k] - s.p_idle_kw[k]) * busy_s[k])
        return (e + s.reflow_warmup_kw * warm) / 3600.0

    def _output(self, t0: float, t1: float, c: dict[str, float]) -> LineOutput:
        """Make the interval's output from its counts and add them to the run's totals."""
        self._tally(c)
        return self._kpis(t1 - t0, c)

    def _tally(self, c: dict[str, float]) -> None:
        """Add an interval's counts to the run's totals."""
        for key, value in c.items():
            self.totals[key] = self.totals.get(key, 0.0) + value

    def _kpis(self, dt_s: float, c: dict[str, float]) -> LineOutput:
        out, good, e = c["out"], c["good"], c["e_kwh"]
        planned = c["planned_s"] + c["busy_outside_s"]
        busy = c["busy_s"]
        avail = busy / planned if planned > 0 else math.nan
        perf = self.spec.takt_s * c["n_equiv"] / busy if busy > 0 else math.nan
        quality = good / out if out else math.nan
        nan = math.nan
        return LineOutput(
            p_mw=e / 1000.0 / (dt_s / 3600.0) if dt_s > 0 else 0.0, e_kwh=e,
            boards_in=int(c["in"]), boards_out=int(out), boards_good=int(good),
            boards_rejected=int(c["rejected"]), boards_defective=int(c["defective"]),
            boards_escaped=int(c["escaped"]), false_calls=int(c["false_calls"]),
            throughput_per_h=out / (dt_s / 3600.0) if dt_s > 0 else 0.0,
            availability=avail, performance=perf, quality=quality,
            oee=avail * perf * quality if planned > 0 and busy > 0 and out else nan,
            fpy=quality, wip=int(self.wip),
            lead_time_s=c["lead_sum_s"] / out if out else nan,
            escape_rate=c["escaped"] / out if out and not c.get("passes_unverified") else nan,
            false_call_rate=(c["false_calls"] / out if out and not c.get("calls_unreviewed")
                             else nan),
            kwh_per_board=e / out if out else nan,
            kgco2_per_board=e * self.co2_kg_per_kwh / out if out else nan,
            planned_s=c["planned_s"], busy_s=busy,
            calls_unreviewed=int(c.get("calls_unreviewed", 0)),
            passes_unverified=int(c.get("passes_unverified", 0)),
            boards_released=int(c.get("released", 0)), held_s=c.get("held_s", 0.0),
            changeovers=int(c.get("changeovers", 0)),
            boards_held=c.get("held_s", 0.0) * self.spec.performance / self.spec.takt_s)

    def summary(self) -> LineOutput:
        """The whole run so far as one interval."""
        return self._kpis(self.totals.get("dt_s", 0.0), {**_ZERO, **self.totals})

    def step(self, epoch_s: float, dt_s: float) -> LineOutput:
        """Advance the line over [epoch_s, epoch_s + dt_s); what it did in that interval."""
        raise NotImplementedError

    def skip(self, n_steps: int, dt_s: float) -> None:
        """Run ``n_steps`` steps of ``dt_s`` from the line's time unreported (a run started
        inside a longer period, the line made at that period's start: its breakdowns, boards
        on the way and random draws go on as in a run from there); the totals start at zero."""
        for _ in range(int(n_steps)):
            self.step(self.t, dt_s)
        self.totals = {}


_ZERO = {k: 0.0 for k in ("in", "out", "good", "rejected", "defective", "escaped", "false_calls",
                          "e_kwh", "planned_s", "busy_outside_s", "busy_s", "n_equiv",
                          "lead_sum_s", "dt_s", "calls_unreviewed", "passes_unverified",
                          "released", "held_s", "changeovers", "rework", "scrap",
                          "picks_missed")}


# ----------------------------------------------------------------------------- statistical
class StatisticalLine(LineBase):
    """The line per interval: production time, mean cycles and binomial outcomes."""

    def __init__(self, spec: AOILineSpec, start_epoch_s: float, **kwargs: Any) -> None:
        super().__init__(spec, start_epoch_s, **kwargs)
        c, b = self.mean_cycle_s, spec.buffer_boards
        p_reject = max(spec.p_defect * self.calibration.p_flag_defective
                       + (1 - spec.p_defect) * self.calibration.p_false_call, 1e-3)
        oven_room = max(self.oven_slots - spec.reflow_transit_s / c, 0.0)
        aoi_slack = (b[1] + b[2] + oven_room) * c
        # how long each station's stop is absorbed by the buffers around the bottleneck
        self.slack_s = (b[0] * c, 0.0, b[1] * c, aoi_slack,
                        aoi_slack + b[3] / p_reject * c)
        self.upstream_s = self.drain_boards * c  # waiting in front of the placement
        self._frac = 0.0
        self._made = 0.0  # boards made so far (lots: every lot_boards, a changeover)
        self._changeover_due = 0.0  # changeover time not yet taken out of production (s)
        self._chunks: list[list[float]] = []  # [first exit, last exit, boards, released]
        # the last idle step: (its length and WIP, its counts, its output), see step
        self._idle: tuple[tuple[float, int], dict[str, float], LineOutput] | None = None

    def _stop_s(self, t0: float, t1: float, wins: list[tuple[float, float]]) -> float:
        cut: list[tuple[float, float]] = []
        for k in range(len(STATIONS)):
            for a, b in self.breakdowns.downs(k, t0 - self.slack_s[k], t1):
                if b - a > self.slack_s[k]:
                    cut.append((a + self.slack_s[k], b))
        if not cut:
            return 0.0
        cut.sort()
        merged = [list(cut[0])]
        for a, b in cut[1:]:
            if a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        return sum(overlap_s(max(a, wa), min(b, wb), t0, t1)
                   for a, b in merged for wa, wb in wins)

    def step(self, epoch_s: float, dt_s: float) -> LineOutput:
        """As :meth:`LineBase.step`. An idle step (no shift near it, no boards on their way
        out, no board due: the line off, drawing its standby) gives what the last idle step
        of the same length and WIP gave, its counts added to the totals again (they depend
        on nothing else: no draw, no breakdown, no hold counts outside the shifts)."""
        t0, t1 = float(epoch_s), float(epoch_s + dt_s)
        clock = self.clock
        quiet = (not self._chunks and int(self._frac + 1e-9) == 0 and not clock.shift_windows(
            t0 - clock.drain_s - clock.warmup_s, t1 + clock.warmup_s))
        key = (t1 - t0, self.wip)
        idle = self._idle
        if quiet and idle is not None and idle[0] == key:
            self._tally(idle[1])
            self.t = t1
            return idle[2]
        c = self._counts(t0, t1)
        out = self._output(t0, t1, c)
        if quiet:
            self._idle = (key, c, out)
        return out

    def skip(self, n_steps: int, dt_s: float) -> None:
        for _ in range(int(n_steps)):  # as LineBase.skip, the KPIs not worked out
            self._counts(self.t, self.t + dt_s, kpis=False)

    def _counts(self, t0: float, t1: float, kpis: bool = True) -> dict[str, float]:
        """Advance the line over [t0, t1); the interval's counts (without ``kpis``, the
        energy, planned and held time, which change nothing, left at zero)."""
        wins = self.clock.windows(t0, t1)
        prod = sum(overlap_s(a, b, t0, t1) for a, b in wins)
        planned = (0.0 if not kpis else prod if self.clock.holds is None
                   else self.clock.planned_s(t0, t1))
        produced = drain_s = 0.0
        changeovers = 0
        fill = span = None
        if wins:
            run = prod - self._stop_s(t0, t1, wins)
            starts = sum(1 for a, _ in wins if t0 <= a < t1)
            ends = sum(1 for _, b in wins if t0 < b <= t1)
            drain_s = ends * self.drain_boards * self.mean_cycle_s
            run, changeovers = self._changeovers(run, drain_s)
            produced = (run + drain_s) / self.mean_cycle_s
            fill = (starts - ends) * self.drain_boards
            span = (max(wins[0][0], t0), min(wins[-1][1], t1) + drain_s)
        self._frac += produced
        n = int(self._frac + 1e-9)
        self._frac -= n
        n_in = n + (fill or 0)
        if n and span is not None:
            self._chunks.append([span[0] + self.lag_s, span[1] + self.lag_s, n, 0])
        out = self._release(t1)
        cal, rng = self.calibration, self.rng
        defective = int(rng.binomial(out, self.p_defect)) if out else 0
        caught = int(rng.binomial(defective, cal.p_flag_defective)) if defective else 0
        false_calls = int(rng.binomial(out - defective, cal.p_false_call)) if out else 0
        rejected = caught + false_calls
        self.wip += n_in - out
        c = self.cycle_s
        busy = (n_in * c[PRINTER], produced * self.mean_cycle_s, n * c[REFLOW], out * c[AOI],
                rejected * c[ROBOT])
        lead = self.upstream_s + self.mean_cycle_s + self.lag_s
        counts = {"in": n_in, "out": out, "good": out - rejected, "rejected": rejected,
                  "defective": defective, "escaped": defective - caught,
                  "false_calls": false_calls,
                  "e_kwh": self.energy_kwh(t0, t1, busy) if kpis else 0.0,
                  "planned_s": planned, "busy_outside_s": drain_s,
                  "busy_s": produced * self.mean_cycle_s, "n_equiv": produced,
                  "lead_sum_s": out * lead + rejected * c[ROBOT], "dt_s": t1 - t0,
                  "held_s": self.clock.held_s(t0, t1) if kpis else 0.0,
                  "changeovers": changeovers}
        self.t = t1
        return counts

    def _changeovers(self, run: float, drain_s: float) -> tuple[float, int]:
        """Production time left after the changeovers (one when the boards made reach a
        multiple of ``lot_boards``; one longer than the step's time goes on into the next
        steps), and the changeovers started in the step."""
        lot, c = self.spec.lot_boards, self.mean_cycle_s
        if not lot:
            return run, 0
        left, started, stopped = run, 0, 0.0
        while True:
            taken = min(self._changeover_due, left)
            self._changeover_due -= taken
            left -= taken
            stopped += taken
            to_next = (math.floor(self._made / lot + 1e-9) + 1) * lot - self._made
            if left <= 0 or to_next * c > left:
                self._made += max(left, 0.0) / c
                break
            self._made += to_next
            left -= to_next * c
            started += 1
            self._changeover_due += self.spec.changeover_min * 60.0
        self._made += drain_s / c
        return run - stopped, started

    def _release(self, t1: float) -> int:
        """Boards whose exit time (spread evenly over their chunk) is before ``t1``."""
        out = 0
        for chunk in self._chunks:
            first, last, n, done = chunk
            if t1 <= first:
                break
            frac = 1.0 if t1 >= last or last <= first else (t1 - first) / (last - first)
            k = int(n * frac + 1e-9) - int(done)
            chunk[3] = done + k
            out += k
        while self._chunks and self._chunks[0][3] >= self._chunks[0][2]:
            self._chunks.pop(0)
        return out


# ----------------------------------------------------------------------------- full
class BoardSource(Protocol):
    """Boards with ``image`` (H, W, 3 uint8 RGB) and ``defects`` (``None``: truth unknown)."""

    golden: np.ndarray

    def draw(self, index: int, defective: bool) -> Any: ...


class Inspector(Protocol):
    """Findings (``box`` x0, y0, x1, y1, ``kind``, ``score``) on a board."""

    def __call__(self, board: Any) -> list[Any]: ...


@dataclass
class BoardEvent:
    """A board that left the line, for a caller that shows or stores it."""

    index: int
    t_in_s: float
    t_out_s: float
    defective: bool | None
    rejected: bool
    findings: list[Any]
    image: np.ndarray | None = None  # with the findings drawn
    robot_frames: list[np.ndarray] = field(default_factory=list)
    robot_cycle_s: float = 0.0
    route: str = "pass"  # pass, rework or scrap (routing.route of the findings)
    picked: bool = True  # a robot pick landed the board in its tray (or none was needed)


class FullLine(LineBase):
    """The line board by board in SimPy, with real inspection and (optionally) a real robot.

    ``robot`` is a :class:`twin.models.aoi.robot.RejectRobot` (or ``None`` to draw cycle times
    from the calibration); ``reviewer(sample, findings) -> bool | None`` is the operator at
    the review station (``spec.review_s`` > 0): True confirms a defect, False overrides the
    call, None leaves it unknown (default: the sample's truth, a perfect operator); ``on_board`` receives a :class:`BoardEvent` per board out, with
    the image annotated by ``draw(image, findings)`` (e.g.
    :func:`twin.models.aoi.calibration.draw_findings`) and the robot's frames (``render_every`` > 0).
    """

    def __init__(self, spec: AOILineSpec, start_epoch_s: float, *, boards: BoardSource,
                 inspector: Inspector, robot: Any = None,
                 reviewer: Callable[[Any, list[Any]], bool | None] | None = None,
                 on_board: Callable[[BoardEvent], None] | None = None,
                 draw: Callable[[np.ndarray, list[Any]], np.ndarray] | None = None,
                 render_every: int = 0, **kwargs: Any) -> None:
        super().__init__(spec, start_epoch_s, **kwargs)
        self.boards, self.inspector, self.robot = boards, inspector, robot
        self.reviewer = reviewer
        self.on_board, self.draw, self.render_every = on_board, draw, render_every
        self.cycle_rng = generator(kwargs.get("seed", 0), f"{spec.name}:cycle")
        self.env = simpy.Environment(initial_time=self.t)
        b = spec.buffer_boards
        self.buf = [simpy.Store(self.env, b[0]), simpy.Store(self.env, b[1]),
                    simpy.Store(self.env), simpy.Store(self.env, b[3])]
        self.slots = simpy.Container(self.env, self.oven_slots + b[2], init=self.oven_slots + b[2])
        self.review_buf = simpy.Store(self.env, b[3])
        self._active: list[tuple[float, float, float] | None] = [None] * len(STATIONS)
        self._c = dict(_ZERO)
        self._busy = [0.0] * len(STATIONS)
        self._lb = self.t  # start of the current interval
        self._index = 0
        self._changed = False  # the changeover before board _index is done
        for proc in (self._printer, self._placement, self._oven, self._aoi, self._robot,
                     self._review):
            self.env.process(proc())

    # -- bookkeeping
    def _credit(self, k: int, a: float, b: float, work: float) -> None:
        if b <= a:
            return
        done = (b - a) - self.breakdowns.down_s(k, a, b)
        self._busy[k] += done
        if k == PLACEMENT:
            self._c["busy_s"] += done
            self._c["n_equiv"] += done / work
            self._c["busy_outside_s"] += max(0.0, done - self.clock.planned_s(a, b))

    def _work(self, k: int, work: float) -> Any:
        start = self.env.now
        end = self.breakdowns.finish(k, start, work)
        self._active[k] = (start, end, work)
        yield self.env.timeout(end - start)
        self._credit(k, max(start, self._lb), end, work)
        self._active[k] = None

    # -- stations
    def _printer(self) -> Any:
        while True:
            if not self.clock.producing(self.env.now):
                yield self.env.timeout(self.clock.next_start(self.env.now) - self.env.now)
                continue
            lot = self.spec.lot_boards
            if lot and self._index and self._index % lot == 0 and not self._changed:
                self._c["changeovers"] += 1  # the next product: feeders, stencil, programme
                self._changed = True
                yield from self._changeover()
                continue
            self._changed = False
            board = {"index": self._index, "t_in": self.env.now}
            self._index += 1
            self._c["in"] += 1
            self.wip += 1
            yield from self._work(PRINTER, self.cycle_s[PRINTER])
            yield self.buf[0].put(board)

    def _changeover(self) -> Any:
        """The printer (and so the placement) stops for the changeover's production time."""
        end = self.clock.advance(self.env.now, self.spec.changeover_min * 60.0)
        if not math.isinf(end):
            yield self.env.timeout(end - self.env.now)

    def _placement(self) -> Any:
        extra = self.spec.takt_s * (1.0 / self.spec.performance - 1.0)
        while True:
            board = yield self.buf[0].get()
            work = self.spec.takt_s + (self.cycle_rng.exponential(extra) if extra else 0.0)
            yield from self._work(PLACEMENT, work)
            yield self.buf[1].put(board)

    def _oven(self) -> Any:
        while True:
            board = yield self.buf[1].get()
            yield self.slots.get(1)
            yield from self._work(REFLOW, self.cycle_s[REFLOW])
            self.env.process(self._transit(board))

    def _transit(self, board: dict[str, Any]) -> Any:
        yield self.env.timeout(self.spec.reflow_transit_s)
        yield self.buf[2].put(board)

    def _aoi(self) -> Any:
        while True:
            board = yield self.buf[2].get()
            yield self.slots.put(1)
            yield from self._work(AOI, self.cycle_s[AOI])
            self._inspect(board)
            if board["flagged"] and self.spec.review_s > 0:
                yield self.review_buf.put(board)
            elif board["flagged"]:
                yield self.buf[3].put(board)
            else:
                self._leave(board)

    def _review(self) -> Any:
        """The review station: an operator looks at each flagged board and its findings."""
        while True:
            board = yield self.review_buf.get()
            yield self.env.timeout(self.spec.review_s)
            sample = board.pop("sample", None)
            if self.reviewer is not None:
                verdict = self.reviewer(sample, board["findings"])
            else:
                verdict = board["defective"]
            if board["defective"] is None and verdict is not None:
                board["defective"] = bool(verdict)
            if verdict is False:
                board["released"] = True
                self._leave(board)
            else:
                yield self.buf[3].put(board)

    def _robot(self) -> Any:
        while True:
            board = yield self.buf[3].get()
            if self.robot is not None:  # picks where the camera found the board
                nominal = self.robot.scene.conveyor_xy_m
                um = board.get("um_per_px", 20.0)
                cycle = self.robot.pick_and_place(
                    pick_xy(nominal, board.get("true_offset_px"), um),
                    render_every=self.render_every,
                    pick_xy=pick_xy(nominal, board.get("offset_px"), um),
                    tray="rework" if board["route"] == "rework" else "scrap")
                board["robot_cycle_s"], board["frames"] = cycle.cycle_s, cycle.frames
                board["picked"] = cycle.success
                self._c["picks_missed"] += not cycle.success
            else:
                board["robot_cycle_s"], board["frames"] = self.calibration.cycle(self.rng), []
            yield from self._work(ROBOT, board["robot_cycle_s"])
            self._leave(board)

    # -- boards
    def _inspect(self, board: dict[str, Any]) -> None:
        p_defect = self.p_defect if self.p_defect_at is None else self.p_defect_at(self.env.now)
        defective = bool(self.rng.random() < p_defect)
        sample = self.boards.draw(board["index"], defective)
        result = self.inspector(sample)
        findings = [f for f in result if getattr(f, "score", 1.0) >= self.spec.min_score]
        board["route"] = route(findings)
        board["offset_px"] = getattr(result, "offset_px", None)
        pose = (getattr(sample, "variation", None) or {}).get("pose")
        if pose is not None:
            board["true_offset_px"] = board_offset_px(pose, sample.image.shape[:2])[:2]
        board["um_per_px"] = float(getattr(sample, "um_per_px", 20.0) or 20.0)
        truth = getattr(sample, "defects", None)
        board["defective"] = None if truth is None else bool(len(truth))
        board["flagged"] = bool(findings)
        board["findings"] = findings
        if board["flagged"] and self.spec.review_s > 0:
            board["sample"] = sample
        if self.draw is not None:
            board["image"] = self.draw(sample.image, findings)

    def _leave(self, board: dict[str, Any]) -> None:
        c, now = self._c, self.env.now
        flagged, defective = board["flagged"], board["defective"]
        released = board.get("released", False)
        c["out"] += 1
        c["good"] += not flagged
        c["rejected"] += flagged and not released
        if flagged and not released:
            c[board["route"]] += 1
        c["released"] += released
        if defective is None:  # unknown truth: counted as unknown, never as right
            c["calls_unreviewed" if flagged else "passes_unverified"] += 1
        else:
            c["defective"] += defective
            c["escaped"] += defective and not flagged
            c["false_calls"] += flagged and not defective
        c["lead_sum_s"] += now - board["t_in"]
        self.wip -= 1
        if self.on_board is not None:
            self.on_board(BoardEvent(board["index"], board["t_in"], now, board["defective"],
                                     flagged and not released, board["findings"], board.get("image"),
                                     board.get("frames", []), board.get("robot_cycle_s", 0.0),
                                     board.get("route", "pass"), board.get("picked", True)))

    def step(self, epoch_s: float, dt_s: float) -> LineOutput:
        t0, t1 = float(epoch_s), float(epoch_s + dt_s)
        self._lb = t0
        self.env.run(until=t1)
        for k, active in enumerate(self._active):  # work in progress counts where it is done
            if active is not None:
                self._credit(k, max(active[0], t0), min(active[1], t1), active[2])
        c = self._c
        c["planned_s"] = self.clock.planned_s(t0, t1)
        c["held_s"] = self.clock.held_s(t0, t1)
        c["e_kwh"] = self.energy_kwh(t0, t1, self._busy)
        c["dt_s"] = dt_s
        self._c, self._busy = dict(_ZERO), [0.0] * len(STATIONS)
        self.t = t1
        return self._output(t0, t1, c)


LINES: dict[str, type[LineBase]] = {"statistical": StatisticalLine, "full": FullLine}

