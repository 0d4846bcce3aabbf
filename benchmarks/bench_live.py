"""Benchmark: the live twin against the stand-in plant: detection delay, false alarms, lag.

Three parts, each printed as a table:

1. Detection: the five faults of ``twin plant --faults`` on the small park's first 16 hours
   (stuck wind meter 03 h, battery SOC drift 05 h, factory load sign flip 07 h, a quarter of
   the PV strings out 10 h, the EV hub's tag lost 12 h), readings fed straight to the twin:
   the alarm raised for each, and its delay after the fault began (target: 30 min).
2. False alarms: a clean ``--days`` period (default 7), straight.
3. Lag: the plant publishing over MQTT (Debian's mosquitto on a free loopback port) at
   ``--speed`` (default 600) for ``--lag-hours`` (default 24): how long after a step's last
   reading left the plant the twin had closed that step (models, checks, the row of the run
   file), and the most readings that waited in the twin's queue.
4. State estimation: the reference park's network (``--grid``) solved, a third of its bus
   voltages and every metered injection measured with meter noise, WLS (pandapower): the
   largest and mean error against the true voltages; then one voltage meter 5 % off, found
   and removed as bad data or not.

    .venv/bin/python benchmarks/bench_live.py [--days 7] [--speed 600] [--lag-hours 24]
                                              [--grid SCENARIO] [--only PART]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from twin.live import faults, mapping  # noqa: E402
from twin.live.engine import LiveEngine  # noqa: E402
from twin.live.inprocess import follow_plant  # noqa: E402
from twin.live.mqtt import MqttPublisher, MqttSubscriber, free_port, mosquitto  # noqa: E402
from twin.live.plant import StandInPlant, Straight  # noqa: E402
from twin.scenario import load  # noqa: E402

SMALL = ROOT / "tests" / "scenarios" / "small.yaml"
SCHEDULE = [
    ({"kind": "stuck", "point": "wind.p_mw", "start": "3h", "duration": "2h"}, 3),
    ({"kind": "soc_drift", "point": "bess.soc", "start": "5h", "duration": "3h",
      "rate_per_h": 0.02}, 5),
    ({"kind": "sign_flip", "point": "plant.p_mw", "start": "7h", "duration": "2h"}, 7),
    ({"kind": "string_outage", "point": "pv.p_mw", "start": "10h", "duration": "3h",
      "share": 0.25}, 10),
    ({"kind": "lost", "point": "ev.p_mw", "start": "12h"}, 12),
    ({"kind": "string_outage", "point": "wind.p_mw", "start": "6h", "duration": "2h",
      "share": 0.3}, 6),  # at -25 degC, following the wind: icing
    ({"kind": "curtail", "point": "wind.p_mw", "start": "13h", "duration": "2h",
      "limit_mw": 15}, 13),  # held flat: curtailment
    ({"kind": "capacity_fade", "point": "bess.soc", "start": "1h", "duration": "3h",
      "share": 0.2}, 1),
]


def _setup(tmp: Path, hours: float, schedule: list[dict], port: int = 1883,
           scenario: Path = SMALL):
    s = load(scenario).with_days(hours / 24)
    data = mapping.default_mapping(s)
    data["source"].update(port=port, stale_after="20min")
    (tmp / "map.yaml").write_text(yaml.safe_dump(data))
    tm = mapping.load(tmp / "map.yaml", s)
    (tmp / "faults.yaml").write_text(yaml.safe_dump({"faults": schedule}))
    return s, tm, faults.load(tmp / "faults.yaml", tm)


def straight(tmp: Path, hours: float, schedule: list[dict]) -> tuple[LiveEngine, float]:
    """The plant's readings fed straight to the twin, as fast as they run."""
    s, tm, fl = _setup(tmp, hours, schedule)
    engine = LiveEngine(s, tm, tmp / "live.h5")

    t0 = time.perf_counter()
    StandInPlant(s, tm, Straight(engine), fl, speed=0, out_dir=tmp / "plant").run()
    engine.close()
    return engine, time.perf_counter() - t0


def detection(tmp: Path) -> None:
    engine, wall = straight(tmp, 16, [f for f, _ in SCHEDULE])
    print(f"\n1. detection: {len(SCHEDULE)} faults in 16 h of the small park ({wall:.1f} s "
          "wall)")
    print(f"{'fault':15s} {'point':12s} {'alarm':22s} {'delay':>8s}")
    for fault, hour in SCHEDULE:
        found = sorted((a for a in engine.detector.alarms if a.point == fault["point"]
                        and a.raised_s >= hour * 3600), key=lambda a: a.raised_s)
        alarm, delay = (found[0].kind, f"{(found[0].raised_s - hour * 3600) / 60:.0f} min") \
            if found else ("(none)", "-")
        print(f"{fault['kind']:15s} {fault['point']:12s} {alarm:22s} {delay:>8s}")
    other = len(engine.detector.alarms) - len(SCHEDULE)
    print(f"alarms beyond one per fault: {other}")


