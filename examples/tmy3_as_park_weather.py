"""A measured typical year from elsewhere as the park's weather: pvlib's Greensboro TMY3 file
(723170TYA.CSV, shipped with pvlib) written as the twin's weather CSV, its local-standard-time
hours relabelled as the park's (UTC+08:00) hours of 2027, wind at the file's 10 m.

    .venv/bin/python examples/tmy3_as_park_weather.py OUT.csv

A scenario then reads it with ``weather: {source: csv, path: OUT.csv}``: weather the twin's
own generator did not make, for evaluating what was tuned on the synthetic Shenyang years.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pvlib

HEAD = ("# wind_height_m = 10.0\n# roughness_m = 0.1\n# latitude = 41.8\n# longitude = 123.4\n"
        "# altitude_m = 50\n")


def main(out: str) -> None:
    """Write the relabelled year to ``out``."""
    src = Path(pvlib.__file__).parent / "data" / "723170TYA.CSV"
    df, _ = pvlib.iotools.read_tmy3(src, map_variables=True)
    # each row by its hour's start (TMY3 stamps the hour's end): 01:00 is 00:00-01:00
    t = pd.date_range("2027-01-01 00:00", periods=len(df), freq="h")
    frame = pd.DataFrame({"time": t.strftime("%Y-%m-%dT%H:%M:%S+08:00"),
                          "ghi_w_m2": df["ghi"].to_numpy(), "dni_w_m2": df["dni"].to_numpy(),
                          "dhi_w_m2": df["dhi"].to_numpy(),
                          "temp_air_c": df["temp_air"].to_numpy(),
                          "wind_ms": df["wind_speed"].to_numpy(),
                          "pressure_pa": df["pressure"].to_numpy() * 100.0})
    Path(out).write_text(HEAD + frame.to_csv(index=False, float_format="%.2f"), encoding="utf-8")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: tmy3_as_park_weather.py OUT.csv")
    main(sys.argv[1])
