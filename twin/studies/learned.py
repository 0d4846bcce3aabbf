"""Data, training and evaluation of the park's forecasters (the learned model is trained here in
PyTorch and run in numpy by :class:`twin.ems.forecast.Learned`).

This is tooling above the models: :func:`dataset` runs the park (``twin.cosim.world``), so the
imports of the world and of torch happen inside the functions that need them.

* :func:`dataset`: a synthetic year (or part) of the park, lossless balance (no grid), with
  the weather year chosen by ``seed``: park totals of PV, wind and load (factories + heat).
* :func:`train`: one MLP per target on the training year; the stored skill per target and
  horizon comes from a second year (another seed) the network never saw.
* :func:`evaluate` / :func:`format_table`: nMAE, nRMSE (% of capacity) and skill against
  SmartPersistence per forecaster, target and horizon. PV errors count daylight steps only
  (clear-sky PV > 0 at the forecast step): at night every forecaster gives 0 exactly.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twin.ems.forecast import (
    DATA_DIR,
    HORIZON,
    TARGETS,
    Capacities,
    Forecaster,
    History,
    Learned,
    NWPPower,
    NWPWind,
    Persistence,
    Priors,
    SmartPersistence,
    learned_inputs,
    park_history,
)

Progress = Callable[[str], None]
REPORT_HORIZONS = (1, 4, 8, 16)
NWP_HORIZON = 96  # steps: the NWP forecaster is evaluated a day ahead


@dataclass(frozen=True)
class ForecastData:
    """A run of the park as the forecasters see it: measured park totals (T steps), and what
    is known in advance for T + margin steps (clear-sky PV, working days)."""

    seed: int
    epoch0_s: int
    step_s: int
    pv_mw: np.ndarray
    wind_mw: np.ndarray
    load_mw: np.ndarray
    clearsky_pv_mw: np.ndarray
    workday: np.ndarray
    capacities: Capacities
    utc_offset_s: int = 8 * 3600
    nwp: NWPPower | None = None  # the weather model's wind power runs (synthetic weather)

    @property
    def n_steps(self) -> int:
        """Number of measured steps."""
        return len(self.pv_mw)

    @property
    def epoch_s(self) -> np.ndarray:
        """UTC start of each measured step (s)."""
        return self.epoch0_s + self.step_s * np.arange(self.n_steps, dtype=np.int64)

    def series(self) -> dict[str, np.ndarray]:
        """The measured series by target."""
        return {"pv": self.pv_mw, "wind": self.wind_mw, "load": self.load_mw}

    def history(self) -> History:
        """A history holding the whole run (forecasters look only up to their origins)."""
        return History.of_series(self.capacities, self.epoch0_s, self.step_s,
                                 self.clearsky_pv_mw, self.workday, self.series(),
                                 utc_offset_s=self.utc_offset_s)


def dataset(scenario: Any, seed: int, days: float | None = None,
            out_dir: str | Path | None = None) -> ForecastData:
    """Run ``scenario`` with the park seed ``seed`` (weather year and load noise), no grid
    (lossless balance) and the rule controller (loads as they come, no EMS shifting them),
    optionally over its first ``days``; return the park totals."""
    from twin import runner
    from twin.core.results import open_run

    s = dataclasses.replace(scenario, grid=None,
                            park=dataclasses.replace(scenario.park, seed=int(seed)),
                            controller=dataclasses.replace(scenario.controller, kind="rule"))
    if days is not None:
        s = s.with_days(days)
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        result = runner.run(s, out_dir=tmp)
        with open_run(result.path) as run:
            def total(*kinds: str) -> np.ndarray:
                parts = [run.series(e, "p_mw") for k in kinds for e in run.entities(k)]
                return np.sum(parts, axis=0) if parts else np.zeros(len(run.time_s))

            pv, wind, load = total("pv"), total("wind"), total("factory", "heat")
            step_s, t0 = int(run.step_s), int(run.time_s[0])
    p = s.park
    h = park_history(s.pv_plants, s.wind_farms, s.factory_loads, p.latitude, p.longitude,
                     p.altitude_m, p.timezone, s.start_epoch_s + t0, len(pv), step_s)
    return ForecastData(seed=int(seed), epoch0_s=h.epoch0_s, step_s=step_s, pv_mw=pv,
                        wind_mw=wind, load_mw=load, clearsky_pv_mw=h.clearsky_pv_mw,
                        workday=h.workday, capacities=h.capacities, utc_offset_s=h.utc_offset_s,
                        nwp=_nwp_power(s, h.epoch0_s, len(pv) + 192, step_s))


def _nwp_power(s: Any, epoch0_s: int, n_steps: int, step_s: int) -> NWPPower | None:
    """The NWP runs the weather simulator makes for ``s`` (synthetic weather only: the same
    weather and seed), as wind power of its farms on the run's steps."""
    from twin.ems.forecast import nwp_wind_mw
    from twin.models import weather, weather_nwp

    if s.weather.source != "synthetic" or not s.wind_farms:
        return None
    p = s.park
    w = weather.synthetic_year(weather.site_climate(s.weather.site), p.latitude, p.longitude,
                               epoch0_s, n_steps, step_s, p.seed, name="weather")
    nwp = weather_nwp.synthetic_nwp(w, p.latitude, p.longitude, p.seed, name="weather")
    return nwp_wind_mw(nwp, s.wind_farms, epoch0_s, step_s, w.wind_height_m, w.roughness_m,
                       site=(p.latitude, p.longitude, p.altitude_m))


