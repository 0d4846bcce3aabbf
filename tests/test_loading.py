"""Every file the twin reads: bad input refused in one line per mistake, suspicious input warned.

Each test holds a case that the loader once accepted, answered with a traceback, or hung on.
"""

from __future__ import annotations

import codecs
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pvlib
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import CSV_PROFILE, ROOT, write_profile
from twin.core import textload
from twin.models import weather_io
from twin.scenario import ScenarioError, load, loads

PARK_PATH = ROOT / "scenarios" / "park.yaml"
PARK = PARK_PATH.read_text(encoding="utf-8")
HIL = (ROOT / "scenarios" / "hil-battery.yaml").read_text(encoding="utf-8")
GREENSBORO = Path(pvlib.__file__).parent / "data" / "723170TYA.CSV"  # a real TMY3 file
EXAMPLE_CSV = ROOT / "scenarios" / "weather-example.csv"
WEATHER_BLOCK = ("  source: synthetic         # a typical Shenyang year calibrated to "
                 "twin/data/site_shenyang.yaml\n  site: shenyang")


def _error(text: str, path: Path | str = PARK_PATH) -> str:
    with pytest.raises(ScenarioError) as info:
        loads(text, path)
    return str(info.value)


def _one_line(message: str, *fragments: str) -> None:
    assert "\n" not in message, message
    assert "Traceback" not in message
    for fragment in fragments:
        assert fragment in message, message


# ---------------------------------------------------------------------------- text and YAML

@pytest.mark.parametrize("encode", [
    lambda t: t.encode("utf-16"),            # with a byte order mark
    lambda t: t.encode("utf-16-le"),         # without
    lambda t: t.encode("utf-32"),
    lambda t: codecs.BOM_UTF32_BE + t.encode("utf-32-be"),
    lambda t: t.encode("utf-8")[:200] + b"\xff\xfe\x00\x01" + t.encode("utf-8")[200:],
    lambda t: t.encode("latin-1", errors="replace").replace(b"name", b"n\xe4me", 1),
], ids=["utf16-bom", "utf16-le", "utf32", "utf32-be", "binary", "latin1"])
def test_text_that_is_not_utf8_is_refused_in_one_line(tmp_path, encode):
    path = tmp_path / "park.yaml"
    path.write_bytes(encode(PARK))
    with pytest.raises(ScenarioError) as info:
        load(path)
    _one_line(str(info.value), str(path), "UTF-8")
    assert f"{path}:" in str(info.value)  # the file and a line


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "park.yaml"
    path.write_bytes(codecs.BOM_UTF8 + PARK.encode("utf-8"))
    assert load(path).park.latitude == 41.8


BOMB = "\n".join(["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"] + [
    f"{b}: &{b} [" + ", ".join([f"*{a}"] * 9) + "]" for a, b in zip("abcdefgh", "bcdefghi", strict=True)])


def test_an_alias_bomb_is_refused_at_once():
    t0 = time.perf_counter()
    message = _error(BOMB)
    assert time.perf_counter() - t0 < 0.5
    _one_line(message, "park.yaml:", "alias bomb")


def test_many_aliases_and_recursive_anchors_are_refused():
    many = "x: &x 1\n" + "".join(f"k{i}: *x\n" for i in range(textload.MAX_ALIASES + 1))
    _one_line(_error(many), "aliases")
    _one_line(_error("a: &a [*a]\n"), "recursive")
    _one_line(_error("a: " + "[" * 200 + "]" * 200 + "\n"), "nested")


@pytest.mark.parametrize("start", ["2027-13-01", "2026-02-29", "!!timestamp 2027-02-30",
                                   "2027-01-01 25:00", "0001-01-01", "9999-12-01"])
def test_impossible_dates_and_periods_out_of_range_are_refused(start):
    message = _error(PARK.replace("start: 2027-01-01 00:00", f"start: {start}"))
    if start == "9999-12-01":  # a real date, but the period ends after 9999
        _one_line(message, "park.yaml:24: period.duration", "after the year 9999")
    else:
        _one_line(message, "park.yaml:23: period.start")


