"""Typed alarms from measured against expected, one step at a time.

:class:`Detector` gets each step's telemetry (fresh readings, stale tags) and the twin's
expectations (:mod:`twin.live.engine`), and raises an :class:`Alarm` when a deviation has
lasted the window (``twin/data/live_alarms.yaml``). One alarm per episode: it clears when the
deviation ends. The kinds:

================== ================================================================
lost_tag           a tag not updated for the mapping's ``stale_after``
stuck_meter        the same reading, to the last digit, while it should move
sign_flip          a generator or load reading below zero; a battery whose state of
                   charge follows its power negated
pv_underperformance a PV plant below its expected power by more than the band
wind_curtailment   a wind farm held below its expected power, its output flat (a setpoint)
wind_icing         a wind farm below its expected power in the cold, its output following
                   the wind (less of it)
soc_drift          the battery's state of charge walking away from its energy count
capacity_fade      ... because it moves more per MWh than the rated capacity allows
feeder_mismatch    the PCC exchange not the sum of the metered generators and loads
================== ================================================================
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twin import data
from twin.core.kinds import GENERATORS as GENERATION
from twin.core.kinds import LOADS

# below this air temperature a wind farm short of its curve, its output not held flat, is
# typed icing, above it curtailment (illustrative: icing needs air near or below 0 degC)
ICING_TEMP_C = 2.0
# a wind farm's output held within this share of its mean over a shortfall's steps is held at
# a setpoint: curtailment, at any temperature (illustrative: 15-minute means of a farm free to
# follow the wind move by more)
FLAT_REL = 0.02


@dataclass(frozen=True)
class Limits:
    """Bands and windows of the alarms (``twin/data/live_alarms.yaml``)."""

    window_s: float
    pv_band_rel: float
    wind_band_rel: float
    band_floor_rel: float
    soc_band: float
    stuck_repeats: int
    balance_band_rel: float
    fade_band: float

    @classmethod
    def reference(cls) -> Limits:
        return cls(**data.load("live_alarms"))


@dataclass(frozen=True)
class Said:
    """What the twin says, in either language: ``template``, English with ``{name}`` fields
    (the key of the page's translations, ``twin/apps/dashboard/static/i18n.js``), and its
    ``values`` as shown (numbers formatted here, kept as written in any language)."""

    template: str
    values: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:  # the readable English text (history, report, console)
        return self.template.format(**dict(self.values))

    def as_dict(self) -> dict[str, Any]:
        """For the page: ``{"template": ..., "values": {name: text}}``."""
        return {"template": self.template, "values": dict(self.values)}


def say(template: str, **values: str) -> Said:
    """``template`` with ``values`` (each formatted already)."""
    return Said(template, tuple(values.items()))


@dataclass(frozen=True)
class Alarm:
    """A deviation that lasted: what, where, since when (s from the scenario start)."""

    kind: str
    point: str
    start_s: int
    raised_s: int
    said: Said

    @property
    def detail(self) -> str:
        """What was seen, in English."""
        return str(self.said)

    @property
    def entity(self) -> str:
        return self.point.rpartition(".")[0]


@dataclass(frozen=True)
class Role:
    """What a measured point is: its entity's kind and the power that scales its bands."""

    kind: str  # an entity kind (twin.core.kinds), pcc, weather or voltage
    rating_mw: float


@dataclass
class Step:
    """One step as the checks see it."""

    t: int
    fresh: dict[str, float]  # point -> reading updated in this step (twin units)
    stale: set[str]  # points whose tag is stale
    expected: dict[str, float] = field(default_factory=dict)  # point -> the twin's value
    temp_air_c: float = math.nan


class Detector:
    """Alarms of a park's telemetry, step by step."""

    def __init__(self, roles: Mapping[str, Role], limits: Limits | None = None) -> None:
        self.roles = dict(roles)
        self.limits = limits or Limits.reference()
        self.park_mw = sum(r.rating_mw for r in self.roles.values()
                           if r.kind in (*GENERATION, "battery")) or 1.0
        self.alarms: list[Alarm] = []
        self._since: dict[tuple[str, str], int] = {}
        self._raised: set[tuple[str, str]] = set()
        self._last: dict[str, float] = {}
        self._repeats: dict[str, int] = {}
        self._moved: dict[str, float] = {}  # point -> expected at the first repeated reading
        self._moving: set[str] = set()  # points repeating a reading while they should move
        self._step_fit: dict[str, float] = {}  # battery soc point -> one-step misfit
        self._step_flip: dict[str, float] = {}  # the same with the power negated
        # battery soc point -> the steps of a deviation: (change the energy count predicts
        # from the last reading and the measured power, measured change minus it)
        self._moves: dict[str, deque[tuple[float, float]]] = {}
        self._short: dict[str, deque[float]] = {}  # wind point -> readings while short

    def step(self, st: Step) -> list[Alarm]:
        """The alarms raised at step ``st`` (those lasting the window, once each)."""
        found: dict[tuple[str, str], Said | tuple[str, Said]] = {}
        for point in st.stale:
            found[("lost_tag", point)] = say("no update for longer than the mapping's stale_after")
        for point, value in st.fresh.items():
            role = self.roles.get(point)
            if role is None or role.kind in ("weather", "voltage"):
                continue
            found.update(self._stuck(point, value, st))
            found.update(self._sign(point, value, role))
        faulty = {p for _, p in found}
        for point, value in st.fresh.items():
            role = self.roles.get(point)
            if role is not None and point not in faulty and point in st.expected:
                found.update(self._performance(point, value, role, st))
        found.update(self._balance(st, faulty | {p for _, p in found}))
        return self._persist(st.t, found)

    # ------------------------------------------------------------------ the checks
    def _stuck(self, point: str, value: float, st: Step) -> dict[tuple[str, str], Said]:
        """The same reading, to the last digit, while it should move: a PV or wind plant
        whose expected power moved, a battery's state of charge under power, a factory's
        load or the PCC's exchange (never exactly constant while not zero). Chargers, heat
        pumps and a battery's power may hold a value (a full charger, a power limit)."""
        role = self.roles[point]
        floor = self.limits.band_floor_rel * role.rating_mw
        repeated = self._last.get(point) == value
        self._last[point] = value
        self._repeats[point] = self._repeats.get(point, 0) + 1 if repeated else 0
        if not repeated:
            self._moved.pop(point, None)
            self._moving.discard(point)
            return {}
        if point in st.expected and role.kind in GENERATION:
            first = self._moved.setdefault(point, st.expected[point])
            if abs(st.expected[point] - first) > floor:
                self._moving.add(point)
        elif role.kind == "battery" and point.endswith(".soc"):
            if abs(st.fresh.get(point[: -len("soc")] + "p_mw", 0.0)) > floor:
                self._moving.add(point)
        elif role.kind in ("factory", "pcc") and value != 0.0:
            self._moving.add(point)
        if self._repeats[point] >= self.limits.stuck_repeats and point in self._moving:
            return {("stuck_meter", point): say("{v} for {n} readings", v=f"{value:g}",
                                                n=str(self._repeats[point] + 1))}
        return {}

    def _sign(self, point: str, value: float, role: Role) -> dict[tuple[str, str], Said]:
        floor = self.limits.band_floor_rel * max(role.rating_mw, self.park_mw * 0.1)
        signed = role.kind in GENERATION + LOADS or point.endswith(("p_import_mw",
                                                                    "p_export_mw"))
        if signed and point.endswith("_mw") and value < -floor:
            return {("sign_flip", point): say("{v} MW, expected >= 0", v=f"{value:.3f}")}
        if role.kind == "battery" and point.endswith(".p_mw"):
            return self._battery_sign(point, role)
        return {}

    def _battery_sign(self, point: str, role: Role) -> dict[tuple[str, str], Said]:
        """The state of charge followed the power negated better than the power itself."""
        soc = point[: -len("p_mw")] + "soc"
        fit, flip = self._step_fit.get(soc), self._step_flip.get(soc)
        if fit is None or flip is None:
            return {}
        if fit > self.limits.soc_band / 2 and flip < fit / 4:
            return {("sign_flip", point): say("the state of charge follows the power negated")}
        return {}

    def _performance(self, point: str, value: float, role: Role,
                     st: Step) -> dict[tuple[str, str], Said | tuple[str, Said]]:
        expected = st.expected[point]
        lim = self.limits
        if role.kind == "battery" and point.endswith(".soc"):
            gap = value - expected
            if abs(gap) > lim.soc_band:
                kind = self._soc_kind(point, gap)
                return dict([kind]) if kind is not None else {}
            self._moves.pop(point, None)  # the deviation is over
            return {}
        if role.kind not in GENERATION:
            return {}
        band = lim.pv_band_rel if role.kind == "pv" else lim.wind_band_rel
        short = expected - value
        shown = {"v": f"{value:.3f}", "e": f"{expected:.3f}"}
        if short <= max(band * expected, lim.band_floor_rel * role.rating_mw):
            self._short.pop(point, None)
            return {}
        if role.kind == "pv":
            return {("pv_underperformance", point): say("{v} MW of {e} MW expected", **shown)}
        seen = self._short.setdefault(point, deque(maxlen=8))
        seen.append(value)
        return {("wind_short", point): self._wind_kind(seen, st.temp_air_c, shown)}

    @staticmethod
    def _wind_kind(seen: deque[float], temp_air_c: float,
                   shown: dict[str, str]) -> tuple[str, Said]:
        """A wind farm short of its power curve: curtailed when its output is held flat over
        the shortfall's steps (within ``FLAT_REL`` of their mean: a setpoint, at any
        temperature), else iced in the cold (below ``ICING_TEMP_C``: less power, still
        following the wind), else curtailed (a derating). One step alone goes by the
        temperature; the alarm's kind is the one known when it is raised."""
        if len(seen) >= 2 and max(seen) - min(seen) <= FLAT_REL * (sum(seen) / len(seen)):
            return "wind_curtailment", say("{v} MW of {e} MW expected, held at {h} MW",
                                           h=f"{seen[-1]:.3f}", **shown)
        if temp_air_c < ICING_TEMP_C:
            return "wind_icing", say("{v} MW of {e} MW expected at {c} degC",
                                     c=f"{temp_air_c:.1f}", **shown)
        return "wind_curtailment", say("{v} MW of {e} MW expected", **shown)

    def _soc_kind(self, point: str, gap: float) -> tuple[tuple[str, str], Said] | None:
        """A battery's state of charge away from its energy count: a capacity fade when the
        deviation's steps show it moving more per MWh than the count (the measured change is
        the predicted one times 1 + c, c above the fade band, without a walk of its own
        beside it: the least-squares line of the excess against the predicted change has
        slope c and an intercept under a quarter of the SOC band per step); a drift (the
        BMS's estimate walking) when it does not, or when it moves while the battery rests.
        Until three steps under power, of different powers, tell them apart, a deviation
        that only grows in the direction of the power, by 5 to 100 % of the predicted change
        (as a fade of up to half the capacity would), waits (None); any other is a drift at
        once."""
        drift = ("soc_drift", point), say("{gap} against the twin's energy count",
                                          gap=f"{gap:+.4f}")
        moves = list(self._moves.get(point, ()))
        band = self.limits.soc_band
        if any(abs(d) <= 1e-3 and abs(r) > band / 16 for d, r in moves):
            return drift  # it moved at rest
        active = [(d, r) for d, r in moves if abs(d) > 1e-3]
        if len(active) >= 3 and np.ptp([d for d, _ in active]) > 1e-3:
            d, r = np.array(active).T
            (c, b), *_ = np.linalg.lstsq(np.column_stack([d, np.ones_like(d)]), r,
                                         rcond=None)
            if c > self.limits.fade_band and abs(b) < band / 4:
                return ("capacity_fade", point), say(
                    "{gap} against the twin's energy count: it moves {c} times the change "
                    "per MWh of the rated capacity, as with about {left} of it left",
                    gap=f"{gap:+.4f}", c=f"{1 + c:.2f}", left=f"{1 / (1 + c):.0%}")
            return drift
        if active and all(self.limits.fade_band < r / d < 1.0 for d, r in active) \
                and len(moves) < 16:
            return None  # as a fade (of up to half the capacity) would: wait for the steps
        return drift

    def _balance(self, st: Step, faulty: set[str]) -> dict[tuple[str, str], Said]:
        """The PCC's exchange against the metered generators, loads and storage."""
        pcc = next((p for p, r in self.roles.items() if r.kind == "pcc"
                    and p.endswith(".p_import_mw")), None)
        if pcc is None:
            return {}
        export = pcc.replace("p_import_mw", "p_export_mw")
        parts = [p for p, r in self.roles.items() if p.endswith(".p_mw")
                 and r.kind in GENERATION + LOADS + ("battery",)]
        needed = [pcc, export, *parts]
        if any(p not in st.fresh for p in needed) or faulty & set(needed):
            return {}
        net = st.fresh[pcc] - st.fresh[export]
        total = 0.0
        flows = abs(net)
        for p in parts:
            sign = -1.0 if self.roles[p].kind in GENERATION else 1.0
            total += sign * st.fresh[p]
            flows += abs(st.fresh[p])
        gap = net - total
        if abs(gap) > max(self.limits.balance_band_rel * flows,
                          self.limits.band_floor_rel * self.park_mw):
            return {("feeder_mismatch", pcc): say("PCC {net} MW, metered parts {parts} MW",
                                                 net=f"{net:.3f}", parts=f"{total:.3f}")}
        return {}

    # ------------------------------------------------------------------ persistence
    def _persist(self, t: int, found: dict[tuple[str, str], Said | tuple[str, Said]]
                 ) -> list[Alarm]:
        for key in list(self._since):
            if key not in found:  # the episode ended
                self._since.pop(key)
                if key[0] != "capacity_fade":  # a capacity lost stays lost: raised once
                    self._raised.discard(key)
        new = []
        for key, what in found.items():  # what was seen, or (the kind as known now, it)
            kind, said = (key[0], what) if isinstance(what, Said) else what
            start = self._since.setdefault(key, t)
            # a fade is told from three steps of evidence already: no window besides
            window = 0 if key[0] in ("lost_tag", "stuck_meter", "capacity_fade") \
                else self.limits.window_s
            if key not in self._raised and t - start >= window:
                self._raised.add(key)
                alarm = Alarm(kind=kind, point=key[1], start_s=start, raised_s=t,
                              said=said)
                new.append(alarm)
        self.alarms.extend(new)
        return new

    def fits(self, soc_point: str, fit: float, flip: float) -> None:
        """One step of the battery's state of charge: how far the measured value is from the
        model stepped with the measured power (``fit``) and with it negated (``flip``)."""
        self._step_fit[soc_point] = fit
        self._step_flip[soc_point] = flip

    def moved(self, soc_point: str, predicted: float, measured: float) -> None:
        """One step of the battery's state of charge: the change its energy count predicts
        from the last reading and the measured power, and the measured change; kept from the
        first step they part (by more than a sixteenth of the SOC band) while the deviation
        lasts, the last 16."""
        excess = measured - predicted
        moves = self._moves.get(soc_point)
        if moves is None:
            if abs(excess) <= self.limits.soc_band / 16:
                return
            moves = self._moves[soc_point] = deque(maxlen=16)
        moves.append((predicted, excess))
