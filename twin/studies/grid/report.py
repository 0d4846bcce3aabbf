"""The grid studies' outputs: text tables for the terminal, CSV files, an HTML page."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandapower.topology as pp_topology

from twin.core import html, plots
from twin.core.atomic import write_text
from twin.models.grid.network import element_names

__all__ = ["csv_text", "hosting_map", "page", "text_table"]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    return "" if value is None else str(value)


def text_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """Rows as an aligned text table of ``columns``."""
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    width = [max([len(c), *(len(row[k]) for row in cells)]) for k, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, width, strict=True))]
    lines += ["  ".join(x.ljust(w) for x, w in zip(row, width, strict=True)) for row in cells]
    return "\n".join(lines)


def csv_text(rows: Sequence[dict[str, Any]]) -> str:
    """Rows as CSV, every key a column."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, keys, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def hosting_map(net: Any, rows: Sequence[dict[str, Any]], title: str) -> str:
    """The hosting capacities drawn on the network (one panel per technology), SVG."""
    import networkx as nx

    graph = pp_topology.create_nxgraph(net, multi=False)
    pos = nx.kamada_kawai_layout(graph, weight=None)  # hops: trafos weigh 0 km
    pos = {int(b): (float(x), float(y)) for b, (x, y) in pos.items()}
    names = dict(zip(net.bus.index, element_names(net, "bus"), strict=True))
    by_name = {v: k for k, v in names.items()}
    panels: dict[str, dict[int, float]] = {}
    for r in rows:
        panels.setdefault(str(r["tech"]), {})[by_name[r["bus"]]] = float(r["mw"])
    labels = {b: names[b].split("/")[0] for p in panels.values() for b in p}
    return plots.network_map(pos, [(int(a), int(b)) for a, b in graph.edges()], panels,
                             labels, "MW", title)


def page(path: str | Path, title: str, sections: Sequence[tuple[str, str]]) -> Path:
    """An HTML page of (heading, body HTML) sections, written whole."""
    body = [f"<h2>{html.esc(h)}</h2>{b}" for h, b in sections]
    return write_text(path, html.page(title, body))


def html_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """Rows as an HTML table of ``columns``."""
    return html.table(list(columns), [[_cell(r.get(c)) for c in columns] for r in rows])
