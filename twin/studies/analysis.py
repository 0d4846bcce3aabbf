"""What a study's table says: configurations over weather years, Pareto fronts, the answer.

A *configuration* is a case's parameters without the weather year (``park.seed``); its
figures over the weather years are the mean cost, the worst clean share and core indicator,
and whether it meets every required criterion in every year (``passes``). The answer is the
cheapest configuration that passes, or, if none does, the closest one: the smallest
shortfall (each criterion's miss relative to its threshold, summed; worst year).
Pure pandas: a table in, tables out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from twin.studies.spec import CAPACITIES, CLEAN, CORE, COST, OK, SEED_PATH


@dataclass(frozen=True)
class Answer:
    """The cheapest configuration that passes, or the closest one (``passes`` False)."""

    config: pd.Series | None  # a row of :func:`configurations`
    passes: bool
    n_passing: int


def config_columns(meta: dict[str, Any]) -> list[str]:
    """The parameters that make a configuration (all but the weather year)."""
    return [p for p in meta["parameters"] if p != SEED_PATH]


def label(row: pd.Series, columns: Sequence[str], scaled: Sequence[str] = ()) -> str:
    """A configuration's parameters as one short text (``×`` for a factor on the base)."""
    return ", ".join(f"{c} ×{_show(row[c])}" if c in scaled else f"{c}={_show(row[c])}"
                     for c in columns) or "the base scenario"


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def configurations(df: pd.DataFrame, meta: dict[str, Any]) -> pd.DataFrame:
    """One row per configuration over its weather years (cases that ran only)."""
    ok = df[df["status"] == OK]
    cols = config_columns(meta)
    if ok.empty:
        return pd.DataFrame(columns=[*cols, "label", COST, CLEAN, CORE, "passes"])
    keys = cols or [lambda _: 0]
    agg = ok.groupby(keys, dropna=False, sort=False).agg(
        cost=(COST, "mean"), cost_min=(COST, "min"), cost_max=(COST, "max"),
        clean=(CLEAN, "min"), clean_mean=(CLEAN, "mean"),
        core=(CORE, "max"), core_mean=(CORE, "mean"),
        passes=("criteria_met", "all"), pass_share=("criteria_met", "mean"),
        shortfall=("shortfall", "max"), years=("seed", "nunique"),
        **{c: (c, "first") for c in CAPACITIES},
        **{c: (c, "first") for c in ok.columns if c.startswith("threshold_")},
    ).reset_index(drop=not cols)
    agg = agg.rename(columns={"cost": COST, "clean": CLEAN, "core": CORE})
    agg["label"] = [label(r, cols, meta.get("scaled", ())) for _, r in agg.iterrows()]
    return agg.sort_values(COST, kind="stable").reset_index(drop=True)


def pareto(df: pd.DataFrame, cost: str, other: str, maximise: bool) -> pd.DataFrame:
    """Rows no other row beats on both: lower ``cost`` and higher (or lower) ``other``."""
    d = df.dropna(subset=[cost, other]).sort_values([cost, other],
                                                    ascending=[True, not maximise])
    keep, best = [], -np.inf
    for i, v in zip(d.index, d[other], strict=True):
        score = v if maximise else -v
        if score > best:
            keep.append(i)
            best = score
    return d.loc[keep]


def answer(configs: pd.DataFrame) -> Answer:
    """The cheapest passing configuration, or the closest one."""
    if configs.empty:
        return Answer(None, False, 0)
    passing = configs[configs["passes"]]
    if not passing.empty:
        return Answer(passing.sort_values(COST, kind="stable").iloc[0], True, len(passing))
    closest = configs.sort_values(["shortfall", COST], kind="stable").iloc[0]
    return Answer(closest, False, 0)


def by_year(df: pd.DataFrame, meta: dict[str, Any]) -> pd.DataFrame:
    """For each weather year: the answer if that year were the only one."""
    ok = df[df["status"] == OK]
    rows = []
    cols = config_columns(meta)
    for seed, part in ok.groupby("seed", sort=True):
        a = answer(configurations(part, meta))
        if a.config is None:
            continue
        rows.append({"seed": seed, "configuration": a.config["label"], "passes": a.passes,
                     "n_passing": a.n_passing, COST: a.config[COST],
                     CLEAN: a.config[CLEAN], CORE: a.config[CORE],
                     **{c: a.config[c] for c in cols}})
    return pd.DataFrame(rows)


def spread(df: pd.DataFrame, meta: dict[str, Any], config: pd.Series) -> pd.DataFrame:
    """The cases of one configuration, one row per weather year."""
    ok = df[df["status"] == OK]
    mask = np.ones(len(ok), dtype=bool)
    for c in config_columns(meta):
        mask &= (ok[c] == config[c]).to_numpy() | (ok[c].isna() & pd.isna(config[c])).to_numpy()
    return ok[mask].sort_values("seed")
