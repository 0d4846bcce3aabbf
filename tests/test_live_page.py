"""The trainers' page in live mode (``twin live --serve``), in headless Chromium, beside the
stand-in plant over a real MQTT broker: what the page shows is what the history file records,
and an alarm appears while the plant still runs. The page's screenshot goes into the test's
temporary folder (``TWIN_LIVE_PNG=docs/live.png`` saves it there too, for the README), and
the page in Chinese beside it (``live-page-zh.png``): the same numbers, Chinese labels and alarm
names drawn with a font that has their glyphs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.browser import CHROMIUM, page
from tests.test_live_advise import EMS
from tests.test_live_mqtt import broker, mapping_file  # noqa: F401 (the broker fixture)
from twin.apps.cli import main
from twin.apps.dashboard.server import Dashboard, ServerThread
from twin.apps.dashboard.telemetry import TelemetryPage
from twin.core.results import open_run
from twin.live import faults, mapping
from twin.live.engine import LiveEngine
from twin.live.mqtt import MqttPublisher, MqttSubscriber
from twin.live.plant import StandInPlant
from twin.scenario import loads

SMALL = Path(__file__).parent / "scenarios" / "small.yaml"
HOURS = 3
STEP_WALL_S = 0.2  # the plant's pace: a 15-minute step every 0.2 s


def shown(pg, selector: str) -> str:
    return pg.locator(selector).inner_text().strip()


def as_page(x: float, digits: int) -> str:
    return f"{round(float(x), digits) + 0.0:.{digits}f}"  # toFixed, -0 as 0


def as_shown(x: float, attr: str, unit: str) -> str:
    """A point's value as the page shows it: a state of charge in %, MW to the kW, else one
    decimal."""
    return as_page(100 * x, 2) if attr == "soc" else as_page(x, 3 if unit == "MW" else 1)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium is missing (make test installs it)")
def test_the_page_shows_measured_twin_grid_alarms_and_the_recommendation(broker, tmp_path):  # noqa: F811
    s = loads(SMALL.read_text() + "grid:\n  source: build\n" + EMS,
              SMALL.with_name("grid.yaml")).with_days(HOURS / 24)
    tm = mapping.load(mapping_file(tmp_path, s, broker), s)
    (tmp_path / "faults.yaml").write_text(
        "faults:\n  - {kind: stuck, point: wind.p_mw, start: 1h}\n")
    engine = LiveEngine(s, tm, tmp_path / "live.h5", recommend=True)
    source = MqttSubscriber(tm)
    publisher = MqttPublisher(tm.source.host, tm.source.port)
    plant = StandInPlant(s, tm, publisher, faults.load(tmp_path / "faults.yaml", tm),
                         speed=s.period.step_s / STEP_WALL_S, out_dir=tmp_path / "plant")
    thread = threading.Thread(target=plant.run)
    live = TelemetryPage(engine, source, {"idle_s": 0.5, "running": thread.is_alive}).start()
    server = ServerThread(Dashboard(live))
    try:
        with page() as (pg, errors):
            pg.goto(server.url)
            pg.wait_for_selector("#tm-points tr[data-point='pv.p_mw']")
            thread.start()
            # the alarm shows while the plant runs: raised at the third equal reading
            pg.wait_for_selector("li.tm-alarm[data-kind='stuck_meter']", timeout=30_000)
            # ... while the twin still follows: not a list filled in at the end
            state, shown_steps = pg.evaluate("[window.twin.telemetry.status.state, "
                                             "window.twin.telemetry.frames.length]")
            assert state == "following"
            assert shown_steps < HOURS * 4
            thread.join()
            live.join(60)
            pg.locator("#state").filter(has_text=re.compile("^ended$")).wait_for(timeout=10_000)
            pg.screenshot(path=str(tmp_path / "live-page.png"), full_page=True)
            if os.environ.get("TWIN_LIVE_PNG"):
                shutil.copy(tmp_path / "live-page.png", os.environ["TWIN_LIVE_PNG"])
            assert errors == []
            check_against_history(pg, engine)
            check_in_chinese(pg, tmp_path / "live-page-zh.png")
            assert errors == []
    finally:
        server.stop()
        live.stop()
        publisher.close()


def check_against_history(pg, engine: LiveEngine) -> None:
    with open_run(engine.path) as run:
        assert run.complete
        n = len(run.series("pv", "p_mw"))
        assert n == engine.n_steps == HOURS * 4
        for tag in engine.tm.tags:
            if tag.entity == "weather":
                continue
            row = f"#tm-points tr[data-point='{tag.point}']"
            value = run.series(tag.entity, tag.attr)[-1]
            unit = run.info(tag.entity, tag.attr).unit
            assert shown(pg, f"{row} .measured") == as_shown(value, tag.attr, unit), tag.point
            if (f"{tag.entity}.twin", tag.attr) in run.series_keys():
                twin = run.series(f"{tag.entity}.twin", tag.attr)[-1]
                assert shown(pg, f"{row} .twin") == as_shown(twin, tag.attr, unit), tag.point
        estimated = run.series("grid.twin", "vm_pu")[-1]
        sigma = run.series("grid.twin", "vm_sigma_pu")[-1]
        assert np.ptp(estimated) > 0.005
        for i in range(len(estimated)):
            assert shown(pg, f"#tm-buses tr[data-bus='{i}'] .est") == as_page(estimated[i], 4)
            assert shown(pg, f"#tm-buses tr[data-bus='{i}'] .sigma") == as_page(sigma[i], 5)
        measured = run.series("grid.measured", "vm_pu")[-1]
        on_page = [float(x) for x in pg.locator("#tm-buses tr.measured .measured").all_inner_texts()]
        assert on_page == [float(as_page(v, 4)) for v in measured]
        loading = run.series("grid.twin", "line_loading_pct")[-1]
        top = shown(pg, "#tm-lines tr:first-child .loading")
        assert top == f"{as_page(loading.max(), 1)} %"
        spread = run.series("grid.twin", "line_loading_sigma_pct")[-1][np.argmax(loading)]
        assert shown(pg, "#tm-lines tr:first-child .sigma") == f"± {as_page(spread, 2)}"
        rec = run.series("bess.recommended", "p_set_mw")[-1]
        assert np.isfinite(rec)
        assert shown(pg, ".tm-rec.now tr[data-battery='bess'] .setpoint") == as_page(rec, 3)
        # the plan shown starts from the state of charge measured at the end of the step
        # before it (the state it was made from)
        plan = pg.evaluate("window.twin.telemetry.ems.plan")
        row = np.searchsorted(run.time_s, plan["t0"]) - 1
        assert plan["soc"][0] == pytest.approx(run.series("bess", "soc")[row], abs=1e-4)
        assert pg.locator("#tm-plan .scatterlayer .trace").count() == 5
        alarms = {(a["kind"], a["point"], int(a["raised_s"])) for a in run.table("live/alarms")}
    items = pg.locator("li.tm-alarm")
    on_page = {(items.nth(i).get_attribute("data-kind"), items.nth(i).get_attribute("data-point"),
                int(items.nth(i).get_attribute("data-raised"))) for i in range(items.count())}
    assert ("stuck_meter", "wind.p_mw") in {a[:2] for a in alarms}
    assert on_page == alarms
    assert re.match(r"\d+ raised", shown(pg, "#tm-alarm-note"))


def test_serving_the_page_beyond_loopback_needs_a_token(tmp_path, capsys):
    """Refused before the telemetry is reached: one line, exit code 2."""
    s = loads(SMALL.read_text(), SMALL)
    path = mapping_file(tmp_path, s, 1)
    assert main(["live", str(SMALL), "--telemetry", str(path), "--serve", "--host",
                 "0.0.0.0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: --host 0.0.0.0: serving beyond this machine needs --token")


# what the live mode writes in the page's language: its labels, alarms, notes and state
WORDED = ("section.tm h2, section.tm h3, section.tm th, #tm-alarm-note, #tm-grid-note, "
          "li.tm-alarm b, li.tm-alarm .detail, .tm-rec p, #state, #mode")
NUMBERED = "section.tm td, li.tm-alarm span, .tm-rec p, #rate, #clock"
CJK = re.compile(r"[\u4e00-\u9fff]")


def numbers(pg) -> list[list[str]]:
    """Each shown text's numbers, in order of size (a translation may reorder them)."""
    return [sorted(re.findall(r"[-+]?\d+(?:\.\d+)?", x))
            for x in pg.locator(NUMBERED).all_inner_texts()]


