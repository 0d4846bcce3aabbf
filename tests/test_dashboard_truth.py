"""The trainers' page in the failure states trainers show, against the recorded series.

A four-hour run of tests/scenarios/dashboard.yaml with events written in the scenario (one of
the factory's three feeders tripped, then its 66 kV cable, a grid outage with a wind lull in
its second half, a grid operator's request under the rule controller) is recorded, then
opened in a replay in headless Chromium; at each state the page's numbers and drawing are read
and compared with the run file's own series (not with the page's arithmetic).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.browser import page
from tests.conftest import ROOT
from tests.test_dashboard import number, record, wait_for
from twin import scenario
from twin.apps.dashboard.frames import safe_json
from twin.apps.dashboard.replay import Replay
from twin.apps.dashboard.server import Dashboard, ServerThread
from twin.core.results import open_run

EVENTS = """
events:
  - {kind: line_trip, dates: [2027-03-09], start: "17:30", end: "18:00", line: plant/f1s1}
  - {kind: line_trip, dates: [2027-03-09], start: "18:00", end: "18:30", line: plant/66kv-cable}
  - {kind: grid_outage, dates: [2027-03-09], start: "18:30", end: "19:30"}
  - {kind: wind_lull, dates: [2027-03-09], start: "19:00", end: "19:30", wind_factor: 0.1}
  - {kind: demand_response, dates: [2027-03-09], start: "19:30", end: "20:00", cut_import_mw: 5}
"""
LOADS = ("plant", "ev", "aoi", "heat")
MW = 0.06  # the page shows MW to 0.1 (0.01 for losses)


class Recorded:
    """The run file's series, by step."""

    def __init__(self, path: Path) -> None:
        with open_run(path) as run:
            self.p = {e: run.series(e, "p_mw") for e in (*LOADS, "bess", "wind", "pv")}
            self.grid = {a: run.series("grid", a) for a in ("p_shed_mw", "p_loss_mw",
                                                           "islanded", "p_net_mw")}
            self.lines = np.asarray(run.series("grid", "line_p_from_mw"))

    def demand(self, i: int) -> float:
        return float(sum(self.p[e][i] for e in LOADS))


@pytest.fixture(scope="module")
def failures(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Replay, Recorded]]:
    folder = tmp_path_factory.mktemp("failures")
    text = (ROOT / "tests" / "scenarios" / "dashboard.yaml").read_text()
    yaml = folder / "failures.yaml"
    yaml.write_text(text.replace("duration: 7d", "duration: 4h") + EVENTS)
    path = record(scenario.load(yaml), folder)
    replay = Replay(path)
    server = ServerThread(Dashboard(replay))
    with page() as (pg, errors):
        pg.goto(server.url)
        wait_for(pg, "window.twin && window.twin.frames.length > 2")
        yield pg, replay, Recorded(path)
        assert errors == []
    server.stop()


def at(failures: tuple[Any, Replay, Recorded], clock: str) -> tuple[Any, int]:
    """Move the replay's slider to the step at local time ``clock``; return the page and i."""
    pg, replay, _ = failures
    i = next(k for k in range(replay.n) if replay.frame(k)["time"].endswith(clock))
    pg.evaluate(f"(() => {{ const s = document.getElementById('slider'); s.value = '{i}'; "
                "s.dispatchEvent(new Event('input')); })()")
    wait_for(pg, f"document.getElementById('clock').textContent.endsWith('{clock}')", 20)
    return pg, i


def edge_index(replay: Replay, edge_id: str) -> int:
    return next(k for k, e in enumerate(replay.view.diagram.edges) if e.id == edge_id)


def edges(pg: Any) -> list[dict[str, Any]]:
    return pg.evaluate("[...document.querySelectorAll('#diagram path.edge')].map((p, i) => "
                       "({cls: p.getAttribute('class'), tripped: Number(p.dataset.tripped), "
                       "width: parseFloat(p.style.strokeWidth), label: window.twin.diagram"
                       ".edges[i].label.textContent}))")


def node_served(pg: Any, entity: str) -> float:
    return pg.evaluate(f"parseFloat(window.twin.diagram.nodes.find((x) => x.n.entity === "
                       f"'{entity}').label.dataset.served)")


def test_one_tripped_feeder_of_three_draws_one(failures: tuple[Any, Replay, Recorded]) -> None:
    pg, i = at(failures, "17:30")
    _, replay, rec = failures
    k = edge_index(replay, "e:plant")
    drawn = edges(pg)
    assert drawn[k]["tripped"] == 1
    assert "partial" in drawn[k]["cls"]
    assert "tripped" not in drawn[k]["cls"].split()  # the bundle still carries power
    assert drawn[k]["label"] == "1 of 3 tripped"
    assert all(d["tripped"] == 0 for j, d in enumerate(drawn) if j != k)
    shed = rec.grid["p_shed_mw"][i]
    assert shed > 1.0  # the feeder's share of the factory is lost
    assert number(pg, "#v-shed") == pytest.approx(shed, abs=MW)
    assert number(pg, "#v-load") == pytest.approx(rec.demand(i) - shed, abs=MW)


