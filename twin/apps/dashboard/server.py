"""The trainers' page: an aiohttp server with server-sent events, no internet needed.

Routes (``/api/...`` answers JSON)::

    GET  /                    the page (static/index.html, app.js, style.css)
    GET  /static/plotly.min.js  plotly.js as bundled in the installed plotly package
    GET  /api/info            the park: names, kinds, the single-line diagram, mode
    GET  /api/stream          live: server-sent events (snapshot, frames, status, totals, aoi)
    GET  /api/snapshot?i=N    replay: the frames of the two days up to step N (or ?date=)
    GET  /api/totals?i=N      replay: the carbon counter, criteria and KPIs up to step N
    POST /api/control         {"action": "pause"|"resume"|"speed"|"jump", "value": ...}
    POST /api/event           {"kind": "wind_lull", "hours": 6, ...the kind's parameters}
    GET  /api/aoi/board.jpg, /api/aoi/robot.jpg   the latest inspected board, robot frame
    GET  /api/telemetry?since=N  live mode (twin live --serve): telemetry.TelemetryPage

The stream sends a status at least twice a second and each new step as it comes.

Who may do what: a *viewer* watches, an *operator* also controls (pause, speed, jump, events).
With an operator token (``twin demo`` always makes one) only a request carrying it, once as
``?op=`` (then kept in a cookie) or in the ``X-Twin-Operator`` header, controls; the plain link
watches. Without a viewer token the server answers only host names that are loopback
addresses (``127.0.0.1``, ``::1``, ``localhost``) or that the operator allowed (against DNS
rebinding: ``127.evil.com`` is refused); with one (``--token``, needed beyond loopback) every
request needs it, once as ``?token=`` (kept in a cookie) or in the ``X-Twin-Token`` header.
Requests that change something also need the ``X-Twin: 1`` header (a page on another site
cannot send it without the browser asking first).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hmac
import ipaddress
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from twin.apps.dashboard.camera import AOICamera
from twin.apps.dashboard.frames import safe_json

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
STATUS_EVERY_S = 0.5
POLL_S = 0.1
TOTALS_EVERY_S = 1.5
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
       "script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
SHUTDOWN_S = 2.0  # open streams end at once; other requests get this long


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only: a loopback address or ``localhost``."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class Dashboard:
    """The page's server over a live twin (:class:`~twin.apps.dashboard.live.LiveTwin`) or a
    recorded run (:class:`~twin.apps.dashboard.replay.Replay`)."""

    def __init__(self, source: Any, camera: AOICamera | None = None,
                 token: str | None = None, operator: str | None = None,
                 allow_hosts: tuple[str, ...] = ()) -> None:
        self.source, self.camera, self.token = source, camera, token or None
        self.operator = operator or None
        self.allow_hosts = frozenset(h.lower().rstrip(".") for h in allow_hosts)
        self.live = getattr(source, "add_event", None) is not None
        self.totals: dict[str, Any] = {"version": 0}
        self.closing = False  # set on shutdown: open streams end
        self._plotly: bytes | None = None
        self._info: dict[str, Any] | None = None

    # ------------------------------------------------------------------ app
    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(middlewares=[self._guard])
        app.router.add_get("/", self.index)
        app.router.add_get("/static/plotly.min.js", self.plotly)
        app.router.add_static("/static/", STATIC, show_index=False)
        app.router.add_get("/api/info", self.info)
        app.router.add_get("/api/stream", self.stream)
        app.router.add_get("/api/snapshot", self.snapshot)
        app.router.add_get("/api/totals", self.totals_route)
        app.router.add_post("/api/control", self.control)
        app.router.add_post("/api/event", self.event)
        app.router.add_get("/api/aoi/{image}", self.aoi_image)
        for path, handler in getattr(self.source, "routes", dict)().items():
            app.router.add_get(path, handler)  # a source's own (live mode: /api/telemetry)
        if self.live:
            app.cleanup_ctx.append(self._background)
        app.on_shutdown.append(self._end_streams)
        return app

    async def _end_streams(self, app: web.Application) -> None:
        self.closing = True

    async def _background(self, app: web.Application) -> Any:
        task = asyncio.create_task(self._totals_loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.get_running_loop().run_in_executor(None, self.close)

    def close(self) -> None:
        """Stop the twin and the camera."""
        if self.camera is not None:
            self.camera.stop()
        stop = getattr(self.source, "stop", None)
        if stop is not None:
            stop()

    async def _totals_loop(self) -> None:
        """Carbon counter and KPIs of the run so far, in a worker thread, every 1.5 s."""
        loop = asyncio.get_running_loop()
        seen = -1
        while True:
            seq = self.source.seq
            if seq != seen:
                seen = seq
                try:
                    totals = await loop.run_in_executor(None, self.source.totals)
                    self.totals = {**totals, "version": self.totals["version"] + 1}
                except Exception:
                    log.exception("totals of the run so far failed")
            await asyncio.sleep(TOTALS_EVERY_S)

    # ------------------------------------------------------------------ security
    @web.middleware
    async def _guard(self, request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                     ) -> web.StreamResponse:
        if self.token is None:
            host = request.url.host or ""
            if not (is_loopback(host) or host.lower().rstrip(".") in self.allow_hosts):
                raise web.HTTPForbidden(text="this server answers loopback addresses and the "
                                        "host names its operator allowed only")
        elif not _given(request, "token", "X-Twin-Token", "twin_token", self.token):
            raise web.HTTPUnauthorized(text="token required: open the URL printed by twin demo")
        if request.method == "POST":
            if request.headers.get("X-Twin") != "1":
                raise web.HTTPForbidden(text="missing X-Twin header")
            if not self.is_operator(request):
                raise web.HTTPForbidden(text="this link only watches: controls and events "
                                        "need the operator's link")
        response = await handler(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if self.token is not None and request.query.get("token"):
            response.set_cookie("twin_token", self.token, httponly=True, samesite="Strict")
        if self.operator is not None and request.query.get("op") and self.is_operator(request):
            response.set_cookie("twin_op", self.operator, httponly=True, samesite="Strict")
        return response

    def is_operator(self, request: web.Request) -> bool:
        """Whether ``request`` may control (everyone who may watch, without an operator
        token)."""
        return self.operator is None or _given(request, "op", "X-Twin-Operator", "twin_op",
                                               self.operator)

    # ------------------------------------------------------------------ pages
    async def index(self, request: web.Request) -> web.StreamResponse:
        """The page."""
        return web.FileResponse(STATIC / "index.html")

    async def plotly(self, request: web.Request) -> web.Response:
        """plotly.js from the installed plotly package (no CDN)."""
        if self._plotly is None:
            from plotly.offline import get_plotlyjs

            self._plotly = get_plotlyjs().encode()
        response = web.Response(body=self._plotly, content_type="application/javascript",
                                headers={"Cache-Control": "max-age=86400"})
        response.enable_compression()
        return response

    async def info(self, request: web.Request) -> web.Response:
        """The park and the page's mode."""
        if self._info is None:
            self._info = {**self.source.info(), "aoi_camera": self.camera is not None}
        return _json({**self._info, "role": "operator" if self.is_operator(request)
                      else "viewer"})

    # ------------------------------------------------------------------ live
    async def stream(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: a snapshot, then frames, status, totals and AOI shots."""
        if not self.live:
            raise web.HTTPNotFound(text="a replay has no stream: use /api/snapshot")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-cache",
                                               "X-Accel-Buffering": "no"})
        await response.prepare(request)
        src = self.source
        seq, frames = src.frames_since(0)
        await _send(response, "snapshot", {"frames": frames, "status": src.status(),
                                           "totals": self.totals, "aoi": self._aoi_meta()})
        totals_v, aoi_v = self.totals["version"], self._aoi_meta().get("version", 0)
        loop = asyncio.get_running_loop()
        last_status = loop.time()
        try:
            while not self.closing:
                await asyncio.sleep(POLL_S)
                if src.seq != seq:
                    seq, frames = src.frames_since(seq)
                    if frames:
                        await _send(response, "frames", frames)
                if self.totals["version"] != totals_v:
                    totals_v = self.totals["version"]
                    await _send(response, "totals", self.totals)
                aoi = self._aoi_meta()
                if aoi.get("version", 0) != aoi_v:
                    aoi_v = aoi["version"]
                    await _send(response, "aoi", aoi)
                if loop.time() - last_status >= STATUS_EVERY_S:
                    last_status = loop.time()
                    await _send(response, "status", src.status())
        except ConnectionResetError:  # the page went away
            pass
        return response

    async def snapshot(self, request: web.Request) -> web.Response:
        """Replay: the state at step ``i``; live: the state now."""
        if self.live:
            _, frames = self.source.frames_since(0)
            return _json({"frames": frames, "status": self.source.status(),
                          "totals": self.totals, "aoi": self._aoi_meta()})
        loop = asyncio.get_running_loop()
        try:
            if "date" in request.query:
                day = dt.date.fromisoformat(request.query["date"])
                i = await loop.run_in_executor(None, self.source.index_of, day)
            else:
                i = int(request.query.get("i", "0"))
        except ValueError as exc:
            raise web.HTTPBadRequest(text=f"expected a step number i or a date: {exc}") \
                from None
        return _json(await loop.run_in_executor(None, self.source.snapshot, i))

    async def totals_route(self, request: web.Request) -> web.Response:
        """Replay: the carbon counter, criteria and KPIs up to step ``i``; live: so far."""
        if self.live:
            return _json(self.totals)
        try:
            i = int(request.query.get("i", "0"))
        except ValueError:
            raise web.HTTPBadRequest(text="i: expected a step number") from None
        loop = asyncio.get_running_loop()
        return _json(await loop.run_in_executor(None, self.source.totals, i))

    async def control(self, request: web.Request) -> web.Response:
        """Pause, resume, speed, jump."""
        if not self.live:
            raise web.HTTPBadRequest(text="a replay takes no controls")
        body = await _body(request)
        action, value = body.get("action"), body.get("value")
        src = self.source
        try:
            if action == "pause":
                src.pause()
            elif action == "resume":
                src.resume()
            elif action == "speed":
                src.set_speed(float(value))
            elif action == "jump":
                text = str(value).strip()
                src.jump(dt.datetime.fromisoformat(text) if len(text) > 10
                         else dt.date.fromisoformat(text))
            else:
                raise ValueError(f"unknown action {action!r}: pause, resume, speed or jump")
        except (TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        return _json({"ok": True, "status": src.status()})

    async def event(self, request: web.Request) -> web.Response:
        """An event now, for ``hours`` of simulated time."""
        if not self.live:
            raise web.HTTPBadRequest(text="a replay takes no events")
        body = await _body(request)
        kind = str(body.pop("kind", ""))
        hours = body.pop("hours", 6)
        try:
            windows = self.source.add_event(kind, float(hours), **body)
        except (TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        return _json({"ok": True, "windows": windows})

    # ------------------------------------------------------------------ AOI camera
    def _aoi_meta(self) -> dict[str, Any]:
        if self.camera is None:
            return {}
        shot = self.camera.latest()
        return {"version": shot.version, "robot_version": shot.robot_version,
                "index": shot.index, "flagged": shot.flagged, "defective": shot.defective,
                "findings": shot.findings, "p_defect": shot.p_defect, "time": shot.time,
                "wall_ms": shot.wall_ms}

    async def aoi_image(self, request: web.Request) -> web.Response:
        """The latest board (``board.jpg``) or robot frame (``robot.jpg``)."""
        name = request.match_info["image"]
        if self.camera is None or name not in ("board.jpg", "robot.jpg"):
            raise web.HTTPNotFound()
        shot = self.camera.latest()
        data = shot.board_jpg if name == "board.jpg" else shot.robot_jpg
        if not data:
            raise web.HTTPNotFound(text="no image yet")
        return web.Response(body=data, content_type="image/jpeg",
                            headers={"Cache-Control": "no-store"})


def _given(request: web.Request, query: str, header: str, cookie: str, secret: str) -> bool:
    """Whether ``request`` carries ``secret`` in its query, header or cookie."""
    given = (request.query.get(query) or request.headers.get(header)
             or request.cookies.get(cookie) or "")
    return hmac.compare_digest(given.encode(), secret.encode())


async def _send(response: web.StreamResponse, event: str, data: Any) -> None:
    await response.write(f"event: {event}\ndata: {safe_json(data)}\n\n".encode())


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="expected a JSON body") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    return body


def _json(data: Any) -> web.Response:
    return web.Response(text=safe_json(data), content_type="application/json")


class ServerThread:
    """The page's server in a background thread (tests, notebooks): ``url``, ``stop()``."""

    def __init__(self, dashboard: Dashboard, host: str = "127.0.0.1", port: int = 0) -> None:
        self.dashboard, self.host = dashboard, host
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self.port = port
        self._thread = threading.Thread(target=self._main, name="twin-page", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the page's server did not start")

    @property
    def url(self) -> str:
        """The page's address."""
        return f"http://{self.host}:{self.port}/"

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._runner = web.AppRunner(self.dashboard.app(), handle_signals=False,
                                     shutdown_timeout=SHUTDOWN_S)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, self.host, self.port)
        self._loop.run_until_complete(site.start())
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    def stop(self) -> None:
        """Stop the server (and the twin behind it)."""
        async def down() -> None:
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(down(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