def origins_of(data: ForecastData, warmup_steps: int | None = None,
               horizon: int = HORIZON) -> np.ndarray:
    """Forecast origins evaluated: after a warm-up (default one day), ``horizon`` before the
    end."""
    spd = 86_400 // data.step_s
    warm = min(spd, data.n_steps // 4) if warmup_steps is None else warmup_steps
    return np.arange(max(warm, HORIZON - 1), data.n_steps - horizon)


# --- training -------------------------------------------------------------------------------

@dataclass
class Trained:
    """Weights (numpy) and meta of a trained model; :meth:`save` writes the shipped files."""

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)  # evaluation on the val data

    def forecaster(self) -> Learned:
        """The numpy forecaster of these weights."""
        return Learned.from_arrays(self.arrays, self.meta)

    def save(self, path_dir: str | Path = DATA_DIR) -> Path:
        """Write ``forecast.npz`` and ``forecast.json`` into ``path_dir``; return the npz."""
        folder = Path(path_dir)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(folder / "forecast.npz", **self.arrays)
        (folder / "forecast.json").write_text(json.dumps(self.meta, indent=1) + "\n",
                                              encoding="utf-8")
        return folder / "forecast.npz"


def _samples(data: ForecastData, smart: SmartPersistence, target: str
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Inputs, target corrections (units of capacity), loss weights and origins."""
    h = data.history()
    origins = origins_of(data)
    sp = smart.forecast_many(h, origins, HORIZON)[target]
    ahead = origins[:, None] + np.arange(1, HORIZON + 1)
    y = data.series()[target][ahead]
    x = learned_inputs(h, origins, target, sp)
    weight = (data.clearsky_pv_mw[ahead] > 0).astype(float) if target == "pv" else np.ones_like(y)
    return x, (y - sp) / data.capacities.of(target), weight, origins


def torch_model(n_in: int, hidden: Sequence[int], n_out: int = HORIZON) -> Any:
    """The network in PyTorch: Linear-ReLU layers, then a Linear output."""
    import torch

    sizes = [n_in, *hidden]
    layers: list[Any] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    layers.append(torch.nn.Linear(sizes[-1], n_out))
    return torch.nn.Sequential(*layers)


def torch_from_arrays(arrays: dict[str, np.ndarray], target: str, dtype: Any = None) -> Any:
    """A PyTorch network (standardisation included) holding the weights of ``target``, in
    ``dtype`` (default float32)."""
    import torch

    dtype = dtype or torch.float32
    n = sum(1 for k in arrays if k.startswith(f"{target}.W"))
    ws = [arrays[f"{target}.W{k}"] for k in range(n)]
    net = torch_model(ws[0].shape[1], [w.shape[0] for w in ws[:-1]], ws[-1].shape[0]).to(dtype)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for k, lin in enumerate(linears):
            lin.weight.copy_(torch.as_tensor(arrays[f"{target}.W{k}"]))
            lin.bias.copy_(torch.as_tensor(arrays[f"{target}.b{k}"]))

    class Standardised(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net
            for name in ("x_mean", "x_std"):
                self.register_buffer(name, torch.as_tensor(arrays[f"{target}.{name}"],
                                                           dtype=dtype))

        def forward(self, x: Any) -> Any:
            return self.net((x - self.x_mean) / self.x_std)

    return Standardised()


def _fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, stop: np.ndarray, hidden: Sequence[int],
         epochs: int, lr: float, batch: int, seed: int) -> tuple[list[np.ndarray], float]:
    """Train one network (weighted MSE); keep the epoch with the lowest loss on ``stop``."""
    import torch

    torch.manual_seed(seed)
    net = torch_model(x.shape[1], hidden, y.shape[1])
    last = [m for m in net if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():  # start at SmartPersistence: zero correction
        last.weight.zero_()
        last.bias.zero_()
    xt, yt, wt = (torch.as_tensor(a, dtype=torch.float32) for a in (x, y, w))
    fit, held = np.flatnonzero(~stop), np.flatnonzero(stop)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-5)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs, 1))
    gen = torch.Generator().manual_seed(seed)
    best, best_state = float("inf"), None
    for _ in range(epochs):
        net.train()
        for idx in torch.as_tensor(fit)[torch.randperm(len(fit), generator=gen)].split(batch):
            opt.zero_grad()
            loss = (wt[idx] * (net(xt[idx]) - yt[idx]) ** 2).sum() / wt[idx].sum().clamp(min=1)
            loss.backward()
            opt.step()
        sched.step()
        net.eval()
        with torch.no_grad():
            h = torch.as_tensor(held)
            val = float((wt[h] * (net(xt[h]) - yt[h]) ** 2).sum() / wt[h].sum().clamp(min=1))
        if val < best:
            best = val
            best_state = [p.detach().numpy().copy() for p in net.parameters()]
    assert best_state is not None
    return best_state, best


def train(train_data: ForecastData, val_data: ForecastData, epochs: int = 30,
          hidden: Sequence[int] = (64, 64), lr: float = 2e-3, batch: int = 256, seed: int = 0,
          smart: SmartPersistence | None = None, threads: int = 2,
          progress: Progress | None = None) -> Trained:
    """Train one MLP per target on ``train_data`` (every 7th week held out to pick the
    epoch), then measure its skill against SmartPersistence on ``val_data``."""
    import torch

    say = progress or (lambda _msg: None)
    smart = smart or SmartPersistence()
    torch.set_num_threads(max(1, threads))
    arrays: dict[str, np.ndarray] = {}
    spd = 86_400 // train_data.step_s
    for target in TARGETS:
        x, y, w, origins = _samples(train_data, smart, target)
        stop = (origins // (7 * spd)) % 7 == 6
        mean, std = x[~stop].mean(axis=0), x[~stop].std(axis=0)
        std = np.where(std > 1e-6, std, 1.0)
        params, loss = _fit((x - mean) / std, y, w, stop, hidden, epochs, lr, batch, seed)
        arrays[f"{target}.x_mean"], arrays[f"{target}.x_std"] = mean, std
        for k in range(len(params) // 2):
            arrays[f"{target}.W{k}"], arrays[f"{target}.b{k}"] = params[2 * k], params[2 * k + 1]
        say(f"  {target}: {len(x)} samples, {x.shape[1]} inputs, held-out loss {loss:.3g}")
    meta = {
        "source": f"trained by `twin forecast train` on synthetic year seed {train_data.seed}, "
                  f"evaluated on seed {val_data.seed}",
        "targets": list(TARGETS), "horizon": HORIZON, "hidden": list(hidden),
        "epochs": epochs, "lr": lr, "batch": batch, "torch_seed": seed,
        "train_seed": train_data.seed, "eval_seed": val_data.seed,
        "train_steps": train_data.n_steps, "eval_steps": val_data.n_steps,
        "step_s": train_data.step_s,
        "capacities_mw": dataclasses.asdict(train_data.capacities),
        "smart_persistence": {k: v for k, v in dataclasses.asdict(smart).items() if k != "name"},
        "priors": dataclasses.asdict(Priors()),
        "inputs": "twin.ems.forecast.input_layout(target); raw inputs are standardised with "
                  "<target>.x_mean and .x_std; outputs are corrections to SmartPersistence "
                  "in units of the target's capacity (Capacities)",
        "torch_version": torch.__version__,
        "date": dt.date.today().isoformat(),
        "skill": {t: [1.0] * HORIZON for t in TARGETS},
    }
    rows = evaluate(val_data, [Learned.from_arrays(arrays, meta)])
    meta["skill"] = {t: [round(r["skill"], 4) for r in rows if r["target"] == t]
                     for t in TARGETS}
    return Trained(arrays, meta, rows)


# --- evaluation -------------------------------------------------------------------------------

def evaluate(data: ForecastData, forecasters: Sequence[Forecaster],
             warmup_steps: int | None = None, horizon: int = HORIZON) -> list[dict[str, Any]]:
    """Errors of each forecaster per target and horizon 1..``horizon`` on ``data``.

    Rows: forecaster, target, horizon (steps), minutes, nmae_pct and nrmse_pct (% of the
    target's capacity; PV over daylight steps only), skill = 1 - RMSE / RMSE of
    SmartPersistence (with its default parameters unless one is among ``forecasters``).
    """
    h = data.history()
    origins = origins_of(data, warmup_steps, horizon)
    if not origins.size:
        raise ValueError(f"{data.n_steps} steps are too few to evaluate "
                         f"(need > {HORIZON + horizon})")
    ahead = origins[:, None] + np.arange(1, horizon + 1)
    truth = {t: v[ahead] for t, v in data.series().items()}
    day = data.clearsky_pv_mw[ahead] > 0
    smart = next((f for f in forecasters if isinstance(f, SmartPersistence)), SmartPersistence())
    errors = {}
    for f in [smart, *forecasters]:
        fc = f.forecast_many(h, origins, horizon)
        errors[f.name] = {t: fc[t] - truth[t] for t in TARGETS}
    rows = []
    for f in forecasters:
        for t in TARGETS:
            cap = data.capacities.of(t)
            for k in range(horizon):
                mask = day[:, k] if t == "pv" else slice(None)
                e, e_sp = errors[f.name][t][mask, k], errors[smart.name][t][mask, k]
                rmse, rmse_sp = _rms(e), _rms(e_sp)
                rows.append({"forecaster": f.name, "target": t, "horizon": k + 1,
                             "minutes": (k + 1) * data.step_s // 60,
                             "nmae_pct": float(np.mean(np.abs(e))) / cap * 100 if e.size else 0.0,
                             "nrmse_pct": rmse / cap * 100,
                             "skill": 1.0 - rmse / rmse_sp if rmse_sp > 0 else 0.0})
    return rows


def _rms(e: np.ndarray) -> float:
    return float(np.sqrt(np.mean(e ** 2))) if e.size else 0.0


def format_table(rows: Sequence[dict[str, Any]], horizons: Sequence[int] = REPORT_HORIZONS
                 ) -> str:
    """Markdown table: per target and forecaster, nRMSE / nMAE (% of capacity) and skill
    at the given horizons."""
    by = {(r["target"], r["forecaster"], r["horizon"]): r for r in rows}
    names = list(dict.fromkeys(r["forecaster"] for r in rows))
    minutes = {r["horizon"]: r["minutes"] for r in rows}
    heads = [_duration(minutes.get(k, 15 * k)) for k in horizons]
    lines = ["| target | forecaster | " + " | ".join(heads) + " |",
             "|---|---|" + "---:|" * len(horizons)]
    for t in TARGETS:
        for name in names:
            cells = []
            for k in horizons:
                r = by.get((t, name, k))
                cells.append("—" if r is None else
                             f"{r['nrmse_pct']:.2f} / {r['nmae_pct']:.2f} ({r['skill']:+.2f})")
            lines.append(f"| {t} | {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _duration(minutes: int) -> str:
    return f"{minutes} min" if minutes < 60 else f"{minutes / 60:g} h"


# --- the commands' work (twin forecast train / evaluate) ----------------------------------------

def train_command(scenario: Any, train_seed: int = 1, eval_seed: int = 2,
                  days: float | None = None, epochs: int = 30,
                  out_dir: str | Path | None = None, say: Progress = print) -> str:
    """Build both datasets, train, evaluate on the eval seed, save; return the table."""
    import time

    if train_seed == eval_seed:
        raise ValueError("the train and eval seeds must differ")
    t0 = time.perf_counter()
    say(f"dataset: training year, seed {train_seed} ...")
    train_data = dataset(scenario, train_seed, days)
    say(f"dataset: evaluation year, seed {eval_seed} ... ({time.perf_counter() - t0:.0f} s)")
    val_data = dataset(scenario, eval_seed, days)
    t1 = time.perf_counter()
    say(f"training {epochs} epochs per target ... ({t1 - t0:.0f} s)")
    trained = train(train_data, val_data, epochs=epochs, progress=say)
    t2 = time.perf_counter()
    path = trained.save(DATA_DIR if out_dir is None else out_dir)
    say(f"trained in {t2 - t1:.0f} s; saved {path} and {path.with_suffix('.json').name}")
    rows = evaluate(val_data, [Persistence(), SmartPersistence(), trained.forecaster()])
    return (f"Evaluation on seed {eval_seed}, {val_data.n_steps} steps; nRMSE / nMAE in % of "
            "capacity (PV: daylight steps), skill vs smart persistence\n\n" + format_table(rows))


def evaluate_command(scenario: Any, seed: int = 2, days: float | None = None,
                     model: str | Path | None = None, say: Progress = print) -> str:
    """Evaluate Persistence, SmartPersistence and the shipped model; return the table."""
    from twin.ems.forecast import load_learned

    learned = load_learned(model)
    say(f"dataset: seed {seed} ...")
    data = dataset(scenario, seed, days)
    smart = SmartPersistence(**learned.meta["smart_persistence"])
    forecasters: list[Forecaster] = [Persistence(), smart, learned]
    horizon, columns = HORIZON, REPORT_HORIZONS
    if data.nwp is not None:  # wind from the weather model's runs, 6 h and 24 h ahead too
        forecasters.append(NWPWind(data.nwp, base=smart))
        horizon, columns = NWP_HORIZON, (*REPORT_HORIZONS, 24, NWP_HORIZON)
    rows = evaluate(data, forecasters, horizon=horizon)
    return (f"Evaluation on seed {seed}, {data.n_steps} steps; nRMSE / nMAE in % of capacity "
            "(PV: daylight steps), skill vs smart persistence\n\n"
            + format_table(rows, columns))
