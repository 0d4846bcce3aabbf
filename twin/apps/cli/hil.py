"""The ``twin hil``, ``twin serve`` and ``twin emulate`` commands.

    twin hil SCENARIO [--duration 10m] [--out DIR] [--record TRACE | --replay TRACE] [--realtime]
                                    the park in real time with its bound devices; HDF5 file,
                                    HTML test report, JUnit XML and JSON results, trace of the
                                    device traffic
    twin serve SCENARIO [--port 5020] [--duration 10m] [--step 1s] [--speed 1]
                                    the park in real time as devices a real controller talks
                                    to (Modbus TCP, SunSpec maps; hil/serve.py)
    twin emulate battery|pv|meter [--port 5020 | --serial PTY] [--unit 1] [...]
                                    a stand-in device on loopback (Ctrl-C stops it)

Exit codes (EXIT_CODES): 0 the run passed (``twin serve``: served to its end), 1 an assertion
failed or the run aborted, 2 a user's mistake (bad scenario, no hil section, an unreachable
device, a port in use, a bad trace; one line), 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

EXIT_PASSED, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_CODES = (f"exit codes: {EXIT_PASSED} passed, {EXIT_FAILED} an assertion failed or the run "
              f"aborted, {EXIT_USAGE} a user's mistake (one line on stderr), "
              f"{EXIT_INTERRUPTED} interrupted")
# hil.serve's unit ids (METER_UNIT, BATTERY_UNIT0, PV_UNIT0; tests/test_serve.py checks them),
# written out so that ``twin --help`` does not import the server
SERVE_UNITS = ("unit ids: 1 the PCC meter (SunSpec 203, W > 0 import), 10, 11, ... the "
               "batteries (704.WSetEna/WSet, W > 0 discharge), 100, 101, ... the PV plants "
               "(704.WMaxLimPctEna/WMaxLimPct), in the scenario's order; SunSpec maps at 40000")
SERVE_EXIT_CODES = (f"exit codes: {EXIT_PASSED} served to the end, {EXIT_USAGE} a user's "
                    f"mistake (one line on stderr), {EXIT_INTERRUPTED} interrupted")


def _user_error(message: str) -> Exception:
    from twin.apps.cli.common import UserError

    return UserError(message)


def cmd_hil(args: argparse.Namespace) -> int:
    """Run a scenario in real time with its devices; write the test report."""
    from tqdm import tqdm

    from hil import run as hil_run
    from hil.trace import TraceError
    from twin.apps.cli.common import load_scenario
    from twin.scenario import parse_duration

    if not getattr(args, "verbose", False):  # the run reports comm faults itself
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    try:
        duration = parse_duration(args.duration) if args.duration else None
    except ValueError as exc:
        raise _user_error(f"--duration: expected e.g. 90, 10min or 1h: {exc}") from None
    s = load_scenario(args.scenario)
    try:
        s = hil_run.prepare(s, duration, args.replay, args.record,
                            True if args.realtime else None)
        for line in hil_run.preflight(s):
            print(line, file=sys.stderr)
    except (hil_run.HILError, TraceError) as exc:
        raise _user_error(str(exc)) from None
    h = s.hil
    print(f"{s.path}: {s.n_steps} steps of {s.period.step_s} s in real time"
          f"{' (real-time scheduling asked)' if h.realtime else ''}; overrun policy "
          f"{h.overrun_policy}; {len(h.bindings)} bound entities", file=sys.stderr)
    bar = tqdm(total=s.n_steps, unit="step", desc="hil", file=sys.stderr, disable=args.quiet,
               mininterval=0.5)
    try:
        result = hil_run.run(s, out_dir=args.out, progress=lambda t: bar.update(1))
    except (hil_run.HILError, TraceError) as exc:
        raise _user_error(str(exc)) from None
    finally:
        bar.close()
    for v in result.verdicts:
        print(f"  {v.status:>4}  {v.text}  ({v.detail})")
    k = result.kpis
    print(f"pacing: p99 lateness {k['hil_lateness_p99_ms'].value:.2f} ms, largest "
          f"{k['hil_lateness_max_ms'].value:.2f} ms, end offset "
          f"{k['hil_end_offset_ms'].value:.2f} ms; {int(k['hil_exchanges'].value)} exchanges, "
          f"{int(k['hil_comm_faults'].value)} failed, {int(k['hil_takeovers'].value)} takeovers")
    print(f"scheduling: {result.scheduling}")
    if result.aborted:
        print(f"ABORTED: {result.aborted}")
    print(f"results: {result.path}\ntrace:   {result.trace}\nreport:  {result.report}")
    print(f"junit:   {result.junit}\njson:    {result.json}")
    print("verdict: " + ("PASS" if result.passed else "FAIL"))
    return 0 if result.passed else EXIT_FAILED


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the park to an external controller in real time."""
    from tqdm import tqdm

    from hil import serve
    from twin.apps.cli.common import load_scenario
    from twin.scenario import parse_duration

    if not getattr(args, "verbose", False):
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    times = {}
    for name in ("duration", "step"):
        value = getattr(args, name)
        try:
            times[name] = parse_duration(value) if value else None
        except ValueError as exc:
            raise _user_error(f"--{name}: expected e.g. 1, 1s, 10min or 1h: {exc}") from None
    s = load_scenario(args.scenario)
    try:
        s = serve.prepare(s, times["duration"], times["step"])
        print(f"{s.path}: {s.n_steps} steps of {s.period.step_s} s at {args.speed:g} x real "
              f"time; serving on {args.host}:{args.port}", file=sys.stderr)
        bar = tqdm(total=s.n_steps, unit="step", desc="serve", file=sys.stderr,
                   disable=args.quiet, mininterval=0.5)

        def ready(lines: list[str]) -> None:
            for line in lines:
                print(f"  {line}", file=sys.stderr, flush=True)

        try:
            result = serve.serve(s, args.host, args.port, args.out, args.speed,
                                 progress=lambda t: bar.update(1), ready=ready,
                                 iec104_port=args.iec104_port)
        finally:
            bar.close()
    except serve.ServeError as exc:
        raise _user_error(str(exc)) from None
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"client writes: {len(result.writes)} ({result.refused} refused)")
    print(f"results: {result.path}")
    return EXIT_PASSED


