"""The ``twin hil`` and ``twin emulate`` commands.

    twin hil SCENARIO [--duration 10m] [--out DIR] [--record TRACE | --replay TRACE] [--realtime]
                                    the park in real time with its bound devices; HDF5 file,
                                    HTML test report, trace of the device traffic
    twin emulate battery|meter [--port 5020] [--host 127.0.0.1] [--unit 1] [...]
                                    a stand-in device on loopback (Ctrl-C stops it)

A user's mistake (no hil section, an unreachable device, a bad trace) is one line, exit 2;
failed assertions exit 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

EXIT_FAILED = 1


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
    except TraceError as exc:
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
    print("verdict: " + ("PASS" if result.passed else "FAIL"))
    return 0 if result.passed else EXIT_FAILED


def cmd_emulate(args: argparse.Namespace) -> int:
    """Serve a stand-in device until interrupted."""
    from hil import emulator

    params: dict[str, Any] = {"delay_s": args.delay_ms / 1000.0}
    if args.device == "battery":
        params.update(p_max_mw=args.p_max_mw, e_max_mwh=args.e_max_mwh, soc_init=args.soc,
                      ramp_mw_per_s=args.ramp_mw_per_s)
    else:
        params.update(p_mw=args.p_mw, seed=args.seed)
    port = args.port or (5020 if args.device == "battery" else 5021)
    try:
        emulator.run(args.device, args.host, port, args.unit, args.log,
                     lambda line: print(line, file=sys.stderr, flush=True), **params)
    except OSError as exc:
        raise _user_error(f"emulate: cannot listen on {args.host}:{port}: {exc.strerror}"
                          ) from None
    except (ValueError, RuntimeError) as exc:
        raise _user_error(f"emulate: {exc}") from None
    return 0


def register(sub: Any) -> None:
    """Add ``hil`` and ``emulate`` to the ``twin`` command's subparsers."""
    p = sub.add_parser("hil", help="run the park in real time with devices in the loop; "
                       "HIL test report")
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

    p = sub.add_parser("emulate", help="a stand-in device on loopback (battery inverter "
                       "speaking SunSpec, or a power meter)")
    p.add_argument("device", choices=("battery", "meter"), help="what to emulate")
    p.add_argument("--port", type=int, help="TCP port (default 5020 battery, 5021 meter)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--unit", type=int, default=1, help="Modbus unit id")
    p.add_argument("--delay-ms", type=float, default=2.0, help="response delay of every request")
    p.add_argument("--log", help="append every write received (accepted or refused) to this "
                   "file, JSON lines")
    p.add_argument("--p-max-mw", type=float, default=2.0, help="battery: power rating")
    p.add_argument("--e-max-mwh", type=float, default=4.0, help="battery: energy capacity")
    p.add_argument("--soc", type=float, default=0.5, help="battery: state of charge at start")
    p.add_argument("--ramp-mw-per-s", type=float, help="battery: ramp of the power (default: "
                   "follows a setpoint at once)")
    p.add_argument("--p-mw", type=float, default=5.0, help="meter: mean load measured")
    p.add_argument("--seed", type=int, default=0, help="meter: seed of the load's noise")
    p.set_defaults(func=cmd_emulate)
