"""Grid state estimation from what the park measures (pandapower's WLS, bad-data detection).

The telemetry measures some voltages (a third of the buses, say), each plant's and load's power
and the exchange at the point of common coupling; the rest of the network's state (every bus
voltage, every line's loading) is estimated with pandapower's weighted least squares
(:func:`pandapower.estimation.estimate`, zero-injection buses as equality constraints), and a
measurement whose normalised residual is too large is removed as bad data
(:func:`pandapower.estimation.remove_bad_data`, the largest normalised residual test).

:func:`measure` draws measurements from a solved network (the stand-in plant's truth) with
the noise of the meters; :func:`estimate_state` estimates from any list of them.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# meter accuracy: a voltage transducer of class 0.2 and power meters of class 0.5 (IEC 61869 /
# IEC 62053 classes; the standard deviation taken as the class limit over 2: illustrative)
SIGMA_V_PU = 0.001
SIGMA_P_REL = 0.0025
SIGMA_P_FLOOR_MW = 0.01
ZERO_INJECTION_STD = 1e-3  # MW, Mvar: a pseudo-measurement held nearly exact


@dataclass(frozen=True)
class Measurement:
    """One measurement in pandapower's terms (``pp.create_measurement``)."""

    kind: str  # v (p.u.), p (MW), q (Mvar)
    element_type: str  # bus, line, trafo
    element: int
    value: float
    std_dev: float
    side: str | None = None  # for a line or a transformer: the bus side (from, to / hv, lv)
    exact: bool = False  # known, not metered (a bus with nothing connected injects nothing):
    # never thrown out as bad data


@dataclass(frozen=True)
class StateEstimate:
    """The estimated state: every bus voltage, every line's loading, what was thrown out."""

    vm_pu: np.ndarray  # per bus, in the network's bus order
    va_degree: np.ndarray
    loading_percent: np.ndarray  # per line
    measured_buses: tuple[int, ...]  # buses whose voltage was measured
    bad: tuple[Measurement, ...]  # measurements removed as bad data
    converged: bool
    vm_sigma_pu: np.ndarray | None = None  # per bus: the estimate's standard deviation
    loading_sigma_pct: np.ndarray | None = None  # per line: the same of its loading


def measure(net: object, share: float = 1 / 3, seed: int = 0,
            sigma_v_pu: float = SIGMA_V_PU, sigma_p_rel: float = SIGMA_P_REL
            ) -> list[Measurement]:
    """Measurements of a solved network ``net`` (its ``res_*`` tables are the truth): the
    voltage at ``share`` of the buses (every k-th, the grid connection's included), each
    load's, generator's and storage's power at its bus, the exchange at the external grid;
    each with Gaussian noise of its meter's standard deviation (seeded)."""
    rng = np.random.default_rng(seed)
    buses = np.asarray(net.bus.index)
    step = max(int(round(1 / share)), 1)
    slack = set(int(b) for b in net.ext_grid.bus)
    chosen = sorted(set(int(b) for b in buses[::step]) | slack)
    out = [Measurement("v", "bus", b, float(net.res_bus.vm_pu.at[b] +
                                             rng.normal(0, sigma_v_pu)), sigma_v_pu)
           for b in chosen]
    injected = _bus_injections(net)
    for b, (p, q) in injected.items():
        for kind, value in (("p", p), ("q", q)):
            std = max(abs(value) * sigma_p_rel, SIGMA_P_FLOOR_MW)
            out.append(Measurement(kind, "bus", b, float(value + rng.normal(0, std)), std))
    for b in buses:  # a bus with nothing connected injects nothing: known, not measured
        if int(b) not in injected:
            out += [Measurement(kind, "bus", int(b), 0.0, ZERO_INJECTION_STD, exact=True)
                    for kind in ("p", "q")]
    return out


def _bus_injections(net: object) -> dict[int, tuple[float, float]]:
    """Each metered bus's net power (load positive, pandapower's bus measurement convention),
    from the power flow's bus results: every bus with a load, a generator, storage or the
    external grid."""
    metered: set[int] = set()
    for table in ("load", "sgen", "storage", "gen", "ext_grid"):
        frame = getattr(net, table, None)
        if frame is not None and len(frame):
            metered |= {int(b) for b in frame.bus[frame.in_service]}
    return {b: (float(net.res_bus.p_mw.at[b]), float(net.res_bus.q_mvar.at[b]))
            for b in sorted(metered)}