def test_duplicate_keys_are_refused():
    _one_line(_error(PARK.replace("  seed: 2027\n", "  seed: 2027\n  seed: 2028\n")),
              "park.yaml:20", "duplicate key 'seed'")


# ------------------------------------------------------------------------- types and values

def test_a_mapping_where_a_name_was_expected_is_refused():
    _one_line(_error(PARK.replace("aoi-smt-1: pcb-electronics", "aoi-smt-1: {a: 1}")),
              "grid.hosts.aoi-smt-1", "text value")


@pytest.mark.parametrize(("old", "new", "field"), [
    ("p_dc_mwp: 60", "p_dc_mwp: .inf", "pv_plants[0].p_dc_mwp"),
    ("hub_height_m: 129", "hub_height_m: .inf", "wind_farms[0].hub_height_m"),
    ("hp_q_max_mw: 45", "hp_q_max_mw: .inf", "heat_supply[0].hp_q_max_mw"),
    ("direct_line_km: 40", "direct_line_km: .inf", "grid.layout.direct_line_km"),
    ("green_certificates_mwh: 0", "green_certificates_mwh: .inf",
     "carbon.green_certificates_mwh"),
    ("p_max_mw: 100", "p_max_mw: .nan", "batteries[0].p_max_mw"),
    ("water_reuse: 0.86", "water_reuse: .nan", "carbon.inputs.water_reuse"),
])
def test_non_finite_numbers_are_refused(old, new, field):
    _one_line(_error(PARK.replace(old, new, 1)), field, "finite")


def test_hil_safety_limits_of_nan_or_negative_are_refused():
    path = ROOT / "scenarios" / "hil-battery.yaml"
    for bad in (".nan", "-1"):
        message = _error(HIL.replace("p_max_mw: 0.8", f"p_max_mw: {bad}"), path)
        _one_line(message, "hil.bindings[0].safety.p_max_mw")


@pytest.mark.parametrize(("old", "new", "fragments"), [
    ("name: steel-parts", "name: bmw-vehicle",
     ["products[1].name", "already used by products[0]"]),
    ("name: bess-bmw", 'name: "bess\\n"', ["batteries[1].name", "control"]),
    ("name: tight-supply-price", 'name: "tight\\u200b"', ["events[2].name", "control"]),
    ("enterprise: bmw-tiexi", "enterprise: nobody", ["products[0].enterprise", "nobody"]),
])
def test_duplicate_names_control_characters_and_dangling_references(old, new, fragments):
    _one_line(_error(PARK.replace(old, new, 1)), *fragments)


@pytest.mark.parametrize(("line", "ok"), [("nowhere/f1s1", False), ("bmw-tiexi/f1s9", False),
                                      ("pv-roof-bmw-tiexi/66kv-cable", False),  # it is hosted
                                      ("wind-direct-1/f1s1", False),
                                      ("bmw-tiexi/f1s2", True), ("public-grid-line", True),
                                      ("wind-direct-2/direct-line", True),
                                      ("wind-direct-1/st3s1", True), ("datacentre/66kv-cable",
                                                                      True)])
def test_a_line_trip_must_name_a_line_of_the_network(line, ok):
    text = PARK.replace("events:", "events:\n  - {kind: line_trip, dates: [2027-03-10], "
                        f"start: '08:00', end: '09:00', line: {line}}}", 1)
    if ok:
        assert loads(text, PARK_PATH).events[0].line == line
    else:
        _one_line(_error(text), "events[0].line", repr(line))


def test_the_named_lines_exist_in_the_built_network():
    """The lines accepted above are those the network builder makes."""
    from twin.cosim import network

    net = network.build_grid(load(PARK_PATH)).net
    names = set(net.line["name"])
    assert {"bmw-tiexi/f1s2", "public-grid-line", "wind-direct-2/direct-line",
            "wind-direct-1/st3s1", "datacentre/66kv-cable"} <= names
    assert not {"bmw-tiexi/f1s9", "pv-roof-bmw-tiexi/66kv-cable"} & names


