"""A run's start: the weather built once, and no library the start does not need.

The weather simulator builds the synthetic weather of the NWP runs' reach (beyond the period's
end) and hands the run its head where that head is the period's own weather bit for bit; each
solar day's irradiance is rescaled to its energy over the steps present, so a period ending in
a day's daylight is built on its own. Checked against :func:`twin.models.weather.synthetic_year`
of the period, for periods ending at night and in daylight, east and west of Greenwich.

``twin check`` loads neither pandapower nor pvlib nor a plotting or signal library; a run's
simulators load pandapower without matplotlib and plotly and the weather without scipy.signal
(its AR(1) recursion is lfilter's bit for bit); checked in fresh interpreters.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from adapters import weather_sim
from twin.models import weather

LOCAL_MIDNIGHT = 1_735_660_800  # 2025-01-01 00:00 at UTC+8 (the reference park's start)
CLIMATE = weather.site_climate("shenyang")
ROOT = Path(__file__).resolve().parents[1]


def _equal(a: weather.WeatherSeries, b: weather.WeatherSeries) -> bool:
    return a.step_s == b.step_s and all(
        np.array_equal(getattr(a, key), getattr(b, key)) for key in ("epoch_s", *a.VARIABLES))


@pytest.mark.parametrize("longitude", [123.4, 10.0, -80.0])
def test_head_of_a_longer_period_is_the_period_or_none(longitude: float) -> None:
    sliced = 0
    for hours in (0, 10, 20):
        start = LOCAL_MIDNIGHT + 160 * 86400 + hours * 3600
        for n, step in ((288, 900), (328, 900), (40, 7200), (30, 3600)):
            own = weather.synthetic_year(CLIMATE, 41.8, longitude, start, n, step, 0, name="w")
            longer = weather.synthetic_year(CLIMATE, 41.8, longitude, start,
                                            n + 2 * 86400 // step, step, 0, name="w")
            head = weather_sim._head(longer, n, longitude)
            if head is not None:
                sliced += 1
                assert _equal(head, own), (hours, n, step)
    assert sliced >= 3  # the shortcut is taken, not only declined


def test_weather_and_nwp_hands_out_the_periods_own_weather() -> None:
    params = {"source": "synthetic", "site": "shenyang", "latitude": 41.8, "longitude": 123.4}
    for start, n in ((LOCAL_MIDNIGHT, 192), (LOCAL_MIDNIGHT + 160 * 86400 + 10 * 3600, 100)):
        series, _ = weather_sim.weather_and_nwp("weather", params, start, n, 900)
        own = weather.synthetic_year(CLIMATE, 41.8, 123.4, start, n, 900, 0, name="weather")
        assert _equal(series, own)


def _loaded(code: str, modules: tuple[str, ...]) -> list[str]:
    """Which of ``modules`` a fresh interpreter has imported after running ``code``."""
    probe = f"{code}\nimport sys\nprint(','.join(m for m in {modules!r} if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    return [m for m in proc.stdout.strip().splitlines()[-1].split(",") if m]


def test_check_loads_no_simulation_libraries() -> None:
    """``twin check`` validates with the schema alone: no plotting, signal processing or
    power flow library (each costs a fraction of its 1.5 s)."""
    heavy = ("matplotlib", "scipy.signal", "scipy.stats", "pandapower", "pvlib", "plotly")
    code = ("import contextlib, io\nfrom twin.apps.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    assert main(['check', 'scenarios/park.yaml']) == 0")
    assert _loaded(code, heavy + ("twin.scenario",)) == ["twin.scenario"]  # the check ran


def test_run_start_loads_no_plotting_or_signal_library() -> None:
    """A run's simulators import pandapower without matplotlib and plotly (its unused
    plotting), pandapower's state estimation (with scipy.stats) and pvlib's spectral models
    (with scipy.integrate) not before they are used, the weather without scipy.signal; all
    import as usual afterwards."""
    code = ("import sys, twin.apps.cli, twin.runner, adapters.blocks\n"
            "print(','.join(m for m in ('matplotlib', 'plotly', 'scipy.signal', 'scipy.stats', "
            "'scipy.integrate', 'pandapower', 'pvlib') if m in sys.modules))\n"
            "import matplotlib.pyplot, plotly, pandapower, pvlib\n"
            "from pandapower.__init__ import pp_dir\n"
            "from pandapower.estimation import estimate\n"
            "print(callable(estimate), 'scipy.stats' in sys.modules, pp_dir == pandapower.pp_dir)\n"
            "print(callable(pvlib.spectrum.spectral_factor_sapm), 'scipy.integrate' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    assert proc.stdout.split() == ["pandapower,pvlib", "True", "True", "True", "True", "True"]


@pytest.mark.parametrize("phi", [0.0, 0.37, math.exp(-900 / 3600), 0.999999, 1.0, -0.6])
def test_ar1_is_lfilter_bit_for_bit(phi: float) -> None:
    """The weather's AR(1) recursion equals scipy.signal.lfilter's, bit for bit."""
    from scipy.signal import lfilter

    for n in (1, 2, 97, 40_000):
        noise = np.random.default_rng(n).standard_normal(n)
        drive = noise * math.sqrt(max(1.0 - phi * phi, 0.0))
        drive[0] = noise[0]
        expected = lfilter([1.0], [1.0, -phi], drive)
        got = weather._ar1(noise.copy(), phi)
        assert got.dtype == expected.dtype
        assert np.array_equal(got, expected), (phi, n)
        rows = weather._ar1(np.stack([noise[::-1], noise]), phi)  # rows side by side
        assert np.array_equal(rows[1], expected), (phi, n)
        assert np.array_equal(rows[0], weather._ar1(noise[::-1].copy(), phi)), (phi, n)