def estimate_state(net: object, measurements: Sequence[Measurement],
                   bad_data: bool = True) -> StateEstimate:
    """The network's state from ``measurements`` (WLS; bad data removed if ``bad_data``).
    ``net`` is not changed.

    Each bus voltage's standard deviation comes from the gain matrix of the last WLS
    iteration, G = H' R^-1 H: the state's covariance is G^-1 (the measurements' errors
    independent, of the standard deviations given), its voltage-magnitude diagonal the
    variance of each bus's estimate; each line's loading's, from the same covariance carried
    through the line's current (linearised at the estimate)."""
    import pandas as pd
    from pandapower.estimation.state_estimation import StateEstimation, _initialize_voltage

    work = copy.deepcopy(net)
    # the table pp.create_measurement fills, at once (one by one took most of the time)
    table = pd.DataFrame({
        "name": pd.Series([None] * len(measurements), dtype=object),
        "measurement_type": pd.Series([m.kind for m in measurements], dtype=object),
        "element_type": pd.Series([m.element_type for m in measurements], dtype=object),
        "element": pd.Series([m.element for m in measurements], dtype=np.uint32),
        "value": pd.Series([m.value for m in measurements], dtype=float),
        "std_dev": pd.Series([m.std_dev for m in measurements], dtype=float),
        "side": pd.Series([m.side for m in measurements], dtype=object)})
    work.measurement = table[list(work.measurement.columns)] if set(
        work.measurement.columns) <= set(table.columns) else table
    index = dict(enumerate(measurements))
    quiet = logging.getLogger("pandapower")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # as pandapower.estimation.remove_bad_data / estimate call it, the solver kept
            se = StateEstimation(work, 1e-6, 10 if bad_data else 50, algorithm="wls")
            v_start, delta_start = _initialize_voltage(work, "flat")
            if bad_data:
                ok = _rn_max_test(se, v_start, delta_start, {
                    i for i, m in index.items() if m.exact})
            else:
                ok = bool(se.estimate(v_start=v_start, delta_start=delta_start,
                                      zero_injection="aux_bus")["success"])
            work = se.net
    finally:
        quiet.setLevel(level)
    kept = set(work.measurement.index)
    bad = tuple(m for i, m in index.items() if i not in kept)
    res_bus = work.res_bus_est
    loading = work.res_line_est.loading_percent.to_numpy() if hasattr(work, "res_line_est") \
        and len(work.res_line_est) else np.zeros(len(work.line))
    loading = np.where(work.line.in_service.to_numpy(bool), loading, 0.0)  # open: no current
    return StateEstimate(
        vm_pu=res_bus.vm_pu.to_numpy(dtype=float), va_degree=res_bus.va_degree.to_numpy(
            dtype=float), loading_percent=np.asarray(loading, dtype=float),
        measured_buses=tuple(sorted({m.element for m in measurements
                                     if m.kind == "v" and m.element_type == "bus"})),
        bad=bad, converged=ok, **(_sigmas(work, se.solver, loading) if ok else {}))


def _rn_max_test(se: object, v_start: object, delta_start: object, exact: set[int],
                 threshold: float = 3.0, rounds: int = 10) -> bool:
    """pandapower's largest normalised residual test (``perform_rn_max_test``: estimate,
    throw out the measurement of the largest normalised residual above ``threshold``, again),
    the measurements in ``exact`` (zero injections: known from the network, not metered)
    and the solver's own zero-injection buses never thrown out: where power is metered
    tightly, a wrong voltage meter's error spreads onto the injections' residuals, and the
    largest was a zero injection's (then a plant's power, the meter kept). False where the
    estimate does not converge, the linear algebra fails or bad data remain after
    ``rounds``."""
    for _ in range(rounds + 1):
        se.estimate(v_start, delta_start, "aux_bus")
        solver = se.solver
        if not solver.successful:
            return False
        try:
            omega = np.linalg.inv(solver.R_inv) - solver.H @ np.linalg.inv(solver.Gm) @ solver.H.T
        except np.linalg.LinAlgError:
            return False
        rn = np.abs(np.ravel(solver.r)) / np.sqrt(np.abs(np.diag(omega)))
        idx = np.asarray(solver.pp_meas_indices)
        rn = np.where((idx < 0) | np.isin(idx, sorted(exact)), 0.0, rn)
        if not np.isfinite(rn).all():
            return False
        if rn.max(initial=0.0) <= threshold:
            return True
        se.net.measurement = se.net.measurement.drop(idx[int(np.argmax(rn))])
    return False