# --------------------------------------------------------------------- all errors at once

def test_all_errors_of_a_file_at_once_each_on_its_line():
    text = (PARK.replace("p_peak_mw: 90", "p_peak_mw: -1").replace("n_chargers: 400", "n_chargers: x")
            .replace("soc_max: 0.95", "soc_max: 2").replace("  colour", "  colour"))
    lines = _error(text).splitlines()
    assert len(lines) == 3, lines
    assert [ln.split(": ")[1] for ln in lines] == [
        "batteries[0].soc_max", "factory_loads[0].p_peak_mw", "ev_hubs[0].n_chargers"]
    assert all(ln.startswith(f"{PARK_PATH}:") for ln in lines)


def test_errors_are_capped():
    text = PARK.replace("    tilt_deg:", "    tilt_deg: -5\n    x_tilt:")  # 5 x 2 errors
    text += "".join(f"unknown_{k}: 1\n" for k in range(20))
    lines = _error(text).splitlines()
    assert len(lines) == 21
    assert lines[-1] == "... and 10 more errors"


def test_twin_check_says_every_error_and_exits_2(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(PARK.replace("p_peak_mw: 90", "p_peak_mw: -1").replace("soc_max: 0.95",
                                                                           "soc_max: 2"))
    out = subprocess.run([sys.executable, "-m", "twin", "check", str(path)],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "batteries[0].soc_max" in out.stderr
    assert "factory_loads[0].p_peak_mw" in out.stderr


# ------------------------------------------------------------------- implausible values

def test_beyond_any_real_asset_is_refused_before_anything_is_built():
    for big in ("1.0e+12", "1e12"):  # YAML 1.1 reads 1e12 as text; the twin, as 1.2, a number
        _one_line(_error(PARK.replace("p_peak_mw: 90", f"p_peak_mw: {big}")),
                  "factory_loads[0].p_peak_mw", "1e+12 MW is beyond any real asset",
                  "plausible")
    _one_line(_error(PARK.replace("n_turbines: 60", "n_turbines: 10000000000000000000000")),
              "wind_farms[0].n_turbines")


def test_implausible_values_are_warned_with_their_range_and_source():
    s = loads(PARK.replace("p_peak_mw: 90", "p_peak_mw: 5000"), PARK_PATH)
    assert len(s.warnings) == 1
    _one_line(s.warnings[0], "park.yaml:85", "factory_loads[0].p_peak_mw",
              "0.01..1000 MW", "aluminium smelter")
    assert loads(PARK, PARK_PATH).warnings == ()  # the reference park is plausible


# ----------------------------------------------------------------------------- weather

def _with_weather(path: Path | str, extra: str = "", days: int = 2) -> str:
    return PARK.replace(WEATHER_BLOCK, f"  source: csv\n  path: {path}{extra}").replace(
        "duration: 365d", f"duration: {days}d")


def test_the_example_weather_csv_passes():
    s = loads(_with_weather("weather-example.csv"), PARK_PATH)
    assert s.weather.path == EXAMPLE_CSV.resolve()
    assert [w for w in s.warnings if "weather" in w] == []  # (the year's events are said)


def test_a_real_tmy3_file_of_another_site_is_refused():
    message = _error(_with_weather(GREENSBORO, days=365))
    assert "11,033 km from the park" in message
    assert "time zone UTC-5 is not the park's UTC+8" in message
    assert "irradiance while the sun is down at the park" in message
    # told to use it anyway, its irradiance still comes at the park's night
    message = _error(_with_weather(GREENSBORO, "\n  allow_other_site: true", days=365))
    _one_line(message, "weather.path", "sun is down", "3196 of 3914")


def test_the_real_tmy3_file_passes_at_its_own_site():
    series, meta = weather_io.read_csv(GREENSBORO)
    errors, notes = weather_io.check_weather(
        series, meta, latitude=meta["latitude"], longitude=meta["longitude"], utc_offset_h=-5,
        start_epoch_s=1798761600, duration_s=365 * 86400)
    assert errors == []
    assert notes == []


def _edited_csv(tmp_path: Path, edit) -> Path:
    lines = EXAMPLE_CSV.read_text().splitlines()
    head = [ln for ln in lines if ln.startswith("#")]
    columns = lines[len(head)]
    rows = [ln.split(",") for ln in lines[len(head) + 1:]]
    rows = edit(columns.split(","), rows)
    path = tmp_path / "w.csv"
    path.write_text("\n".join([*head, columns, *(",".join(r) for r in rows)]) + "\n")
    return path


def test_a_shifted_clock_is_refused_with_the_shift(tmp_path):
    def shift(cols, rows):  # the values of 6 hours later on each stamp: the clock is 6 h off
        values = [r[1:] for r in rows]
        return [[r[0], *values[(i + 6) % len(rows)]] for i, r in enumerate(rows)]

    message = _error(_with_weather(_edited_csv(tmp_path, shift)))
    _one_line(message, "sun is down", "shifted by")


def test_temperature_in_kelvin_is_refused(tmp_path):
    def kelvin(cols, rows):
        k = cols.index("temp_air_c")
        return [[f"{float(v) + 273.15:.2f}" if i == k else v for i, v in enumerate(r)]
                for r in rows]

    _one_line(_error(_with_weather(_edited_csv(tmp_path, kelvin))), "temp_air_c", "kelvin")


def test_a_weather_file_that_does_not_cover_the_period_is_refused():
    _one_line(_error(_with_weather("weather-example.csv", days=5)),
              "weather.path", "not the period")


def test_filled_gaps_are_counted():
    series, meta = weather_io.read_csv(GREENSBORO)
    meta = {**meta, "filled": {"ghi_w_m2": 3}}
    _, notes = weather_io.check_weather(
        series, meta, latitude=meta["latitude"], longitude=meta["longitude"], utc_offset_h=-5,
        start_epoch_s=1798761600, duration_s=86400)
    assert notes == ["missing values filled by interpolation: 3 in ghi_w_m2"]


def test_sun_elevation_agrees_with_pvlib():
    t = np.arange(0, 365 * 86400, 3 * 3600 + 17) + 1798761600
    ours = weather_io.sun_elevation_deg(t, 41.8, 123.4)
    import pandas as pd

    ref = pvlib.solarposition.get_solarposition(pd.to_datetime(t, unit="s", utc=True), 41.8,
                                                123.4)["apparent_elevation"].to_numpy()
    assert np.abs(ours - ref)[ref > 5].max() < 0.5  # refraction aside, well within a degree


# ----------------------------------------------------------------------------- profiles

SMALL = (ROOT / "tests" / "scenarios" / "small.yaml").read_text()


def test_a_profile_shorter_than_the_run_is_refused_or_held_as_stated(tmp_path):
    write_profile(tmp_path, [12.5] * 96)
    text = SMALL.replace("duration: 365d", "duration: 2d") + CSV_PROFILE
    message = _error(text, tmp_path / "s.yaml")
    _one_line(message, "external[0].params.datafile", "ends at 2027-01-01 23:45",
              "on_end: hold")
    held = loads(text + "    on_end: hold\n", tmp_path / "s.yaml")
    assert "its last value is held" in held.warnings[0]
    one_day = loads(SMALL.replace("duration: 365d", "duration: 1d") + CSV_PROFILE,
                    tmp_path / "s.yaml")
    assert one_day.warnings == ()


# --------------------------------------------------------------------- other files

def test_hil_point_lists_and_studies_pass_the_same_gate(tmp_path):
    from hil.points import PointListError
    from hil.points import load as load_points
    from twin.studies.spec import StudyError
    from twin.studies.spec import loads as load_study

    path = tmp_path / "points.yaml"
    path.write_bytes("protocol: modbus\npoints: []\n".encode("utf-16"))
    with pytest.raises(PointListError, match="UTF-16"):
        load_points(path)
    path.write_text(BOMB)
    with pytest.raises(PointListError, match="alias bomb"):
        load_points(path)
    with pytest.raises(StudyError, match="duplicate key 'base'"):
        load_study("base: ../scenarios/park.yaml\nbase: x.yaml\n", ROOT / "studies" / "s.yaml")


# ---------------------------------------------------------------------------------- fuzz

NASTY = ["", "~", "[]", "{}", "{a: 1}", "[1, [2]]", ".inf", "-.inf", ".nan", "-1", "0", "1e400",
         "1.0e+12", "10000000000000000000000", "'x\\n'", '"\\x00"', "2027-02-30", "!!int x",
         "!!timestamp 2027-13-01", "*nowhere", "&a [*a]", "yes", "'💥'", "9999-12-31",
         "'bmw-vehicle'", "'bmw-tiexi'", "!!binary AAAA", "'\\t'"]
LINES = PARK.splitlines()
VALUE_LINES = [i for i, ln in enumerate(LINES) if ":" in ln and not ln.lstrip().startswith("#")]


def mutate(lines: list[str], mutations) -> str:
    """``lines`` with each of ``mutations`` (index, how, value) applied: a value replaced, a
    line deleted, duplicated or cut (and what follows it dropped); the text."""
    lines = list(lines)
    for index, how, value in mutations:
        index %= len(lines)
        line = lines[index]
        if how == "value" and ":" in line:
            lines[index] = f"{line.split(':', 1)[0]}: {value}"
        elif how == "delete":
            del lines[index]
        elif how == "duplicate":
            lines.insert(index, line)
        else:
            lines = [*lines[:index], line[: len(line) // 2]]
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=3000, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(VALUE_LINES),
                          st.sampled_from(["value", "delete", "duplicate", "truncate"]),
                          st.sampled_from(NASTY)), min_size=1, max_size=3))
def test_fuzz_every_mutant_loads_or_gives_one_line_per_error(mutations):
    text = mutate(LINES, mutations)
    t0 = time.perf_counter()
    try:
        loads(text, PARK_PATH)
    except ScenarioError as exc:
        for message in str(exc).splitlines():
            assert message.startswith(f"{PARK_PATH}") or message.startswith("... and ")
    assert time.perf_counter() - t0 < 3.0


def test_hil_traces_that_are_not_utf8_or_not_records_are_one_line(tmp_path):
    from hil.trace import TraceError, read

    path = tmp_path / "t.jsonl"
    path.write_bytes('{"type": "header"}\n'.encode("utf-16"))
    with pytest.raises(TraceError, match="UTF-16"):
        read(path)
    path.write_text('[1, 2]\n{"type": "header"}\n')
    with pytest.raises(TraceError, match=r"t.jsonl:1: expected a JSON object"):
        read(path)


STUDY_PATH = ROOT / "studies" / "sizing-2027.yaml"
HIL_PATH = ROOT / "scenarios" / "hil-battery.yaml"


MUTATIONS = st.lists(st.tuples(st.integers(0, 400),
                               st.sampled_from(["value", "delete", "duplicate", "truncate"]),
                               st.sampled_from(NASTY)), min_size=1, max_size=3)


@settings(max_examples=25, deadline=5000, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(MUTATIONS)
def test_fuzz_the_sizing_study_and_the_hil_example(mutations):
    from twin.studies.spec import StudyError
    from twin.studies.spec import loads as load_study

    for path, parse, error in ((STUDY_PATH, load_study, StudyError),
                               (HIL_PATH, loads, ScenarioError)):
        text = mutate(path.read_text(encoding="utf-8").splitlines(), mutations)
        t0 = time.perf_counter()
        message = ""
        try:
            parse(text, path)
        except error as exc:
            message = str(exc)
        assert all(m.startswith((str(path), "... and ")) for m in message.splitlines())
        assert time.perf_counter() - t0 < 5.0
