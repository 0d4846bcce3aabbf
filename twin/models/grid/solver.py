"""AC power flow of the park network: a fast per-step solver and the pandapower reference.

The pandapower network is the model of record. :class:`FastSolver` is built ONCE from it and
then solves one AC power flow per step from arrays of load and static-generator powers, with
the same answers as ``pandapower.runpp`` (to its convergence tolerance) at a fraction of the
cost. :class:`RunppSolver` has the same interface and calls ``pandapower.runpp`` every time:
it is the reference the fast solver is tested against, and the naive baseline.

How the fast solver is built
----------------------------
One ``pandapower.runpp`` on a private copy of the network compiles it into pandapower's
internal bus-branch model (its "ppci"): closed bus-bus switches fused, open line/trafo
switches turned into auxiliary open ends (the line still charges from its live end),
out-of-service and unsupplied elements removed, transformers in pandapower's own equivalent
circuit (``trafo_model="t"``, taps, phase shifts, ``parallel``, ``df``), shunts and storage in
place. From it the solver keeps the admittance matrices ``Ybus``, ``Yf`` and ``Yt``, the bus
types and the converged voltage. Each step it rebuilds the complex bus injections with one
sparse product (loads, static generators and storage each mapped to their internal bus with
their ``scaling``), runs lightsim2grid's Newton-Raphson (KLU) warm-started from the previous
converged voltage, and evaluates the branch flows and loadings with pandapower's own formulas.
The Newton-Raphson runs in lightsim2grid's time-series solver, fed the injections of one step
or of a block of steps as arrays (:class:`_Chain`): it keeps the Jacobian's pattern and the
KLU symbolic analysis from call to call, which the bare solver redoes on every call.
Since both sides work on the same admittance matrix, the only difference from ``runpp`` is
where each Newton-Raphson stops inside the tolerance (``tolerance_mva`` = 1e-8): about 1e-9
p.u. in voltage. All arithmetic is float64 (lightsim2grid's own grid object takes float32
setters, ~1e-8 p.u.; it is not used here).

This route, rather than lightsim2grid's own pandapower importer, is what lets switches,
``storage``, parallel transformers and out-of-service buses be taken exactly as pandapower
takes them: that importer refuses or ignores switches, refuses ``parallel`` != 1, and warns that
its conversion can differ from pandapower silently.

Elements that would make the network depend on more than the per-step injections (PV buses of
``gen``, ``xward``, ``dcline``; voltage-dependent loads; FACTS devices; DC grids) are refused by
:func:`check_network` with :class:`GridError`.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandapower as pp
import pandapower.topology as pp_topology
from pandapower.pypower.idx_brch import F_BUS, T_BUS
from pandapower.pypower.idx_bus import BASE_KV, PD, QD
from scipy import sparse

try:  # scipy's own CSR kernel, without the ~8 us of dispatch of ``A @ x`` per call
    from scipy.sparse._sparsetools import csr_matvec as _csr_matvec
except ImportError:  # pragma: no cover - another scipy layout: the public operator
    _csr_matvec = None

try:  # KLU where this build of lightsim2grid has it
    from lightsim2grid.algorithm import NRSing_KLU as _NRSolver
except ImportError:  # pragma: no cover - depends on the lightsim2grid build
    from lightsim2grid.algorithm import NRSing_SparseLU as _NRSolver

__all__ = [
    "PF_OPTIONS",
    "FastSolver",
    "GridError",
    "PFResult",
    "RunppSolver",
    "check_network",
]

_SQRT3 = float(np.sqrt(3.0))

#: Options of every ``pandapower.runpp`` call here (pandapower 3 defaults, spelled out so that
#: both solvers agree by construction). numba only where installed (pandapower warns otherwise).
PF_OPTIONS: dict[str, Any] = {
    "algorithm": "nr",
    "calculate_voltage_angles": True,
    "init": "auto",
    "max_iteration": "auto",
    "tolerance_mva": 1e-8,
    "trafo_model": "t",
    "trafo_loading": "current",
    "enforce_q_lims": False,
    "check_connectivity": True,
    "voltage_depend_loads": True,
    "distributed_slack": False,
    "numba": importlib.util.find_spec("numba") is not None,
}

#: Newton-Raphson iterations pandapower's "auto" gives its "nr" algorithm.
_NR_MAX_ITERATION = 10

#: Element tables the solver cannot take while they hold an in-service element, and why.
_UNSUPPORTED = {
    "gen": "voltage-controlled generators (PV buses); model them as sgen",
    "xward": "extended wards (PV buses)",
    "dcline": "DC lines (PV buses at both ends)",
    "svc": "static var compensators (controlled)",
    "tcsc": "thyristor-controlled series capacitors (controlled)",
    "ssc": "static synchronous compensators (controlled)",
    "vsc": "voltage source converters (controlled)",
    "b2b_vsc": "back-to-back converters (controlled)",
    "bus_dc": "DC buses",
    "line_dc": "DC lines",
    "source_dc": "DC sources",
    "load_dc": "DC loads",
}

#: Voltage-dependent (ZIP) load shares: the injection would depend on the voltage.
_ZIP_COLUMNS = ("const_z_p_percent", "const_i_p_percent", "const_z_q_percent",
                "const_i_q_percent", "const_z_percent", "const_i_percent")


class GridError(ValueError):
    """The network cannot be solved by these solvers (no slack, island, unsupported element)."""


@dataclass(frozen=True)
class PFResult:
    """Result of one AC power flow, in pandapower's units, signs and index orders.

    Attributes
    ----------
    converged : bool
        Whether the power flow converged; when False every array and number is NaN.
    vm_pu : np.ndarray
        Voltage magnitude per bus (p.u.), ``net.bus.index`` order; NaN for out-of-service or
        unsupplied buses, as ``runpp``.
    va_degree : np.ndarray
        Voltage angle per bus (degree), same order.
    line_loading_pct : np.ndarray
        Loading per line (%), ``net.line.index`` order, as pandapower's ``loading_percent``:
        max(from, to current) / (max_i_ka * df * parallel).
    trafo_loading_pct : np.ndarray
        Loading per 2-winding transformer (%), ``net.trafo.index`` order, as pandapower's
        ``trafo_loading="current"``.
    p_ext_grid_mw : float
        Active power of all external grids (MW); > 0 is power fed INTO the park (import).
    q_ext_grid_mvar : float
        Reactive power of all external grids (Mvar), same sign.
    p_loss_mw : float
        Active losses of all lines and 2-winding transformers (MW), the sum of ``pl_mw``.
    line_p_from_mw : np.ndarray
        Active power into each line at its from bus (MW), ``net.line.index`` order.
    """

    converged: bool
    vm_pu: np.ndarray
    va_degree: np.ndarray
    line_loading_pct: np.ndarray
    trafo_loading_pct: np.ndarray
    p_ext_grid_mw: float
    q_ext_grid_mvar: float
    p_loss_mw: float
    line_p_from_mw: np.ndarray


def _failed(n_bus: int, n_line: int, n_trafo: int) -> PFResult:
    nan = float("nan")
    return PFResult(False, np.full(n_bus, nan), np.full(n_bus, nan), np.full(n_line, nan),
                    np.full(n_trafo, nan), nan, nan, nan, np.full(n_line, nan))


def _table(net: Any, name: str) -> Any:
    """An element table of ``net``, or None where the net has none."""
    return net.get(name, None)


def _in_service(df: Any) -> np.ndarray:
    if "in_service" in df:
        return df["in_service"].to_numpy(dtype=bool)
    return np.ones(len(df), dtype=bool)


def check_network(net: Any) -> None:
    """Check that the solvers can take a pandapower network.

    Parameters
    ----------
    net : pandapowerNet
        The network (not modified).

    Raises
    ------
    GridError
        No in-service external grid (slack); an element type the solver cannot take
        (see ``_UNSUPPORTED``) or voltage-dependent loads; in-service buses that are not
        connected to a slack (switches respected), named in the message.
    """
    ext = _table(net, "ext_grid")
    if ext is None or not _in_service(ext).any():
        raise GridError("the network has no in-service ext_grid: a power flow needs a slack "
                        "bus (create one with pandapower.create_ext_grid at the grid "
                        "connection point)")
    _check_elements(net)
    unsupplied = pp_topology.unsupplied_buses(net)
    if unsupplied:
        ids = sorted(int(b) for b in unsupplied)
        names = [str(net.bus.at[b, "name"]) for b in ids[:10]]
        more = " ..." if len(ids) > 10 else ""
        raise GridError(f"{len(ids)} in-service bus(es) are not connected to a slack "
                        f"(ext_grid), switches respected: indices {ids[:10]}{more}, "
                        f"names {names}{more}; connect them or take them out of service")


def _check_elements(net: Any) -> None:
    """Refuse element types and load models the solver cannot take."""
    for name, why in _UNSUPPORTED.items():
        df = _table(net, name)
        if df is not None and len(df) and _in_service(df).any():
            raise GridError(f"the network has {int(_in_service(df).sum())} in-service "
                            f"'{name}' element(s): {why}; the solver cannot take them")
    load = net.load
    on = _in_service(load)
    for col in _ZIP_COLUMNS:
        if col in load and np.any(np.nan_to_num(load[col].to_numpy(dtype=float))[on] != 0.0):
            raise GridError(f"voltage-dependent loads (net.load.{col} != 0) are not supported: "
                            "use constant-power loads")


class _MatVec:
    """``y = A @ x`` (complex) for a fixed CSR matrix ``A``, straight into scipy's kernel."""

    def __init__(self, a: Any) -> None:
        a = sparse.csr_matrix(a, dtype=np.complex128)
        a.sum_duplicates()
        self._a = a
        self._args = (a.shape[0], a.shape[1], a.indptr, a.indices, a.data)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if x.ndim == 2:  # one vector per row: each row's product, summed as for one vector
            return np.asarray(self._a @ x.T).T
        if _csr_matvec is None:
            return np.asarray(self._a @ x)
        y = np.zeros(self._a.shape[0], dtype=np.complex128)
        _csr_matvec(*self._args, np.ascontiguousarray(x, dtype=np.complex128), y)
        return y


