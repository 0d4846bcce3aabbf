"""Benchmark: the rule, the EMS and the perfect-foresight bound over the same year.

Runs the scenario with the rule and with the EMS (or reads two recorded runs), solves the
EMS's LP over the whole rule run with perfect foresight (:func:`twin.cosim.ems.foresight`),
and prints the three side by side: the energy bill (import at the tariff + the demand charge
on each month's peak of 15-minute mean import - export), the LP's objective (the bill plus
the value put on grid emissions, what the EMS minimises), the import peaks, the share of
local green power in the electricity used, storage cycles and empty steps, and the share of
the bound's saving over the rule that the EMS captures.

    .venv/bin/python benchmarks/bench_ems.py [SCENARIO] [--days N] [--rule H5] [--ems H5]
                                             [--out DIR] [--forecaster NAME]
                                             [--horizon-h H] [--replan-h H]
                                             [--cost-noise EPS [--noise-seed N |
                                                                --noise-seeds 1-6]]
                                             [--set NAME=VALUE ...]

``--cost-noise 1e-6``: every cost of the EMS's plan LPs times ``1 + EPS * u`` (``u`` uniform
in [-1, 1], seeded): plans as cheap as the unperturbed ones to a millionth, which the solver
may return instead of them; how far the share captured moves tells how much of a difference
between two EMS variants is more than the choice among equally cheap dispatches.
``--noise-seeds 1-6``: an EMS year for each seed (the rule's run and the bound made once),
each year's shares captured and their mean with its standard error, in place of the table.

``--set fine_steps=48``: the EMS run made here with a field of its
:class:`twin.ems.controller.Settings` changed (repeatable; ``none`` for an optional one), to
judge a variant of the EMS on the same footing as the kept one (with ``--cost-noise``, over
several seeds on both sides).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._calibrate import python_loop_s  # noqa: E402
from twin import runner, scenario  # noqa: E402
from twin.accounting import economics  # noqa: E402
from twin.core.results import Run  # noqa: E402
from twin.cosim import ems as cems  # noqa: E402
from twin.ems import dispatch, lp  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Flows:
    """What a dispatch did, per 15-minute step (MW)."""

    imp: np.ndarray
    exp: np.ndarray
    gen: np.ndarray  # local generation used or exported (curtailment taken off)
    storage: np.ndarray  # [n, n_storage] AC power, > 0 charging
    soc: np.ndarray  # [n, n_storage] at the start of each step


def run_flows(run: Run) -> Flows:
    """The flows of a recorded run."""
    pcc = run.entities("pcc")[0]
    bat = run.entities("battery")
    gen = sum(run.series(e, "p_mw") for k in ("pv", "wind") for e in run.entities(k))
    if run.has(pcc, "p_curtailed_mw"):
        gen = gen - run.series(pcc, "p_curtailed_mw")
    return Flows(run.series(pcc, "p_import_mw"), run.series(pcc, "p_export_mw"), gen,
                 np.stack([run.series(e, "p_mw") for e in bat], axis=1),
                 np.stack([run.series(e, "soc") for e in bat], axis=1))


def plan_flows(inp: dispatch.PlanInputs, p: dispatch.Plan) -> Flows:
    """The flows of a plan."""
    return Flows(p.p_import_mw, p.p_export_mw,
                 inp.pv_mw + inp.wind_mw - p.p_curtail_pv_mw - p.p_curtail_wind_mw,
                 p.p_storage_mw, p.soc[:-1])


def figures(f: Flows, s: scenario.Scenario, inp: dispatch.PlanInputs) -> dict[str, float]:
    """The table's figures of one dispatch."""
    step = s.period.step_s
    dt = step / 3600.0
    n = f.imp.size
    epoch = s.start_epoch_s + step * np.arange(n, dtype=np.int64)
    hour, month = economics.local_hour_month(epoch, s.park.timezone)
    t = economics.tariff(s.economics.tariff)
    peaks = economics.monthly_peak_import_mw(f.imp, month, step_s=step)
    bill = economics.energy_cost(np.maximum(f.imp, 0) * dt, np.maximum(f.exp, 0) * dt, hour,
                                 month, t, peaks)
    carbon = inp.carbon_price_cny_per_t * inp.grid_factor_t_per_mwh * float(f.imp.sum()) * dt
    e_max = np.array([b.e_max_mwh for b in inp.storages])
    soc_min = np.array([b.soc_min for b in inp.storages])
    local = np.maximum(f.gen - f.exp, 0.0)
    return {
        "bill": bill.total_cny, "demand": bill.demand_cny, "objective": bill.total_cny + carbon,
        "peak_sum": sum(peaks.values()), "peak_max": max(peaks.values()),
        "clean": float(local.sum() / (local.sum() + f.imp.sum())),
        "import": float(f.imp.sum()) * dt,
        "cycles": float(np.abs(f.storage).sum()) * dt / (2 * e_max.sum()),
        "empty": float(np.mean((f.soc[:, 0] - soc_min[0]) < 0.01)) if e_max.size else 0.0,
    }


