"""Where each hour's green electricity went: the ledger, CFE matching, 绿电直连, certificates.

**The hourly ledger** (:func:`ledger`) attributes the park's sources (each PV plant and wind
farm, grid import, storage discharge) to its sinks (consumption = loads + grid losses, storage
charge, export) hour by hour, in this order:

1. Exports come from local generation first, shared among the devices pro rata to their
   generation in the hour; then from storage discharge; import only covers what is left (at
   the PCC imports and exports net out in every step, so only intra-hour netting gets there).
2. Storage charging comes from the remaining local generation (pro rata), then from the
   remaining discharge (one battery charging another), then from import.
3. Consumption gets the rest.

**Storage** is one well-mixed pool per park. Its content is tracked by origin (each device,
and ``grid`` for imported energy); within an hour the charge enters first, then discharge and
losses leave in proportion to the content. Energy stored before the run is of unknown origin
and counted as ``grid``. Released energy so carries the origins of the charge that fed it, pro
rata.

**CFE matching** (:func:`cfe_scores`): the consumption of hour h is ``C_h = loads + grid
losses`` (storage losses reduce what storage returns instead); the carbon-free supply offered
to it is ``S_h = local generation not sent to storage + storage discharge not sent to storage
× its carbon-free share + import not sent to storage × grid_cfe_share``, where the pool's
carbon-free share counts stored grid energy at ``grid_cfe_share``. Exported generation stays in
``S_h``: it is carbon-free supply of the hour that the park did not need. Scores are
``Σ min(C, S) / Σ C`` over hours, over (local) months, over (local) years: ``min`` is
superadditive, so hourly ≤ monthly ≤ annual for any data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin import data
from twin.accounting.carbon.flows import ParkFlows

GRID = "grid"  # storage-pool origin of imported (and initially stored) energy


@dataclass(frozen=True)
class Ledger:
    """Hourly attribution of sources to sinks (MWh); device arrays are (n_devices, n_hours).

    Attributes
    ----------
    devices, technology : tuple of str
        Renewable devices (PV plants then wind farms) and their technology (solar, wind).
    gen_mwh, gen_exported_mwh, gen_to_storage_mwh, gen_consumed_mwh : ndarray
        Per device: generation and where it went directly.
    import_exported_mwh, import_to_storage_mwh, import_consumed_mwh : ndarray
        Grid import by destination.
    discharge_exported_mwh, discharge_to_storage_mwh, discharge_consumed_mwh : ndarray
        Storage discharge by destination.
    pool_share : ndarray
        (n_devices + 1, n_hours): origin shares of what storage released in each hour, rows
        as ``devices`` then ``grid``; columns sum to 1.
    storage_loss_mwh : ndarray
        Storage losses of each hour (leave the pool with ``pool_share``).
    pool_end_mwh : ndarray
        Pool content per origin at the end (n_devices + 1).
    consumption_mwh : ndarray
        Loads + grid losses per hour.
    """

    devices: tuple[str, ...]
    technology: tuple[str, ...]
    gen_mwh: np.ndarray
    gen_exported_mwh: np.ndarray
    gen_to_storage_mwh: np.ndarray
    gen_consumed_mwh: np.ndarray
    import_exported_mwh: np.ndarray
    import_to_storage_mwh: np.ndarray
    import_consumed_mwh: np.ndarray
    discharge_exported_mwh: np.ndarray
    discharge_to_storage_mwh: np.ndarray
    discharge_consumed_mwh: np.ndarray
    pool_share: np.ndarray
    storage_loss_mwh: np.ndarray
    pool_end_mwh: np.ndarray
    consumption_mwh: np.ndarray

    @property
    def renewable_pool_share(self) -> np.ndarray:
        """Hourly share of storage releases that came from local renewable devices."""
        return self.pool_share[:-1].sum(axis=0)

    def renewable_consumed_mwh(self) -> np.ndarray:
        """Hourly renewable electricity consumed in the park: directly, released from storage
        to consumption, and lost in storage."""
        return (self.gen_consumed_mwh.sum(axis=0)
                + (self.discharge_consumed_mwh + self.storage_loss_mwh)
                * self.renewable_pool_share)

    def cfe_supply_mwh(self, grid_cfe_share: float) -> np.ndarray:
        """Hourly carbon-free supply ``S_h`` offered to the park's consumption."""
        phi = self.renewable_pool_share + self.pool_share[-1] * grid_cfe_share
        local = np.maximum(self.gen_mwh.sum(axis=0) - self.gen_to_storage_mwh.sum(axis=0), 0.0)
        released = self.discharge_exported_mwh + self.discharge_consumed_mwh
        imported = self.import_exported_mwh + self.import_consumed_mwh
        return local + released * phi + imported * grid_cfe_share


