"""EMS forecasts: baselines, the learned model (numpy = torch), skill on a held-out year, CLI."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from twin.ems.forecast import (
    HORIZON,
    TARGETS,
    Capacities,
    History,
    Persistence,
    Priors,
    SmartPersistence,
    learned_inputs,
    load_learned,
    reference_steps,
)
from twin.scenario import load
from twin.studies import learned

EXACT_MW = 1e-9  # forecasts that must reproduce a signal exactly
TORCH_F64_ABS = 1e-10  # numpy vs torch in float64 (outputs in units of capacity)
TORCH_F32_ABS = 1e-5  # numpy (float64) vs torch in float32
SIGNIFICANCE_SE = 3.0  # "not worse": mean MSE difference below this many standard errors
HELD_OUT_SEED, HELD_OUT_DAYS = 3, 30  # the shipped model was trained on seed 1, validated on 2

CAPS = Capacities(pv_mw=157.7, wind_mw=420.0, load_mw=325.0)  # the reference park's
SPD = 96
EPOCH0 = 1_798_732_800  # 2027-01-01 00:00 Asia/Shanghai, a Friday
PARK = Path(__file__).resolve().parents[1] / "scenarios" / "park.yaml"


def bell_clearsky(n: int) -> np.ndarray:
    """A clear-sky PV curve: 0 at night, a half-sine from 06:00 to 18:00 local."""
    hour = (np.arange(n) % SPD) / 4.0
    return np.where((hour > 6) & (hour < 18), 0.8 * CAPS.pv_mw * np.sin(np.pi * (hour - 6) / 12),
                    0.0)


def workdays(n: int) -> np.ndarray:
    """Five working days, two rest days (the run starts on a Friday)."""
    return ((np.arange(n) // SPD + 4) % 7 < 5).astype(float)


def noisy_history(n_steps: int, seed: int = 0, n_total: int | None = None) -> History:
    """A history of random but plausible values (step 100: lost and negative readings)."""
    rng = np.random.default_rng(seed)
    n_total = n_total or n_steps + 2 * SPD
    cs = bell_clearsky(n_total)
    h = History(CAPS, EPOCH0, 900, cs, workdays(n_total))
    for k in range(n_steps):
        pv = cs[k] * rng.uniform(0.2, 1.1)
        wind = CAPS.wind_mw * rng.uniform(0.0, 1.0)
        load = CAPS.load_mw * (0.5 + 0.2 * workdays(n_total)[k] + 0.05 * rng.standard_normal())
        if k == 100:
            pv, wind, load = math.nan, -5.0, math.inf
        h.append(pv, wind, load)
    return h


@pytest.fixture(scope="module")
def shipped() -> learned.Learned:
    """The shipped learned forecaster."""
    return load_learned()


@pytest.fixture(scope="module")
def held_out() -> learned.ForecastData:
    """The reference park on a weather year the shipped model never saw."""
    return learned.dataset(load(PARK), HELD_OUT_SEED, HELD_OUT_DAYS)


def test_persistence_holds_the_last_value():
    h = noisy_history(300)
    i = h.i
    noon = i - (i % SPD) + 48 - SPD  # yesterday's noon: daylight ahead for 6 steps
    fc = Persistence().forecast_many(h, np.array([i, noon]), 6)
    for t in ("wind", "load"):
        assert np.all(fc[t][0] == h.values[t][i])
        assert np.all(fc[t][1] == h.values[t][noon])
    assert np.all(fc["pv"][1] == h.values["pv"][noon])


@pytest.mark.parametrize("k", [0.8, 1.0])
def test_smart_persistence_is_exact_on_a_clear_sky_signal(k):
    n = 6 * SPD
    cs = bell_clearsky(n + 200)
    origins = np.array([SPD + 2, 2 * SPD + 25, 3 * SPD + 48, 4 * SPD + 70, 5 * SPD - 1])
    # the climatology equal to k: exact at every horizon; else without decay toward it
    for priors, smart in ((Priors(k_pv=k), SmartPersistence()),
                          (Priors(), SmartPersistence(tau_pv_s=math.inf))):
        h = History(CAPS, EPOCH0, 900, cs, workdays(n + 200), priors=priors)
        for j in range(n):
            h.append(k * cs[j], 100.0, 200.0)
        fc = smart.forecast_many(h, origins, 192)["pv"]
        expected = k * cs[origins[:, None] + np.arange(1, 193)]
        np.testing.assert_allclose(fc, expected, rtol=0, atol=EXACT_MW)


def test_forecasts_are_finite_nonnegative_and_dark_pv_is_zero(shipped):
    forecasters = [Persistence(), SmartPersistence(), shipped]
    for n_steps in (0, 3, 300):  # empty, short and longer history
        h = noisy_history(n_steps)
        dark = h.clearsky_pv_mw[h.i + 1:h.i + 193] == 0
        for f in forecasters:
            for n in (1, 4, 96, 192):
                fc = f.forecast(h, n)
                assert set(fc) == set(TARGETS)
                for t in TARGETS:
                    assert fc[t].shape == (n,)
                    assert np.all(np.isfinite(fc[t]))
                    assert np.all(fc[t] >= 0), (f.name, t, n_steps)
                assert np.all(fc["pv"] <= CAPS.pv_mw)
                assert np.all(fc["wind"] <= CAPS.wind_mw)
                assert np.all(fc["pv"][dark[:n]] == 0)


def test_forecasts_use_only_the_past(shipped):
    full = noisy_history(500, seed=1, n_total=800)
    for origin in (10, 130, 333):
        cut = noisy_history(origin + 1, seed=1, n_total=800)
        for f in (SmartPersistence(), shipped):
            a = f.forecast_many(full, np.array([origin]), 96)
            b = f.forecast(cut, 96)
            for t in TARGETS:
                np.testing.assert_array_equal(a[t][0], b[t])


def test_load_reference_is_the_last_day_of_the_same_kind():
    h = noisy_history(10 * SPD)
    monday_9h = 3 * SPD + 36  # day 0 is a Friday
    ref = reference_steps(h, np.array([monday_9h]), np.array([monday_9h - 1]))
    assert ref[0] == monday_9h - 3 * SPD  # Friday, not Sunday
    sunday = 2 * SPD + 36
    assert reference_steps(h, np.array([sunday]), np.array([sunday - 1]))[0] == sunday - SPD


def test_numpy_inference_equals_torch(shipped):
    import torch

    arrays = np.load(learned.DATA_DIR / "forecast.npz")
    rng = np.random.default_rng(5)
    for t in TARGETS:
        net = shipped.nets[t]
        x = net.x_mean + net.x_std * rng.standard_normal((64, len(net.x_mean)))
        ours = net(x)
        with torch.no_grad():
            f64 = learned.torch_from_arrays(arrays, t, torch.float64)(torch.as_tensor(x))
            f32 = learned.torch_from_arrays(arrays, t)(torch.as_tensor(x, dtype=torch.float32))
        np.testing.assert_allclose(ours, f64.numpy(), rtol=0, atol=TORCH_F64_ABS)
        np.testing.assert_allclose(ours, f32.numpy(), rtol=0, atol=TORCH_F32_ABS)
        assert ours.shape == (64, HORIZON)
        assert np.abs(ours).max() > 1e-3  # not a dead network


def test_shipped_model_provenance(shipped):
    meta = shipped.meta
    assert meta["train_seed"] != meta["eval_seed"]
    assert str(meta["train_seed"]) in meta["source"]
    assert "twin forecast train" in meta["source"]
    assert HELD_OUT_SEED not in (meta["train_seed"], meta["eval_seed"])
    for t in TARGETS:
        assert len(meta["skill"][t]) == HORIZON


def _daily_mse_gain(data, a, b, target, horizons):
    """Per day: mean squared error of ``a`` minus that of ``b`` over ``horizons`` (MW^2)."""
    h = data.history()
    origins = learned.origins_of(data)
    ahead = origins[:, None] + np.arange(1, HORIZON + 1)
    y = data.series()[target][ahead]
    fa, fb = (f.forecast_many(h, origins, HORIZON)[target] for f in (a, b))
    diff = ((fa - y) ** 2 - (fb - y) ** 2)[:, horizons]
    if target == "pv":
        diff = np.where(data.clearsky_pv_mw[ahead][:, horizons] > 0, diff, np.nan)
    per_day = [np.nanmean(diff[origins // SPD == d]) for d in np.unique(origins // SPD)]
    per_day = np.array([v for v in per_day if np.isfinite(v)])
    return per_day.mean(), per_day.std(ddof=1) / math.sqrt(len(per_day))


def test_shipped_model_beats_the_baselines_on_a_held_out_year(shipped, held_out):
    rows = learned.evaluate(held_out, [Persistence(), SmartPersistence(), shipped])
    by = {(r["forecaster"], r["target"], r["horizon"]): r for r in rows}
    assert by["learned", "pv", 4]["nrmse_pct"] < by["persistence", "pv", 4]["nrmse_pct"]
    smart = SmartPersistence(**shipped.meta["smart_persistence"])
    for t in TARGETS:
        used = np.flatnonzero(shipped.skill[t] > 0)
        if not used.size:
            continue
        gain, se = _daily_mse_gain(held_out, shipped, smart, t, used)
        assert gain < SIGNIFICANCE_SE * se, f"{t}: learned worse than smart persistence"
        if shipped.skill[t][used].mean() > 0.03:  # a clear validation skill must show here
            assert gain < 0, f"{t}: no gain over smart persistence on the held-out year"


def test_train_save_load_round_trip(held_out, tmp_path):
    short = dataclasses.replace(held_out, seed=9)
    trained = learned.train(short, held_out, epochs=1, hidden=(8,))
    path = trained.save(tmp_path)
    again = load_learned(path.parent)
    h = held_out.history()
    origins = np.array([200, 900, 1500])
    a, b = trained.forecaster().forecast_many(h, origins, 20), again.forecast_many(h, origins, 20)
    for t in TARGETS:
        np.testing.assert_allclose(a[t], b[t], rtol=0, atol=1e-9)
    x = learned_inputs(h, origins, "pv", SmartPersistence().forecast_many(h, origins, 16)["pv"])
    assert x.shape == (3, len(again.nets["pv"].x_mean))
    assert np.all(np.isfinite(x))


def test_cli_forecast_evaluate(capsys):
    from twin.apps.cli import main

    assert main(["forecast", "evaluate", str(PARK), "--days", "5"]) == 0
    out = capsys.readouterr().out
    assert "| target | forecaster | 15 min | 1 h | 2 h | 4 h |" in out
    for name in ("| pv | persistence |", "| wind | smart-persistence |", "| load | learned |"):
        assert name in out


def test_cli_forecast_user_errors(capsys):
    from twin.apps.cli import main

    assert main(["forecast", "train", "--train-seed", "4", "--eval-seed", "4"]) == 2
    assert "must differ" in capsys.readouterr().err
    assert main(["forecast", "evaluate", "no/such.yaml"]) == 2
    assert main(["forecast", "evaluate", str(PARK), "--days", "5", "--model", "/nonexistent"]) == 2
    assert "forecast evaluate" in capsys.readouterr().err