ROWS = (("bill", "energy bill, CNY", "{:,.0f}"),
        ("demand", "  of which demand charge, CNY", "{:,.0f}"),
        ("objective", "LP objective (bill + emissions value), CNY", "{:,.0f}"),
        ("peak_sum", "sum of monthly import peaks (15-min means), MW", "{:,.1f}"),
        ("peak_max", "year's import peak (15-min mean), MW", "{:,.1f}"),
        ("clean", "local green power share of electricity used", "{:.4f}"),
        ("import", "import, MWh", "{:,.0f}"),
        ("cycles", "storage equivalent full cycles", "{:.1f}"),
        ("empty", "steps with the station at soc_min", "{:.1%}"))


def parse_settings(pairs: list[str]) -> dict[str, object]:
    """``NAME=VALUE`` pairs as fields of :class:`twin.ems.controller.Settings`, each value
    read as its field's type; ValueError naming the pair and, for an unknown name, the
    fields there are (also for the step, which is the scenario's, and a number below 0, NaN
    or, for the re-plan interval and the horizon, below one step)."""
    fields = {f.name: f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
              for f in dataclasses.fields(cems.Settings)}
    out: dict[str, object] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name, text = name.strip(), text.strip()
        if not sep or name not in fields:
            raise ValueError(f"--set {pair}: expected NAME=VALUE with NAME one of "
                             f"{', '.join(sorted(fields))}")
        kind = fields[name]
        try:
            if text.lower() == "none" and "None" in kind:
                out[name] = None
            elif kind.startswith("bool"):
                out[name] = {"true": True, "false": False}[text.lower()]
            elif kind.startswith("int"):
                out[name] = int(text)
            elif kind.startswith("float"):
                out[name] = float(text)
            else:
                out[name] = text
        except (KeyError, ValueError):
            raise ValueError(f"--set {pair}: {text!r} is not a {kind}") from None
        _check_setting(pair, name, out[name])
    return out


def _check_setting(pair: str, name: str, value: object) -> None:
    """Refuse what would not be the scenario's EMS with one field changed."""
    if name == "step_s":
        raise ValueError(f"--set {pair}: the EMS steps with the scenario (its period's step)")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    least = 1 if name in ("replan_steps", "horizon_steps") else 0
    if not value >= least:  # NaN too
        raise ValueError(f"--set {pair}: {name} must be at least {least}")


@contextlib.contextmanager
def ems_settings(overrides: dict[str, object]):
    """The EMS built meanwhile with these fields of its settings changed."""
    if not overrides:
        yield
        return
    settings = cems.settings
    cems.settings = lambda s: dataclasses.replace(settings(s), **overrides)
    try:
        yield
    finally:
        cems.settings = settings


@contextlib.contextmanager
def cost_noise(eps: float, seed: int):
    """Every LP handed to the solver meanwhile with its costs times ``1 + eps * u``."""
    if not eps:
        yield
        return
    rng, csc = np.random.default_rng(seed), lp.LP.csc

    def noisy(self: lp.LP) -> tuple[np.ndarray, ...]:
        cost, *rest = csc(self)
        return (cost * (1.0 + eps * rng.uniform(-1.0, 1.0, cost.size)), *rest)

    lp.LP.csc = noisy
    try:
        yield
    finally:
        lp.LP.csc = csc