def check_in_chinese(pg, png: Path) -> None:
    """The language switch: the live mode in Chinese, every label and alarm name in Chinese
    characters the page's font has glyphs for, with the numbers shown in English; and back."""
    english = numbers(pg)
    worded = pg.locator(WORDED).all_inner_texts()
    assert any("stuck" in x.lower() for x in worded)
    pg.click("#btn-lang")
    assert pg.evaluate("document.documentElement.lang") == "zh-CN"
    zh = pg.evaluate("window.I18N.zh")
    assert shown(pg, ".tm-plants h2") == zh["Measured and twin"]
    for b in pg.locator("li.tm-alarm b").all():
        assert CJK.search(b.inner_text()), b.inner_text()
    assert shown(pg, "li.tm-alarm[data-kind='stuck_meter'] b") == zh["Stuck meter"]
    for text in pg.locator(WORDED).all_inner_texts():  # no English word left
        assert CJK.search(text), text
        assert set(re.findall(r"[A-Za-z]{3,}", text)) <= {"EMS", "WLS", "optimal"}, text
    assert numbers(pg) == english
    pg.locator("#tm-plan .legendtext").first.wait_for()
    assert all(CJK.search(x) for x in pg.locator("#tm-plan .legendtext").all_text_contents())
    # drawn: the fonts Chromium used for a label and an alarm name cover Chinese
    chinese = set(subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True,
                                 text=True, check=True).stdout.replace("\n", ",").split(","))
    cdp = pg.context.new_cdp_session(pg)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    for selector in (".tm-plants h2", "li.tm-alarm[data-kind='stuck_meter'] b"):
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        glyphs = len(CJK.findall(shown(pg, selector)))
        assert sum(f["glyphCount"] for f in fonts if f["familyName"] in chinese) >= glyphs, fonts
    pg.screenshot(path=str(png), full_page=True)
    pg.click("#btn-lang")
    assert pg.locator(WORDED).all_inner_texts() == worded
    assert numbers(pg) == english