def cmd_emulate(args: argparse.Namespace) -> int:
    """Serve a stand-in device until interrupted."""
    from hil import emulator

    params: dict[str, Any] = {"delay_s": args.delay_ms / 1000.0}
    models = None
    if args.models:
        try:
            models = tuple(int(m) for m in args.models.split(","))
        except ValueError:
            raise _user_error(f"emulate: --models: expected ids such as 1,103,123, got "
                              f"{args.models!r}") from None
    if args.device == "battery":
        params.update(p_max_mw=args.p_max_mw, e_max_mwh=args.e_max_mwh, soc_init=args.soc,
                      ramp_mw_per_s=args.ramp_mw_per_s, models=models,
                      freeze_heartbeat_s=args.freeze_heartbeat_after)
    elif args.device == "pv":
        params.update(p_max_mw=args.p_max_mw, p_mw=args.p_mw, models=models)
    else:
        params.update(p_mw=args.p_mw, seed=args.seed)
    port = args.port or {"battery": 5020, "meter": 5021, "pv": 5022}[args.device]
    where = args.serial or f"{args.host}:{port}"
    try:
        emulator.run(args.device, args.host, port, args.unit, args.log,
                     lambda line: print(line, file=sys.stderr, flush=True),
                     serial=args.serial, baud=args.baud, **params)
    except OSError as exc:
        raise _user_error(f"emulate: cannot listen on {where}: {exc.strerror or exc}"
                          ) from None
    except (ValueError, RuntimeError) as exc:
        raise _user_error(f"emulate: {exc}") from None
    return 0


