"""A multi-year appraisal: cash flows year by year, NPV, IRR, LCOE, payback, annualised costs.

Year 0 is the investment, years 1..N the operation (N = the appraisal period). Each asset is
bought at year 0 and again at the end of each lifetime that ends before year N (a
replacement, at the escalated price); at year N the last purchase's book value (straight-line)
comes back as residual value. Fixed O&M runs every year, escalated. The energy line is the
yearly saving (or revenue) the investment brings, given per year by the caller: from
co-simulated sample years with the assets degraded to each year's state (:func:`interpolated`
between them), or from year 1's hours degraded arithmetically (:meth:`Bill.yearly_cny`). Tax is the income tax on
(energy - O&M - depreciation - interest); a negative tax is the shield the owner's other
income takes. Debt is a share of the initial investment repaid in equal annuities::

    project_t = energy_t - opex_t - capex_t - replacement_t + residual_t - tax_t
    equity_t  = project_t + debt drawn_t - debt service_t   (tax with the interest deducted)

Financial parameters come from ``twin/data/costs.yaml`` (:func:`finance`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from twin import data
from twin.accounting import economics
from twin.accounting.economics import Asset, UnitCost, annuity_factor, npv


@dataclass(frozen=True)
class Finance:
    """Parameters of an appraisal (real terms)."""

    rate: float  # discount rate per year
    years: int  # appraisal period
    tax_rate: float = 0.0
    debt_share: float = 0.0
    debt_rate: float = 0.0
    debt_years: int = 1
    escalation_energy: float = 0.0
    escalation_opex: float = 0.0
    escalation_capex: float = 0.0
    escalation_storage_capex: float = 0.0

    def __post_init__(self) -> None:
        if not self.rate > -1 or self.years < 1 or self.debt_years < 1:
            raise ValueError(f"appraisal needs rate > -1 and years >= 1, got {self}")
        if not 0 <= self.debt_share <= 1 or not 0 <= self.tax_rate < 1:
            raise ValueError("debt_share must be in 0..1 and tax_rate in 0..1")


def finance(rate: float | None = None, years: int = 20,
            overrides: Mapping[str, Any] | None = None) -> Finance:
    """The appraisal's parameters from ``twin/data/costs.yaml`` (``rate`` None: its own);
    ``overrides`` (a scenario's ``economics``) may set ``tax_rate``, ``debt_share``,
    ``debt_rate``, ``debt_years`` (None keeps the data file's)."""
    d = data.load("costs")
    esc = d["escalation"]
    fin = {"tax_rate": d["tax"]["income_tax_rate"], **d["financing"]}
    fin.update({k: v for k, v in (overrides or {}).items() if k in fin and v is not None})
    return Finance(
        rate=float(d["discount_rate"] if rate is None else rate), years=int(years),
        tax_rate=float(fin["tax_rate"]), debt_share=float(fin["debt_share"]),
        debt_rate=float(fin["debt_rate"]), debt_years=int(fin["debt_years"]),
        escalation_energy=float(esc["energy_per_year"]),
        escalation_opex=float(esc["opex_per_year"]),
        escalation_capex=float(esc["capex_per_year"]),
        escalation_storage_capex=float(esc["storage_capex_per_year"]))


@dataclass(frozen=True)
class Investment:
    """One asset priced: its capex, fixed O&M, lifetime, degradation and the cost's source."""

    name: str
    kind: str
    size: float
    size_unit: str
    capex_cny: float
    opex_cny_per_year: float
    lifetime_years: int
    degradation_per_year: float = 0.0
    source: str = ""

    @property
    def illustrative(self) -> bool:
        """Whether its cost figures are labelled illustrative in the data file."""
        return self.source.lstrip().lower().startswith("illustrative")

    def annualised_cny(self, rate: float) -> float:
        """Capex as an annuity over the lifetime plus O&M, CNY per year."""
        return self.capex_cny / annuity_factor(rate, self.lifetime_years) + self.opex_cny_per_year


def investments(assets: Iterable[Asset],
                costs: Mapping[str, UnitCost] | None = None) -> list[Investment]:
    """The assets priced from ``twin/data/costs.yaml`` (or ``costs``)."""
    costs = economics.unit_costs() if costs is None else costs
    out = []
    for a in assets:
        c = costs.get(a.kind)
        capex = economics.capex_cny([a], costs)  # checks the kind and its sizing
        assert c is not None
        out.append(Investment(a.name, a.kind, a.capacity_kw, c.size_unit, capex,
                              economics.opex_cny_per_year([a], costs), c.lifetime_years,
                              c.degradation_per_year, c.source))
    return out


def purchases(inv: Investment, f: Finance) -> list[tuple[int, float]]:
    """(year, CNY) of each purchase within the period: year 0, then each replacement."""
    esc = f.escalation_storage_capex if inv.kind == "battery" else f.escalation_capex
    return [(y, inv.capex_cny * (1.0 + esc) ** y)
            for y in range(0, f.years, inv.lifetime_years)]


def _schedule(inv: Investment, f: Finance) -> tuple[np.ndarray, np.ndarray, float]:
    """Capex by year (0..N), depreciation by year (0..N) and the residual value at N."""
    n = f.years
    capex, dep = np.zeros(n + 1), np.zeros(n + 1)
    bought = purchases(inv, f)
    for y, cost in bought:
        capex[y] += cost
        dep[y + 1: min(y + inv.lifetime_years, n) + 1] += cost / inv.lifetime_years
    y_last, cost_last = bought[-1]
    left = y_last + inv.lifetime_years - n
    return capex, dep, cost_last * max(left, 0) / inv.lifetime_years


@dataclass
class CashFlows:
    """Year-by-year cash flows (index = year 0..N), CNY, and the figures drawn from them.

    ``tax`` is the project's (before interest); the equity's tax also deducts the interest.
    """

    finance: Finance
    capex: np.ndarray
    replacement: np.ndarray
    residual: np.ndarray
    opex: np.ndarray
    energy: np.ndarray
    depreciation: np.ndarray
    interest: np.ndarray
    tax: np.ndarray
    debt: np.ndarray  # drawn (+) and repaid principal (-)
    project: np.ndarray  # after tax, before financing
    equity: np.ndarray  # after tax and financing
    simulated: tuple[int, ...] = ()  # years co-simulated (the others interpolated)

    @property
    def years(self) -> np.ndarray:
        """The years 0..N."""
        return np.arange(self.project.size)

    @property
    def npv_cny(self) -> float:
        """Net present value of the project cash flows at the discount rate."""
        return npv(self.project, self.finance.rate)

    @property
    def equity_npv_cny(self) -> float:
        """Net present value of the equity cash flows at the discount rate."""
        return npv(self.equity, self.finance.rate)

    @property
    def irr(self) -> float:
        """Internal rate of return of the project cash flows (nan where none)."""
        return irr(self.project)

    @property
    def equity_irr(self) -> float:
        """Internal rate of return of the equity cash flows (nan where none)."""
        return irr(self.equity)

    @property
    def payback_years(self) -> float:
        """Years until the cumulative project cash flow turns positive (inf: never)."""
        return payback_years(self.project)

    @property
    def discounted_payback_years(self) -> float:
        """As :attr:`payback_years` on discounted cash flows."""
        return payback_years(self.project / (1.0 + self.finance.rate) ** self.years)

    def rows(self) -> list[tuple[int, ...]]:
        """One row per year: year, capex, replacement, residual, O&M, energy, tax, project,
        debt service, equity (CNY)."""
        service = -(self.debt.clip(max=0) - self.interest)
        return [(int(y), *(float(v[y]) for v in (
            self.capex, self.replacement, self.residual, self.opex, self.energy, self.tax,
            self.project, service, self.equity))) for y in self.years]


def cash_flows(energy_cny: Sequence[float], f: Finance, add: Sequence[Investment] = (),
               remove: Sequence[Investment] = (), simulated: Sequence[int] = ()) -> CashFlows:
    """Cash flows of investing in ``add`` (and not in ``remove``, a baseline's assets).

    Parameters
    ----------
    energy_cny : sequence of float
        The yearly energy saving (or revenue) of years 1..N, CNY (N = ``f.years``).
    f : Finance
        Rate, period, tax, financing, escalation.
    add, remove : sequences of Investment
        What is bought; what the baseline buys instead (its flows enter with the other sign).
    simulated : sequence of int
        The years whose energy line comes from a co-simulated year (recorded, not used).
    """
    n = f.years
    energy = np.zeros(n + 1)
    e = np.asarray(energy_cny, dtype=float)
    if e.size != n:
        raise ValueError(f"energy_cny needs {n} years (1..{n}), got {e.size}")
    energy[1:] = e
    grow = (1.0 + f.escalation_opex) ** np.arange(-1, n)
    sums = []   # each group summed apart, then the difference: equal groups give exactly 0
    for group in (add, remove):
        capex, dep, residual, opex = (np.zeros(n + 1), np.zeros(n + 1), np.zeros(n + 1),
                                      np.zeros(n + 1))
        for inv in group:
            c, d, r = _schedule(inv, f)
            capex += c
            dep += d
            residual[n] += r
            opex[1:] += inv.opex_cny_per_year * grow[1:]
        sums.append((capex, dep, residual, opex))
    capex, dep, residual, opex = (x - y for x, y in zip(*sums, strict=True))
    initial, replacement = np.zeros(n + 1), capex.copy()
    initial[0], replacement[0] = capex[0], 0.0
    # debt: a share of the initial investment, equal annuities over debt_years
    debt, interest = np.zeros(n + 1), np.zeros(n + 1)
    principal = f.debt_share * initial[0]
    debt[0] = principal
    if principal:
        payment = principal / annuity_factor(f.debt_rate, f.debt_years)
        left = principal
        for y in range(1, min(f.debt_years, n) + 1):
            interest[y] = left * f.debt_rate
            debt[y] = -(payment - interest[y])
            left += debt[y]
        if left > 1e-9 * principal:  # a tenor beyond the period: repay the rest at N
            debt[n] -= left
    taxable = energy - opex - dep
    tax = f.tax_rate * taxable
    project = energy - opex - initial - replacement + residual - tax
    equity = project + debt - interest + f.tax_rate * interest
    return CashFlows(finance=f, capex=initial, replacement=replacement, residual=residual,
                     opex=opex, energy=energy, depreciation=dep, interest=interest,
                     tax=tax, debt=debt, project=project, equity=equity,
                     simulated=tuple(sorted(int(y) for y in simulated)))


def irr(flows: Sequence[float]) -> float:
    """The rate at which the NPV of ``flows`` (year 0 first) is zero; nan where the flows do
    not change sign or no rate in (-99 %, 1000 %) gives zero."""
    cf = np.asarray(flows, dtype=float)
    if not (cf.min() < 0 < cf.max()):
        return math.nan
    lo, hi = -0.99, 10.0
    f_lo, f_hi = npv(cf, lo), npv(cf, hi)
    if f_lo * f_hi > 0:
        return math.nan
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        f_mid = npv(cf, mid)
        if f_lo * f_mid <= 0:
            hi = mid
        else:
            lo, f_lo = mid, f_mid
        if hi - lo < 1e-12:
            break
    return 0.5 * (lo + hi)


def payback_years(flows: Sequence[float]) -> float:
    """Years (interpolated within the year) until the cumulative flows first reach zero and
    stay there; 0 without an outlay, inf if they never do."""
    cum = np.cumsum(np.asarray(flows, dtype=float))
    if cum[0] >= 0:
        return 0.0
    negative = np.nonzero(cum < 0)[0]
    last = int(negative[-1])
    if last == cum.size - 1:
        return math.inf
    step = cum[last + 1] - cum[last]
    return last + (-cum[last] / step if step > 0 else 0.0)


def lcoe_cny_per_mwh(invest: Sequence[Investment], energy_mwh_year1: float, f: Finance) -> float:
    """Levelised cost of the energy of ``invest``: discounted capex, replacements, O&M less the
    residual value, over the discounted energy (falling by each plant's degradation; with
    several plants, by the capex-weighted degradation). Before tax and financing."""
    if energy_mwh_year1 <= 0:
        return math.nan
    flows = cash_flows(np.zeros(f.years), replace(f, tax_rate=0.0, debt_share=0.0), add=invest)
    cost = -npv(flows.project, f.rate)
    total = sum(i.capex_cny for i in invest) or 1.0
    d = sum(i.capex_cny * i.degradation_per_year for i in invest) / total
    years = np.arange(1, f.years + 1)
    energy = energy_mwh_year1 * (1.0 - d) ** (years - 1)
    return cost / float(np.sum(energy / (1.0 + f.rate) ** years))


def degradation_factors(degradation_per_year: float, lifetime_years: int, years: int) -> np.ndarray:
    """Output (or capacity) left in years 1..N: falls each year, restored by a replacement."""
    age = (np.arange(years)) % max(lifetime_years, 1)
    return (1.0 - degradation_per_year) ** age


def interpolated(values: Mapping[int, float], years: int) -> np.ndarray:
    """Values of years 1..N from those of sampled years: linear between two sampled years,
    the nearest sampled year's value before the first and after the last."""
    ys = sorted(values)
    if not ys or ys[0] < 1 or ys[-1] > years:
        raise ValueError(f"sampled years {ys}: expected years within 1..{years}")
    return np.interp(np.arange(1, years + 1), ys, [float(values[y]) for y in ys])


def escalated(yearly_cny: Sequence[float], f: Finance) -> np.ndarray:
    """Yearly energy figures of years 1..N at today's prices, escalated (year 1 unchanged)."""
    v = np.asarray(yearly_cny, dtype=float)
    return v * (1.0 + f.escalation_energy) ** np.arange(v.size)


def degraded_flows(import_mwh: np.ndarray, export_mwh: np.ndarray, lost_mwh: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Imports and exports once each hour's supply falls by ``lost_mwh`` (negative: rises).

    A shortfall first takes from that hour's export, then is imported; a surplus first cuts
    the import, then is exported.
    """
    imp, exp = np.asarray(import_mwh, float).copy(), np.asarray(export_mwh, float).copy()
    short = np.maximum(lost_mwh, 0.0)
    take = np.minimum(exp, short)
    exp -= take
    imp += short - take
    surplus = np.maximum(-lost_mwh, 0.0)
    cut = np.minimum(imp, surplus)
    imp -= cut
    exp += surplus - cut
    return imp, exp


def annualised_by_kind(invest: Sequence[Investment], rate: float) -> dict[str, float]:
    """Annualised cost (capex annuity over each lifetime + O&M) per asset kind, CNY/yr."""
    out: dict[str, float] = {}
    for i in invest:
        out[i.kind] = out.get(i.kind, 0.0) + i.annualised_cny(rate)
    return out


@dataclass(frozen=True)
class Bill:
    """What a park's yearly energy bill is made of, hour by hour, for bills of later years.

    ``years`` is the length of the recorded period in years: the energy part of the bill of
    a shorter run is scaled to a year (annualised) by dividing by it, the monthly basic charge
    (demand or capacity) by the share of the twelve months the run touches.
    """

    tariff: economics.Tariff
    hour: np.ndarray
    month: np.ndarray
    import_mwh: np.ndarray
    export_mwh: np.ndarray
    peaks_mw: Mapping[int, float]
    years: float
    capacity_kva: float = 0.0
    direct_line_mwh: float = 0.0
    pv_mwh: np.ndarray | None = None
    charge_mwh: np.ndarray | None = None
    discharge_mwh: np.ndarray | None = None
    gas_cny: float = 0.0  # the gas burnt over the recorded period, at its price

    def cost(self, import_mwh: np.ndarray | None = None,
             export_mwh: np.ndarray | None = None) -> economics.EnergyCost:
        """The bill of the recorded period (or of other imports and exports on its hours)."""
        return economics.energy_cost(
            self.import_mwh if import_mwh is None else import_mwh,
            self.export_mwh if export_mwh is None else export_mwh, self.hour, self.month,
            self.tariff, self.peaks_mw, capacity_kva=self.capacity_kva,
            direct_line_mwh=self.direct_line_mwh)

    def yearly_cny(self, f: Finance, pv_left: Sequence[float] | None = None,
                   storage_left: Sequence[float] | None = None) -> np.ndarray:
        """The bill (grid and gas) of years 1..N, CNY: the recorded hours with PV output and storage
        throughput scaled by what is left of them each year (:func:`degradation_factors`),
        the shortfall met as :func:`degraded_flows` says, prices escalated; each year's
        monthly demand peaks as recorded."""
        n = f.years
        pv = np.ones(n) if pv_left is None else np.asarray(pv_left, float)
        st = np.ones(n) if storage_left is None else np.asarray(storage_left, float)
        zero = np.zeros_like(self.import_mwh)
        gen = zero if self.pv_mwh is None else self.pv_mwh
        through = zero if self.charge_mwh is None else self.discharge_mwh - self.charge_mwh
        out = np.empty(n)
        cache: dict[tuple[float, float], float] = {}
        for y in range(n):
            key = (round(float(pv[y]), 12), round(float(st[y]), 12))
            if key not in cache:
                lost = gen * (1.0 - key[0]) + through * (1.0 - key[1])
                c = self.cost(*degraded_flows(self.import_mwh, self.export_mwh, lost))
                cache[key] = ((c.total_cny - c.demand_cny + self.gas_cny) / self.years
                              + c.demand_cny * 12.0 / self.months)
            out[y] = cache[key] * (1.0 + f.escalation_energy) ** y
        return out

    @property
    def months(self) -> int:
        """Number of distinct local months the recorded hours touch."""
        return max(1, len(np.unique(self.month)))

    def annual_cny(self) -> float:
        """The recorded period's bill (grid and gas) scaled to a year, CNY."""
        c = self.cost()
        return ((c.total_cny - c.demand_cny + self.gas_cny) / self.years
                + c.demand_cny * 12.0 / self.months)
