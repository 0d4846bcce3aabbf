"""A run's start: the weather built once.

The weather simulator builds the synthetic weather of the NWP runs' reach (beyond the period's
end) and hands the run its head where that head is the period's own weather bit for bit; each
solar day's irradiance is rescaled to its energy over the steps present, so a period ending in
a day's daylight is built on its own. Checked against :func:`twin.models.weather.synthetic_year`
of the period, for periods ending at night and in daylight, east and west of Greenwich.
"""

from __future__ import annotations

import numpy as np
import pytest

from adapters import weather_sim
from twin.models import weather

LOCAL_MIDNIGHT = 1_735_660_800  # 2025-01-01 00:00 at UTC+8 (the reference park's start)
CLIMATE = weather.site_climate("shenyang")


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
