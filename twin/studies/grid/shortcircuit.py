"""Short-circuit levels (IEC 60909, ``pandapower.shortcircuit``) at the PCC and each substation.

The maximum three-phase initial short-circuit current ``ikss_ka``, its power ``skss_mva`` and
the peak current ``ip_ka`` at the public grid's bus and at both sides of every transformer,
against the switchgear's rated breaking current at that voltage. The public grid's
short-circuit power and R/X, where the network does not give them, and the PV and wind plants'
converter current ratio ``k`` (full-converter generators, IEC 60909-0:2016) come from
``twin/data/grid_studies.yaml`` (illustrative figures, labelled there). A static generator's
rated power ``sn_mva`` is its ``p_mw`` where the network gives none (the built network's
elements stand at their ratings). :func:`beside` sets the levels of a network after additions
(a pathway's proving run) beside those of the network before them (its baseline run).
"""

from __future__ import annotations

import copy
import re
import time
import warnings
from collections import Counter
from typing import Any

import numpy as np
import pandapower.shortcircuit as pp_sc

from twin import data
from twin.models.grid.network import element_names

__all__ = ["beside", "levels", "study_buses"]


def study_buses(net: Any) -> list[int]:
    """The public grid's bus and both sides of every in-service transformer."""
    on = net.trafo[net.trafo.in_service]
    return list(dict.fromkeys([*map(int, net.ext_grid.bus), *map(int, on.hv_bus),
                               *map(int, on.lv_bus)]))


def _prepared(net: Any) -> Any:
    s = data.load("grid_studies")
    work = copy.deepcopy(net)
    ext = work.ext_grid
    for col, value in (("s_sc_max_mva", s["ext_grid_s_sc_max_mva"]),
                       ("s_sc_min_mva", s["ext_grid_s_sc_min_mva"]),
                       ("rx_max", s["ext_grid_rx"]), ("rx_min", s["ext_grid_rx"])):
        if col not in ext or ext[col].isna().any():
            ext[col] = ext[col].fillna(value) if col in ext else value
    sg = work.sgen
    if len(sg):
        sn = sg.get("sn_mva", np.nan)
        sg["sn_mva"] = np.where(np.isfinite(np.asarray(sn, float) * np.ones(len(sg))),
                                sn, sg.p_mw.abs())
        if "k" not in sg or sg["k"].isna().any():
            sg["k"] = sg["k"].fillna(s["converter_k"]) if "k" in sg else s["converter_k"]
    return work


def levels(net: Any, buses: list[int] | None = None) -> tuple[list[dict[str, Any]], float]:
    """The maximum short-circuit levels at ``buses`` (default :func:`study_buses`), one row
    each, and the seconds it took."""
    t0 = time.perf_counter()
    buses = study_buses(net) if buses is None else buses
    work = _prepared(net)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        pp_sc.calc_sc(work, case="max", bus=buses, ip=True)
    rated = {float(k): float(v) for k, v in data.load("grid_studies")["breaker_ka"].items()}
    names = dict(zip(net.bus.index, element_names(net, "bus"), strict=True))
    rows = []
    for b in buses:
        res = work.res_bus_sc.loc[b]
        kv = float(net.bus.vn_kv[b])
        level = min(rated, key=lambda v: abs(v - kv))
        breaker = rated[level] if abs(level - kv) <= 0.1 * kv else float("nan")
        ik = float(res.ikss_ka)
        rows.append({"bus": names[b], "vn_kv": kv, "ikss_ka": ik,
                     "skss_mva": float(res.skss_mw), "ip_ka": float(res.ip_ka),
                     "breaker_ka": breaker, "use_pct": 100.0 * ik / breaker})
    return rows, time.perf_counter() - t0


def _busbars(names: list[str]) -> dict[str, str]:
    """Each bus's busbar: a section named ``<base>-<k>`` belongs to ``<base>`` where a bus of
    that name exists (the planning rules' split busbars: ``x/10``, ``x/10-2``, ...)."""
    have = set(names)
    return {n: (m.group(1) if (m := re.fullmatch(r"(.+)-\d+", n)) and m.group(1) in have
                else n) for n in names}


def beside(rows: list[dict[str, Any]], before: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` (:func:`levels` of a network after additions), each with ``before_ka``, the
    level at the bus of the same name in ``before`` (the network before them), and
    ``rise_ka``; both None for a bus that ``before`` lacks, and for every section of a busbar
    split into another number of sections (``resplit`` True: the same name is another
    section there, with other feeders)."""
    old = {r["bus"]: float(r["ikss_ka"]) for r in before}
    now_bar, old_bar = _busbars([r["bus"] for r in rows]), _busbars(list(old))
    count_now, count_old = Counter(now_bar.values()), Counter(old_bar.values())
    out = []
    for r in rows:
        bar = now_bar[r["bus"]]
        resplit = bar in count_old and count_old[bar] != count_now[bar]
        b = None if resplit else old.get(r["bus"])
        out.append({**r, "before_ka": b, "rise_ka": None if b is None else r["ikss_ka"] - b,
                    "resplit": resplit})
    return out
