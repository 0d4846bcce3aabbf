"""The trainers' page (twin demo, twin replay) in a real browser: headless Chromium.

One live twin of tests/scenarios/dashboard.yaml runs at x600 (a 15-minute step every 1.5 s)
behind the page for the live tests, in file order: the page loads without console errors,
its values change, it hears from the twin at least every second, "wind lull" lowers the wind
on the page within 5 s, the controls work. Then a recorded run moves with its slider, the
server refuses what it should, and the reference park's page is screenshot (into the test's
temporary folder; ``TWIN_DEMO_PNG=docs/demo.png`` saves it there too, for the README).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.browser import page
from tests.conftest import ROOT
from twin import runner, scenario
from twin.apps.dashboard.camera import AOICamera
from twin.apps.dashboard.history import events_file, save_events
from twin.apps.dashboard.live import LiveTwin
from twin.apps.dashboard.replay import Replay
from twin.apps.dashboard.server import Dashboard, ServerThread
from twin.core.results import open_run, partial_path
from twin.models import weather
from twin.models.events import live_events

DASHBOARD = ROOT / "tests" / "scenarios" / "dashboard.yaml"
SPEED = 600.0
MAX_UPDATE_GAP_MS = 1000.0  # the page hears from the twin at least every second
EVENT_EFFECT_S = 5.0  # an event shows on the page within this
SAVE_AS = "TWIN_DEMO_PNG"  # where to save the reference page for the README, if set


def wait_for(pg: Any, expression: str, timeout_s: float = 20.0) -> Any:
    """Poll a page expression until it is truthy (the page's CSP forbids Playwright's own
    in-page polling, which evaluates strings)."""
    end = time.monotonic() + timeout_s
    while True:
        value = pg.evaluate(expression)
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"not true within {timeout_s} s: {expression}")
        time.sleep(0.1)


def number(pg: Any, selector: str) -> float:
    """The number shown in an element (— reads as NaN)."""
    text = pg.inner_text(selector).replace(",", "").strip()
    return float(text) if text not in ("", "—") else float("nan")


def record(s: scenario.Scenario, out: Path) -> Path:
    """Run ``s`` to a file, in a thread: Playwright's own event loop holds this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(runner.run, s, out).result().path


def camera_for(twin: LiveTwin, s: scenario.Scenario, interval_s: float = 1.0) -> AOICamera:
    """The AOI camera of the twin's first line, as twin demo makes it."""
    def state() -> tuple[bool, str, list[Any]]:
        f = twin.latest()
        return twin.running and bool(f and (f["aoi"].get("boards_out") or 0) > 0), \
            f["time"] if f else "", twin.active("defect_burst")

    return AOICamera(s.aoi_lines[0], s.park.seed, state, interval_s=interval_s)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveTwin, ServerThread]]:
    s = scenario.load(DASHBOARD)
    twin = LiveTwin(s, speed=SPEED, out_dir=tmp_path_factory.mktemp("demo"))
    camera = camera_for(twin, s)
    twin.start()
    camera.start()
    server = ServerThread(Dashboard(twin, camera))
    yield twin, server
    server.stop()


