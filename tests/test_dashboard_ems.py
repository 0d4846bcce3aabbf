"""The trainers' page with the EMS controller, in headless Chromium: the guided tour's request.

tests/scenarios/dashboard.yaml over four days with the EMS and a grid operator's request the
scenario schedules (an hour on the third afternoon, when the park imports): the tour's
request scene jumps there, and the page's event list shows the request answered and met,
as the twin's own account of it (its history, from the recorded import) says.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import page
from tests.test_dashboard import DASHBOARD, wait_for
from twin import scenario
from twin.apps.dashboard.live import LiveTwin
from twin.apps.dashboard.server import Dashboard, ServerThread

REQUEST = """
controller:
  kind: ems
  forecaster: smart_persistence
events:
  - {name: afternoon-request, kind: demand_response, dates: [2027-03-12], start: "16:00",
     end: "17:00", cut_import_mw: 5}
"""


@pytest.fixture(scope="module")
def ems_page(tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[Any, list[str], LiveTwin]]:
    folder = tmp_path_factory.mktemp("ems")
    yaml = folder / "ems.yaml"
    yaml.write_text(DASHBOARD.read_text().replace("duration: 7d", "duration: 4d") + REQUEST)
    s = scenario.load(yaml)
    twin = LiveTwin(s, speed=14400.0, out_dir=folder, start=s.period.start)
    twin.start()
    server = ServerThread(Dashboard(twin))
    try:
        with page() as (pg, errors):
            pg.goto(server.url)
            wait_for(pg, "window.twin && window.twin.frames.length > 0", 60)
            yield pg, errors, twin
    finally:
        server.stop()


def test_the_tours_request_under_the_ems_is_met(
        ems_page: tuple[Any, list[str], LiveTwin], tmp_path: Path) -> None:
    pg, errors, twin = ems_page
    assert pg.evaluate("window.twin.info.controller") == "ems"
    assert pg.evaluate("window.twin.info.request") == {"at": "2027-03-12T16:00", "cut_mw": 5.0,
                                                      "hours": 1.0}
    # the tour at its request scene (the first two scenes' acts left out: no jump to 07:00)
    pg.evaluate("(() => { startTour(); twin.tour.done = new Set([0, 1]); tourGo(2); })()")
    assert pg.inner_text("#tour-title") == "The grid operator asks for less"
    assert "import 5 MW less from 2027-03-12 16:00" in pg.inner_text("#tour-caption")
    wait_for(pg, "document.getElementById('clock').textContent >= '2027-03-12 17:15'", 90)
    twin.pause()
    kept = next(r for r in twin.status()["events"] if r["kind"] == "demand_response")
    assert kept["state"] == "over"
    find = ("[...document.querySelectorAll('#event-list li')].find((li) => "
            "li.dataset.kind === 'demand_response')")
    wait_for(pg, f"{find}.textContent.includes('asked {kept['result']['asked']:.2f}')", 5)
    row = pg.evaluate(f"{find}.textContent")
    shown = dict(zip(("asked", "offered", "delivered", "missed"), map(float, re.search(
        r"asked ([\d.]+) · offered ([\d.]+) · delivered ([\d.]+) · missed ([\d.]+) MWh",
        row).groups()), strict=True))
    for k, v in shown.items():  # the page shows the twin's account
        assert v == pytest.approx(kept["result"][k], abs=0.006), k
    assert shown["asked"] == pytest.approx(5.0, abs=0.01)  # 5 MW for an hour
    assert shown["offered"] == pytest.approx(shown["asked"], abs=0.01)  # the VPP offered it all
    assert shown["missed"] == 0.0  # and the park delivered it
    assert shown["delivered"] >= shown["asked"] - 0.01
    pg.screenshot(path=str(tmp_path / "ems-request.png"))
    time.sleep(0.2)
    assert errors == []
