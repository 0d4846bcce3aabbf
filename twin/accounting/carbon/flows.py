"""Hourly energy flows of a run: the single input of the carbon accounting.

A run records step means of power (MW) every ``step_s`` seconds (900 s by default). The
accounting works on hours, the interval of hourly matching and of granular certificates, so
:func:`flows_from_run` integrates every series into the UTC hour its step starts in
(energy = p_mw * step_s / 3600 MWh; gas, recorded per step in Nm3, is summed). Any step that
divides an hour works; a run that starts or ends inside an hour gives a partial first or
last hour.

Park totals follow the PCC balance of the run, which closes in every step::

    generation + import + storage discharge
        = loads + grid losses + storage charge + export

with storage charge/discharge the batteries' terminal (AC) energy, so storage losses sit inside
``charge - discharge = ΔE_storage + storage losses``. Electricity consumed in the park is
``loads + grid losses + storage losses``. Generation is the renewable plants' (PV, the
direct-line wind farms, FMUs declared ``generation: solar`` or ``wind``) and any other on-site
generation (FMUs of ``generation: other``); FMUs of role ``load`` are loads, and every FMU's
gas and heat count with the heat entities' (:func:`fmu_energy`). Runs with the lossless balance (no network) have a
PCC entity without ``p_loss_mw``: their grid losses are zero. Load the PCC shed (``p_shed_mw``:
an islanded park short of power, a tripped line) is not consumed, and generation it curtailed
(``p_curtailed_mw``) not generated: each step's loads and generators are scaled down by that
share, alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import numpy as np

from twin.core.kinds import LOADS as LOAD_KINDS

HOUR_S = 3600


class RunLike(Protocol):
    """What :func:`flows_from_run` reads from a run (:class:`twin.core.results.Run`)."""

    step_s: int
    time_s: np.ndarray
    meta: dict[str, Any]

    def entities(self, kind: str | None = None) -> list[str]: ...  # noqa: D102

    def series(self, entity: str, attr: str) -> np.ndarray: ...  # noqa: D102

    def spec(self, entity: str) -> dict[str, Any]: ...  # noqa: D102

    def has(self, entity: str, attr: str) -> bool: ...  # noqa: D102


@dataclass(frozen=True)
class ParkFlows:
    """Hourly energy flows of a park (MWh per hour; Nm3 per hour for gas).

    Attributes
    ----------
    hour_s : ndarray of int64
        UTC epoch seconds of each hour's start.
    local_month, local_year : ndarray of int
        Calendar month (1..12) and year of each hour in the park's ``timezone`` (for monthly
        and annual matching and monthly certificate issuing).
    load_mwh : dict
        Consumption of each consuming entity (factory, ev, heat), >= 0.
    kind : dict
        Entity -> kind (``pv``, ``wind``, ``factory``, ``ev``, ``heat``, ``battery``, ``pcc``)
        for every entity in the flows.
    pv_mwh, wind_mwh : dict
        Generation of each on-site PV plant and of each direct-line (绿电直连) wind farm.
    storage_charge_mwh, storage_discharge_mwh, storage_loss_mwh : ndarray
        Park totals of battery terminal energy in and out, and of battery losses.
    grid_loss_mwh, import_mwh, export_mwh : ndarray
        Losses of the park network (lines, transformers, the direct line) and the exchange
        with the public grid at the PCC.
    gas_nm3 : dict
        Natural gas burnt by each heat entity and each FMU writing gas.
    other_gen_mwh : dict
        On-site generation that is not renewable (FMUs of ``generation: other``).
    heat_mwh : dict
        Heat delivered by each heat entity and each FMU writing heat (MWh per hour).
    timezone : str
        IANA name of the park's local time zone.
    storage_e0_mwh : float
        Energy stored in all batteries at the start of the first hour.
    """

    hour_s: np.ndarray
    local_month: np.ndarray
    local_year: np.ndarray
    load_mwh: dict[str, np.ndarray]
    kind: dict[str, str]
    pv_mwh: dict[str, np.ndarray]
    wind_mwh: dict[str, np.ndarray]
    storage_charge_mwh: np.ndarray
    storage_discharge_mwh: np.ndarray
    storage_loss_mwh: np.ndarray
    grid_loss_mwh: np.ndarray
    import_mwh: np.ndarray
    export_mwh: np.ndarray
    gas_nm3: dict[str, np.ndarray]
    timezone: str = "UTC"
    storage_e0_mwh: float = 0.0
    other_gen_mwh: dict[str, np.ndarray] = field(default_factory=dict)
    heat_mwh: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.hour_s)
        arrays = {"local_month": self.local_month, "local_year": self.local_year,
                  "storage_charge_mwh": self.storage_charge_mwh,
                  "storage_discharge_mwh": self.storage_discharge_mwh,
                  "storage_loss_mwh": self.storage_loss_mwh, "grid_loss_mwh": self.grid_loss_mwh,
                  "import_mwh": self.import_mwh, "export_mwh": self.export_mwh}
        groups = ("load_mwh", "pv_mwh", "wind_mwh", "gas_nm3", "other_gen_mwh", "heat_mwh")
        for group in groups:
            arrays.update({f"{group}[{k}]": v for k, v in getattr(self, group).items()})
        for name, a in arrays.items():
            if np.shape(a) != (n,):
                raise ValueError(f"ParkFlows.{name}: expected {n} hourly values, "
                                 f"got shape {np.shape(a)}")
        gens = (self.pv_mwh, self.wind_mwh, self.other_gen_mwh)
        both = {e for i, a in enumerate(gens) for b in gens[i + 1:] for e in set(a) & set(b)}
        if both:
            raise ValueError(f"ParkFlows: {sorted(both)} in two generation groups")
        missing = [e for g in (self.load_mwh, *gens, self.gas_nm3, self.heat_mwh)
                   for e in g if e not in self.kind]
        if missing:
            raise ValueError(f"ParkFlows.kind: no kind for {sorted(set(missing))}")

    @property
    def n_hours(self) -> int:
        """Number of hours."""
        return len(self.hour_s)

    def total(self, group: Mapping[str, np.ndarray]) -> np.ndarray:
        """Hourly sum of a per-entity group (zeros if the group is empty)."""
        out = np.zeros(self.n_hours)
        for v in group.values():
            out = out + v
        return out

    @property
    def load_total_mwh(self) -> np.ndarray:
        """Hourly consumption of all consuming entities."""
        return self.total(self.load_mwh)

    @property
    def generation_mwh(self) -> dict[str, np.ndarray]:
        """Every renewable device (PV plants, then wind farms) with its hourly generation."""
        return {**self.pv_mwh, **self.wind_mwh}

    @property
    def onsite_generation_mwh(self) -> np.ndarray:
        """Hourly generation of everything in the park, renewable or not: with import and
        storage discharge what meets the loads, losses, storage charge and export."""
        return self.total(self.generation_mwh) + self.total(self.other_gen_mwh)

    @property
    def consumption_mwh(self) -> np.ndarray:
        """Hourly electricity consumed in the park: loads + grid losses + storage losses."""
        return self.load_total_mwh + self.grid_loss_mwh + self.storage_loss_mwh

    @property
    def gas_total_nm3(self) -> np.ndarray:
        """Hourly gas of all heat entities."""
        return self.total(self.gas_nm3)


def local_calendar(hour_s: np.ndarray, timezone: str) -> tuple[np.ndarray, np.ndarray]:
    """Local (month, year) of each UTC epoch second in ``timezone``.

    Offsets are looked up once per UTC day and at its end (the offset of a zone changes at
    most once a day), so a year of hours costs a few hundred conversions.
    """
    hour_s = np.asarray(hour_s, dtype=np.int64)
    if hour_s.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    zone = ZoneInfo(timezone)

    def offset_s(t: int) -> int:
        off = dt.datetime.fromtimestamp(t, zone).utcoffset()
        return int(off.total_seconds()) if off is not None else 0

    offsets = np.empty(hour_s.size, dtype=np.int64)
    days, where = np.unique(hour_s // 86400, return_inverse=True)
    for i, day in enumerate(days):
        sel = where == i
        first, last = offset_s(int(day) * 86400), offset_s(int(day) * 86400 + 86399)
        offsets[sel] = first if first == last else [offset_s(int(t)) for t in hour_s[sel]]
    local = (hour_s + offsets).astype("datetime64[s]")
    months = local.astype("datetime64[M]").astype(np.int64)
    return months % 12 + 1, months // 12 + 1970


def park_flows(
    hour_s: np.ndarray,
    *,
    timezone: str = "UTC",
    load_mwh: Mapping[str, np.ndarray] | None = None,
    pv_mwh: Mapping[str, np.ndarray] | None = None,
    wind_mwh: Mapping[str, np.ndarray] | None = None,
    storage_charge_mwh: np.ndarray | None = None,
    storage_discharge_mwh: np.ndarray | None = None,
    storage_loss_mwh: np.ndarray | None = None,
    grid_loss_mwh: np.ndarray | None = None,
    import_mwh: np.ndarray | None = None,
    export_mwh: np.ndarray | None = None,
    gas_nm3: Mapping[str, np.ndarray] | None = None,
    kind: Mapping[str, str] | None = None,
    storage_e0_mwh: float = 0.0,
) -> ParkFlows:
    """Build :class:`ParkFlows` from hourly arrays, zeros for what is not given.

    Kinds default to ``pv``/``wind``/``heat`` for the entities of those groups and ``factory``
    for the loads; the local calendar comes from ``timezone``.
    """
    hour_s = np.asarray(hour_s, dtype=np.int64)
    n = hour_s.size

    def arr(x: np.ndarray | None) -> np.ndarray:
        return np.zeros(n) if x is None else np.asarray(x, dtype=float)

    def group(g: Mapping[str, np.ndarray] | None) -> dict[str, np.ndarray]:
        return {k: np.asarray(v, dtype=float) for k, v in (g or {}).items()}

    kinds = {**{e: "factory" for e in load_mwh or {}}, **{e: "heat" for e in gas_nm3 or {}},
             **{e: "pv" for e in pv_mwh or {}}, **{e: "wind" for e in wind_mwh or {}},
             **dict(kind or {})}
    month, year = local_calendar(hour_s, timezone)
    return ParkFlows(
        hour_s=hour_s, local_month=month, local_year=year, load_mwh=group(load_mwh),
        kind=kinds, pv_mwh=group(pv_mwh), wind_mwh=group(wind_mwh),
        storage_charge_mwh=arr(storage_charge_mwh),
        storage_discharge_mwh=arr(storage_discharge_mwh),
        storage_loss_mwh=arr(storage_loss_mwh), grid_loss_mwh=arr(grid_loss_mwh),
        import_mwh=arr(import_mwh), export_mwh=arr(export_mwh), gas_nm3=group(gas_nm3),
        timezone=timezone, storage_e0_mwh=float(storage_e0_mwh),
    )


def start_epoch_s(meta: Mapping[str, Any]) -> int:
    """UTC epoch seconds of the start of a run (its ``meta["start"]``, naive = UTC)."""
    start = dt.datetime.fromisoformat(str(meta["start"]))
    if start.tzinfo is None:
        start = start.replace(tzinfo=dt.UTC)
    return int(start.timestamp())


def _battery_e0_mwh(run: RunLike, battery: str, dt_h: float) -> float:
    """Energy stored before the first step: e after it minus what the first step added."""
    if run.has(battery, "e_mwh") and len(run.series(battery, "e_mwh")):
        e1 = float(run.series(battery, "e_mwh")[0])
        p = float(np.nan_to_num(run.series(battery, "p_mw")[0]))
        loss = (float(np.nan_to_num(run.series(battery, "p_loss_mw")[0]))
                if run.has(battery, "p_loss_mw") else 0.0)
        e0 = e1 - (p - loss) * dt_h
        if np.isfinite(e0):
            return e0
    spec = run.spec(battery)
    return float(spec.get("soc_init", 0.0)) * float(spec.get("e_max_mwh", 0.0))


def _kept(run: RunLike, series: Mapping[str, np.ndarray], lost_attr: str
          ) -> np.ndarray | None:
    """Share of the power of ``series`` (entity -> p_mw) the PCC kept in each step (None: all
    of it), given what it lost (``lost_attr``: load shed or generation curtailed, MW). The
    share applies to every entity of the series alike (every load, or every generator)."""
    lost = [np.nan_to_num(run.series(p, lost_attr)) for p in run.entities("pcc")
            if run.has(p, lost_attr)]
    if not lost or not any(np.any(x > 0) for x in lost):
        return None
    gone = np.sum(lost, axis=0)
    total = np.zeros_like(gone)
    for v in series.values():
        total = total + np.clip(np.nan_to_num(v), 0.0, None)
    share = np.divide(gone, total, out=np.zeros_like(gone), where=total > 0)
    return np.clip(1.0 - share, 0.0, 1.0)


def fmu_energy(run: RunLike) -> dict[str, dict[str, np.ndarray]]:
    """The FMUs' recorded series by what they count as: ``load`` (p_mw of role load),
    ``solar``/``wind``/``other`` (p_mw of role generator by its declared ``generation``),
    ``generator`` (all of those three), ``heat`` (q_heat_mw) and ``gas`` (gas_nm3), each
    entity -> its series. An FMU of role none counts only its heat and gas."""
    out: dict[str, dict[str, np.ndarray]] = {k: {} for k in (
        "load", "solar", "wind", "other", "generator", "heat", "gas")}
    for e in run.entities("fmu"):
        spec = run.spec(e)
        role = spec.get("role", "load")
        if run.has(e, "p_mw") and role in ("load", "generator"):
            p = run.series(e, "p_mw")
            if role == "load":
                out["load"][e] = p
            else:
                out[str(spec.get("generation") or "other")][e] = out["generator"][e] = p
        for attr, key in (("q_heat_mw", "heat"), ("gas_nm3", "gas")):
            if run.has(e, attr):
                out[key][e] = run.series(e, attr)
    return out


def flows_from_run(run: RunLike, timezone: str | None = None) -> ParkFlows:
    """The hourly :class:`ParkFlows` of a recorded run.

    Parameters
    ----------
    run : Run
        An open run (:func:`twin.core.results.open_run`) or anything that reads like one.
    timezone : str, optional
        The park's time zone; default ``run.meta["timezone"]`` (UTC if the run has none).

    Raises
    ------
    ValueError
        If the step does not divide an hour.
    """
    step_s = run.step_s  # an int, or a float for a sub-second (HIL) run: 0.1
    step_ms = round(step_s * 1000)
    if step_ms <= 0 or (HOUR_S * 1000) % step_ms or abs(step_s * 1000 - step_ms) > 1e-6:
        raise ValueError(f"step of {step_s} s: the carbon accounting needs a step that "
                         "divides an hour (e.g. 300, 900, 1800, 3600 s, or 0.1 s)")
    meta = run.meta
    tz = timezone or str(meta.get("timezone") or "UTC")
    epoch = start_epoch_s(meta) + np.asarray(run.time_s, dtype=np.int64)
    hour_s, index = np.unique(epoch // HOUR_S * HOUR_S, return_inverse=True)
    n = hour_s.size
    dt_h = step_s / HOUR_S

    def hourly(values: np.ndarray, scale: float = dt_h) -> np.ndarray:
        v = np.nan_to_num(np.asarray(values, dtype=float)[: epoch.size]) * scale
        return np.bincount(index, weights=v, minlength=n)

    kind = {e: k for k in ("pv", "wind", *LOAD_KINDS, "battery", "pcc", "fmu")
            for e in run.entities(k)}
    fmu = fmu_energy(run)
    power = {k: {e: run.series(e, "p_mw") for e in run.entities(k)}
             for k in ("pv", "wind", *LOAD_KINDS)}
    loads = {e: v for k in LOAD_KINDS for e, v in power[k].items()} | fmu["load"]
    gens = {"pv": power["pv"] | fmu["solar"], "wind": power["wind"] | fmu["wind"],
            "other": fmu["other"]}
    # what the PCC shed or curtailed, taken from every load or every generator alike
    load_kept = _kept(run, loads, "p_shed_mw")
    gen_kept = _kept(run, {e: v for g in gens.values() for e, v in g.items()}, "p_curtailed_mw")

    def group(series: Mapping[str, np.ndarray], kept: np.ndarray | None
              ) -> dict[str, np.ndarray]:
        return {e: hourly(v if kept is None else v * kept) for e, v in series.items()}

    charge, discharge, loss = np.zeros(n), np.zeros(n), np.zeros(n)
    e0 = 0.0
    for b in run.entities("battery"):
        p = run.series(b, "p_mw")
        charge += hourly(np.maximum(p, 0.0))
        discharge += hourly(np.maximum(-p, 0.0))
        if run.has(b, "p_loss_mw"):
            loss += hourly(run.series(b, "p_loss_mw"))
        e0 += _battery_e0_mwh(run, b, dt_h)
    grid_loss, imp, exp = np.zeros(n), np.zeros(n), np.zeros(n)
    for p in run.entities("pcc"):
        imp += hourly(run.series(p, "p_import_mw"))
        exp += hourly(run.series(p, "p_export_mw"))
        if run.has(p, "p_loss_mw"):
            grid_loss += hourly(run.series(p, "p_loss_mw"))
    month, year = local_calendar(hour_s, tz)
    return ParkFlows(
        hour_s=hour_s.astype(np.int64), local_month=month, local_year=year,
        load_mwh=group(loads, load_kept), kind=kind, pv_mwh=group(gens["pv"], gen_kept),
        wind_mwh=group(gens["wind"], gen_kept), other_gen_mwh=group(gens["other"], gen_kept),
        heat_mwh={e: hourly(run.series(e, "q_heat_mw")) for e in run.entities("heat")
                  if run.has(e, "q_heat_mw")} | {e: hourly(v) for e, v in fmu["heat"].items()},
        storage_charge_mwh=charge, storage_discharge_mwh=discharge, storage_loss_mwh=loss,
        grid_loss_mwh=grid_loss, import_mwh=imp, export_mwh=exp,
        gas_nm3={e: hourly(run.series(e, "gas_nm3"), 1.0) for e in run.entities("heat")
                 if run.has(e, "gas_nm3")} | {e: hourly(v, 1.0) for e, v in fmu["gas"].items()},
        timezone=tz, storage_e0_mwh=e0,
    )