def _as_array(x: Any, n: int, what: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.shape != (n,):
        raise ValueError(f"{what} must have shape ({n},), got {a.shape}")
    return a


class _Injections:
    """Where loads, static generators and storage inject, and how they are scaled."""

    TABLES = (("load", -1.0), ("sgen", 1.0), ("storage", -1.0))

    def __init__(self, net: Any, bus_lookup: np.ndarray, n_bus: int, base_mva: float) -> None:
        cols: list[sparse.csr_matrix] = []
        self.index: dict[str, np.ndarray] = {}
        self.slices: dict[str, slice] = {}
        values: list[np.ndarray] = []
        start = 0
        for name, sign in self.TABLES:
            df = _table(net, name)
            if df is None:
                df = net.load.iloc[:0]
            n = len(df)
            self.index[name] = df.index.to_numpy()
            self.slices[name] = slice(start, start + n)
            start += n
            bus = bus_lookup[df["bus"].to_numpy(dtype=np.int64)] if n else np.zeros(0, int)
            scaling = df["scaling"].to_numpy(dtype=float) if "scaling" in df else np.ones(n)
            keep = _in_service(df) & (bus < n_bus)
            w = np.where(keep, sign * scaling / base_mva, 0.0)
            rows = np.where(keep, bus, 0)
            cols.append(sparse.csr_matrix((w, (rows, np.arange(n))), shape=(n_bus, n)))
            values.append(df["p_mw"].to_numpy(dtype=float) + 1j * df["q_mvar"].to_numpy(
                dtype=float) if n else np.zeros(0, complex))
        self.matrix = sparse.hstack(cols, format="csr")  # per-unit bus injection per MW
        self.buffer = np.concatenate(values).astype(np.complex128)  # current element powers


class _Chain:
    """lightsim2grid's time-series solver (``TimeSeriesCPP``) on the compiled network: the
    Newton-Raphson of a run of steps, each started where the one before converged, in one
    call fed whole arrays. Unlike a call of the bare solver (which rebuilds the Jacobian's
    pattern and the linear solver's symbolic analysis every time: about 80 us of a 150 us
    solve), it keeps them from call to call, for one step or many.

    Its grid is lightsim2grid's own, built from the compiled network's matrices (MATPOWER
    layout; each branch's magnetising conductance, which that layout lacks, as bus shunts)
    with a load on every bus that takes the bus's whole injection. :meth:`of` returns None
    for a network of several slack buses (lightsim2grid would share their power) and where
    that grid's admittance matrix is not the compiled one to rounding (then the bare
    solver runs); so both give the same voltages to rounding (2e-14 p.u. on the reference
    park) and a step's answer is the same however the steps are batched."""

    def __init__(self, series: Any, ybus: Any, n_gen: int, base_mva: float) -> None:
        self.series = series
        self.ybus = ybus  # the admittance matrix this grid was checked against
        self.n_gen = n_gen
        self.base_mva = base_mva
        self.rows = 0

    @classmethod
    def of(cls, internal: dict, ybus: Any, v_start: np.ndarray) -> _Chain | None:
        """The chain of the compiled network ``internal`` (pandapower's ppci), or None."""
        try:
            from lightsim2grid.lightsim2grid_cpp import TimeSeriesCPP
            from lightsim2grid.network.from_matpower import init as from_matpower
            from pandapower.pypower.idx_brch import BR_G, TAP
            from pandapower.pypower.idx_bus import GS
        except ImportError:  # pragma: no cover - depends on the lightsim2grid build
            return None
        if len(internal["ref"]) != 1 or len(internal["pv"]):  # its grid: one slack, no PV
            return None
        bus = internal["bus"][:, :13].real.copy()
        branch = internal["branch"]
        base = float(internal["baseMVA"])
        g = branch[:, BR_G].real * base / 2.0
        ends = branch[:, [F_BUS, T_BUS]].real.astype(np.int64)
        np.add.at(bus[:, GS], ends[:, 0], g / np.abs(branch[:, TAP]) ** 2)
        np.add.at(bus[:, GS], ends[:, 1], g)
        bus[:, PD] = 1.0  # a load on every bus (its value is set each step)
        gen = internal["gen"][:, :21].real.copy()
        try:
            grid = from_matpower({"bus": bus, "gen": gen, "branch": branch[:, :13].real.copy(),
                                  "baseMVA": base})
            grid.ac_pf(v_start.copy(), 1, 1.0)
            same = ybus.shape == grid.get_Ybus_solver().shape and abs(
                grid.get_Ybus_solver() - ybus).max() <= 1e-12 * abs(ybus).max()
            loads = np.array([load.bus_id for load in grid.get_loads()])
        except (RuntimeError, ValueError, IndexError, KeyError):
            return None
        if not same or not np.array_equal(loads, np.arange(len(bus))):
            return None
        return cls(TimeSeriesCPP(grid), ybus, len(gen), base)

    def run(self, sbus: np.ndarray, v0: np.ndarray, max_iteration: int, tolerance: float
            ) -> tuple[int, np.ndarray]:
        """Solve the rows of ``sbus`` in turn from ``v0``: how many converged before the
        first that did not (all: ``len(sbus)``), and their voltages (one row each)."""
        k = len(sbus)
        load = -sbus * self.base_mva
        zeros = np.zeros((k, self.n_gen))
        series = self.series
        if k != self.rows:  # it keeps the number of rows of its last call until cleared
            series.clear()
            self.rows = k
        try:
            series.compute_Vs(zeros, np.zeros((k, 0)), np.ascontiguousarray(load.real),
                              np.ascontiguousarray(load.imag), v0, max_iteration, tolerance)
        except (RuntimeError, ValueError):
            return 0, np.zeros((0, len(v0)), dtype=np.complex128)
        ok = np.asarray(series.converged_mask(), dtype=bool)
        n = k if ok.all() else int(np.argmin(ok))
        v = np.asarray(series.get_voltages(), dtype=np.complex128)[:n]
        good = np.isfinite(v.real).all(axis=1) & np.isfinite(v.imag).all(axis=1)
        if not good.all():
            n = int(np.argmin(good))
        return n, v[:n].copy()


class FastSolver:
    """AC power flow built once from a pandapower network; one fast solve per step.

    Parameters
    ----------
    net : pandapowerNet
        The network of record (not modified; a private copy is solved once with
        ``pandapower.runpp`` to compile it and get a starting voltage).
    max_iteration : int, optional
        Newton-Raphson iterations per solve (pandapower's default for "nr": 10).

    Attributes
    ----------
    load_index, sgen_index, storage_index : np.ndarray
        The pandapower indices the input arrays of :meth:`solve` refer to, in order.
    bus_index, line_index, trafo_index : np.ndarray
        The pandapower indices of the result arrays.

    Raises
    ------
    GridError
        See :func:`check_network`; also when the network's initial state does not converge.
    """

    def __init__(self, net: Any, max_iteration: int = _NR_MAX_ITERATION) -> None:
        check_network(net)
        work = copy.deepcopy(net)
        try:
            pp.runpp(work, **PF_OPTIONS)
        except pp.LoadflowNotConverged as exc:
            raise GridError("the network's initial state does not converge in "
                            "pandapower.runpp; fix the network before building the solver"
                            ) from exc
        internal = work._ppc["internal"]
        if len(internal["pv"]):
            raise GridError("the compiled network has voltage-controlled (PV) buses; "
                            "the solver takes only PQ buses and the slack")
        self.max_iteration = int(max_iteration)
        self.tolerance = float(PF_OPTIONS["tolerance_mva"])  # pandapower uses it in p.u.
        self.base_mva = float(internal["baseMVA"])
        self._ybus = sparse.csc_matrix(internal["Ybus"], dtype=np.complex128)
        self._ybus.sum_duplicates()
        n = self._ybus.shape[0]
        self._n = n
        self._ref = np.asarray(internal["ref"], dtype=np.int32)
        self._pv = np.zeros(0, dtype=np.int32)
        self._pq = np.asarray(internal["pq"], dtype=np.int32)
        self._slack_weights = np.zeros(n)
        self._slack_weights[self._ref] = 1.0 / len(self._ref)
        self._v_start = np.asarray(internal["V"], dtype=np.complex128).copy()
        self._v_good = self._v_start.copy()
        self._solver = _NRSolver()

        bus_lookup = np.asarray(work._pd2ppc_lookups["bus"], dtype=np.int64)
        self.bus_index = net.bus.index.to_numpy()
        self._bus_pos = bus_lookup[self.bus_index]
        self._bus_on = self._bus_pos < n
        self._bus_pos = np.where(self._bus_on, self._bus_pos, 0)
        self._all_on = bool(self._bus_on.all())

        inj = _Injections(work, bus_lookup, n, self.base_mva)
        self._inj = inj
        self.load_index = inj.index["load"]
        self.sgen_index = inj.index["sgen"]
        self.storage_index = inj.index["storage"]
        bus = internal["bus"]
        sbus_all = -(bus[:, PD] + 1j * bus[:, QD]) / self.base_mva
        self._sbus_const = sbus_all - inj.matrix @ inj.buffer  # wards, motors ...: fixed
        self._sbus_const[np.abs(self._sbus_const) < 1e-12] = 0.0
        self._ybus_ref = _MatVec(self._ybus[self._ref, :])
        self._inj_matvec = _MatVec(inj.matrix)

        self._setup_branches(work, internal, bus_lookup)
        self._chain = _Chain.of(internal, self._ybus, self._v_start)

    def _setup_branches(self, net: Any, internal: dict, bus_lookup: np.ndarray) -> None:
        """Select the line and trafo branches, and what pandapower shows for the others."""
        n = self._n
        lookups = net._pd2ppc_lookups["branch"]
        branch_is = np.asarray(internal["branch_is"], dtype=bool)
        ppci_row = np.cumsum(branch_is) - 1  # ppc branch -> ppci branch
        ppc_branch = net._ppc["branch"]
        base_kv = internal["bus"][:, BASE_KV].real
        rows, sel = {}, []
        for kind in ("line", "trafo"):
            f, t = lookups.get(kind, (0, 0))
            r = np.arange(f, t)
            rows[kind] = r
            sel.append(r[branch_is[r]])
        lines_in = branch_is[rows["line"]]
        trafos_in = branch_is[rows["trafo"]]
        on = np.concatenate(sel)
        yf = sparse.csr_matrix(internal["Yf"])[ppci_row[on]]
        yt = sparse.csr_matrix(internal["Yt"])[ppci_row[on]]
        self._y_ft = _MatVec(sparse.vstack([yf, yt], format="csr"))
        br = internal["branch"][ppci_row[on]]
        self._ft_bus = np.concatenate([br[:, F_BUS].real, br[:, T_BUS].real]).astype(np.int64)
        self._ft_kv = base_kv[self._ft_bus] * _SQRT3
        self._n_on = len(on)
        self._n_line_on = int(lines_in.sum())

        # branches outside the solved model carry no power; pandapower's current there is
        # 0 / vm, so 0 where both ends are solved buses and NaN where one is not
        ends = ppc_branch[:, [F_BUS, T_BUS]].real.astype(np.int64)
        both_on = (ends < n).all(axis=1)
        line_df, trafo_df = net.line, net.trafo
        self._lines_in = lines_in
        self._trafos_in = trafos_in
        self._line_off_value = np.where(both_on[rows["line"]], 0.0, np.nan)[~lines_in]
        self._trafo_off_value = np.where(both_on[rows["trafo"]], 0.0, np.nan)[~trafos_in]
        i_max = (line_df["max_i_ka"].to_numpy(float) * line_df["df"].to_numpy(float)
                 * line_df["parallel"].to_numpy(float))
        self._line_off_loading = np.divide(self._line_off_value, i_max[~lines_in],
                                           out=np.full((~lines_in).sum(), np.inf),
                                           where=i_max[~lines_in] != 0) * 100.0
        tr_on = trafos_in
        scale = 100.0 * _SQRT3 / (trafo_df["sn_mva"].to_numpy(float)
                                  * trafo_df["parallel"].to_numpy(float)
                                  * trafo_df["df"].to_numpy(float))
        self._trafo_vn = np.stack([trafo_df["vn_hv_kv"].to_numpy(float) * scale,
                                   trafo_df["vn_lv_kv"].to_numpy(float) * scale])
        self._trafo_vn_on = self._trafo_vn[:, tr_on]
        self._trafo_off_loading = (self._trafo_off_value
                                   * self._trafo_vn[0, ~tr_on])  # 0 or NaN
        self.line_index = line_df.index.to_numpy()
        self.trafo_index = trafo_df.index.to_numpy()
        i_max_on = i_max[lines_in]
        self._line_zero_rating = i_max_on == 0  # pandapower shows inf loading there
        self._line_pct_per_ka = np.divide(100.0, i_max_on, out=np.zeros_like(i_max_on),
                                          where=~self._line_zero_rating)
        self._any_zero_rating = bool(self._line_zero_rating.any())

    def without(self, table: str, index: int, fraction: float = 1.0) -> FastSolver:
        """This solver with ``fraction`` of a line's or transformer's circuits out (1: the
        whole element; 1/parallel: one circuit), as a new solver; self is not changed.

        The branch's admittance leaves ``Ybus``, ``Yf`` and ``Yt`` in that fraction and its
        rating shrinks with its circuits, which is what pandapower compiles for a network with
        ``parallel`` one less (or the element out of service). The outage must leave every bus
        supplied: a cut-off part makes ``Ybus`` singular (rebuild from the network instead)."""
        on = self._lines_in if table == "line" else self._trafos_in
        order = self.line_index if table == "line" else self.trafo_index
        pos = int(np.flatnonzero(order == index)[0])
        if not on[pos]:
            return self
        k = int(on[:pos].sum()) + (0 if table == "line" else self._n_line_on)
        y = self._y_ft._a.tolil(copy=True)
        m = self._n_on
        f, t = self._ft_bus[k], self._ft_bus[m + k]
        ybus = self._ybus.tolil(copy=True)
        ybus[f, :] = ybus[f, :] - fraction * y[k, :]
        ybus[t, :] = ybus[t, :] - fraction * y[m + k, :]
        y[k, :] = (1.0 - fraction) * y[k, :]
        y[m + k, :] = (1.0 - fraction) * y[m + k, :]
        new = self._rebuilt(ybus, y)
        keep = 1.0 - fraction
        scale = 1.0 / keep if keep > 0 else 0.0  # out whole: no current, loading 0
        if table == "line":
            new._line_pct_per_ka = self._line_pct_per_ka.copy()
            new._line_pct_per_ka[k] *= scale
        else:
            new._trafo_vn_on = self._trafo_vn_on.copy()
            new._trafo_vn_on[:, k - self._n_line_on] *= scale
        return new

    def retapped(self, index: int, ratio: float) -> FastSolver:
        """This solver with transformer ``index``'s off-nominal ratio multiplied by ``ratio``
        (a tap change on its high-voltage, from side; no phase shift), as a new solver.

        With the branch's ratio t, ``Yff`` scales by 1/ratio**2, ``Yft`` and ``Ytf`` by
        1/ratio and ``Ytt`` stays: what pandapower compiles for the new ``tap_pos`` where the
        impedance does not depend on the tap (``tap_dependent_impedance`` off)."""
        pos = int(np.flatnonzero(self.trafo_index == index)[0])
        if not self._trafos_in[pos] or ratio == 1.0:
            return self
        k = int(self._trafos_in[:pos].sum()) + self._n_line_on
        m = self._n_on
        f, t = self._ft_bus[k], self._ft_bus[m + k]
        y = self._y_ft._a.tolil(copy=True)
        old_f, old_t = y[k, :].toarray().ravel(), y[m + k, :].toarray().ravel()
        new_f, new_t = old_f.copy(), old_t.copy()
        new_f[f] /= ratio * ratio
        new_f[t] /= ratio
        new_t[f] /= ratio
        ybus = self._ybus.tolil(copy=True)
        ybus[f, :] = ybus[f, :].toarray() + (new_f - old_f)
        ybus[t, :] = ybus[t, :].toarray() + (new_t - old_t)
        y[k, :], y[m + k, :] = new_f, new_t
        return self._rebuilt(ybus, y)

    def _rebuilt(self, ybus: Any, y: Any) -> FastSolver:
        """A copy of this solver with the admittance matrix ``ybus`` and the branches' ``y``
        ([Yf; Yt]), solving with its own bare solver (the time-series chain holds this one's
        matrix) from this one's last converged voltage."""
        new = copy.copy(self)
        new._ybus = sparse.csc_matrix(ybus)
        new._ybus.sum_duplicates()
        new._y_ft = _MatVec(y.tocsr())
        new._ybus_ref = _MatVec(new._ybus[self._ref, :])
        new._solver = _NRSolver()
        new._v_good = self._v_good.copy()
        return new

    # ------------------------------------------------------------------ per step
    def solve(self, load_p_mw: Any, load_q_mvar: Any, sgen_p_mw: Any, sgen_q_mvar: Any,
              storage_p_mw: Any = None, storage_q_mvar: Any = None) -> PFResult:
        """Solve one AC power flow.

        Parameters
        ----------
        load_p_mw, load_q_mvar : array_like
            Load powers (MW, Mvar; consumption > 0) in ``load_index`` order, before
            pandapower's ``scaling`` (which is applied, as ``runpp`` does).
        sgen_p_mw, sgen_q_mvar : array_like
            Static generator powers (MW, Mvar; generation > 0) in ``sgen_index`` order.
        storage_p_mw, storage_q_mvar : array_like, optional
            Storage powers (MW, Mvar; charging > 0, pandapower's sign) in ``storage_index``
            order; None keeps the values of the last call (initially the network's).

        Returns
        -------
        PFResult
            ``converged=False`` with NaN results when Newton-Raphson does not converge; the
            next solve then starts again from the last converged voltage.
        """
        inj = self._inj
        buf = inj.buffer
        s = inj.slices["load"]
        n = s.stop - s.start
        buf.real[s] = _as_array(load_p_mw, n, "load_p_mw")
        buf.imag[s] = _as_array(load_q_mvar, n, "load_q_mvar")
        s = inj.slices["sgen"]
        n = s.stop - s.start
        buf.real[s] = _as_array(sgen_p_mw, n, "sgen_p_mw")
        buf.imag[s] = _as_array(sgen_q_mvar, n, "sgen_q_mvar")
        s = inj.slices["storage"]
        n = s.stop - s.start
        if storage_p_mw is not None:
            buf.real[s] = _as_array(storage_p_mw, n, "storage_p_mw")
        if storage_q_mvar is not None:
            buf.imag[s] = _as_array(storage_q_mvar, n, "storage_q_mvar")
        sbus = self._sbus_const + self._inj_matvec(buf)
        ok, v = self._steps(sbus[None, :])
        if not ok[0]:
            return _failed(len(self.bus_index), len(self.line_index), len(self.trafo_index))
        return self._results(v[0], sbus)

    def solve_block(self, load_p_mw: np.ndarray, load_q_mvar: np.ndarray,
                    sgen_p_mw: np.ndarray, sgen_q_mvar: np.ndarray
                    ) -> tuple[np.ndarray, PFResult]:
        """Solve a block of steps: what :meth:`solve` gives for each row of the arrays in
        turn (one row per step; storage as in the last call), as one result of arrays.

        Each step's Newton-Raphson starts where the one before converged, as in a run of
        :meth:`solve` calls; the injections of all steps and the results are computed for
        the block at once. Returns the steps' converged flags and a :class:`PFResult` whose
        arrays have one row per step (its numbers: one value per step; NaN rows and values
        where a step did not converge)."""
        inj = self._inj
        k = len(load_p_mw)
        buf = np.repeat(inj.buffer[None, :], k, axis=0)
        for name, p, q in (("load", load_p_mw, load_q_mvar), ("sgen", sgen_p_mw, sgen_q_mvar)):
            cut = inj.slices[name]
            buf.real[:, cut], buf.imag[:, cut] = p, q
        sbus = self._sbus_const + self._inj_matvec(buf)
        ok, v = self._steps(sbus)
        if k:
            inj.buffer[:] = buf[-1]
        r = self._results(v, sbus)  # rows that did not converge: NaN below
        if not ok.all():
            r = PFResult(False, *(np.where(ok.reshape((k,) + (1,) * (np.ndim(x) - 1)), x,
                                           np.nan) for x in dataclasses.astuple(r)[1:]))
        return ok, r

    def _steps(self, sbus: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The Newton-Raphson of each row of ``sbus`` in turn, each started where the last
        converged one stopped (a step that does not converge from there: again from the
        network's initial voltage): the steps' converged flags and voltages (rows of a step
        that did not converge: the initial voltage). The time-series chain where it holds
        this admittance matrix (:class:`_Chain`), else the bare solver step by step."""
        k = len(sbus)
        v = np.repeat(self._v_start[None, :], k, axis=0)
        ok = np.zeros(k, dtype=bool)
        chain = self._chain if self._chain is not None and self._chain.ybus is self._ybus \
            else None
        i = 0
        while i < k:
            if chain is not None:
                n, vs = chain.run(sbus[i:], self._v_good, self.max_iteration, self.tolerance)
                if n:
                    v[i:i + n], ok[i:i + n] = vs, True
                    self._v_good = vs[-1]
                    i += n
                    if i == k:
                        break
                starts = (self._v_start,) if not np.array_equal(self._v_good, self._v_start) \
                    else ()
                for v0 in starts:
                    n, vs = chain.run(sbus[i:i + 1], v0, self.max_iteration, self.tolerance)
                    if n:
                        v[i], ok[i] = vs[0], True
                        self._v_good = vs[0]
            else:
                vi = self._newton(sbus[i], self._v_good)
                if vi is None and not np.array_equal(self._v_good, self._v_start):
                    vi = self._newton(sbus[i], self._v_start)
                if vi is not None:
                    v[i], ok[i] = vi, True
                    self._v_good = v[i]
            i += 1
        return ok, v

    def _newton(self, sbus: np.ndarray, v0: np.ndarray) -> np.ndarray | None:
        solver = self._solver
        try:
            solver.solve(self._ybus, v0.copy(), sbus, self._ref, self._slack_weights,
                         self._pv, self._pq, self.max_iteration, self.tolerance)
        except (RuntimeError, ValueError):
            solver.reset()
            return None
        if not solver.converged():
            solver.reset()
            return None
        v = np.asarray(solver.get_V(), dtype=np.complex128)
        total = v.sum()  # NaN or inf anywhere makes the sum non-finite
        if not (np.isfinite(total.real) and np.isfinite(total.imag)):
            solver.reset()
            return None
        return v

    def _results(self, v: np.ndarray, sbus: np.ndarray) -> PFResult:
        """The results of the voltage ``v`` (one step), or of one voltage per row of ``v``
        (a block: :meth:`solve_block`, every array and number then per row)."""
        base = self.base_mva
        rows = v.shape[:-1]
        vm = np.abs(v)
        vm_pu = vm[..., self._bus_pos]
        va_degree = np.angle(v[..., self._bus_pos], deg=True)
        if not self._all_on:
            vm_pu[..., ~self._bus_on] = np.nan
            va_degree[..., ~self._bus_on] = np.nan

        # [from..., to...] MW + jMvar
        s_ft = v[..., self._ft_bus] * np.conj(self._y_ft(v)) * base
        i_ft = np.abs(s_ft) / (vm[..., self._ft_bus] * self._ft_kv)  # kA
        m, nl = self._n_on, self._n_line_on
        i_f, i_t = i_ft[..., :m], i_ft[..., m:]
        p_loss = s_ft.real.sum(axis=-1)

        line_pct = np.empty(rows + (len(self.line_index),))
        on_pct = np.maximum(i_f[..., :nl], i_t[..., :nl]) * self._line_pct_per_ka
        if self._any_zero_rating:
            on_pct[..., self._line_zero_rating] = np.inf
        line_pct[..., self._lines_in] = on_pct
        line_pct[..., ~self._lines_in] = self._line_off_loading
        p_from = np.zeros(rows + (len(self.line_index),))
        p_from[..., self._lines_in] = s_ft.real[..., :nl]

        trafo_pct = np.empty(rows + (len(self.trafo_index),))
        trafo_pct[..., self._trafos_in] = np.maximum(i_f[..., nl:] * self._trafo_vn_on[0],
                                                     i_t[..., nl:] * self._trafo_vn_on[1])
        trafo_pct[..., ~self._trafos_in] = self._trafo_off_loading

        s_ref = v[..., self._ref] * np.conj(self._ybus_ref(v)) - sbus[..., self._ref]
        s_ext = s_ref.sum(axis=-1) * base
        if not rows:  # one step: plain numbers
            p_loss, s_ext = float(p_loss), complex(s_ext)
        return PFResult(True, vm_pu, va_degree, line_pct, trafo_pct, s_ext.real, s_ext.imag,
                        p_loss, p_from)


class RunppSolver:
    """The reference: same interface as :class:`FastSolver`, ``pandapower.runpp`` each call.

    Works on a deep copy of ``net``; the caller's network is never modified.
    """

    def __init__(self, net: Any) -> None:
        check_network(net)
        self._net = copy.deepcopy(net)
        self.load_index = self._net.load.index.to_numpy()
        self.sgen_index = self._net.sgen.index.to_numpy()
        st = _table(self._net, "storage")
        self.storage_index = st.index.to_numpy() if st is not None else np.zeros(0, int)
        self.bus_index = self._net.bus.index.to_numpy()
        self.line_index = self._net.line.index.to_numpy()
        self.trafo_index = self._net.trafo.index.to_numpy()

    @property
    def net(self) -> Any:
        """The solver's own copy of the network (with the last results)."""
        return self._net

    def solve(self, load_p_mw: Any, load_q_mvar: Any, sgen_p_mw: Any, sgen_q_mvar: Any,
              storage_p_mw: Any = None, storage_q_mvar: Any = None) -> PFResult:
        """Write the powers into the copy's tables and run ``pandapower.runpp`` once.

        See :meth:`FastSolver.solve` for the arguments.
        """
        self.write(load_p_mw, load_q_mvar, sgen_p_mw, sgen_q_mvar, storage_p_mw, storage_q_mvar)
        return self.run()

    def write(self, load_p_mw: Any, load_q_mvar: Any, sgen_p_mw: Any, sgen_q_mvar: Any,
              storage_p_mw: Any = None, storage_q_mvar: Any = None) -> None:
        """Write the powers into the copy's tables, a whole column at a time."""
        net = self._net
        nl, ns = len(self.load_index), len(self.sgen_index)
        net.load["p_mw"] = _as_array(load_p_mw, nl, "load_p_mw")
        net.load["q_mvar"] = _as_array(load_q_mvar, nl, "load_q_mvar")
        net.sgen["p_mw"] = _as_array(sgen_p_mw, ns, "sgen_p_mw")
        net.sgen["q_mvar"] = _as_array(sgen_q_mvar, ns, "sgen_q_mvar")
        nst = len(self.storage_index)
        if storage_p_mw is not None:
            net.storage["p_mw"] = _as_array(storage_p_mw, nst, "storage_p_mw")
        if storage_q_mvar is not None:
            net.storage["q_mvar"] = _as_array(storage_q_mvar, nst, "storage_q_mvar")

    def run(self) -> PFResult:
        """One ``pandapower.runpp`` of the copy as its tables stand, read into a result."""
        net = self._net
        try:
            pp.runpp(net, **PF_OPTIONS)
        except pp.LoadflowNotConverged:
            return _failed(len(self.bus_index), len(self.line_index), len(self.trafo_index))
        ext = net.res_ext_grid
        return PFResult(
            converged=True,
            vm_pu=net.res_bus["vm_pu"].to_numpy(float),
            va_degree=net.res_bus["va_degree"].to_numpy(float),
            line_loading_pct=net.res_line["loading_percent"].to_numpy(float),
            trafo_loading_pct=net.res_trafo["loading_percent"].to_numpy(float),
            p_ext_grid_mw=float(np.nansum(ext["p_mw"].to_numpy(float))),
            q_ext_grid_mvar=float(np.nansum(ext["q_mvar"].to_numpy(float))),
            p_loss_mw=float(np.nansum(net.res_line["pl_mw"].to_numpy(float))
                            + np.nansum(net.res_trafo["pl_mw"].to_numpy(float))),
            line_p_from_mw=net.res_line["p_from_mw"].to_numpy(float),
        )
