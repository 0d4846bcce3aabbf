"""A linear programme appended in blocks of columns and rows, and its solution by HiGHS.

:class:`LP` collects columns (bounds, costs), rows (bounds) and coefficients in numpy blocks
(a plan's LP appends some 80) and hands them to HiGHS in compressed-column form;
:func:`solve_highs` returns the optimum or raises :class:`SolverError`
(:mod:`twin.ems.dispatch` builds its plans with them).
"""

from __future__ import annotations

import math
import time

import highspy
import numpy as np
import scipy.sparse as sp


def _spread(x: object, n: int, dtype: type | None = None) -> np.ndarray:
    """``x`` (one value or ``n``) as ``n`` values, flat: ``np.broadcast_to`` for the LP's
    blocks without its cost per call (a plan's LP appends some 80)."""
    a = np.asarray(x, dtype=dtype)  # (neither: reshape's ValueError)
    return a.reshape(n) if a.size == n else np.full(n, a.reshape(()), dtype=a.dtype)


class LP:
    """Columns, rows and COO entries of a linear programme, appended in blocks."""

    def __init__(self) -> None:
        blocks: tuple[list[np.ndarray], ...] = tuple([] for _ in range(8))
        self.cost, self.lb, self.ub, self.rlo, self.rhi, self.ri, self.ci, self.v = blocks
        self.n_col = self.n_row = 0

    def cols(self, n: int, lb: object, ub: object, cost: object = 0.0) -> np.ndarray:
        idx = np.arange(self.n_col, self.n_col + n)
        for lst, x in ((self.lb, lb), (self.ub, ub), (self.cost, cost)):
            lst.append(_spread(x, n, float))
        self.n_col += n
        return idx

    def rows(self, n: int, lo: object, hi: object) -> np.ndarray:
        idx = np.arange(self.n_row, self.n_row + n)
        self.rlo.append(_spread(lo, n, float))
        self.rhi.append(_spread(hi, n, float))
        self.n_row += n
        return idx

    def coef(self, rows: np.ndarray, cols: np.ndarray, vals: object) -> None:
        sizes = {np.size(rows), np.size(cols), np.size(vals)} - {1}  # as numpy broadcasts
        n = sizes.pop() if len(sizes) == 1 else 1 if not sizes else -1
        self.ri.append(_spread(rows, n))
        self.ci.append(_spread(cols, n))
        self.v.append(_spread(vals, n, float))

    def ramp(self, x: list[tuple[np.ndarray, float]], limit: float) -> None:
        """``-limit <= y[k] - y[k-1] <= limit`` for ``y = sum(sign * x)``."""
        if not math.isfinite(limit) or len(x[0][0]) < 2:
            return
        r = self.rows(len(x[0][0]) - 1, -limit, limit)
        for cols, sign in x:
            self.coef(r, cols[1:], sign)
            self.coef(r, cols[:-1], -sign)

    def csc(self) -> tuple[np.ndarray, ...]:
        cat = np.concatenate
        a = sp.csc_array((cat(self.v), (cat(self.ri), cat(self.ci))),
                         shape=(self.n_row, self.n_col))
        a.sum_duplicates()
        return (cat(self.cost), cat(self.lb), cat(self.ub), cat(self.rlo), cat(self.rhi),
                a.indptr.astype(np.int32), a.indices.astype(np.int32), a.data)


class SolverError(RuntimeError):
    """HiGHS did not return an optimal solution."""


class Bases:
    """The final simplex basis of the last LP solved of each size (columns, rows), to start
    the next LP of that size from (:func:`solve_highs`'s ``warm``): a plan's LP is its
    predecessor's with other data, so the dual simplex starts near its optimum (HiGHS takes
    it as an alien basis, repaired where it does not fit). The optimum's cost is the same;
    where several dispatches cost the same, which one comes back may differ."""

    def __init__(self) -> None:
        self.by_size: dict[tuple[int, int], highspy.HighsBasis] = {}


def solve_highs(m: LP, offset: float, time_limit_s: float, method: str = "simplex",
                warm: Bases | None = None) -> tuple[np.ndarray, float]:
    """Solve with HiGHS' dual simplex with presolve (a plan over 48 h and a lull day: 35 % less
    CPU than without), and once more without it if that does not give an optimum in time.
    ``method="ipm"``: the interior point method with presolve and crossover (a year's LP:
    minutes faster). ``warm``: start the simplex from the basis kept there for an LP of this
    size, and keep this one's there."""
    cost, lb, ub, rlo, rhi, start, index, value = m.csc()
    t_end = time.perf_counter() + time_limit_s
    status = "time_limit"
    for presolve in (("on", "off") if method == "simplex" else ("on",)):
        left = t_end - time.perf_counter()
        if left <= 0:
            break
        try:
            h = highspy.Highs()
            h.setOptionValue("output_flag", False)
            h.setOptionValue("time_limit", left)
            h.setOptionValue("threads", 1)
            h.setOptionValue("presolve", presolve)
            if method != "simplex":
                h.setOptionValue("solver", method)
            passed = h.passModel(m.n_col, m.n_row, len(value),
                                 int(highspy.MatrixFormat.kColwise),
                                 int(highspy.ObjSense.kMinimize), offset, cost, lb, ub, rlo,
                                 rhi, start, index, value, np.zeros(m.n_col, dtype=np.int32))
            if passed == highspy.HighsStatus.kError:
                raise SolverError("pass_model")
            size = (m.n_col, m.n_row)
            if warm is not None and size in warm.by_size and method == "simplex":
                h.setBasis(warm.by_size[size])  # (refused: the simplex starts cold)
            h.run()
            ms = h.getModelStatus()
            status = h.modelStatusToString(ms).lower().replace(" ", "_")
            if ms == highspy.HighsModelStatus.kOptimal:
                x = np.asarray(h.getSolution().col_value, dtype=float)
                obj = float(h.getInfo().objective_function_value)
                if x.size == m.n_col and np.isfinite(x).all() and math.isfinite(obj):
                    if warm is not None and method == "simplex":
                        basis = h.getBasis()
                        basis.alien = True
                        warm.by_size[size] = basis
                    return np.clip(x, lb, ub), obj
                status = "no_finite_solution"
        except SolverError:
            raise
        except Exception as exc:  # noqa: BLE001 - any trouble inside the solver: fallback
            raise SolverError(f"error:{type(exc).__name__}") from exc
    raise SolverError(status)
