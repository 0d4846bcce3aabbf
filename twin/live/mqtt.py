"""Telemetry over MQTT (paho-mqtt): the plant's publisher and the twin's subscriber.

A reading is one message on the tag's topic (the mapping's ``prefix`` + ``tag``) whose
payload is JSON ``{"t": <UTC unix seconds>, "v": <value in the tag's unit>}``. The client
runs paho's network loop in its own thread; the subscriber hands readings to the caller
through a queue, so the twin's step never runs on the network thread.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import queue
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from twin.core.errors import UserError
from twin.live.mapping import Telemetry

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"  # Debian's broker


@contextlib.contextmanager
def mosquitto(port: int, program: str = MOSQUITTO) -> Iterator[int]:
    """Debian's mosquitto broker on loopback ``port`` for the ``with`` block (the tests, the
    benchmark); :class:`UserError` if it is not installed or does not listen."""
    if not Path(program).exists():
        raise UserError(f"{program}: no such program; install Debian's mosquitto")
    with tempfile.TemporaryDirectory(prefix="twin-mosquitto-") as folder:
        conf = Path(folder) / "mosquitto.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                        "persistence false\n")
        proc = subprocess.Popen([program, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10.0
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise UserError(f"mosquitto did not listen on 127.0.0.1:{port}"
                                        ) from None
                    time.sleep(0.05)
            yield port
        finally:
            proc.terminate()
            proc.wait(timeout=5)


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _client(name: str) -> mqtt.Client:
    return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name, clean_session=True)


def _connect(client: mqtt.Client, host: str, port: int, ready: threading.Event) -> None:
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:
        raise UserError(f"cannot reach the MQTT broker at {host}:{port}: "
                        f"{exc.strerror or exc}") from None
    client.loop_start()
    if not ready.wait(CONNECT_TIMEOUT_S):
        client.loop_stop()
        raise UserError(f"the MQTT broker at {host}:{port} did not accept the connection "
                        f"within {CONNECT_TIMEOUT_S:g} s")


def payload(t_epoch_s: float, value: float) -> bytes:
    """The JSON payload of one reading."""
    return json.dumps({"t": t_epoch_s, "v": value}).encode()


def parse(raw: bytes) -> tuple[float, float] | None:
    """(time, value) of a payload; None for one that is not a reading."""
    try:
        data = json.loads(raw)
        t, v = float(data["t"]), float(data["v"])
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        return None
    return (t, v) if math.isfinite(t) and math.isfinite(v) else None


class MqttPublisher:
    """The plant's side: publishes readings to a broker (QoS 1: each reaches the broker)."""

    def __init__(self, host: str, port: int, name: str = "twin-plant") -> None:
        self.client = _client(name)
        self._ready = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p=None: self._ready.set()
        _connect(self.client, host, port, self._ready)
        self._last: Any = None

    def publish(self, topic: str, t_epoch_s: float, value: float) -> None:
        self._last = self.client.publish(topic, payload(t_epoch_s, value), qos=1)

    def close(self) -> None:
        """Wait until what was published left, then disconnect."""
        if self._last is not None:
            self._last.wait_for_publish(timeout=10.0)
        self.client.disconnect()
        self.client.loop_stop()


class MqttSubscriber:
    """The twin's side: subscribes to every tag of a mapping; :meth:`get` gives readings as
    ``(tag, t, value)`` in arrival order."""

    def __init__(self, telemetry: Telemetry, name: str = "twin-live") -> None:
        src = telemetry.source
        self.topics = {telemetry.topic(t): t.tag for t in telemetry.all_tags}
        self.readings: queue.Queue[tuple[str, float, float]] = queue.Queue()
        self.n_bad = 0
        self.client = _client(name)
        self._ready = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda c, u, mid, codes, p=None: self._ready.set()
        self.client.on_message = self._on_message
        _connect(self.client, src.host, src.port, self._ready)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any,
                    props: Any = None) -> None:
        client.subscribe([(topic, 1) for topic in self.topics])

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        tag = self.topics.get(msg.topic)
        reading = parse(msg.payload) if tag is not None else None
        if reading is None:
            self.n_bad += 1
            if self.n_bad <= 3:
                log.warning("ignored a message on %s: not a reading {\"t\": ..., \"v\": ...}",
                            msg.topic)
            return
        self.readings.put((tag, *reading))

    def get(self, timeout: float) -> tuple[str, float, float] | None:
        """The next reading, or None after ``timeout`` seconds without one."""
        try:
            return self.readings.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
