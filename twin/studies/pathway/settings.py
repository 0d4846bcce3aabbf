"""The accounting settings of the pathway: explicit, shown in every report, used alike by the
LP and by the judge of the proving runs (:func:`judge_file`)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from twin import data
from twin.accounting import economics
from twin.accounting.carbon import (
    Emissions,
    Factors,
    ParkFlows,
    cfe_scores,
    direct_line,
    emissions,
    factors,
    flows_from_run,
    ledger,
)
from twin.core.results import open_run

NATIONAL = ("core_carbon_intensity", "clean_energy_share", "direct_line_share")
CRITERIA = (*NATIONAL, "hourly_cfe")
NAMES = {"core_carbon_intensity": "core indicator (tCO2/tce)",
         "clean_energy_share": "clean-energy share", "direct_line_share": "绿电直连 share",
         "hourly_cfe": "hourly CFE score"}
SHORT = {"core": "core_carbon_intensity", "clean": "clean_energy_share",
         "direct": "direct_line_share", "direct_line": "direct_line_share"}
LOWER_IS_BETTER = {"core_carbon_intensity"}
EMISSIONS = ("location", "market")


def gas_coefficient() -> tuple[float, float, float]:
    """GB/T 2589's natural-gas coefficient: default, lowest and highest (kgce/Nm3)."""
    default = float(data.load("carbon")["gas_kgce_per_nm3"])
    lo, hi = data.load("measures")["gas_kgce_per_nm3_range"]
    return default, float(lo), float(hi)


@dataclass(frozen=True)
class Accounting:
    """How the criteria are counted.

    ``emissions``: 'location' (the notice: grid import x regional factor; certificates do
    not lower it) or 'market' (import not covered by GECs and 绿电交易 contracts x the
    residual-mix-like factor). ``certificates_clean``: bought certificates and contracts
    count as clean electricity; ``grid_share_clean``: the grid's non-fossil share of the
    uncovered import counts as clean. ``gas_kgce_per_nm3``: GB/T 2589 coefficient (None: the
    default). ``criteria``: which computed national criteria must hold; ``cfe``: an optional
    hourly carbon-free-energy target (0..1).
    """

    emissions: str = "location"
    certificates_clean: bool = True
    grid_share_clean: bool = False
    gas_kgce_per_nm3: float | None = None
    criteria: tuple[str, ...] = NATIONAL
    cfe: float | None = None

    def __post_init__(self) -> None:
        if self.emissions not in EMISSIONS:
            raise ValueError(f"emissions {self.emissions!r}: expected one of "
                             f"{', '.join(EMISSIONS)}")
        unknown = sorted(set(self.criteria) - set(NATIONAL))
        if unknown:
            raise ValueError(f"unknown criteria {unknown}: expected among "
                             f"{', '.join(SHORT)}")
        if self.cfe is not None and not 0.0 < self.cfe <= 1.0:
            raise ValueError(f"cfe {self.cfe}: expected a share in (0, 1]")
        if self.gas_kgce_per_nm3 is not None:
            _, lo, hi = gas_coefficient()
            if not lo <= self.gas_kgce_per_nm3 <= hi:
                raise ValueError(f"gas coefficient {self.gas_kgce_per_nm3}: expected "
                                 f"{lo}-{hi} kgce/Nm3 (GB/T 2589)")

    @property
    def active(self) -> tuple[str, ...]:
        """The criteria that must hold (the CFE target included when set)."""
        return self.criteria + (("hourly_cfe",) if self.cfe is not None else ())

    def gas_tce_per_nm3(self, default: float) -> float:
        """The gas coefficient in use (tce/Nm3)."""
        return default if self.gas_kgce_per_nm3 is None else self.gas_kgce_per_nm3 / 1000.0

    def lines(self) -> list[str]:
        """The settings in words, for every report."""
        default, lo, hi = gas_coefficient()
        gas = self.gas_kgce_per_nm3 if self.gas_kgce_per_nm3 is not None else default
        core = ("location-based: Scope 1 (gas) + grid import x the regional grid factor, as "
                "the notice (发改环资〔2025〕910号) reads; certificates and contracts do not "
                "lower it" if self.emissions == "location" else
                "market-based (an option, not the notice's reading): Scope 1 (gas) + import "
                "not covered by GECs and 绿电交易 contracts x the residual-mix-like factor")
        clean = ["local wind and PV consumed (directly or through storage)"]
        if self.certificates_clean:
            clean.append("bought certificates (GEC) and green power (绿电交易 contracts: their "
                         "certificates counted month by month as the smaller of the contract's "
                         "delivery and the park's grid import)")
        if self.grid_share_clean:
            clean.append("the grid's non-fossil share of the uncovered import")
        return [
            f"emissions of the core indicator: {core}",
            "clean energy: " + "; ".join(clean) + "; natural gas not counted"
            + ("" if self.grid_share_clean else "; the grid's non-fossil share not counted"),
            f"standard coal coefficients (GB/T 2589): electricity 0.1229 kgce/kWh; natural gas "
            f"{gas:g} kgce/Nm3 (default {default:g}, range {lo:g}-{hi:g})",
            "criteria required: " + ", ".join(NAMES[c] for c in self.criteria)
            + (f"; hourly CFE >= {self.cfe:.0%} (an option, not national; 绿电交易 "
               "contracts count their delivery against the import of the same hour)"
               if self.cfe is not None else ""),
            "绿电直连: share of the direct-line wind's generation consumed in the park; the LP "
            "counts every exported MWh as wind (conservative), the accounting shares exports "
            "pro rata with PV",
            "the annual net green-electricity balance (>= 0 MWh/yr) is the project's own, "
            "illustrative threshold, not a national criterion, and is not optimised here",
        ]