def _take(need: np.ndarray, avail: np.ndarray) -> np.ndarray:
    return np.minimum(np.maximum(need, 0.0), np.maximum(avail, 0.0))


def _pool(charge_in: np.ndarray, out: np.ndarray, e0: float) -> tuple[np.ndarray, np.ndarray]:
    """Well-mixed storage pool by origin: ``charge_in`` (n_origins, n_hours) enters first in
    each hour, then ``out`` (discharge + losses) leaves pro rata to the content. Returns the
    origin shares of each hour's release and the content at the end."""
    n_o, n = charge_in.shape
    content = np.zeros(n_o)
    content[-1] = max(e0, 0.0)
    shares = np.zeros((n_o, n))
    grid_only = np.zeros(n_o)
    grid_only[-1] = 1.0
    charge_t = np.ascontiguousarray(charge_in.T)
    for h in range(n):
        content += charge_t[h]
        total = content.sum()
        if total > 1e-12:
            shares[:, h] = content / total
            content *= max(0.0, 1.0 - out[h] / total)
        else:
            shares[:, h] = grid_only
    return shares, content


def ledger(flows: ParkFlows) -> Ledger:
    """The hourly source-to-sink attribution of a park (rules in the module docstring); once
    per flows object (the scores, the 绿电直连 share, the criteria and the certificates each
    ask for it; its storage pool is an hour-by-hour recursion)."""
    memo = flows.__dict__.get("_ledger")
    if memo is None:
        memo = flows.__dict__["_ledger"] = _ledger(flows)
    return memo


def _ledger(flows: ParkFlows) -> Ledger:
    gen_by = flows.generation_mwh
    devices = tuple(gen_by)
    technology = tuple("solar" if d in flows.pv_mwh else "wind" for d in devices)
    n = flows.n_hours
    gen = (np.array([np.maximum(gen_by[d], 0.0) for d in devices]) if devices
           else np.zeros((0, n)))
    g = gen.sum(axis=0)
    share = np.divide(gen, g, out=np.zeros_like(gen), where=g > 0)
    imp = np.maximum(flows.import_mwh, 0.0)
    dis = np.maximum(flows.storage_discharge_mwh, 0.0)
    exp = np.maximum(flows.export_mwh, 0.0)
    chg = np.maximum(flows.storage_charge_mwh, 0.0)
    # 1. exports: local generation, then discharge, then import
    xg = _take(exp, g)
    xd = _take(exp - xg, dis)
    xi = _take(exp - xg - xd, imp)
    # 2. charging: remaining generation, then remaining discharge, then import
    cg = _take(chg, g - xg)
    cd = _take(chg - cg, dis - xd)
    ci = _take(chg - cg - cd, imp - xi)
    # storage pool: charge from devices and grid (battery-to-battery stays inside the pool)
    charge_in = np.vstack([share * cg, ci[None, :]])
    out = dis - cd + np.maximum(flows.storage_loss_mwh, 0.0)
    pool_share, pool_end = _pool(charge_in, out, flows.storage_e0_mwh)
    return Ledger(
        devices=devices, technology=technology, gen_mwh=gen,
        gen_exported_mwh=share * xg, gen_to_storage_mwh=share * cg,
        gen_consumed_mwh=share * np.maximum(g - xg - cg, 0.0),
        import_exported_mwh=xi, import_to_storage_mwh=ci,
        import_consumed_mwh=np.maximum(imp - xi - ci, 0.0),
        discharge_exported_mwh=xd, discharge_to_storage_mwh=cd,
        discharge_consumed_mwh=np.maximum(dis - xd - cd, 0.0),
        pool_share=pool_share, storage_loss_mwh=np.maximum(flows.storage_loss_mwh, 0.0),
        pool_end_mwh=pool_end,
        consumption_mwh=np.maximum(flows.load_total_mwh, 0.0)
        + np.maximum(flows.grid_loss_mwh, 0.0),
    )


