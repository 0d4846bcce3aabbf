"""``twin live``: the twin beside the live park, kept in step with its telemetry.

    twin live SCENARIO --telemetry MAPPING.yaml [--broker HOST:PORT] [--hours H]
                       [--idle-s 30] [--speed X] [--out DIR] [--[no-]recommend]
                       [--serve [--port 8050] [--host H --token T]]

The telemetry comes from an MQTT broker, an OPC UA server (a subscription) or, with the
mapping's ``source.kind: file``, a recorded file (CSV, Parquet or a run's HDF5 file) played
back at ``--speed``.

Prints each alarm as one line as it is raised, and at the end the steps, the alarms and the
run file (measured and twin values side by side, the stale flags, the alarms table). With
``--serve`` the trainers' page shows the same live (measured and twin per plant, the estimated
grid, the alarms, the EMS's recommendation) until Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from twin.apps.cli.common import load_scenario
from twin.apps.cli.dashboard import _serving


def cmd_live(args: argparse.Namespace) -> int:
    """Subscribe to the park's telemetry and follow it."""
    from twin import runner
    from twin.apps.cli.plant import telemetry_for
    from twin.live.engine import LiveEngine
    from twin.live.session import follow

    if args.serve:  # before reaching for the telemetry
        from twin.apps.cli.dashboard import check_binding

        check_binding(args.host, args.token)
    s = load_scenario(args.scenario)
    tm = telemetry_for(s, args.telemetry, args.broker)
    base = runner.output_path(s, args.out)
    path = base.with_name(f"{base.stem}-live.h5")
    path.parent.mkdir(parents=True, exist_ok=True)
    if tm.source.kind == "file":
        from twin.live.playback import FilePlayback

        source = FilePlayback(tm, speed=args.speed)
        where = f"{tm.source.path} at x{args.speed:g}" if args.speed else f"{tm.source.path}"
    elif tm.source.kind == "opcua":
        from twin.live.opcua import OpcUaSubscriber, endpoint

        source = OpcUaSubscriber(tm)  # the server first: no file for a park out of reach
        where = endpoint(tm)
    else:
        from twin.live.mqtt import MqttSubscriber

        source = MqttSubscriber(tm)  # the broker first: no file for a park out of reach
        where = f"mqtt://{tm.source.host}:{tm.source.port}/{tm.source.prefix}"
    engine = LiveEngine(s, tm, path, background_estimation=True, recommend=args.recommend)
    print(f"live: {len(tm.tags)} tags from {where} (stale after {tm.source.stale_after} s); "
          f"Ctrl-C stops",
          file=sys.stderr, flush=True)

    def show(alarm: object) -> None:
        a = alarm
        print(f"alarm {engine.s.period.start + _td(a.raised_s):%Y-%m-%d %H:%M} {a.kind} "
              f"{a.point}: {a.detail} (since {engine.s.period.start + _td(a.start_s):%H:%M})",
              flush=True)

    until_s = args.hours * 3600 if args.hours else None
    if args.serve:
        return _serve(engine, source, dict(until_s=until_s, idle_s=args.idle_s), show, args)
    try:
        done = follow(engine, source, until_s=args.hours * 3600 if args.hours else None,
                      idle_s=args.idle_s, on_alarm=show)
    except KeyboardInterrupt:
        engine.close()
        print(f"live: stopped; {engine.n_steps} steps kept in {path}", file=sys.stderr)
        return 130
    finally:
        if hasattr(source, "close"):
            source.close()
    print(f"live: {done.n_steps} steps, {done.n_readings} readings, {len(done.alarms)} alarms, "
          f"{done.step_ms_p95:.1f} ms per step (p95), at most {done.backlog_max} readings "
          f"waiting; history: {Path(path)}")
    return 0


def _serve(engine: object, source: object, follow_args: dict, show: object,
           args: argparse.Namespace) -> int:
    """Follow the telemetry in a thread and serve the trainers' page over it until Ctrl-C."""
    from twin.apps.cli.dashboard import _serve as serve
    from twin.apps.dashboard.server import Dashboard
    from twin.apps.dashboard.telemetry import TelemetryPage

    page = TelemetryPage(engine, source, follow_args, on_alarm=show).start()
    serve(Dashboard(page, None, args.token, allow_hosts=tuple(args.allow_host)), args.host,
          args.port, args.token, "twin live")
    print(f"live: {engine.n_steps} steps kept in {engine.path}", file=sys.stderr)
    return 0


def _td(seconds: float) -> object:
    import datetime as dt

    return dt.timedelta(seconds=seconds)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("live", help="the twin beside the live park: telemetry in, models on "
                       "measured inputs, alarms, history")
    p.add_argument("scenario")
    p.add_argument("--telemetry", metavar="MAPPING.yaml", required=True,
                   help="which tag measures which entity attribute, in which unit")
    p.add_argument("--broker", metavar="HOST:PORT", help="the MQTT broker or OPC UA server "
                   "(default: the mapping's)")
    p.add_argument("--hours", type=float, help="stop after H hours of telemetry (from the first reading)")
    p.add_argument("--idle-s", type=float, default=30.0, help="stop after this many wall "
                   "seconds without a reading (default 30)")
    p.add_argument("--speed", type=float, default=0.0, help="a recorded file (source.kind: "
                   "file): simulated seconds per wall second (default 0: at once)")
    p.add_argument("--out", help="folder of the history file (<scenario>-live.h5)")
    p.add_argument("--recommend", action=argparse.BooleanOptionalAction, default=None,
                   help="step the scenario's EMS on the live state and record what it "
                   "recommends, sending nothing (default: when the scenario's controller is "
                   "ems)")
    p.add_argument("--serve", action="store_true", help="serve the trainers' page in live "
                   "mode (measured and twin, the estimated grid, alarms) until Ctrl-C")
    _serving(p)
    p.set_defaults(func=cmd_live)
