"""A recorded file as the twin's telemetry: the stand-in plant's own run file and a CSV made
from it, played back through ``twin live``."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from twin.apps.cli import main
from twin.core.results import open_run
from twin.live import mapping
from twin.live.plant import StandInPlant
from twin.scenario import load

SMALL = Path(__file__).parent / "scenarios" / "small.yaml"
POINTS = ("weather.ghi_w_m2", "weather.dni_w_m2", "weather.dhi_w_m2", "weather.temp_air_c",
          "weather.wind_ms", "weather.pressure_pa", "pv.p_mw", "wind.p_mw", "bess.p_mw",
          "bess.soc")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A 14-hour run of the small park: the plant's truth file (nothing published)."""
    tmp = tmp_path_factory.mktemp("recorded")
    s = load(SMALL).with_days(14 / 24)
    tm = mapping.loads(yaml.safe_dump(mapping.default_mapping(s)), s)

    class Nowhere:
        def publish(self, topic: str, t: float, value: float) -> None:
            pass

    return StandInPlant(s, tm, Nowhere(), speed=0, out_dir=tmp).run().path


def write_mapping(tmp: Path, recording: Path, sep: str) -> Path:
    tags = [{"tag": p.replace(".", sep), "point": p,
             "unit": {"pressure_pa": "Pa", "soc": "1", "temp_air_c": "degC",
                      "wind_ms": "m/s"}.get(p.split(".")[1], "W/m2" if p.startswith("weather")
                                            else "MW")} for p in POINTS]
    path = tmp / "map.yaml"
    path.write_text(yaml.safe_dump({"source": {"kind": "file", "path": str(recording)},
                                    "tags": tags}))
    return path


@pytest.fixture(scope="module")
def played(recorded, tmp_path_factory):
    """The plant's run file played back through ``twin live`` with the plant's own mapping
    (powers in kW, the heat supply's heat and gas): (what it printed, the history file)."""
    tmp = tmp_path_factory.mktemp("played")
    s = load(SMALL)
    data = mapping.default_mapping(s)
    data["source"] = {"kind": "file", "path": str(recorded)}
    path = tmp / "map.yaml"
    path.write_text(yaml.safe_dump(data))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["live", str(SMALL), "--telemetry", str(path), "--out", str(tmp)]) == 0
    return out.getvalue(), tmp / "small-live.h5", len(data["tags"])


def test_a_run_file_played_back_raises_no_alarm(recorded, played):
    out, history, n_tags = played
    assert f"live: 56 steps, {56 * n_tags} readings, 0 alarms" in out
    with open_run(history) as live, open_run(recorded) as truth:
        np.testing.assert_allclose(live.series("pv.twin", "p_mw"), truth.series("pv", "p_mw"),
                                   atol=1e-6)
        # recorded in MW, published in kW, recorded again in MW
        np.testing.assert_allclose(live.series("wind", "p_mw"), truth.series("wind", "p_mw"),
                                   rtol=1e-12)
        assert (live.series("bess", "soc") == truth.series("bess", "soc")).all()


def first_page(run: Path, tmp: Path, capsys) -> dict[str, float]:
    """``twin report``'s first page: each line's first figure, by the line's words."""
    assert main(["report", str(run), "-o", str(tmp / f"{run.stem}.html")]) == 0
    figures = {}
    for line in capsys.readouterr().out.splitlines():
        found = re.match(r"(.+?)\s{2,}(-?[\d,]+\.?\d*)", line)
        if found:
            figures[found[1].strip()] = float(found[2].replace(",", ""))
    return figures


def test_twin_report_reads_an_operating_days_history(recorded, played, tmp_path, capsys):
    """The live history has a run's layout: ``twin report`` gives the operating day's figures,
    and with the heat supply's gas measured they are the plant's own."""
    _, history, _ = played
    live, truth = first_page(history, tmp_path, capsys), first_page(recorded, tmp_path, capsys)
    assert (tmp_path / "small-live.html").stat().st_size > 10_000
    for name in ("CO2 per unit of energy consumption", "clean-energy share of consumption",
                 "energy bill (grid, gas), yr 1", "if every load bought from grid"):
        assert live[name] == pytest.approx(truth[name], rel=0.02), name
    assert truth["CO2 per unit of energy consumption"] > 0.1  # gas burnt: a figure to miss


def test_a_csv_with_a_frozen_meter_raises_stuck_meter(recorded, tmp_path, capsys):
    with open_run(recorded) as run:
        start = pd.Timestamp(run.meta["start"])
        frame = pd.DataFrame({"time": [(start + pd.Timedelta(seconds=float(t))).tz_convert(
            "Asia/Shanghai").isoformat() for t in run.time_s]})
        for p in POINTS:
            entity, attr = p.split(".")
            frame[p.replace(".", "_")] = run.series(entity, attr)
    frozen = frame.index >= 12  # from 03:00: the wind meter repeats its 02:45 reading
    frame.loc[frozen, "wind_p_mw"] = frame.loc[11, "wind_p_mw"]
    frame.loc[30, "pv_p_mw"] = np.nan  # an empty cell: no reading, held
    csv = tmp_path / "rec.csv"
    frame.to_csv(csv, index=False)
    path = write_mapping(tmp_path, csv, "_")
    assert main(["live", str(SMALL), "--telemetry", str(path), "--out", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[3:5] for ln in lines if ln.startswith("alarm")] == \
        [["stuck_meter", "wind.p_mw:"]]
    assert "alarm 2027-01-01 03:15" in lines[0]


def test_a_recording_without_a_tag_is_one_line(recorded, tmp_path, capsys):
    csv = tmp_path / "rec.csv"
    csv.write_text("time,weather_ghi_w_m2\n0,1\n")
    path = write_mapping(tmp_path, csv, "_")
    assert main(["live", str(SMALL), "--telemetry", str(path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"error: {csv}: no column weather_dni_w_m2, ")