def seeds(text: str) -> list[int]:
    """``1-6`` or ``1,3,5`` (or both: ``1-3,7``) as the seeds' list, each once, in order."""
    out: list[int] = []
    try:
        for part in text.split(","):
            lo, sep, hi = part.strip().partition("-")
            out += range(int(lo), int(hi) + 1) if sep else [int(lo)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected seeds as 1-6 or 1,3,5") from None
    if not out:
        raise argparse.ArgumentTypeError(f"{text!r}: no seed")
    return list(dict.fromkeys(out))


def shares(rule: dict[str, float], ems: dict[str, float],
           bound: dict[str, float]) -> dict[str, float]:
    """The share of the bound's saving over the rule that the EMS captures, on the bill and
    on the LP objective (NaN where the bound saves nothing)."""
    out = {}
    for key in ("bill", "objective"):
        gap = rule[key] - bound[key]
        out[key] = (rule[key] - ems[key]) / gap if gap > 0 else float("nan")
    return out


def mean_se(values: list[float]) -> tuple[float, float]:
    """The mean and its standard error (NaN with fewer than two values)."""
    a = np.asarray(values, dtype=float)
    se = float(a.std(ddof=1) / np.sqrt(a.size)) if a.size > 1 else float("nan")
    return float(a.mean()), se


def _args() -> tuple[argparse.Namespace, dict[str, object]]:
    """The command line, and the EMS's settings it changes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default=str(ROOT / "scenarios" / "park.yaml"))
    parser.add_argument("--days", type=float, default=None, help="shorten the period")
    parser.add_argument("--rule", help="a recorded rule run of the scenario (skip running it)")
    parser.add_argument("--ems", help="a recorded EMS run of the scenario (skip running it)")
    parser.add_argument("--out", help="keep the runs made here in this folder")
    parser.add_argument("--forecaster", help="the EMS's forecaster (default: the scenario's)")
    parser.add_argument("--horizon-h", type=float, help="the EMS's horizon (default: the "
                        "scenario's)")
    parser.add_argument("--replan-h", type=float, help="the EMS's time between plans")
    parser.add_argument("--cost-noise", type=float, default=0.0, help="perturb the costs of "
                        "the EMS's plan LPs by this relative amount (the EMS run made here)")
    parser.add_argument("--noise-seed", type=int, default=1, help="the perturbation's seed")
    parser.add_argument("--noise-seeds", type=seeds, help="an EMS year for each of these "
                        "seeds (e.g. 1-6 or 1,3,5): each year's shares captured and their "
                        "mean with its standard error, instead of the table")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a field of the EMS's settings for the EMS run made here")
    args = parser.parse_args()
    if args.cost_noise and args.ems:
        parser.error("--cost-noise perturbs the EMS run made here: not with --ems")
    if args.set and args.ems:
        parser.error("--set changes the EMS run made here: not with --ems")
    if args.noise_seeds and not (args.cost_noise > 0 and not args.ems):
        parser.error("--noise-seeds needs --cost-noise EPS > 0 (and no --ems)")
    try:
        overrides = parse_settings(args.set)
    except ValueError as exc:
        parser.error(str(exc))
    return args, overrides


def _run(s: scenario.Scenario, kind: str, out_dir: str, noise: float = 0.0, seed: int = 1,
         overrides: dict[str, object] | None = None, name: str = "") -> tuple[Path, float]:
    """A run of ``s`` under the ``kind`` controller (the EMS's with its plans' costs
    perturbed by ``noise`` and its settings changed by ``overrides``), its file and wall time."""
    sk = dataclasses.replace(  # one file per controller
        s, controller=dataclasses.replace(s.controller, kind=kind),
        output=dataclasses.replace(s.output, name=name or f"{s.path.stem}-{kind}"))
    t0 = time.perf_counter()
    with cost_noise(noise, seed), ems_settings(overrides or {}):
        path = Path(runner.run(sk, out_dir=out_dir).path)
    return path, time.perf_counter() - t0


def _header(s: scenario.Scenario, n: int, status: str, calibration: float,
            wall: dict[str, float], args: argparse.Namespace,
            overrides: dict[str, object]) -> None:
    print(f"scenario   {s.path.name}: {n} steps of {s.period.step_s} s; bound: {status}")
    print(f"machine    {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; speed now: 1e7-addition Python loop "
          f"{calibration:.2f} s")
    print("wall       " + ", ".join(f"{k} {v:.1f} s" for k, v in wall.items()))
    if overrides:
        print("settings   the EMS's with " + ", ".join(f"{k}={v}" for k, v in overrides.items()))
    if args.cost_noise:
        which = (f"seeds {', '.join(map(str, args.noise_seeds))}" if args.noise_seeds
                 else f"seed {args.noise_seed}")
        print(f"noise      every cost of the EMS's plan LPs times 1 + {args.cost_noise:g} u, "
              f"u uniform in [-1, 1], {which}")


def _bound(rule_run: Run, s: scenario.Scenario,
           wall: dict[str, float]) -> tuple[dispatch.PlanInputs, dispatch.Plan]:
    """The perfect-foresight inputs over the rule run and the bound's dispatch (its wall time
    into ``wall``)."""
    t0 = time.perf_counter()
    inp = cems.foresight_inputs(rule_run, s)
    bound = dispatch.plan(inp, time_limit_s=1200.0)
    wall["bound"] = time.perf_counter() - t0
    return inp, bound


def _plans(run: Run) -> np.ndarray:
    """The time of each plan of an EMS run (ms)."""
    planned = run.series("ems", "replanned") > 0.5
    return run.series("ems", "solve_ms")[planned]


def _judge(args: argparse.Namespace, s: scenario.Scenario, overrides: dict[str, object],
           rule_path: Path, tmp: str, calibration: float, wall: dict[str, float]) -> None:
    """An EMS year per noise seed: each year's shares captured, then their mean."""
    with Run(rule_path) as rule_run:
        inp, bound = _bound(rule_run, s, wall)
        rule = figures(run_flows(rule_run), s, inp)
    best = figures(plan_flows(inp, bound), s, inp)
    _header(s, inp.H, bound.status, calibration, wall, args, overrides)
    print("\n| seed | bill's saving captured | LP objective's | plans | their time, s | "
          "EMS run wall, s |")
    print("|---:|---:|---:|---:|---:|---:|")
    got: dict[str, list[float]] = {"bill": [], "objective": []}
    for seed in args.noise_seeds:
        path, year_s = _run(s, "ems", tmp, args.cost_noise, seed, overrides,
                            f"{s.path.stem}-ems-seed{seed}")
        with Run(path) as ems_run:
            share = shares(rule, figures(run_flows(ems_run), s, inp), best)
            ms = _plans(ems_run)
        if not args.out:
            path.unlink()  # a year's file each: only the figures are kept
        for key in got:
            got[key].append(share[key])
        print(f"| {seed} | {share['bill']:.1%} | {share['objective']:.1%} | {ms.size:,} | "
              f"{ms.sum() / 1e3:.1f} | {year_s:.1f} |", flush=True)
    (b, b_se), (o, o_se) = mean_se(got["bill"]), mean_se(got["objective"])
    print(f"| mean ± its standard error | {b:.1%} ± {b_se:.1%} | {o:.1%} ± {o_se:.1%} | | | |")