def _score(load: np.ndarray, supply: np.ndarray, groups: np.ndarray | None) -> float:
    if groups is not None:
        _, idx = np.unique(groups, return_inverse=True)
        load = np.bincount(idx, weights=load)
        supply = np.bincount(idx, weights=supply)
    total = float(load.sum())
    return float(np.minimum(load, supply).sum() / total) if total > 0 else float("nan")


def cfe_scores(flows: ParkFlows, grid_cfe_share: float) -> dict[str, float]:
    """Carbon-free-energy scores with hourly, monthly and annual matching.

    ``score = Σ min(C, S) / Σ C`` with C the park's consumption (loads + grid losses) and S
    the carbon-free supply (module docstring), summed per hour, per local month, per local
    year. NaN where there is no consumption.

    Parameters
    ----------
    flows : ParkFlows
    grid_cfe_share : float
        Carbon-free share of grid imports, 0..1 (``Factors.grid_cfe_share``).

    Returns
    -------
    dict
        ``{"hourly": ..., "monthly": ..., "annual": ...}``, each 0..1, hourly <= monthly <=
        annual.
    """
    if not 0.0 <= grid_cfe_share <= 1.0:
        raise ValueError(f"grid_cfe_share = {grid_cfe_share}: expected a fraction 0..1")
    led = ledger(flows)
    load = led.consumption_mwh
    supply = led.cfe_supply_mwh(grid_cfe_share)
    month = flows.local_year.astype(np.int64) * 12 + flows.local_month.astype(np.int64)
    return {"hourly": _score(load, supply, None), "monthly": _score(load, supply, month),
            "annual": _score(load, supply, flows.local_year)}


@dataclass(frozen=True)
class DirectLine:
    """绿电直连: how much of the direct-line wind the park consumed.

    Attributes
    ----------
    share : float
        Consumed / generated over the period (NaN without wind).
    threshold : float
        The rule's minimum yearly share (0.60).
    met : bool or None
        ``share >= threshold`` (None without wind).
    generation_mwh : float
        Wind generation over the period.
    hour_s, consumed_mwh, exported_mwh : ndarray
        The line's hourly traceability, at the hour of generation: wind energy taken by the
        park (consumed directly or charged into storage) and sent to the public grid;
        ``consumed_mwh + exported_mwh`` is the wind generation of every hour.
    exported_from_storage_mwh : ndarray
        Wind-origin energy that storage released to the public grid, at the hour of release
        (counts as not consumed).
    per_farm : dict
        Share consumed per wind farm.
    """

    share: float
    threshold: float
    met: bool | None
    generation_mwh: float
    hour_s: np.ndarray
    consumed_mwh: np.ndarray
    exported_mwh: np.ndarray
    exported_from_storage_mwh: np.ndarray
    per_farm: dict[str, float]


def direct_line(flows: ParkFlows, threshold: float | None = None) -> DirectLine:
    """Share of the direct-line wind's generation consumed in the park.

    Exports go to local generators pro rata to their share of local generation in the hour
    (ledger rule 1); stored wind that storage later exports counts as exported, everything
    else the park absorbed (consumed, lost in storage or still stored) as consumed. Over a
    part of a year the share is that of the period; the rule is yearly.
    """
    if threshold is None:
        threshold = float(data.load("carbon")["direct_line_consumed_min"])
    led = ledger(flows)
    rows = [i for i, d in enumerate(led.devices) if d in flows.wind_mwh]
    per_farm: dict[str, float] = {}
    n = flows.n_hours
    consumed, exported, via_storage = np.zeros(n), np.zeros(n), np.zeros(n)
    for i in rows:
        gen, direct = led.gen_mwh[i], led.gen_exported_mwh[i]
        later = led.discharge_exported_mwh * led.pool_share[i]
        consumed += np.maximum(gen - direct, 0.0)
        exported += direct
        via_storage += later
        total = float(gen.sum())
        per_farm[led.devices[i]] = (1.0 - float(direct.sum() + later.sum()) / total
                                    if total > 0 else float("nan"))
    generation = float(sum(led.gen_mwh[i].sum() for i in rows))
    share = (1.0 - float(exported.sum() + via_storage.sum()) / generation if generation > 0
             else float("nan"))
    met = None if generation <= 0 else bool(share >= threshold)
    return DirectLine(share=share, threshold=float(threshold), met=met,
                      generation_mwh=generation, hour_s=flows.hour_s, consumed_mwh=consumed,
                      exported_mwh=exported, exported_from_storage_mwh=via_storage,
                      per_farm=per_farm)


