"""The park's view of a run kept beside its file, so that a replay opens without the network.

The single-line diagram and which elements a tripped line cuts off are worked out from the
pandapower network (:func:`twin.apps.dashboard.frames.network_of`): importing pandapower and
building the network take seconds, longer than opening a year's run file. ``<run>.view.json``
keeps both (:meth:`Diagram.state`, :meth:`Supply.state` with the shares of every set of lines
the run's events trip), keyed by what they follow from: the scenario's text, the grid's data
(``twin/data/grid.yaml``, a JSON network's file) and the code that draws them. A file that
does not match, or cannot be read or written, only costs the time of building the network.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from twin import data
from twin.apps.dashboard.diagram import Diagram
from twin.apps.dashboard.frames import ParkView, network_of
from twin.apps.dashboard.truth import Supply
from twin.core.atomic import write_text
from twin.scenario import Scenario

log = logging.getLogger(__name__)

VERSION = 1
_CODE = [Path(__file__).parent / f for f in ("diagram.py", "truth.py")] + [
    Path(data.__file__).parents[1] / f for f in ("models/grid/network.py", "cosim/network.py")]


def view_file(run_path: str | Path) -> Path:
    """The file beside a run that keeps its park's view."""
    return Path(run_path).with_suffix(".view.json")


def key(s: Scenario, text: str) -> str:
    """What the view of scenario ``s`` (written as ``text``) follows from, hashed."""
    h = hashlib.sha256(f"{VERSION}\n{text}\n".encode())
    h.update(json.dumps(data.load("grid"), sort_keys=True, default=str).encode())
    files = [*_CODE, *([Path(s.grid.path)] if s.grid is not None and s.grid.source == "json"
                       else [])]
    for f in files:
        h.update(f.read_bytes() if f.is_file() else b"-")
    return h.hexdigest()


def park_view(s: Scenario, text: str, run_path: str | Path,
              trips: Iterable[frozenset[str]] = (),
              rated_mw: Mapping[str, float] | None = None) -> ParkView:
    """The view of scenario ``s`` for the run at ``run_path``: kept beside it if it matches
    ``text``'s key, else built (and kept); the shares of each set of lines in ``trips`` are
    worked out now, not on the first step they matter in. ``rated_mw``: as
    :class:`ParkView` takes it."""
    path, k = view_file(run_path), key(s, text)
    view = None
    try:
        kept = json.loads(path.read_text())
        if kept.get("key") == k:
            view = ParkView(s, (Diagram.from_state(kept["diagram"]),
                                Supply(lambda: network_of(s), known=kept["supply"])),
                            rated_mw)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    stored = view is not None
    if view is None:
        view = ParkView(s, rated_mw=rated_mw)
    before = len(view.supply.state()["dead"])
    for lines in trips:
        view.supply.dead_share(lines)
    if not stored or len(view.supply.state()["dead"]) != before:
        state = {"key": k, "diagram": view.diagram.state(), "supply": view.supply.state()}
        try:
            write_text(path, json.dumps(state))
        except OSError as exc:  # a read-only folder: the next replay builds it again
            log.info("%s: the park's view not kept (%s)", path, exc)
    return view


def trip_sets(book: Any) -> set[frozenset[str]]:
    """The sets of lines the trips in ``book`` (an :class:`~twin.models.events.EventBook`)
    hold tripped together, as :meth:`FrameBuilder.frame` asks about them."""
    out = set()
    for w in book:
        if w.event.kind == "line_trip":
            for t in (w.start_s, w.end_s):
                out.add(frozenset(x.event.line for x in book.active(t, "line_trip")))
    return out