def main() -> None:
    """Run the benchmark and print its table."""
    args, overrides = _args()
    s = scenario.load(args.scenario)
    c = s.controller
    s = dataclasses.replace(s, controller=dataclasses.replace(
        c, forecaster=args.forecaster or c.forecaster,
        horizon=round(args.horizon_h * 3600) if args.horizon_h else c.horizon,
        replan=round(args.replan_h * 3600) if args.replan_h else c.replan))
    if args.days:
        s = s.with_days(args.days)
    calibration = python_loop_s()
    wall = {}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = args.out or tmp_dir
        paths = {}
        for kind in ("rule", "ems") if not args.noise_seeds else ("rule",):
            given = getattr(args, kind)
            if given:
                paths[kind] = Path(given)
                continue
            ems = kind == "ems"
            paths[kind], wall[kind] = _run(s, kind, tmp, args.cost_noise if ems else 0.0,
                                           args.noise_seed, overrides if ems else {})
        if args.noise_seeds:
            _judge(args, s, overrides, paths["rule"], tmp, calibration, wall)
            return
        with Run(paths["rule"]) as rule_run, Run(paths["ems"]) as ems_run:
            inp, bound = _bound(rule_run, s, wall)
            requests = ems_run.table("vpp/responses")
            solve_ms = _plans(ems_run)
            cols = {"rule": figures(run_flows(rule_run), s, inp),
                    "EMS": figures(run_flows(ems_run), s, inp),
                    "perfect foresight": figures(plan_flows(inp, bound), s, inp)}
    _header(s, inp.H, bound.status, calibration, wall, args, overrides)
    print(f"EMS plans  {solve_ms.size:,}, {solve_ms.sum() / 1e3:.1f} s in all (their LPs built, "
          "solved and read), "
          f"median {np.median(solve_ms) if solve_ms.size else 0.0:.0f} ms")
    print()
    print(f"| | {' | '.join(cols)} |")
    print("|---|" + "---:|" * len(cols))
    for key, label, fmt in ROWS:
        print(f"| {label} | " + " | ".join(fmt.format(c[key]) for c in cols.values()) + " |")
    share = shares(*(cols[k] for k in ("rule", "EMS", "perfect foresight")))
    r, e, b = (cols[k] for k in ("rule", "EMS", "perfect foresight"))
    for key, what in (("bill", "energy bill"), ("objective", "LP objective")):
        print(f"\nEMS saving over the rule, {what}: {r[key] - e[key]:,.0f} CNY of the bound's "
              f"{r[key] - b[key]:,.0f} CNY = {share[key]:.1%} captured", end="")
    print()
    if requests:  # the README's table of the requests
        print("\n| request | asked | offered | delivered | missed |")
        print("|---|---:|---:|---:|---:|")
        for row in requests:
            note = "" if row["answered"] == "yes" else f" ({row['answered']})"
            print(f"| {row['event']} {row['start']}{note} | {row['asked_mw']:.0f} | "
                  f"{row.get('offered_mw', float('nan')):.1f} | {row['delivered_mw']:.1f} | "
                  f"{row.get('missed_mw', float('nan')):.2f} |")


if __name__ == "__main__":
    main()
