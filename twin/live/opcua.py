"""Telemetry over OPC UA (asyncua): the plant's server and the twin's subscription.

A tag is a variable node: a full node id (``ns=3;s=PV1.P``, ``i=2258``) as written, or a
plain name, then a string node id in the stand-in plant's namespace (:data:`NAMESPACE`) with
the mapping's ``prefix`` in front. A reading is a value change with the measurement's time as
its source timestamp. The twin subscribes (a monitored item per tag, queued, reported every
:data:`PUBLISH_MS`), it does not poll. Each side runs asyncua on its own event loop in its own
thread; the caller's thread never waits on the network but for the start and the end.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import heapq
import itertools
import logging
import math
import queue
import threading
import time
from collections.abc import Coroutine
from typing import Any

from twin.core.errors import UserError
from twin.live.mapping import Tag, Telemetry, Voltage

log = logging.getLogger(__name__)

NAMESPACE = "urn:park-twin:plant"
PUBLISH_MS = 20  # the subscription's publishing interval
QUEUE = 1000  # values a monitored item keeps between two publications
SETTLE_S = 3 * PUBLISH_MS / 1000  # a reading waits this long for earlier ones of other nodes
TIMEOUT_S = 10.0
START_S = 60.0  # a server loads OPC UA's standard address space first: seconds on a busy machine


class _Loop:
    """An asyncio loop in a daemon thread; :meth:`run` waits for a coroutine's result."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = TIMEOUT_S) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(TIMEOUT_S)
        self.loop.close()


def endpoint(telemetry: Telemetry) -> str:
    return f"opc.tcp://{telemetry.source.host}:{telemetry.source.port}/park-twin/"


def _node_id(tag: Tag | Voltage, telemetry: Telemetry, ns: int) -> Any:
    from asyncua import ua

    if tag.tag.startswith(("ns=", "i=", "s=")):
        return ua.NodeId.from_string(tag.tag)
    return ua.NodeId(telemetry.topic(tag), ns)


def _quiet() -> None:
    logging.getLogger("asyncua").setLevel(logging.ERROR)


class OpcUaServer:
    """The plant's side: one variable per tag, written with the step's time as source
    timestamp. A :class:`twin.live.plant.Publisher`."""

    def __init__(self, telemetry: Telemetry) -> None:
        _quiet()
        self.tm = telemetry
        self._pending: list[tuple[str, float, float]] = []
        self._loop = _Loop("opcua-server")
        try:
            self._loop.run(self._start(), START_S)
        except (OSError, TimeoutError) as exc:
            self._loop.stop()
            raise UserError(f"cannot serve OPC UA on {endpoint(telemetry)}: {exc}") from None

    async def _start(self) -> None:
        from asyncua import Server, ua

        self.server = Server()
        await self.server.init()
        self.server.set_endpoint(endpoint(self.tm))
        self.server.set_server_name("park twin: the stand-in plant")
        ns = await self.server.register_namespace(NAMESPACE)
        park = await self.server.nodes.objects.add_object(ns, "park")
        self.nodes = {}
        waiting = ua.DataValue(StatusCode=ua.StatusCode(ua.StatusCodes.BadWaitingForInitialData))
        for tag in self.tm.all_tags:
            node = await park.add_variable(_node_id(tag, self.tm, ns), self.tm.topic(tag),
                                           ua.Variant(0.0, ua.VariantType.Double))
            await node.write_value(waiting)
            self.nodes[self.tm.topic(tag)] = node
        await self.server.start()

    def publish(self, topic: str, t_epoch_s: float, value: float) -> None:
        self._pending.append((topic, t_epoch_s, value))

    def flush(self) -> None:
        """Write the step's readings, in one call on the server's loop."""
        pending, self._pending = self._pending, []
        if pending:
            self._loop.run(self._write(pending))

    async def _write(self, pending: list[tuple[str, float, float]]) -> None:
        from asyncua import ua

        for topic, t_epoch_s, value in pending:
            stamp = dt.datetime.fromtimestamp(t_epoch_s, dt.UTC)
            await self.nodes[topic].write_value(ua.DataValue(
                ua.Variant(float(value), ua.VariantType.Double), SourceTimestamp=stamp))

    def close(self) -> None:
        try:
            self.flush()
            self._loop.run(self.server.stop())
        finally:
            self._loop.stop()


class OpcUaSubscriber:
    """The twin's side: a subscription to every tag's node; :meth:`get` gives readings as
    ``(tag, t, value)`` in arrival order (a source for :func:`twin.live.session.follow`)."""

    def __init__(self, telemetry: Telemetry) -> None:
        _quiet()
        self.tm = telemetry
        self.readings: queue.Queue[tuple[str, float, float]] = queue.Queue()
        self.n_bad = 0
        self._held: list[tuple[float, int, float, tuple[str, float, float]]] = []
        self._seq = itertools.count()
        self._loop = _Loop("opcua-client")
        try:
            self._loop.run(self._start())
        except (OSError, TimeoutError) as exc:
            self._loop.stop()
            raise UserError(f"cannot reach the OPC UA server at {endpoint(telemetry)}: "
                            f"{exc or type(exc).__name__}") from None

    async def _start(self) -> None:
        from asyncua import Client, ua

        self.client = Client(endpoint(self.tm), timeout=TIMEOUT_S)
        await self.client.connect()
        ns = await self.client.get_namespace_index(NAMESPACE) \
            if any(not t.tag.startswith(("ns=", "i=", "s=")) for t in self.tm.all_tags) else 0
        nodes = [self.client.get_node(_node_id(t, self.tm, ns)) for t in self.tm.all_tags]
        self.tags = {n.nodeid: t.tag for n, t in zip(nodes, self.tm.all_tags, strict=True)}
        self.sub = await self.client.create_subscription(PUBLISH_MS, self)
        # every write is a reading, also of the same value (PV at night): the source timestamp
        # triggers a notification too; queued, sampled on change
        trigger = ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValueTimestamp)
        await self.sub._subscribe(nodes, mfilter=trigger, queuesize=QUEUE, sampling_interval=0)

    def datachange_notification(self, node: Any, val: Any, data: Any) -> None:
        """asyncua's callback, on the client's loop: one value change of one node."""
        value = data.monitored_item.Value
        stamp = value.SourceTimestamp
        good = value.StatusCode is None or value.StatusCode.is_good()
        try:
            reading = float(val)
        except (TypeError, ValueError):
            reading = math.nan
        if not good or stamp is None or not math.isfinite(reading):
            self.n_bad += good  # a value waiting for its first reading is not a bad one
            return
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=dt.UTC)
        self.readings.put((self.tags[node.nodeid], stamp.timestamp(), reading))

    def get(self, timeout: float) -> tuple[str, float, float] | None:
        """The next reading in time order: a publication may hold several steps of a node
        before the next node's, so readings wait :data:`SETTLE_S` to be sorted."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                while True:
                    reading = self.readings.get_nowait()
                    heapq.heappush(self._held, (reading[1], next(self._seq),
                                                time.monotonic(), reading))
            except queue.Empty:
                pass
            if self._held and time.monotonic() - min(h[2] for h in self._held) >= SETTLE_S:
                return heapq.heappop(self._held)[3]
            if time.monotonic() >= deadline:
                return None
            time.sleep(SETTLE_S / 4)

    def close(self) -> None:
        try:
            self._loop.run(self.client.disconnect())
        except Exception as exc:  # the server may be gone already
            log.debug("OPC UA disconnect: %s", exc)
        finally:
            self._loop.stop()
