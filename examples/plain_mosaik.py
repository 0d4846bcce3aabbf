"""The park's adapters in a plain mosaik script, without ``twin.cosim.world``.

Two days of a synthetic Shenyang weather year drive a 20 MWp PV plant and a wind farm; the
recorder adapter writes their power to an HDF5 file, read back with ``twin.core.results``.

    python examples/plain_mosaik.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import mosaik

from twin.core.results import open_run

SIM_CONFIG = {
    "Weather": {"python": "adapters.weather_sim:WeatherSim"},
    "PV": {"python": "adapters.pv_sim:PVSim"},
    "Wind": {"python": "adapters.wind_sim:WindSim"},
    "Recorder": {"python": "adapters.recorder_sim:RecorderSim"},
}
START = "2027-06-01T00:00:00+08:00"
DAYS = 2


def main(out: Path) -> dict[str, float]:
    """Run the plain script; return the energy of each plant in MWh."""
    world = mosaik.World(SIM_CONFIG, skip_greetings=True, configure_logging=False)
    common = {"start": START, "step_s": 900}
    weather = world.start("Weather", duration_s=DAYS * 86400, **common).Weather.create(
        1, name="weather", source="synthetic", site="shenyang",
        latitude=41.8, longitude=123.4, seed=1)[0]
    pv = world.start("PV", latitude=41.8, longitude=123.4, **common).PVPlant.create(
        1, name="pv-roof", p_dc_mwp=20.0, p_ac_mw=16.0, tilt_deg=30.0)[0]
    wind = world.start("Wind", **common).WindFarm.create(
        1, name="wind", turbine_type="E-141/4200", n_turbines=10, hub_height_m=130.0)[0]
    world.connect(weather, pv, "ghi_w_m2", "dni_w_m2", "dhi_w_m2", "temp_air_c", "wind_ms",
                  "wind_height_m", "roughness_m")
    world.connect(weather, wind, "wind_ms", "wind_height_m", "roughness_m", "temp_air_c",
                  "pressure_pa")
    path = out / "plain.h5"
    recorder = world.start("Recorder", **common).Recorder.create(
        1, path=str(path), series=[["pv-roof", "p_mw", "MW", "PV AC power"],
                                   ["wind", "p_mw", "MW", "wind farm power"]])[0]
    world.connect(pv, recorder, "p_mw")
    world.connect(wind, recorder, "p_mw")
    world.run(until=DAYS * 86400, print_progress=False)
    with open_run(path) as run:
        return {e: float(run.series(e, "p_mw").sum() * 0.25) for e in ("pv-roof", "wind")}


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        for name, e in main(Path(tmp)).items():
            print(f"{name}: {e:.1f} MWh in {DAYS} days")