def _sigmas(net: object, solver: object, loading: np.ndarray) -> dict[str, np.ndarray]:
    """The standard deviations of the estimate from the WLS gain matrix G (the state is
    [angles of the non-slack buses, magnitudes of all buses] in pandapower's internal order,
    the in-service buses and branches first; its covariance G^-1):

    - each bus's voltage magnitude (p.u.): the diagonal of G^-1 at the |V| entries;
    - each line's loading (percentage points): J G^-1 J' with J the derivatives of the
      current magnitude at the line's more loaded end (|Yf V| or |Yt V|) by the state, as a
      share of that current, times the loading."""
    gain, eppci = getattr(solver, "Gm", None), getattr(solver, "eppci", None)
    if gain is None or eppci is None:
        return {}
    try:
        cov = np.linalg.inv(gain)
    except np.linalg.LinAlgError:
        return {}
    n_s, n_v = eppci.num_non_slack_bus, len(eppci.v)
    var = np.diag(cov)[n_s:n_s + n_v]
    lookup = np.asarray(net._pd2ppc_lookups["bus"])
    vm = np.full(len(net.bus), np.nan)
    for k, b in enumerate(np.asarray(net.bus.index)):
        pos = int(lookup[b]) if b < len(lookup) else -1
        if 0 <= pos < n_v:
            vm[k] = float(np.sqrt(max(var[pos], 0.0)))
    return {"vm_sigma_pu": vm, "loading_sigma_pct": _loading_sigma(net, eppci, cov, loading)}


def _loading_sigma(net: object, eppci: object, cov: np.ndarray,
                   loading: np.ndarray) -> np.ndarray:
    internal = eppci.data["internal"]
    v = np.asarray(eppci.v, dtype=float)
    V = v * np.exp(1j * np.asarray(eppci.delta, dtype=float))
    rel = []  # per in-service branch: the relative standard deviation of its larger current
    for Y in (internal["Yf"], internal["Yt"]):
        current = Y @ V
        mag = np.abs(current)
        unit = np.divide(np.conj(current), mag, out=np.zeros_like(current), where=mag > 0)
        d_angle = (Y.multiply(1j * V[np.newaxis, :]).tocsr().multiply(unit[:, np.newaxis])).real
        d_mag = (Y.multiply(np.exp(1j * eppci.delta)[np.newaxis, :]).tocsr()
                 .multiply(unit[:, np.newaxis])).real
        jac = np.hstack([np.asarray(d_angle.todense())[:, eppci.non_slack_buses],
                         np.asarray(d_mag.todense())])
        sd = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", jac, cov[:jac.shape[1], :jac.shape[1]],
                                          jac), 0.0))
        rel.append((mag, np.divide(sd, mag, out=np.full_like(sd, np.nan), where=mag > 0)))
    (mag_f, rel_f), (mag_t, rel_t) = rel
    branch_rel = np.where(mag_f >= mag_t, rel_f, rel_t)
    out = np.full(len(net.line), np.nan)
    start, end = net._pd2ppc_lookups["branch"].get("line", (0, 0))
    in_service = np.asarray(internal.get("branch_is", np.ones(len(branch_rel), bool)), bool)
    if end - start == len(net.line) and in_service.all() and len(branch_rel) >= end:
        out[:] = loading * branch_rel[start:end]
    elif end - start == len(net.line) and len(branch_rel) == in_service.sum():
        # out-of-service branches (open bus couplers) are left out of the internal matrices
        on = in_service[start:end]
        out[on] = loading[on] * branch_rel[(np.cumsum(in_service) - 1)[start:end][on]]
        out[~on] = 0.0
    return out
