"""``twin live``: the twin beside the live park, kept in step with its telemetry.

    twin live SCENARIO --telemetry MAPPING.yaml [--broker HOST:PORT] [--hours H]
                       [--idle-s 30] [--out DIR]

Prints each alarm as one line as it is raised, and at the end the steps, the alarms and the
run file (measured and twin values side by side, the stale flags, the alarms table).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from twin.apps.cli.common import UserError, load_scenario


def cmd_live(args: argparse.Namespace) -> int:
    """Subscribe to the park's telemetry and follow it."""
    from twin import runner
    from twin.apps.cli.plant import telemetry_for
    from twin.live.engine import LiveEngine
    from twin.live.session import follow

    s = load_scenario(args.scenario)
    tm = telemetry_for(s, args.telemetry, args.broker)
    if tm.source.kind != "mqtt":
        raise UserError(f"{tm.path}: source.kind: {tm.source.kind} is not served yet; "
                        f"expected mqtt")
    from twin.live.mqtt import MqttSubscriber

    base = runner.output_path(s, args.out)
    path = base.with_name(f"{base.stem}-live.h5")
    path.parent.mkdir(parents=True, exist_ok=True)
    source = MqttSubscriber(tm)  # the broker first: no file for a park out of reach
    engine = LiveEngine(s, tm, path)
    print(f"live: {len(tm.tags)} tags from mqtt://{tm.source.host}:{tm.source.port}/"
          f"{tm.source.prefix} (stale after {tm.source.stale_after} s); Ctrl-C stops",
          file=sys.stderr, flush=True)

    def show(alarm: object) -> None:
        a = alarm
        print(f"alarm {engine.s.period.start + _td(a.raised_s):%Y-%m-%d %H:%M} {a.kind} "
              f"{a.point}: {a.detail} (since {engine.s.period.start + _td(a.start_s):%H:%M})",
              flush=True)

    try:
        done = follow(engine, source, until_s=args.hours * 3600 if args.hours else None,
                      idle_s=args.idle_s, on_alarm=show)
    except KeyboardInterrupt:
        engine.close()
        print(f"live: stopped; {engine.n_steps} steps kept in {path}", file=sys.stderr)
        return 130
    finally:
        source.close()
    print(f"live: {done.n_steps} steps, {done.n_readings} readings, {len(done.alarms)} alarms, "
          f"{done.step_ms_p95:.1f} ms per step (p95), at most {done.backlog_max} readings "
          f"waiting; history: {Path(path)}")
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
    p.add_argument("--broker", metavar="HOST:PORT", help="the MQTT broker (default: the "
                   "mapping's)")
    p.add_argument("--hours", type=float, help="stop after H hours of telemetry")
    p.add_argument("--idle-s", type=float, default=30.0, help="stop after this many wall "
                   "seconds without a reading (default 30)")
    p.add_argument("--out", help="folder of the history file (<scenario>-live.h5)")
    p.set_defaults(func=cmd_live)