def test_a_factory_cut_off_shows_what_it_gets_not_what_it_asks(
        failures: tuple[Any, Replay, Recorded]) -> None:
    pg, i = at(failures, "18:00")
    _, replay, rec = failures
    assert rec.p["plant"][i] > 10.0  # the factory asks for power...
    assert node_served(pg, "plant") == 0.0  # ...and gets none
    assert "of" in pg.evaluate("window.twin.diagram.nodes.find((x) => x.n.entity === 'plant')"
                               ".label.textContent")
    drawn = edges(pg)
    cable = next(k for k, e in enumerate(replay.view.diagram.edges)
                 if e.names == ["plant/66kv-cable"])
    assert "tripped" in drawn[cable]["cls"].split()
    assert sum(d["tripped"] for d in drawn) == 1
    shed = rec.grid["p_shed_mw"][i]
    assert number(pg, "#v-load") == pytest.approx(rec.demand(i) - shed, abs=MW)


def test_line_widths_follow_the_recorded_flows_on_one_scale(
        failures: tuple[Any, Replay, Recorded]) -> None:
    widths: dict[str, list[tuple[float, float]]] = {}
    for clock in ("17:00", "19:00"):  # a normal evening, then a blackout on storage
        pg, i = at(failures, clock)
        _, replay, rec = failures
        for edge, d in zip(replay.view.diagram.edges, edges(pg), strict=True):
            p = sum(rec.lines[i][line] * sign for line, sign in edge.lines)
            assert d["width"] == pytest.approx(1.2 + 2.2 * math.log10(1 + abs(p)), abs=0.02), \
                (clock, edge.id)
            widths.setdefault(clock, []).append((abs(p), d["width"]))
    small = [w for p, w in widths["19:00"] if p < 1.5]
    assert small
    assert max(small) < 2.2
    assert pg.evaluate("document.querySelectorAll('#width-legend [data-mw]').length") == 3


def test_an_island_short_of_power_sheds_load_and_books_losses_apart(
        failures: tuple[Any, Replay, Recorded]) -> None:
    pg, i = at(failures, "19:00")
    _, _, rec = failures
    assert rec.grid["islanded"][i] == 1
    shed, loss = rec.grid["p_shed_mw"][i], rec.grid["p_loss_mw"][i]
    assert number(pg, "#v-shed") == pytest.approx(shed - loss, abs=MW)
    assert number(pg, "#v-losses") == pytest.approx(loss, abs=0.006)
    assert number(pg, "#v-load") == pytest.approx(rec.demand(i) - (shed - loss), abs=MW)
    assert number(pg, "#v-storage") == pytest.approx(rec.p["bess"][i], abs=MW)
    assert rec.p["bess"][i] < -1.0  # the storage discharges to cover the load
    # what the island serves balances what it has: load + losses = generation + discharge
    gen = sum(number(pg, s) for s in ("#v-wind", "#v-pv")) - number(pg, "#v-storage")
    assert number(pg, "#v-load") + loss == pytest.approx(gen, abs=0.3)
    assert "discharging" in pg.inner_text("#island-note")


def test_an_island_with_a_surplus_sheds_nothing(failures: tuple[Any, Replay, Recorded]) -> None:
    pg, i = at(failures, "18:45")
    _, _, rec = failures
    assert rec.grid["islanded"][i] == 1
    assert rec.grid["p_shed_mw"][i] > 0.1  # the network model books the losses as shed
    assert number(pg, "#v-shed") == 0.0
    assert number(pg, "#v-losses") == pytest.approx(rec.grid["p_loss_mw"][i], abs=0.006)
    assert number(pg, "#v-load") == pytest.approx(rec.demand(i), abs=MW)


def test_an_older_answer_does_not_take_the_slider_back(
        failures: tuple[Any, Replay, Recorded]) -> None:
    """An answer for the step shown before (a retry while the forecasts are worked out)
    arriving between a slider move and the request the move sends: the page still goes
    where the slider was moved."""
    pg, old = at(failures, "17:00")
    _, replay, _ = failures
    new = next(k for k in range(replay.n) if replay.frame(k)["time"].endswith("18:15"))
    value = pg.evaluate(f"""(async () => {{
      const fetched = window.fetch;
      const body = await (await fetched('/api/snapshot?i={old}')).text();
      let release;
      const held = new Promise((r) => {{ release = r; }});
      window.fetch = (url, options) => String(url).includes('i={old}')
        ? held.then(() => new Response(body, {{headers: {{'Content-Type': 'application/json'}}}}))
        : fetched(url, options);
      try {{
        const older = showStep({old});
        const s = document.getElementById('slider');
        s.value = '{new}';
        s.dispatchEvent(new Event('input'));
        release();
        await older;
        return s.value;
      }} finally {{ window.fetch = fetched; }}
    }})()""")
    assert value == str(new)  # the older answer did not set the slider back
    wait_for(pg, "document.getElementById('clock').textContent.endsWith('18:15')", 10)
    time.sleep(0.3)
    assert pg.inner_text("#clock").endswith("18:15")