def delivery(flows: ParkFlows, contracts: dict[str, float]) -> np.ndarray:
    """The 绿电交易 contracts' delivery of each hour of a run (MWh): each contract delivers
    its volume over the run in its shape (``twin/data/measures.yaml``: flat, or the run's
    own wind or PV hour by hour)."""
    m = data.load("measures")
    n = flows.n_hours
    base = {"flat": np.ones(n), "wind": flows.total(flows.wind_mwh),
            "solar": flows.total(flows.pv_mwh)}
    out = np.zeros(n)
    for key, volume in contracts.items():
        shape = base[str(m[key]["shape"])]
        if volume > 0 and shape.sum() > 0:
            out += volume * shape / shape.sum()
    return out


def settled(flows: ParkFlows, contracts: dict[str, float]) -> float:
    """The certificates of 绿电交易 contracts as settled on a run (MWh): each month counts
    the smaller of the contracts' delivery in it (:func:`delivery`) and the park's grid
    import in it (``contract_rule``)."""
    hourly = delivery(flows, contracts)
    _, month = economics.local_hour_month(flows.hour_s, flows.timezone)
    imp = np.maximum(flows.import_mwh, 0.0)
    return float(sum(min(hourly[month == k].sum(), imp[month == k].sum())
                     for k in np.unique(month)))


def hourly_cfe(flows: ParkFlows, grid_cfe_share: float,
               contracts: dict[str, float] | None = None) -> float:
    """The hourly CFE score of a run (:func:`~twin.accounting.carbon.cfe_scores`), the
    contracts' delivery counted as the LP counts it: in each hour, the import the park
    consumed up to the contracts' delivery of that hour is carbon-free."""
    if not contracts:
        return float(cfe_scores(flows, grid_cfe_share)["hourly"])
    led = ledger(flows)
    load = led.consumption_mwh
    matched = np.minimum(led.import_consumed_mwh, delivery(flows, contracts))
    supply = led.cfe_supply_mwh(grid_cfe_share) + (1.0 - grid_cfe_share) * matched
    total = float(load.sum())
    return float(np.minimum(load, supply).sum() / total) if total > 0 else float("nan")


def _account(path: str | Path, acct: Accounting, contracts: dict[str, float] | None
             ) -> tuple[ParkFlows, Factors, Emissions]:
    """A recorded run's flows, factors (the gas coefficient of ``acct``) and emissions (its
    GECs and the ``contracts`` as settled on its import)."""
    with open_run(path) as run:
        flows = flows_from_run(run)
        meta = run.meta.get("carbon")
    carbon = json.loads(meta or "{}")
    fac = factors(int(carbon.get("factor_year", 2023)), str(carbon.get("region", "northeast")))
    fac = dataclasses.replace(fac, gas_tce_per_nm3=acct.gas_tce_per_nm3(fac.gas_tce_per_nm3))
    gec = float(carbon.get("green_certificates_mwh", 0.0))
    return flows, fac, emissions(flows, fac, gec + (settled(flows, contracts) if contracts
                                                    else 0.0))


def totals(path: str | Path, acct: Accounting, contracts: dict[str, float] | None = None
           ) -> dict[str, float]:
    """A recorded run's totals in the LP's flows (:attr:`~twin.studies.pathway.lp.Solution.
    flows` keys): grid import and export, storage discharge, electricity consumed, gas,
    energy use (tce) and the core indicator's emissions (tCO2, counted with ``acct``)."""
    flows, _, em = _account(path, acct, contracts)
    return {"import_mwh": float(np.maximum(flows.import_mwh, 0.0).sum()),
            "export_mwh": float(np.maximum(flows.export_mwh, 0.0).sum()),
            "discharge_mwh": float(flows.storage_discharge_mwh.sum()),
            "both_mwh": float(np.minimum(flows.storage_charge_mwh,
                                         flows.storage_discharge_mwh).sum()),
            "electricity_mwh": em.electricity_total_mwh,
            "gas_nm3": float(flows.gas_total_nm3.sum()),
            "energy_tce": em.energy_total_tce,
            "co2_t": em.total_location_t if acct.emissions == "location"
            else em.total_market_t}


def judge_file(path: str | Path, acct: Accounting,
               contracts: dict[str, float] | None = None) -> dict[str, float]:
    """The criteria of a recorded run counted with ``acct`` (all of them, required or not).
    ``contracts``: 绿电交易 volumes bought (MWh over the run, by contract key): their
    certificates are settled on the run's own import (:func:`settled`) and counted beside
    the GECs its scenario holds."""
    flows, fac, em = _account(path, acct, contracts)
    tce = em.energy_total_tce
    out: dict[str, float] = {}
    if tce > 0:
        em_t = em.total_location_t if acct.emissions == "location" else em.total_market_t
        out["core_carbon_intensity"] = em_t / tce
        renewable = float(ledger(flows).renewable_consumed_mwh().sum())
        elec = em.electricity_total_mwh
        imp = float(np.maximum(flows.import_mwh, 0.0).sum())
        clean = renewable + (em.gec_mwh if acct.certificates_clean else 0.0)
        if acct.grid_share_clean:
            covered = em.gec_mwh if acct.certificates_clean else 0.0
            clean += fac.grid_cfe_share * max(imp - covered, 0.0)
        out["clean_energy_share"] = min(clean, elec) * fac.elec_tce_per_mwh / tce
    line = direct_line(flows)
    if line.generation_mwh > 0:
        out["direct_line_share"] = float(line.share)
    if acct.cfe is not None:
        out["hourly_cfe"] = hourly_cfe(flows, fac.grid_cfe_share, contracts)
    return out