def said_by_the_twin() -> set[str]:
    """Every template the live twin says (``say("...")`` in twin/live)."""
    import ast

    found = set()
    for path in (Path(__file__).parents[1] / "twin" / "live").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "say":
                assert isinstance(node.args[0], ast.Constant), f"{path}:{node.lineno}"
                found.add(node.args[0].value)
    return found


def test_everything_the_twin_says_has_its_chinese_with_the_same_values():
    """The alarms' details and the advisor's reasons come to the page as a template and its
    values; the page's table (i18n.js) has each template in Chinese, with the same fields."""
    import json

    from twin.live.checks import say

    js = (Path(__file__).parents[1] / "twin" / "apps" / "dashboard" / "static" /
          "i18n.js").read_text(encoding="utf-8")
    said = said_by_the_twin()
    assert len(said) >= 13  # the detector's, the estimator's and the advisor's
    for template in said:
        m = re.search(re.escape(json.dumps(template, ensure_ascii=False))
                      + r'\s*:\s*("(?:[^"\\]|\\.)*")', js)
        assert m, f"no Chinese for {template!r} in i18n.js"
        zh = json.loads(m.group(1))
        assert CJK.search(zh), zh
        assert sorted(re.findall(r"\{(\w+)\}", zh)) == sorted(re.findall(r"\{(\w+)\}", template))
    fade = say("{gap} against the twin's energy count", gap="+0.0610")  # the history's text
    assert str(fade) == "+0.0610 against the twin's energy count"
    assert fade.as_dict() == {"template": "{gap} against the twin's energy count",
                              "values": {"gap": "+0.0610"}}