CERTIFICATE_DTYPE = np.dtype([
    ("hour_s", "i8"), ("device", "U64"), ("technology", "U5"), ("mwh", "f8"), ("wh", "i8"),
    ("consumed_in_park", "?"), ("from_storage", "?"),
])


def granular_certificates(flows: ParkFlows) -> np.ndarray:
    """EnergyTag-like granular certificates: one row per hour, device and destination.

    Each device's energy of an hour is split into up to four rows by ``consumed_in_park``
    (else exported) and ``from_storage`` (released from storage in that hour, attributed to the
    devices pro rata to the renewable charge that fed the pool). Energy sent into storage gets
    no row when it is charged: it appears, less storage losses, when it is released; what is
    lost in storage or still stored at the end is never certified. Grid-origin storage
    releases are not renewable and get no row. ``wh`` is the energy rounded to whole Wh.

    Returns
    -------
    ndarray
        Structured array of :data:`CERTIFICATE_DTYPE`, ordered by hour, device, destination.
    """
    led = ledger(flows)
    parts, ranks = [], []
    # each device's place in the order of the stored names (an integer sort, not a text one)
    rank = np.unique(np.array(led.devices, dtype=CERTIFICATE_DTYPE["device"]),
                     return_inverse=True)[1] if led.devices else np.zeros(0, dtype=np.int64)
    for i, (dev, tech) in enumerate(zip(led.devices, led.technology, strict=True)):
        pool = led.pool_share[i]
        for mwh, consumed, stored in (
            (led.gen_consumed_mwh[i], True, False),
            (led.gen_exported_mwh[i], False, False),
            (led.discharge_consumed_mwh * pool, True, True),
            (led.discharge_exported_mwh * pool, False, True),
        ):
            keep = np.flatnonzero(mwh > 1e-12)
            if keep.size == 0:
                continue
            rows = np.zeros(keep.size, dtype=CERTIFICATE_DTYPE)
            rows["hour_s"] = flows.hour_s[keep]
            rows["device"] = dev
            rows["technology"] = tech
            rows["mwh"] = mwh[keep]
            rows["wh"] = np.rint(mwh[keep] * 1e6).astype(np.int64)
            rows["consumed_in_park"] = consumed
            rows["from_storage"] = stored
            parts.append(rows)
            ranks.append(np.full(keep.size, rank[i]))
    if not parts:
        return np.zeros(0, dtype=CERTIFICATE_DTYPE)
    out = np.concatenate(parts)
    return out[np.lexsort((out["from_storage"], ~out["consumed_in_park"], np.concatenate(ranks),
                           out["hour_s"]))]


def gec_count(flows: ParkFlows, gec_kwh: float | None = None) -> int:
    """China green certificates (GEC) issued for the park's renewable generation.

    GECs are issued per project and month for its whole generation (consumed or exported):
    ``floor(kWh / 1,000)`` per device and local calendar month; fractions do not carry over
    in this count.
    """
    if gec_kwh is None:
        gec_kwh = float(data.load("carbon")["gec_kwh"])
    month = flows.local_year.astype(np.int64) * 12 + flows.local_month.astype(np.int64)
    _, idx = np.unique(month, return_inverse=True)
    count = 0
    for series in flows.generation_mwh.values():
        kwh = np.bincount(idx, weights=np.maximum(series, 0.0) * 1000.0)
        count += int(np.floor(kwh / gec_kwh + 1e-9).sum())
    return count
