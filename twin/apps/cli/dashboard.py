"""``twin demo`` and ``twin replay``: the trainers' page from the command line.

    twin demo [SCENARIO] [--speed 600] [--port 8050] [--controller rule|ems] [--days N]
              [--host H --token T] [--operator-token O] [--allow-host NAME] [--out DIR]
              [--year RUN.h5] [--no-camera]
    twin replay RUN.h5 [--port 8050] [--host H --token T] [--allow-host NAME]

The page is served on loopback (``127.0.0.1``) unless ``--host`` names another address, which
needs ``--token`` (visitors open ``http://H:PORT/?token=T``). ``twin demo`` prints two links:
the viewers' link watches; the operator's (``&op=O``, a fresh secret unless
``--operator-token`` gives one) also pauses, jumps and starts events.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import secrets
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_PORT = 8050


def _user_error(message: str) -> Exception:
    from twin.apps.cli.common import UserError

    return UserError(message)


def check_binding(host: str, token: str | None) -> None:
    """Refuse to serve beyond loopback without a token (``UserError``)."""
    from twin.apps.dashboard.server import is_loopback

    if not is_loopback(host) and not token:
        raise _user_error(f"--host {host}: serving beyond this machine needs --token (e.g. "
                          f"--token {secrets.token_urlsafe(12)}); every visitor then needs it")
    if token is not None and len(token) < 8:
        raise _user_error("--token: use at least 8 characters")


def _serve(dashboard: Any, host: str, port: int, token: str | None, what: str) -> int:
    from aiohttp import web

    shown = "localhost" if host in ("127.0.0.1", "localhost") else host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    if dashboard.operator:
        op = f"{'&' if token else '?'}op={dashboard.operator}"
        print(f"{what}: viewers open {url}  (watch only)\n{what}: the operator opens "
              f"{url}{op}  (controls; keep it to yourself)  (Ctrl-C stops)", file=sys.stderr,
              flush=True)
    else:
        print(f"{what}: open {url}  (Ctrl-C stops)", file=sys.stderr, flush=True)
    try:
        web.run_app(dashboard.app(), host=host, port=port, print=None,
                    access_log=None, handle_signals=True, shutdown_timeout=2.0)
    except OSError as exc:
        raise _user_error(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None
    finally:
        dashboard.close()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Run a scenario live in accelerated real time and serve the page."""
    from twin.apps.cli.common import load_scenario
    from twin.apps.dashboard.camera import AOICamera
    from twin.apps.dashboard.live import LiveTwin, NotTheYear, opening
    from twin.apps.dashboard.server import Dashboard

    check_binding(args.host, args.token)
    s = load_scenario(args.scenario, args.days)
    if args.controller and args.controller != s.controller.kind:
        s = dataclasses.replace(s, controller=dataclasses.replace(s.controller,
                                                                  kind=args.controller))
    if not 1 <= args.speed <= 1e5:
        raise _user_error(f"--speed {args.speed}: expected 1 to 100000 simulated seconds per "
                          "second")
    if args.year is not None and not Path(args.year).is_file():
        raise _user_error(f"--year {args.year}: no such run file")
    try:
        start = (opening(s) if args.start == "auto" else s.period.start if args.start == "period"
                 else dt.datetime.fromisoformat(args.start))
        twin = LiveTwin(s, speed=args.speed, out_dir=args.out, start=start, year=args.year)
    except NotTheYear as exc:
        raise _user_error(f"--year {args.year}: {exc}") from None
    except ValueError as exc:
        raise _user_error(f"--start {args.start}: {exc}") from None
    camera = None
    if s.aoi_lines and not args.no_camera:
        line = s.aoi_lines[0]

        def state() -> tuple[bool, str, list[Any]]:
            f = twin.latest()
            producing = twin.running and bool(f and (f["aoi"].get("boards_out") or 0) > 0)
            return producing, f["time"] if f else "", twin.active("defect_burst")

        camera = AOICamera(line, s.park.seed, state)
    print(f"{s.park.name}: from {start:%Y-%m-%d %H:%M}, steps of {s.period.step_s} s at "
          f"x{args.speed:g} ({s.period.step_s / args.speed:.2f} s per step); run files in "
          f"{twin.out_dir}",
          file=sys.stderr)
    twin.start()
    if camera is not None:
        camera.start()
    operator = args.operator_token or secrets.token_urlsafe(12)
    if len(operator) < 8:
        raise _user_error("--operator-token: use at least 8 characters")
    return _serve(Dashboard(twin, camera, args.token, operator, tuple(args.allow_host)),
                  args.host, args.port, args.token, "twin demo")


def cmd_replay(args: argparse.Namespace) -> int:
    """Serve the page over a recorded run, with a time slider."""
    from twin.apps.dashboard.replay import Replay
    from twin.apps.dashboard.server import Dashboard

    check_binding(args.host, args.token)
    if not Path(args.run).is_file():
        raise _user_error(f"{args.run}: no such run file")
    try:
        replay = Replay(args.run)
    except ValueError as exc:
        raise _user_error(str(exc)) from None
    return _serve(Dashboard(replay, None, args.token, allow_hosts=tuple(args.allow_host)),
                  args.host, args.port, args.token,
                  f"twin replay ({replay.n} steps)")


def register(subparsers: Any) -> None:
    """Add ``demo`` and ``replay`` to the ``twin`` command."""
    p = subparsers.add_parser("demo", help="the trainers' page: the park live in a browser")
    p.add_argument("scenario", nargs="?", default="scenarios/park.yaml",
                   help="scenario YAML file (default: scenarios/park.yaml)")
    p.add_argument("--speed", type=float, default=600.0,
                   help="simulated seconds per wall second (default 600: a 15-minute step "
                   "every 1.5 s)")
    p.add_argument("--controller", choices=("rule", "ems"),
                   help="override the scenario's controller (ems answers demand response)")
    p.add_argument("--days", type=float, help="simulate only the first N days")
    p.add_argument("--start", default="auto",
                   help="local time to open at: YYYY-MM-DD[THH:MM], 'period' (its start) or "
                   "'auto' (default: a spring weekday morning in a run of two months or more)")
    p.add_argument("--out", help="folder of the run file (default: a temporary folder)")
    p.add_argument("--year", metavar="RUN.h5",
                   help="a run of the same scenario from its start (twin run): the demo opens "
                   "and jumps with the storage and heat stores as that run had them then")
    p.add_argument("--no-camera", action="store_true",
                   help="no AOI board images or robot frames (saves CPU)")
    p.add_argument("--operator-token",
                   help="the operator's secret (?op=...): only it controls; default: a fresh "
                   "one, printed with the operator's link")
    _serving(p)
    p.set_defaults(func=cmd_demo)

    p = subparsers.add_parser("replay", help="a recorded run on the trainers' page, with a "
                              "time slider")
    p.add_argument("run", help="run file (HDF5) written by twin run or twin demo")
    _serving(p)
    p.set_defaults(func=cmd_replay)


def _serving(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port (default 8050)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to serve on (default 127.0.0.1, this machine only; any "
                   "other needs --token)")
    p.add_argument("--token", help="secret every visitor gives (?token=...); needed with "
                   "--host beyond loopback")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="a host name the page may be opened by besides loopback addresses "
                   "and localhost (repeatable)")