def false_alarms(tmp: Path, days: float) -> None:
    engine, wall = straight(tmp, days * 24, [])
    print(f"\n2. false alarms over {days:g} clean days: {len(engine.detector.alarms)} "
          f"({engine.n_steps} steps, {wall:.1f} s wall)")
    for a in engine.detector.alarms[:10]:
        print(f"   {a.raised_s / 3600:7.2f} h {a.kind} {a.point}: {a.detail}")


def lag(tmp: Path, speed: float, hours: float, scenario: Path = SMALL) -> None:
    with mosquitto(free_port()) as port:
        s, tm, _ = _setup(tmp, hours, [], port, scenario)
        engine = LiveEngine(s, tm, tmp / "live.h5", background_estimation=True)
        source = MqttSubscriber(tm)
        publisher = MqttPublisher(tm.source.host, tm.source.port)
        plant = StandInPlant(s, tm, publisher, (), speed=speed, out_dir=tmp / "plant")
        t0 = time.perf_counter()
        done = follow_plant(engine, source, plant, idle_s=1.0, close=(publisher, source))
        wall = time.perf_counter() - t0
    lags = np.array([engine.closed_at[t] - plant.published_at[t]
                     for t in plant.published_at if t in engine.closed_at]) * 1e3
    grid = (f"; the grid estimated every {tm.grid.every} steps from {len(tm.voltages)} "
            f"voltages, {engine.grid.n_estimates} estimates, {engine.grid.n_failed} failed"
            if engine.grid is not None else "")
    print(f"\n3. lag over MQTT: {scenario.name}, {hours:g} h at x{speed:g} ({s.n_steps} steps of "
          f"{s.period.step_s} s, one every {s.period.step_s / speed:.2f} s; {wall:.1f} s "
          f"wall{grid})")
    print(f"   readings: {plant.n_published} published, {done.n_readings} followed, "
          f"{engine.n_late} too late; steps closed {len(lags)} of {plant.n_steps}")
    print(f"   lag after the step's last reading: median {np.median(lags):.1f} ms, p95 "
          f"{np.quantile(lags, 0.95):.1f} ms, max {lags.max():.1f} ms; models and checks "
          f"{done.step_ms_p95:.1f} ms per step (p95); at most {done.backlog_max} readings "
          f"waiting; the plant at most {plant.late_s:.2f} s behind its pace")


def estimation(scenario: Path, seeds: int = 3) -> None:
    """WLS on the scenario's network solved at 60 % of its generation: a third of the buses'
    voltages and the metered injections, then one voltage meter 5 % off."""
    import dataclasses

    import pandapower as pp

    from twin.cosim.network import build_grid
    from twin.live.estimate import estimate_state, measure

    net = build_grid(load(scenario)).net
    net.sgen.loc[:, "p_mw"] *= 0.6
    pp.runpp(net)
    truth = net.res_bus.vm_pu.to_numpy()
    print(f"\n4. state estimation: {scenario.name}'s network, {len(net.bus)} buses, a third "
          f"of the voltages measured ({seeds} noise draws)")
    print(f"{'draw':>4s} {'max error':>10s} {'mean error':>11s} {'wall':>7s}  with one meter 5 % "
          f"off: found, removed, max error, wall")
    slack = set(net.ext_grid.bus)
    for seed in range(seeds):
        ms = measure(net, seed=seed)
        t0 = time.perf_counter()
        est = estimate_state(net, ms, bad_data=False)
        wall = time.perf_counter() - t0
        err = np.abs(est.vm_pu - truth) / truth * 100
        i = next(k for k, m in enumerate(ms) if m.kind == "v" and m.element not in slack
                 and k % 7 == seed)
        ms[i] = dataclasses.replace(ms[i], value=ms[i].value * 1.05)
        t0 = time.perf_counter()
        bad = estimate_state(net, ms, bad_data=True)
        wall_bad = time.perf_counter() - t0
        err_bad = np.abs(bad.vm_pu - truth) / truth * 100
        print(f"{seed:4d} {err.max():9.3f}% {err.mean():10.3f}% {wall:6.2f}s  "
              f"{ms[i] in bad.bad}, {len(bad.bad)}, {err_bad.max():.3f}%, {wall_bad:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=7.0, help="clean period (default 7)")
    parser.add_argument("--speed", type=float, default=600.0, help="pace of the lag run")
    parser.add_argument("--lag-hours", type=float, default=24.0, help="length of the lag run")
    parser.add_argument("--lag-scenario", type=Path, default=SMALL, help="the park of the lag "
                        "run (one with a grid: the state estimated every 4 steps)")
    parser.add_argument("--grid", type=Path, default=ROOT / "scenarios" / "park.yaml",
                        help="the scenario whose network the estimation runs on")
    parser.add_argument("--only", choices=("detect", "clean", "lag", "estimate"),
                        help="run one part")
    args = parser.parse_args()
    print(f"bench_live: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        parts = {"detect": lambda: detection(tmp / "detect"),
                 "clean": lambda: false_alarms(tmp / "clean", args.days),
                 "lag": lambda: lag(tmp / "lag", args.speed, args.lag_hours,
                                    args.lag_scenario),
                 "estimate": lambda: estimation(args.grid)}
        for name, part in parts.items():
            if args.only in (None, name):
                (tmp / name).mkdir()
                part()


if __name__ == "__main__":
    main()
