"""What a pandapower network of one's own must satisfy before the park runs on it.

:func:`inspect` returns the errors (the run would be wrong) and the warnings (the run is
right, but something in the file is not used as it may look) of a network whose loads and
static generators are named after the park's entities (:func:`from_pandapower`):

- every number the power flow uses is finite and in its range (a NaN impedance, a negative
  rating, a line of zero impedance), named with table, index, element name and column;
- the network can be solved (:func:`twin.models.grid.solver.check_network`) and every park
  entity has elements;
- a first step's balance: each entity's power, shared over its elements as a run shares it,
  must reach the power flow whole. An element with ``scaling`` other than 1, out of service
  or on a bus out of service would carry another amount than the one the KPIs count; the
  entity is refused with the elements and the field that cause it;
- loads and static generators tied to no park entity are warned: a run sets them to 0 MW,
  so the file's own consumption and generation are not simulated; other elements with a
  fixed injection (storage, wards, shunts, ...) are warned: they inject the file's value
  every step, outside the park's balance.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from twin.models.grid.network import ParkNetwork, from_pandapower

__all__ = ["entity_errors", "inspect", "number_errors"]

#: Per table, the columns the power flow uses and what each must be.
_RANGES: dict[str, dict[str, str]] = {
    "bus": {"vn_kv": ">0"},
    "line": {"length_km": ">0", "r_ohm_per_km": ">=0", "x_ohm_per_km": "finite",
             "c_nf_per_km": ">=0", "g_us_per_km": ">=0", "max_i_ka": ">0", "df": ">0",
             "parallel": ">=1"},
    "trafo": {"sn_mva": ">0", "vn_hv_kv": ">0", "vn_lv_kv": ">0", "vk_percent": ">0",
              "vkr_percent": ">=0", "pfe_kw": ">=0", "i0_percent": ">=0",
              "shift_degree": "finite", "parallel": ">=1", "df": ">0"},
    "trafo3w": {**{f"sn_{s}_mva": ">0" for s in ("hv", "mv", "lv")},
                **{f"vn_{s}_kv": ">0" for s in ("hv", "mv", "lv")},
                **{f"vk_{s}_percent": ">0" for s in ("hv", "mv", "lv")},
                **{f"vkr_{s}_percent": ">=0" for s in ("hv", "mv", "lv")},
                "pfe_kw": ">=0", "i0_percent": ">=0"},
    "ext_grid": {"vm_pu": ">0", "va_degree": "finite"},
    "load": {"p_mw": "finite", "q_mvar": "finite", "scaling": ">=0",
             **{f"const_{k}_percent": "finite" for k in ("z", "i", "z_p", "i_p", "z_q", "i_q")}},
    "sgen": {"p_mw": "finite", "q_mvar": "finite", "scaling": ">=0"},
    "storage": {"p_mw": "finite", "q_mvar": "finite", "scaling": ">=0"},
    "shunt": {"p_mw": "finite", "q_mvar": "finite", "step": "finite"},
    "ward": {"ps_mw": "finite", "qs_mvar": "finite", "pz_mw": "finite", "qz_mvar": "finite"},
    "impedance": {"rft_pu": "finite", "xft_pu": "finite", "rtf_pu": "finite",
                  "xtf_pu": "finite", "sn_mva": ">0"},
    "switch": {"z_ohm": ">=0"},
}

#: Per table, the columns that name a bus.
_BUSES = {"load": ("bus",), "sgen": ("bus",), "storage": ("bus",), "shunt": ("bus",),
          "ward": ("bus",), "xward": ("bus",), "motor": ("bus",), "ext_grid": ("bus",),
          "asymmetric_load": ("bus",), "asymmetric_sgen": ("bus",), "switch": ("bus",),
          "line": ("from_bus", "to_bus"), "trafo": ("hv_bus", "lv_bus"),
          "trafo3w": ("hv_bus", "mv_bus", "lv_bus"), "impedance": ("from_bus", "to_bus")}

_EXPECT = {"finite": "a finite number", ">=0": "a finite number >= 0",
           ">0": "a finite number > 0", ">=1": "a finite number >= 1"}

#: Elements that inject their file's power every step, whatever the park does.
_FIXED = {"storage": ("p_mw",), "ward": ("ps_mw", "pz_mw"), "shunt": ("p_mw",),
          "motor": ("pn_mech_mw",), "asymmetric_load": ("p_a_mw", "p_b_mw", "p_c_mw"),
          "asymmetric_sgen": ("p_a_mw", "p_b_mw", "p_c_mw")}

_SHOWN = 3  # elements named in one message; the rest are counted


def _ok(rule: str, values: np.ndarray) -> np.ndarray:
    finite = np.isfinite(values)
    if rule == ">=0":
        return finite & (values >= 0)
    if rule == ">0":
        return finite & (values > 0)
    if rule == ">=1":
        return finite & (values >= 1)
    return finite


def _on(df: Any) -> np.ndarray:
    if "in_service" in df:
        return df["in_service"].to_numpy(dtype=bool)
    return np.ones(len(df), dtype=bool)


def _label(df: Any, table: str, idx: Any) -> str:
    name = df.at[idx, "name"] if "name" in df else None
    return f"{table} {idx} {name!r}" if isinstance(name, str) and name else f"{table} {idx}"


def _numbers(df: Any, col: str) -> np.ndarray | None:
    try:
        return df[col].to_numpy(dtype=float)
    except (TypeError, ValueError):
        return None


def number_errors(net: Any) -> list[str]:
    """A message for every number of ``net`` the power flow cannot take (out of range, not
    finite, a bus that does not exist), each naming table, element and column."""
    try:
        return _values(net)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        return [f"not a usable pandapower network: {type(exc).__name__}: "
                f"{' '.join(str(exc).split())[:200]}"]


def _values(net: Any) -> list[str]:
    """A message for every number out of range in an in-service element."""
    errors = []
    for table, columns in _RANGES.items():
        df = net.get(table, None)
        if df is None or not len(df):
            continue
        on = _on(df)
        for col, rule in columns.items():
            if col not in df:
                continue
            values = _numbers(df, col)
            if values is None:
                errors.append(f"{table}.{col}: expected numbers, got {df[col].dtype} values")
                continue
            for k in np.flatnonzero(on & ~_ok(rule, values)):
                idx = df.index[k]
                errors.append(f"{_label(df, table, idx)}: {col} = {float(values[k])!r}; expected "
                              f"{_EXPECT[rule]}")
    errors.extend(_references(net))
    errors.extend(_pairs(net, "line", "r_ohm_per_km", "x_ohm_per_km", lambda r, x: (r == 0) &
                         (x == 0), " are both 0; expected an impedance (or a bus-bus switch)"))
    errors.extend(_pairs(net, "trafo", "vkr_percent", "vk_percent", lambda vkr, vk: vkr > vk,
                         "; expected vkr_percent <= vk_percent"))
    return errors


def _pairs(net: Any, table: str, a: str, b: str, bad: Any, why: str) -> list[str]:
    """A message for every in-service element whose columns ``a`` and ``b`` are ``bad``."""
    df = net.get(table, None)
    if df is None or not len(df) or a not in df or b not in df:
        return []
    x, y = _numbers(df, a), _numbers(df, b)
    if x is None or y is None:
        return []  # said by _values
    return [f"{_label(df, table, df.index[k])}: {a} = {float(x[k])!r} and {b} = "
            f"{float(y[k])!r}{why}" for k in np.flatnonzero(_on(df) & bad(x, y))]


def _references(net: Any) -> list[str]:
    """A message for every element on a bus that is not in the network, and every
    ``in_service`` that is not true or false."""
    errors = []
    buses = set(net.bus.index)
    for table in ("bus", *_BUSES):
        df = net.get(table, None)
        if df is None or not len(df):
            continue
        if "in_service" in df:
            for idx, v in df["in_service"].items():
                if not isinstance(v, bool | np.bool_):
                    errors.append(f"{_label(df, table, idx)}: in_service = {v!r}; expected "
                                  "true or false")
        for col in _BUSES.get(table, ()):
            if col in df:
                for idx, v in df[col].items():
                    if v not in buses:
                        errors.append(f"{_label(df, table, idx)}: {col} = {v!r}; expected "
                                      "the index of a bus of the network")
    return errors


def _carried(net: Any, table: str, idx: list[int]) -> tuple[np.ndarray, list[str]]:
    """The share of its power each element would carry into the power flow (scaling, and 0
    out of service or on a bus out of service), and why where it is not 1."""
    df = net[table].loc[idx]
    bus_on = net.bus["in_service"].reindex(df["bus"], fill_value=False).to_numpy(dtype=bool)
    on = _on(df)
    scaling = df["scaling"].to_numpy(float) if "scaling" in df else np.ones(len(df))
    carried = np.where(on & bus_on, scaling, 0.0)
    why = []
    for k, i in enumerate(idx):
        label = _label(net[table], table, i)
        if not on[k]:
            why.append(f"{label} in_service = False")
        elif not bus_on[k]:
            why.append(f"{label} on bus {int(df['bus'].iloc[k])} whose in_service = False")
        elif carried[k] != 1.0:
            why.append(f"{label} scaling = {scaling[k]:g}")
    return carried, why


def _balance(pn: ParkNetwork) -> list[str]:
    """A first step's balance: each entity's power, shared equally over its elements as the
    run shares it, must reach the power flow whole."""
    errors = []
    for name, (table, idx) in sorted(pn.elements.items()):
        carried, why = _carried(pn.net, table, idx)
        share = float(carried.mean())
        if math.isclose(share, 1.0, rel_tol=0.0, abs_tol=1e-12):
            continue
        more = f" and {len(why) - _SHOWN} more" if len(why) > _SHOWN else ""
        errors.append(
            f"first-step balance: the power flow would carry {share:.1%} of {name}'s power "
            f"while the KPIs count all of it ({'; '.join(why[:_SHOWN])}{more}); expected "
            "every element of a park entity in service with scaling = 1")
    return errors


def entity_errors(net: Any, names: list[str]) -> list[str]:
    """The first-step balance (and the tie by name) of the park entities ``names`` only: for
    an adapter handed a network of one's own by a mosaik script, which knows the entities
    that send it their powers, not which of the file's other elements are the park's."""
    try:
        pn = from_pandapower(net, names)
    except ValueError as exc:
        return [str(exc)]
    return _balance(pn)


def _unmapped(pn: ParkNetwork) -> list[str]:
    """Loads and static generators tied to no entity (a run sets them to 0 MW), and the
    elements that inject a fixed power every step."""
    net, warnings = pn.net, []
    counts, labels, mw = [], [], {}
    for table, word in (("load", "load"), ("sgen", "generation")):
        df = net[table]
        tied = {i for tab, idx in pn.elements.values() if tab == table for i in idx}
        free = [i for i in df.index[_on(df)] if int(i) not in tied]
        if not free:
            continue
        counts.append(f"{len(free)} {table}{'s' if len(free) > 1 else ''}")
        labels.extend(_label(df, table, i) for i in free)
        scaling = sorted(set(df.loc[free, "scaling"].to_numpy(float))) if "scaling" in df \
            else [1.0]
        mw[word] = (float(df.loc[free, "p_mw"].to_numpy(float).sum()),
                    "" if scaling == [1.0] else
                    f" at scaling {', '.join(f'{x:g}' for x in scaling[:_SHOWN])}")
    if counts:
        shown = ", ".join(labels[:_SHOWN]) + (" ..." if len(labels) > _SHOWN else "")
        what = " and ".join(f"{v:.1f} MW of {k}{at}" for k, (v, at) in mw.items())
        warnings.append(f"{' and '.join(counts)} are tied to no park entity ({shown}): a run "
                        f"sets them to 0 MW, so the file's {what} are not simulated; name "
                        "them '<entity>' or '<entity>/<k>' to tie them")
    for table, cols in _FIXED.items():
        df = net.get(table, None)
        if df is None or not len(df):
            continue
        present = [c for c in cols if c in df]
        if not present:
            continue
        p = np.nan_to_num(df[present].to_numpy(float)).sum(axis=1)
        fixed = df.index[_on(df) & (p != 0)]
        if len(fixed):
            shown = ", ".join(_label(df, table, i) for i in fixed[:_SHOWN])
            warnings.append(f"{len(fixed)} {table} element(s) ({shown}) inject their file's "
                            f"power every step ({', '.join(present)}), outside the park's balance")
    return warnings


def inspect(net: Any, names: list[str]) -> tuple[ParkNetwork | None, list[str], list[str]]:
    """Check a loaded pandapower network for the park entities ``names``.

    Returns the :class:`ParkNetwork` (None where the entities cannot be tied to it), the
    errors and the warnings, each a message naming the element and the field.
    """
    from twin.models.grid.solver import GridError, check_network

    try:
        errors = _values(net)
        if errors:
            return None, errors, []
        try:
            check_network(net)
        except GridError as exc:
            errors.append(str(exc))
        try:
            pn = from_pandapower(net, names)
        except ValueError as exc:
            return None, [*errors, str(exc)], []
        return pn, [*errors, *_balance(pn)], _unmapped(pn)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        # a table or column of another type or shape than pandapower's
        return None, [f"not a usable pandapower network: {type(exc).__name__}: "
                      f"{' '.join(str(exc).split())[:200]}"], []
