"""``twin plant``: a stand-in plant publishing the co-simulated park's telemetry.

    twin plant SCENARIO [--telemetry MAPPING.yaml | --broker HOST:PORT] [--faults FAULTS.yaml]
                        [--speed 600] [--hours H] [--hold S] [--write-mapping MAPPING.yaml]
                        [--out DIR]

It publishes over MQTT, or serves the tags as an OPC UA server when the mapping's
``source.kind`` is ``opcua``.

Without ``--telemetry`` it publishes every power, state of charge and weather input under
``park/`` on the broker; ``--write-mapping`` only writes that mapping (for ``--telemetry`` of
both commands: the twin subscribes before the plant starts).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from twin.apps.cli.common import UserError, load_scenario


def broker(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``PORT``) -> (host, port); a mistake is a :class:`UserError`."""
    host, _, port = text.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        number = 0
    if not 0 < number < 65536:
        raise UserError(f"--broker {text}: expected HOST:PORT with a port 1 to 65535")
    return host or "127.0.0.1", number


def telemetry_for(s: Any, mapping: str | None, where: str | None) -> Any:
    """The mapping file's telemetry, or the default mapping on ``where`` (HOST:PORT)."""
    import yaml

    from twin.live import mapping as live_mapping

    if mapping is not None:
        tm = live_mapping.load(mapping, s)
        if where is None:
            return tm
        host, port = broker(where)
        import dataclasses

        return dataclasses.replace(tm, source=dataclasses.replace(tm.source, host=host,
                                                                  port=port))
    data = live_mapping.default_mapping(s)
    host, port = broker(where or "127.0.0.1:1883")
    data["source"].update(host=host, port=port)
    return live_mapping.loads(yaml.safe_dump(data, sort_keys=False), s,
                              Path("<default mapping>"))


def cmd_plant(args: argparse.Namespace) -> int:
    """Co-simulate the park and publish its measurements, faults on a schedule."""
    import yaml

    from twin.live import faults as live_faults
    from twin.live import mapping as live_mapping
    from twin.live.mqtt import MqttPublisher
    from twin.live.plant import StandInPlant

    s = load_scenario(args.scenario, args.hours / 24 if args.hours else None)
    if args.speed < 0:
        raise UserError(f"--speed {args.speed:g}: expected 0 (as fast as it runs) or more")
    tm = telemetry_for(s, args.telemetry, args.broker)
    if args.write_mapping:  # the default mapping, for both commands; nothing runs
        data = live_mapping.default_mapping(s)
        data["source"].update(host=tm.source.host, port=tm.source.port)
        try:
            Path(args.write_mapping).write_text(yaml.safe_dump(data, sort_keys=False),
                                                encoding="utf-8")
        except OSError as exc:
            raise UserError(f"{args.write_mapping}: cannot write: {exc.strerror}") from None
        print(f"plant: {len(data['tags'])} tags written to {args.write_mapping}; pass it to "
              f"twin live and twin plant as --telemetry")
        return 0
    faults = live_faults.load(args.faults, tm) if args.faults else ()
    if tm.source.kind == "file":
        raise UserError(f"{tm.path}: source.kind: the stand-in plant publishes over mqtt or "
                        f"opcua, got 'file'")
    if tm.source.kind == "opcua":
        from twin.live.opcua import OpcUaServer, endpoint

        publisher: Any = OpcUaServer(tm)
        where = endpoint(tm)
    else:
        publisher = MqttPublisher(tm.source.host, tm.source.port)
        where = f"mqtt://{tm.source.host}:{tm.source.port}/{tm.source.prefix}"
    plant = StandInPlant(s, tm, publisher, faults, speed=args.speed, out_dir=args.out)
    print(f"plant: {s.park.name}, {s.n_steps} steps of {s.period.step_s} s at x{args.speed:g}, "
          f"{len(tm.tags)} tags to {where}, {len(faults)} faults (Ctrl-C stops)",
          file=sys.stderr, flush=True)
    try:
        if args.hold:  # an OPC UA server's subscribers come after it started
            time.sleep(args.hold)
        result = plant.run()
    except KeyboardInterrupt:
        print(f"plant: stopped after {plant.n_steps} steps", file=sys.stderr)
        return 130
    finally:
        publisher.close()
    print(f"plant: {plant.n_steps} steps, {plant.n_published} readings published, at most "
          f"{plant.late_s:.2f} s behind the pace; the truth: {result.path if result else '-'}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plant", help="a stand-in plant: the park co-simulated, its "
                       "measurements published over MQTT or OPC UA, faults on a schedule")
    p.add_argument("scenario")
    p.add_argument("--telemetry", metavar="MAPPING.yaml", help="the tags to publish "
                   "(default: every power, state of charge and weather input under park/)")
    p.add_argument("--broker", metavar="HOST:PORT", help="the MQTT broker, or the OPC UA "
                   "server's own address (default: the mapping's, or 127.0.0.1:1883)")
    p.add_argument("--hold", type=float, default=0.0, metavar="S", help="wait S seconds "
                   "before the first step (an OPC UA server: for the twin to subscribe)")
    p.add_argument("--faults", metavar="FAULTS.yaml", help="faults on a schedule")
    p.add_argument("--speed", type=float, default=600.0, help="simulated seconds per wall "
                   "second (0: as fast as it runs; default 600)")
    p.add_argument("--hours", type=float, help="run only the first H hours")
    p.add_argument("--write-mapping", metavar="MAPPING.yaml", help="only write the default "
                   "mapping (for --telemetry of both commands) and stop")
    p.add_argument("--out", help="folder of the plant's own run file (the truth)")
    p.set_defaults(func=cmd_plant)