def register(sub: Any) -> None:
    """Add ``hil`` and ``emulate`` to the ``twin`` command's subparsers."""
    p = sub.add_parser("hil", help="run the park in real time with devices in the loop; "
                       "HIL test report", epilog=EXIT_CODES)
    p.add_argument("scenario", help="scenario YAML file with a hil section")
    p.add_argument("--duration", help="length of the run, e.g. 90, 10min, 1h (default: the "
                   "scenario's period)")
    p.add_argument("--out", help="folder for the results (default: the scenario's output.dir)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--record", help="write the device traffic to this trace (default: beside "
                   "the results)")
    g.add_argument("--replay", help="replay this trace instead of talking to the devices")
    p.add_argument("--realtime", action="store_true", help="ask for real-time scheduling "
                   "(SCHED_FIFO) during the run, as hil.realtime does")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_hil)

    p = sub.add_parser(
        "serve", help="the park in real time as a virtual plant: its batteries, PV plants and "
        "PCC meter served over Modbus TCP with SunSpec maps, for a real controller",
        epilog=f"{SERVE_UNITS}. {SERVE_EXIT_CODES}")
    p.add_argument("scenario", help="scenario YAML file")
    p.add_argument("--port", type=int, default=5020, help="TCP port (default 5020)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default "
                   "127.0.0.1; 0.0.0.0 for a controller on another machine)")
    p.add_argument("--duration", help="length of the run, e.g. 600, 10min, 1h (default: "
                   "hil.duration, else 10min)")
    p.add_argument("--step", help="step of the park, whole seconds (default: hil.step, else 1s)")
    p.add_argument("--speed", type=float, default=1.0, help="pace: 1 real time, 2 twice as "
                   "fast (the wall-clock step is step / speed)")
    p.add_argument("--iec104-port", type=int, help="serve IEC 60870-5-104 as well on this "
                   "port (needs the c104 package; points in hil/iec104.py)")
    p.add_argument("--out", help="folder for the results (default: the scenario's output.dir)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("emulate", help="a stand-in device on loopback (battery inverter "
                       "speaking SunSpec, or a power meter)")
    p.add_argument("device", choices=("battery", "pv", "meter"), help="what to emulate")
    p.add_argument("--port", type=int, help="TCP port (default 5020 battery, 5021 meter, "
                   "5022 pv)")
    p.add_argument("--serial", help="serve Modbus RTU on this serial line (e.g. a socat "
                   "pty) instead of TCP")
    p.add_argument("--baud", type=int, default=19200, help="baud rate of --serial")
    p.add_argument("--models", help="battery, pv: the SunSpec models served, e.g. 1,103,123 "
                   "(default: 1,701,702,703,704,713,802 battery; 1,701,702,703,704 pv)")
    p.add_argument("--freeze-heartbeat-after", type=float, help="battery: 802.Hb stops "
                   "advancing after this many seconds (a device that hangs)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--unit", type=int, default=1, help="Modbus unit id")
    p.add_argument("--delay-ms", type=float, default=2.0, help="response delay of every request")
    p.add_argument("--log", help="append every write received (accepted or refused) to this "
                   "file, JSON lines")
    p.add_argument("--p-max-mw", type=float, default=2.0, help="battery, pv: power rating")
    p.add_argument("--e-max-mwh", type=float, default=4.0, help="battery: energy capacity")
    p.add_argument("--soc", type=float, default=0.5, help="battery: state of charge at start")
    p.add_argument("--ramp-mw-per-s", type=float, help="battery: ramp of the power (default: "
                   "follows a setpoint at once)")
    p.add_argument("--p-mw", type=float, default=5.0, help="meter: mean load measured; pv: "
                   "power available (capped at the rating)")
    p.add_argument("--seed", type=int, default=0, help="meter: seed of the load's noise")
    p.set_defaults(func=cmd_emulate)