@pytest.fixture(scope="module")
def three_days(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of tests/scenarios/dashboard.yaml over its first three days."""
    return record(scenario.load(DASHBOARD).with_days(3), tmp_path_factory.mktemp("days"))


@pytest.fixture(scope="module")
def browser() -> Iterator[tuple[Any, list[str]]]:
    """One headless Chromium page for the module (Playwright's sync API takes one at a time)."""
    with page() as (pg, errors):
        yield pg, errors


@pytest.fixture(scope="module")
def live_page(live: tuple[LiveTwin, ServerThread], browser: tuple[Any, list[str]]
              ) -> tuple[Any, list[str]]:
    browser[0].goto(live[1].url)
    return browser


def goto(browser: tuple[Any, list[str]], url: str, live: tuple[LiveTwin, ServerThread]) -> Any:
    """Leave the live page (its twin paused) for another server's."""
    live[0].pause()
    pg, errors = browser
    pg.goto("about:blank")
    errors.clear()
    pg.goto(url)
    return pg


def test_the_page_loads_without_console_errors(live_page: tuple[Any, list[str]]) -> None:
    pg, errors = live_page
    wait_for(pg, "window.twin && window.twin.frames.length >= 2")
    wait_for(pg, "document.querySelector('#chart-power canvas') !== null")
    wait_for(pg, "document.querySelectorAll('#diagram path.edge').length > 3")
    wait_for(pg, "document.getElementById('aoi-board').naturalWidth > 0", 30)
    assert pg.inner_text("#park") == "dashboard test park"
    assert errors == []


def test_values_change_as_the_twin_runs(live_page: tuple[Any, list[str]]) -> None:
    pg, errors = live_page
    clock = pg.inner_text("#clock")
    before = [pg.inner_text(s) for s in ("#v-load", "#v-pv", "#v-pcc", "#v-co2")]
    wait_for(pg, f"document.getElementById('clock').textContent !== '{clock}'", 5)
    time.sleep(1.6)
    after = [pg.inner_text(s) for s in ("#v-load", "#v-pv", "#v-pcc", "#v-co2")]
    assert after != before
    flows = pg.evaluate("window.twin.frames.at(-1).flows")
    assert any(abs(x or 0) > 0.1 for x in flows)  # power on the diagram's lines
    assert errors == []


def test_the_page_hears_from_the_twin_at_least_every_second(
        live_page: tuple[Any, list[str]], live: tuple[LiveTwin, ServerThread]) -> None:
    pg, _ = live_page
    start = pg.evaluate("performance.now()")
    time.sleep(6.0)
    stamps = pg.evaluate(f"window.twin.updates.filter((t) => t >= {start})")
    gaps = np.diff(stamps)
    frames = pg.evaluate("window.twin.frames.slice(-6).map((f) => f.t)")
    report = {"speed": SPEED, "updates": len(stamps), "gap_ms_median": float(np.median(gaps)),
              "gap_ms_max": float(gaps.max()), "step_s_sim": int(np.diff(frames).min()),
              "late_ms_p95": live[0].status()["late_ms_p95"]}
    print(f"\nupdate intervals at x{SPEED:g}: {json.dumps(report)}")
    assert gaps.max() < MAX_UPDATE_GAP_MS
    assert report["late_ms_p95"] < 1000.0  # the twin keeps its pace


def test_wind_lull_lowers_the_wind_on_the_page_within_5_s(
        live_page: tuple[Any, list[str]]) -> None:
    pg, errors = live_page
    before = number(pg, "#v-wind")
    assert before > 5.0, "the test scenario starts in a windy evening"
    t0 = time.monotonic()
    pg.click("#ev-wind_lull")
    wait_for(pg, f"parseFloat(document.getElementById('v-wind').textContent) < {0.5 * before}",
             EVENT_EFFECT_S)
    took = time.monotonic() - t0
    print(f"\nwind lull: {before} MW -> {number(pg, '#v-wind')} MW on the page in {took:.1f} s")
    wait_for(pg, "document.getElementById('event-list').textContent.includes('Wind lull')", 2)
    assert took < EVENT_EFFECT_S
    assert errors == []


def test_pause_resume_speed_and_jump(live_page: tuple[Any, list[str]],
                                     live: tuple[LiveTwin, ServerThread],
                                     three_days: Path) -> None:
    pg, errors = live_page
    live[0].use_year(three_days)  # storage and heat store at a jump as in a run from the start
    pg.click("#btn-pause")
    wait_for(pg, "document.getElementById('state').textContent === 'paused'", 3)
    held = pg.inner_text("#clock")
    time.sleep(2.0)
    assert pg.inner_text("#clock") == held
    pg.click("#btn-resume")
    wait_for(pg, f"document.getElementById('clock').textContent !== '{held}'", 4)
    pg.select_option("#speed", "1800")
    wait_for(pg, "document.getElementById('state').textContent === 'running ×1800'", 3)
    before = live[0].path
    pg.fill("#jump-date", "2027-03-12")
    pg.click("#btn-jump")
    wait_for(pg, "document.getElementById('jump-progress').hidden === false", 3)  # progress
    wait_for(pg, "document.getElementById('clock').textContent.startsWith('2027-03-12')", 10)
    wait_for(pg, "window.twin.frames.length >= 4", 10)
    # the day reached by jumping has the weather of the same day in a run from the start
    twin, s = live[0], live[0].scenario
    frames = pg.evaluate("window.twin.frames.slice(0, 4)")
    year = weather.synthetic_year(weather.site_climate(s.weather.site), s.park.latitude,
                                  s.park.longitude, s.start_epoch_s, s.n_steps, s.period.step_s,
                                  s.park.seed, name="weather")
    for f in frames:
        i = int((twin.start_utc.timestamp() + f["t"] - s.start_epoch_s) // s.period.step_s)
        assert f["weather"]["wind"] == pytest.approx(year.wind_ms[i], abs=0.051)
        assert f["weather"]["temp"] == pytest.approx(year.temp_air_c[i], abs=0.051)
        assert f["weather"]["ghi"] == pytest.approx(year.ghi_w_m2[i], abs=0.51)
    with open_run(three_days) as run:  # and the storage of that run (not its initial 50 %)
        soc = run.series("bess", "soc")
        plant = run.series("plant", "p_mw")
        ev = {k: run.series("ev", k) for k in ("p_mw", "n_connected")}
        store = run.series("heat", "e_store_mwh")
        aoi = {k: run.series("aoi", k) for k in ("boards_out", "boards_rejected", "wip")}
    for f in frames:  # the factory's noise, the EV hub's vehicles, the AOI line as in that run
        i = int((twin.start_utc.timestamp() + f["t"] - s.start_epoch_s) // s.period.step_s)
        assert f["p"]["plant"] == pytest.approx(plant[i], abs=0.0006)
        assert f["ev"]["connected"] == ev["n_connected"][i]
        assert f["ev"]["p"] == pytest.approx(ev["p_mw"][i], abs=0.006)
        assert [f["aoi"]["boards_out"], f["aoi"]["boards_rejected"]] == [
            aoi["boards_out"][i], aoi["boards_rejected"][i]]  # its breakdowns and draws
    assert frames[0]["ev"]["connected"] > 5  # vehicles plugged in before the jump
    i = int((twin.start_utc.timestamp() + frames[0]["t"] - s.start_epoch_s) // s.period.step_s)
    # the heat store goes on from that run's level (filled by the spare power before)
    assert store[i - 1] > 0.25 * s.heat_supply[0].store_mwh
    jumped = twin.columns.data
    assert jumped[("heat", "e_store_mwh")][:4] == pytest.approx(store[i:i + 4], abs=1e-6)
    assert list(jumped[("aoi", "wip")][:4]) == list(aoi["wip"][i:i + 4])  # boards on the way
    assert abs(soc[i - 1] - s.batteries[0].soc_init) > 0.2  # the test can tell them apart
    step = s.batteries[0].p_max_mw * s.period.step_s / 3600 / s.batteries[0].e_max_mwh
    assert frames[0]["soc"]["bess"] == pytest.approx(soc[i], abs=0.5 * step)
    assert "jumped to 2027-03-12" in pg.inner_text("#message")
    assert live[0].path != before  # each segment its own run file: the last one is kept
    lull = next(r for r in live[0].status()["events"] if r["kind"] == "wind_lull")
    assert lull["result"]["steps"] > 0  # what an event did before the jump is kept
    assert partial_path(before).exists() or before.exists()
    pg.select_option("#speed", "600")
    assert errors == []


def test_events_reach_the_twin_and_bad_requests_are_refused(
        live: tuple[LiveTwin, ServerThread]) -> None:
    twin, server = live
    ok = _post(server.url + "api/event", {"kind": "line_trip", "hours": 2, "line": "plant/f1s1"})
    assert ok["windows"][0]["start_s"] <= (twin.sim_t or 0) + twin.step_s  # the step in progress
    wait_for_twin(lambda: twin.active("line_trip"), 5)
    for body, status in (({"kind": "volcano"}, 400), ({"kind": "line_trip", "line": "x"}, 400),
                         ({"kind": "wind_lull", "wind_factor": 3}, 400),
                         # the bounds of a scenario's events (twin check), not looser
                         ({"kind": "heat_wave", "temp_delta_c": 1000}, 400),
                         ({"kind": "ev_surge", "arrival_factor": 1e12}, 400),
                         ({"kind": "price_signal", "price_adder_cny_per_mwh": "NaN"}, 400),
                         ({"kind": "heat_wave", "temp_delta_c": "5"}, 400)):
        with pytest.raises(urllib.error.HTTPError) as err:
            _post(server.url + "api/event", body)
        assert err.value.code == status
        text = err.value.read().decode()
        assert "\n" not in text.strip()
        assert "Traceback" not in text
    nan = urllib.request.Request(  # a bare NaN in the JSON, as Python's json writes it
        server.url + "api/event", data=b'{"kind": "price_signal", "price_adder_cny_per_mwh": NaN}',
        method="POST", headers={"Content-Type": "application/json", "X-Twin": "1"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(nan, timeout=10)
    assert err.value.code == 400
    assert "finite" in err.value.read().decode()
    with urllib.request.urlopen(server.url + "api/snapshot", timeout=10) as r:  # goes on
        assert r.status == 200
    with pytest.raises(urllib.error.HTTPError) as err:  # no X-Twin header: not from the page
        _post(server.url + "api/control", {"action": "pause"}, headers={})
    assert err.value.code == 403
    with pytest.raises(urllib.error.HTTPError) as err:  # another host name: DNS rebinding
        urllib.request.urlopen(urllib.request.Request(server.url + "api/info",
                                                      headers={"Host": "evil.example"}))
    assert err.value.code == 403


def wait_for_twin(ok: Any, timeout_s: float) -> None:
    end = time.monotonic() + timeout_s
    while not ok():
        assert time.monotonic() < end, "not within {timeout_s} s"
        time.sleep(0.05)


def test_an_event_acts_from_the_step_it_is_clicked_in(
        live_page: tuple[Any, list[str]], live: tuple[LiveTwin, ServerThread]) -> None:
    """The smallest event the form allows (one 15-minute step), clicked while the twin holds
    a step, changes exactly the next step shown, and is listed with that step's time."""
    pg, errors = live_page
    twin = live[0]
    wait_for(pg, "window.twin.frames.length > 0 && window.twin.frames.at(-1).weather.wind > 3")
    pg.click("#btn-pause")
    wait_for(pg, "document.getElementById('state').textContent === 'paused'", 3)
    time.sleep(0.3)
    held = twin.sim_t
    shown = pg.evaluate("window.twin.frames.at(-1).t")
    assert shown == held
    pg.fill("#ev-hours", "0.25")
    pg.click("#ev-wind_lull")
    wait_for(pg, "document.getElementById('event-list').textContent.includes('Wind lull')", 3)
    pg.click("#btn-resume")
    wait_for(pg, f"window.twin.frames.some((f) => f.t >= {held + 2 * twin.step_s})", 8)
    after = pg.evaluate(f"window.twin.frames.filter((f) => f.t > {held}).slice(0, 2)"
                        ".map((f) => f.weather.wind)")
    before = pg.evaluate(f"window.twin.frames.find((f) => f.t === {held}).weather.wind")
    assert after[0] < 0.3 * before  # the next step: the lull (wind speed x0.2)
    assert after[1] > 0.5 * before  # one step only
    listed = pg.evaluate("[...document.querySelectorAll('#event-list li')].find((li) => "
                         "li.dataset.kind === 'wind_lull').textContent")
    start = twin.view.local(twin.start_utc, held + twin.step_s)
    assert start in listed
    pg.fill("#ev-hours", "6")
    pg.fill("#ev-cut", "-5")  # what twin check refuses: refused on the page, in one line
    n = len(twin.book)
    pg.click("#ev-demand_response")
    wait_for(pg, "document.getElementById('message').textContent.includes('cut_import_mw')", 3)
    assert len(twin.book) == n
    pg.fill("#ev-cut", "30")
    errors[:] = [e for e in errors if "400" not in e]  # the refused request's console line
    assert errors == []


def _post(url: str, body: dict, headers: dict | None = None) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              **({"X-Twin": "1"} if headers is None else headers)})
    with urllib.request.urlopen(request, timeout=10) as r:
        return json.loads(r.read())


def test_the_page_speaks_chinese_and_english(live_page: tuple[Any, list[str]],
                                             live: tuple[LiveTwin, ServerThread]) -> None:
    pg, errors = live_page
    for button in ("#btn-pause", "#btn-resume", "#btn-jump", "#btn-tour"):  # hover: readable
        pg.hover(button)
        fg, bg = pg.evaluate(f"(() => {{ const s = getComputedStyle(document.querySelector("
                             f"'{button}')); return [s.color, s.backgroundColor]; }})()")
        rgb = [[int(v) for v in c[c.index("(") + 1:c.index(")")].split(",")[:3]]
               for c in (fg, bg)]
        assert abs(sum(rgb[0]) - sum(rgb[1])) > 300, (button, fg, bg)  # light on dark
    wait_for(pg, "document.querySelectorAll('#criteria li').length > 0", 20)
    pg.click("#btn-lang")
    wait_for(pg, "document.getElementById('btn-pause').textContent === '暂停'", 3)
    assert pg.evaluate("document.documentElement.lang") == "zh-CN"
    criteria = live[0].totals()["carbon"]["criteria"]
    shown = pg.evaluate("[...document.querySelectorAll('#criteria li')].map((li) => "
                        "li.firstChild.textContent)")
    assert shown == [c["zh"] for c in criteria]  # the official Chinese names
    assert "单位能耗碳排放" in shown
    assert pg.inner_text("#ev-grid_outage") == "电网停电"
    assert "风电发电量" in pg.inner_text("#kpis")
    pg.click("#btn-lang")
    wait_for(pg, "document.getElementById('btn-pause').textContent === 'Pause'", 3)
    assert pg.evaluate("[...document.querySelectorAll('#criteria li')].map((li) => "
                       "li.firstChild.textContent)") == [c["en"] for c in criteria]
    assert errors == []


def small_gray(png: bytes) -> np.ndarray:
    """A screenshot as a 64 x 36 grey image (layout, not pixels)."""
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("L").resize((64, 36)), dtype=float)


def fits(pg: Any) -> dict[str, Any]:
    """Whether the page fits its window: no scrolling, every card shown whole."""
    return pg.evaluate("""(() => {
      const d = document.documentElement, vw = innerWidth, vh = innerHeight;
      const cards = [...document.querySelectorAll('main .card')].filter((c) => c.offsetParent);
      const out = cards.filter((c) => { const r = c.getBoundingClientRect();
        return r.left < -1 || r.top < -1 || r.right > vw + 1 || r.bottom > vh + 1
               || c.scrollHeight > c.clientHeight + 2 || c.scrollWidth > c.clientWidth + 2
               || [...c.querySelectorAll('.tile, .tile span, .criteria li')].some((x) =>
                    x.scrollWidth > x.clientWidth + 1); }).map((c) => c.className);
      return {scroll: d.scrollHeight > vh + 1 || d.scrollWidth > vw + 1, cards: cards.length,
              outside: out, font: parseFloat(getComputedStyle(
                document.getElementById('v-wind')).fontSize)};
    })()""")


def test_presenter_mode_fits_1280x720_and_1920x1080(
        live_page: tuple[Any, list[str]], live: tuple[LiveTwin, ServerThread],
        tmp_path: Path) -> None:
    pg, errors = live_page
    live[0].pause()
    wait_for(pg, "document.getElementById('state').textContent === 'paused'", 3)
    shots, fonts = {}, {}
    for w, h in ((1280, 720), (1920, 1080)):
        pg.set_viewport_size({"width": w, "height": h})
        if not pg.evaluate("document.body.classList.contains('presenter')"):
            pg.click("#btn-presenter")
        time.sleep(0.8)  # the charts redraw for the size
        got = fits(pg)
        assert got["cards"] == 4
        assert not got["scroll"], (w, h)
        assert got["outside"] == [], (w, h)
        fonts[w] = got["font"]
        shots[w] = pg.screenshot(path=str(tmp_path / f"presenter-{w}.png"), animations="disabled")
    assert fonts[1280] >= 22  # large type (the tiles' numbers are 22 px on the plain page)
    assert fonts[1920] > fonts[1280]  # larger on a larger screen
    # the same screen at both sizes: compared scaled down, they match
    assert np.abs(small_gray(shots[1280]) - small_gray(shots[1920])).mean() < 12
    pg.click("#btn-presenter")
    pg.set_viewport_size({"width": 1280, "height": 720})
    time.sleep(0.5)
    normal = pg.screenshot(path=str(tmp_path / "plain-1280.png"), animations="disabled")
    got = fits(pg)  # the plain page fits the window too: what does not fit a card scrolls in it
    assert not got["scroll"]
    assert got["cards"] == 9
    assert pg.evaluate("[...document.querySelectorAll('main .card')].every((c) => { const r = "
                       "c.getBoundingClientRect(); return r.top >= 0 && r.left >= 0 && "
                       "r.bottom <= innerHeight + 1 && r.right <= innerWidth + 1 && "
                       "r.height > 100; })")
    assert np.abs(small_gray(normal) - small_gray(shots[1280])).mean() > 12
    pg.set_viewport_size({"width": 390, "height": 844})  # a phone: the diagram scrolls, its
    time.sleep(0.5)  # labels keep their size and do not overlap
    phone = pg.evaluate("""(() => {
      const boxes = [...document.querySelectorAll('#diagram .node-label')]
        .map((x) => x.getBoundingClientRect()).filter((r) => r.width > 0);
      let overlaps = 0;
      for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i], b = boxes[j];
        if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1
            && b.top < a.bottom - 1) overlaps++;
      }
      const sld = document.querySelector('.sld');
      return {overlaps, scrolls: sld.scrollWidth > sld.clientWidth,
              font: parseFloat(getComputedStyle(document.querySelector(
                '.node-label:not(.sub)')).fontSize)};
    })()""")
    assert phone == {"overlaps": 0, "scrolls": True, "font": 11}
    pg.set_viewport_size({"width": 1280, "height": 900})
    live[0].resume()
    assert errors == []


def test_the_guided_tour_tells_its_story(live_page: tuple[Any, list[str]],
                                          live: tuple[LiveTwin, ServerThread],
                                          tmp_path: Path) -> None:
    pg, errors = live_page
    twin = live[0]
    pg.click("#btn-tour")
    wait_for(pg, "!document.getElementById('tour').hidden", 3)
    assert pg.inner_text("#tour-title") == "A spring day"
    wait_for(pg, "document.getElementById('clock').textContent.endsWith('07:00') || "
             "document.getElementById('clock').textContent.endsWith('07:15')", 10)
    assert pg.evaluate("document.querySelector('.now').classList.contains('spot')")
    titles = []
    for _ in range(5):
        pg.click("#tour-next")
        time.sleep(0.3)
        titles.append(pg.inner_text("#tour-title"))
    assert titles == ["A cloud front", "The grid operator asks for less", "The evening peak",
                      "A line trip", "The carbon counter"]
    kinds = {w.event.kind for w in twin.book}
    assert {"cloud_front", "demand_response", "line_trip"} <= kinds  # the story acted
    assert pg.evaluate("document.querySelector('.carbon').classList.contains('spot')")
    shot = pg.screenshot(path=str(tmp_path / "tour.png"), animations="disabled")
    box = pg.evaluate("(() => { const r = document.getElementById('tour')"
                      ".getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })()")
    import io

    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB"), dtype=float)
    x0, y0, x1, y1 = (int(v) for v in box)
    caption = img[y0 + 4:y1 - 4, x0 + 4:x1 - 4]
    assert np.abs(caption.mean(axis=(0, 1)) - (0x16, 0x20, 0x2B)).max() < 40  # the caption box
    assert caption.std() > 10  # with its text on it
    pg.click("#tour-end")
    assert pg.evaluate("document.querySelectorAll('.spot').length") == 0
    pg.select_option("#speed", "600")
    assert errors == []


def test_the_park_map_and_the_ev_panel(live_page: tuple[Any, list[str]]) -> None:
    pg, errors = live_page
    pg.click("#view-map")
    assert pg.is_visible("#map .map-site")
    assert not pg.is_visible("#diagram")
    labels = pg.evaluate("[...document.querySelectorAll('#map .map-label')].map((x) => "
                         "x.textContent)")
    assert sorted(labels[2:]) == ["bess", "ev", "plant", "wind"]  # each site off the substation
    wait_for(pg, "window.twin.frames.length > 0")
    f = pg.evaluate("window.twin.frames.at(-1)")
    assert number(pg, "#v-ev-p") == pytest.approx(f["ev"]["p"], abs=0.06)
    assert number(pg, "#v-ev-n") == f["ev"]["connected"]
    pg.click("#view-sld")
    pg.click("#ev-ev_surge")
    wait_for(pg, "document.getElementById('ev-note').textContent.includes('×5')", 6)
    assert errors == []


def test_a_token_guards_a_server_beyond_loopback(tmp_path: Path) -> None:
    from twin.apps.cli import main

    assert main(["demo", str(DASHBOARD), "--host", "0.0.0.0"]) == 2  # no token: refused
    assert main(["demo", str(DASHBOARD), "--start", "2099-01-01"]) == 2  # outside the period
    path = record(scenario.load(DASHBOARD).with_days(0.25), tmp_path)
    server = ServerThread(Dashboard(Replay(path), token="s3cret-token"))
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(server.url + "api/info")
        assert err.value.code == 401
        with urllib.request.urlopen(server.url + "?token=s3cret-token") as r:
            assert "twin_token=s3cret-token" in r.headers["Set-Cookie"]
        request = urllib.request.Request(server.url + "api/info",
                                         headers={"X-Twin-Token": "s3cret-token"})
        with urllib.request.urlopen(request) as r:
            assert json.loads(r.read())["mode"] == "replay"
    finally:
        server.stop()


def test_replay_moves_with_its_slider(three_days: Path, browser: tuple[Any, list[str]],
                                     live: tuple[LiveTwin, ServerThread]) -> None:
    """Slider, date box and Play over a recorded run, with an event added live beside it."""
    path = three_days
    s = scenario.load(DASHBOARD)
    lull = live_events("wind_lull", 86400, 4 * 3600, s.start_utc, s.park.timezone,
                       wind_factor=0.2)  # as the live page keeps it beside its run file
    save_events(lull, events_file(path))
    replay = Replay(path)
    with open_run(replay.path) as run:  # the counters so far, at the end: the run's own KPIs
        kpis = run.kpis()
    carbon = replay.totals(replay.n - 1)["carbon"]
    for c in carbon["criteria"]:
        assert c["value"] == pytest.approx(kpis[f"criterion_{c['key']}"].value, rel=1e-3)
    assert carbon["scope1_t"] == pytest.approx(kpis["co2_scope1_t"].value, abs=0.1)
    server = ServerThread(Dashboard(replay))
    try:
        pg = goto(browser, server.url, live)
        wait_for(pg, "window.twin && window.twin.frames.length > 10")
        for i in (20, 150):
            expected = replay.frame(i)
            pg.evaluate(f"(() => {{ window.twin.chartMs = undefined; const s = document."
                        f"getElementById('slider'); s.value = '{i}'; "
                        f"s.dispatchEvent(new Event('input')); }})()")
            wait_for(pg, f"document.getElementById('clock').textContent === "
                     f"'{expected['time']}'", 5)
            assert number(pg, "#v-wind") == pytest.approx(expected["wind"], abs=0.06)
            assert number(pg, "#v-load") == pytest.approx(expected["load"], abs=0.06)
            wait_for(pg, "window.twin.chartMs !== undefined", 5)
            drawn = pg.evaluate("document.getElementById('chart-power').data"
                                ".find((d) => d.name === 'wind').y")
            assert drawn[-1] == pytest.approx(expected["wind"], abs=1e-6)  # up to the step
            assert len(drawn) == min(i + 1, 192)  # two days of steps
            print(f"\nslider to step {i}: numbers and diagram in "
                  f"{pg.evaluate('window.twin.stepMs'):.0f} ms, charts "
                  f"{pg.evaluate('window.twin.chartMs'):.0f} ms after")
        # the event added live is listed and shaded, with its result
        listed = pg.evaluate("[...document.querySelectorAll('#event-list li')].map((li) => "
                             "li.textContent).join('|')")
        assert "Wind lull 2027-03-10 17:00" in listed
        assert pg.evaluate("document.getElementById('chart-power').layout.shapes.length") == 1
        pg.fill("#replay-date", "2027-03-10")  # the date box
        pg.dispatch_event("#replay-date", "change")
        wait_for(pg, "document.getElementById('clock').textContent === '2027-03-10 00:00'", 5)
        pg.evaluate("window.twin.shown = []")
        pg.click("#btn-play")
        wait_for(pg, "window.twin.shown.length >= 5", 10)
        pg.click("#btn-play")
        shown = pg.evaluate("window.twin.shown")
        assert np.all(np.diff(shown) == 1)  # one step after another, never out of order
        assert browser[1] == []
    finally:
        server.stop()


def test_the_host_check_accepts_loopback_addresses_and_allowed_names_only() -> None:
    from twin.apps.dashboard.server import is_loopback

    assert [is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "[::1]", "localhost",
                                     "LOCALHOST.")] == [True] * 5
    assert [is_loopback(h) for h in ("127.evil.com", "localhost.evil.com", "127.0.0.1.nip.io",
                                     "10.0.0.1", "")] == [False] * 5


def test_a_viewer_link_watches_and_the_operator_link_controls(
        browser: tuple[Any, list[str]], live: tuple[LiveTwin, ServerThread]) -> None:
    twin = live[0]
    dash = Dashboard(twin, operator="op-secret-42", allow_hosts=("twin.lab",))
    dash.close = lambda: None  # type: ignore[method-assign]  # the module's twin goes on
    server = ServerThread(dash)
    try:
        for host, code in (("127.evil.com", 403), ("twin.lab", 200), ("evil.example", 403)):
            request = urllib.request.Request(server.url + "api/info", headers={"Host": host})
            try:
                with urllib.request.urlopen(request, timeout=10) as r:
                    got = r.status
            except urllib.error.HTTPError as err:
                got = err.code
            assert got == code, host
        with pytest.raises(urllib.error.HTTPError) as err:  # the plain link: watch only
            _post(server.url + "api/control", {"action": "pause"})
        assert err.value.code == 403
        assert "operator" in err.value.read().decode()
        with pytest.raises(urllib.error.HTTPError) as err:
            _post(server.url + "api/event", {"kind": "grid_outage", "hours": 1})
        assert err.value.code == 403
        assert not twin.book.active((twin.sim_t or 0) + twin.step_s, "grid_outage")
        pg = goto(browser, server.url, live)
        twin.resume()
        wait_for(pg, "window.twin && window.twin.frames.length > 0")
        assert pg.is_visible("#role")
        assert not pg.is_visible("#live-controls")
        assert not pg.is_visible("#event-buttons")
        pg.goto(server.url + "?op=op-secret-42")  # the operator's link: the cookie keeps it
        wait_for(pg, "window.twin && window.twin.info && window.twin.info.role === 'operator'")
        pg.goto(server.url)
        wait_for(pg, "window.twin && window.twin.frames.length > 0")
        pg.click("#btn-pause")
        wait_for(pg, "document.getElementById('state').textContent === 'paused'", 3)
        assert twin.status()["state"] == "paused"
        assert browser[1] == []
    finally:
        server.stop()


def test_the_reference_park_page_for_the_readme(tmp_path: Path, browser: tuple[Any, list[str]],
                                                live: tuple[LiveTwin, ServerThread]) -> None:
    s = scenario.load(ROOT / "scenarios" / "park.yaml")
    s = dataclasses.replace(s, period=dataclasses.replace(
        s.period, start=dt.datetime(2027, 6, 8, 6, 0), duration=3 * 86400))
    twin = LiveTwin(s, speed=3600.0, out_dir=tmp_path)
    camera = camera_for(twin, s, interval_s=0.5)
    twin.start()
    camera.start()
    server = ServerThread(Dashboard(twin, camera))
    try:
        pg = goto(browser, server.url, live)
        wait_for(pg, "window.twin && window.twin.frames.length >= 8", 30)
        twin.add_event("line_trip", 12, line="bmw-tiexi/f1s1")  # one of its eight feeders
        twin.add_event("defect_burst", 12)
        wait_for(pg, "window.twin.frames.length >= 20 && window.twin.totals !== null "
                 "&& document.getElementById('aoi-robot').naturalWidth > 0", 40)
        twin.pause()
        height = pg.evaluate("document.documentElement.scrollHeight")
        pg.set_viewport_size({"width": 1280, "height": height})  # the whole page, laid out
        time.sleep(1.5)  # the charts catch up
        shot = tmp_path / "demo.png"
        pg.screenshot(path=str(shot))
        assert browser[1] == []
    finally:
        server.stop()
    assert shot.stat().st_size > 50_000
    if os.environ.get(SAVE_AS):
        shutil.copyfile(shot, os.environ[SAVE_AS])