def test_a_request_to_the_rule_controller_shows_missed(
        failures: tuple[Any, Replay, Recorded]) -> None:
    pg, _ = at(failures, "20:15")
    row = pg.evaluate("[...document.querySelectorAll('#event-list li')].find((li) => "
                      "li.dataset.kind === 'demand_response').textContent")
    assert "not answered" in row
    assert "missed 2.50 MWh of 2.50" in row
    traces = pg.evaluate("document.getElementById('chart-power').data.map((d) => d.name)")
    assert "cut asked" in traces
    assert "cut delivered" in traces
    shapes = pg.evaluate("document.getElementById('chart-power').layout.shapes.length")
    assert shapes == 5  # each event a shaded window
    rows = pg.evaluate("[...document.querySelectorAll('#event-list li')].map((li) => "
                       "li.textContent)")
    assert any("line_trip" not in r and "18:30 → 19:30" in r for r in rows)


def test_a_replay_opened_again_draws_the_same_without_pandapower(
        failures: tuple[Any, Replay, Recorded]) -> None:
    """The park's view kept beside the run file on the first opening: a second opening
    builds no network (no pandapower, weather model, pandas or windpowerlib imported) and
    draws every failure state as the network drew it."""
    _, replay, _ = failures
    steps = [i for i in range(replay.n) if replay.book.active(int(replay.time[i]))]
    assert steps  # the trips, the outage, the request
    code = (f"import json, sys; from twin.apps.dashboard.replay import Replay; "
            f"r = Replay({str(replay.path)!r}); "
            f"f = [r.frame(i) for i in {steps!r}]; "
            f"print(json.dumps([sorted(m for m in ('pandapower', 'pvlib', 'mosaik', 'scipy', 'pandas', "
            f"'windpowerlib') "
            f"if m in sys.modules), f]))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    heavy, frames = json.loads(proc.stdout.strip().splitlines()[-1])
    assert heavy == []
    for i, got in zip(steps, frames, strict=True):
        want = json.loads(safe_json(replay.frame(i)))
        for key in ("flows", "tripped", "p", "q", "load", "shed", "losses", "demand"):
            assert got[key] == want[key], (i, key)


def test_a_request_is_judged_by_the_import_below_the_baseline() -> None:
    """As the EMS's own account of requests reads it: delivered = baseline - import, within
    0 and the cut asked; the rule controller answers nothing."""
    import datetime as dt

    from twin.apps.dashboard.history import request_step
    from twin.models.events import Event, Window

    w = [Window(0, 3600, Event(kind="demand_response", dates=(dt.date(2027, 1, 1),), start=0,
                               end=3600, cut_import_mw=30.0), 0)]
    ems = {"asked": 30.0, "offered": 20.0, "baseline": 100.0}
    got = [request_step(w, ems, imp, True) for imp in (85.0, 60.0, 110.0)]
    assert [g["delivered"] for g in got] == [15.0, 30.0, 0.0]
    assert [g["missed"] for g in got] == [15.0, 0.0, 30.0]
    assert got[0]["offered"] == 20.0
    rule = request_step(w, {}, 60.0, False)
    assert rule == {"asked": 30.0, "offered": 0.0, "delivered": 0.0, "missed": 30.0}
    assert request_step([], ems, 60.0, True) is None


def test_a_run_recorded_on_another_network_is_refused_in_one_line(
        failures: tuple[Any, Replay, Recorded], monkeypatch: pytest.MonkeyPatch) -> None:
    """The network the code builds today named one line otherwise (a change since the run):
    the replay says so instead of drawing the run's flows on the wrong lines."""
    import twin.apps.dashboard.replay as replay_module

    built = replay_module.park_view

    def renamed(*args: Any, **kwargs: Any) -> Any:
        view = built(*args, **kwargs)
        view.diagram.lines = [*view.diagram.lines[:-1], "another-line"]
        return view

    monkeypatch.setattr(replay_module, "park_view", renamed)
    with pytest.raises(ValueError, match="recorded on another network") as err:
        Replay(failures[1].path)
    assert "\n" not in str(err.value)


def test_twin_run_keeps_the_view_a_replay_opens_with(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    """After ``twin run`` the park's view lies beside the run file, so the first ``twin
    replay`` of it builds no network; the replay leaves it as it was."""
    from twin.apps.cli import main
    from twin.apps.dashboard.viewcache import view_file

    args = ["run", str(ROOT / "tests" / "scenarios" / "dashboard.yaml"), "--days", "0.125",
            "-q", "--out", str(tmp_path)]
    with ThreadPoolExecutor(1) as pool:  # Playwright's event loop holds this thread
        assert pool.submit(main, args).result() == 0
    path = next(tmp_path.glob("*.h5"))
    kept = view_file(path)
    assert kept.is_file()
    before = kept.stat().st_mtime_ns, kept.read_text()
    replay = Replay(path)
    replay.close()
    assert (kept.stat().st_mtime_ns, kept.read_text()) == before  # taken, not built again
    assert json.loads(before[1])["diagram"]["lines"]  # with the network's line names
    capsys.readouterr()
