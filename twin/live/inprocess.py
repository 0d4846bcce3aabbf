"""The stand-in plant and the live twin in one process (tests, benchmarks, a demo).

The plant publishes from a thread while :func:`twin.live.session.follow` feeds its readings
to the twin; the session ends once the plant has published its last reading and the source
has been quiet for ``idle_s``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, Protocol

from twin.live.engine import LiveEngine
from twin.live.plant import StandInPlant
from twin.live.session import Followed, Source, follow


class _Closable(Protocol):
    def close(self) -> Any: ...


def follow_plant(engine: LiveEngine, source: Source, plant: StandInPlant, idle_s: float = 0.5,
                 close: Iterable[_Closable] = ()) -> Followed:
    """Run ``plant`` in a thread and follow
    ``source`` into ``engine`` until the plant is done and ``idle_s`` passed without a
    reading; then wait for the thread and close each of ``close`` (its publisher, the
    source), also when following fails."""
    thread = threading.Thread(target=plant.run, name="stand-in-plant")
    thread.start()
    try:
        return follow(engine, source, idle_s=idle_s, running=thread.is_alive)
    finally:
        thread.join()
        for item in close:
            item.close()
