"""Charts for reports, drawn with matplotlib and embedded as inline SVG (no files, no CDN)."""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping, Sequence

import matplotlib
from matplotlib import font_manager

matplotlib.use("Agg")  # a file backend: no display needed
matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: smaller, the browser's fonts
# Chinese labels: measured with a CJK font where one is installed (Debian: fonts-wqy-zenhei;
# matplotlib's font cache may predate it, so its folder is added)
for _font in font_manager.findSystemFonts(["/usr/share/fonts/truetype/wqy"]):
    font_manager.fontManager.addfont(_font)
matplotlib.rcParams["font.family"] = ["sans-serif", "WenQuanYi Zen Hei"]  # glyph fallback
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)  # its weight is 500
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

COLOURS = {
    "wind": "#2b8cbe", "pv": "#fdae61", "load": "#444444", "import": "#d7191c",
    "export": "#1a9641", "storage": "#7b3294", "heat": "#e66101", "gas": "#8c510a",
}
WIDTH_IN, HEIGHT_IN = 9.0, 3.2


def _svg(fig: plt.Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def lines(x: np.ndarray, series: Mapping[str, np.ndarray], ylabel: str, title: str,
          xlabel: str = "day of the run", hlines: Mapping[str, float] | None = None) -> str:
    """A line chart of several series over ``x``; optional labelled horizontal limits."""
    fig, ax = plt.subplots(figsize=(WIDTH_IN, HEIGHT_IN))
    for name, y in series.items():
        ax.plot(x, y, label=name, color=COLOURS.get(name.split()[0].lower()), linewidth=1.2)
    for label, value in (hlines or {}).items():
        ax.axhline(value, color="#999999", linestyle="--", linewidth=0.8)
        ax.annotate(label, (x[0] if len(x) else 0, value), fontsize=8, color="#666666",
                    va="bottom")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=min(len(series), 5), loc="upper left")
    return _svg(fig)


def bars(labels: Sequence[str], groups: Mapping[str, Sequence[float]], ylabel: str,
         title: str, stacked: bool = False, colours: Mapping[str, str] | None = None) -> str:
    """Grouped (or stacked) bars: one bar per label and group (``colours``: group -> colour,
    else by the group's first word, else matplotlib's cycle)."""
    fig, ax = plt.subplots(figsize=(WIDTH_IN, HEIGHT_IN))
    x = np.arange(len(labels))
    n = max(len(groups), 1)
    bottom = np.zeros(len(labels))
    for k, (name, values) in enumerate(groups.items()):
        v = np.asarray(values, dtype=float)
        colour = (colours or {}).get(name) or COLOURS.get(name.split()[0].lower())
        if stacked:
            ax.bar(x, v, 0.7, bottom=bottom, label=name, color=colour)
            bottom += v
        else:
            ax.bar(x + (k - (n - 1) / 2) * 0.8 / n, v, 0.8 / n, label=name, color=colour)
    rotate = len(labels) > 6
    ax.set_xticks(x, labels, fontsize=8, rotation=35 if rotate else 0,
                  ha="right" if rotate else "center")
    ax.set_ylabel(ylabel)
    ax.set_title(title, pad=22)
    ax.grid(axis="y", alpha=0.3)
    # the legend above the bars, never over them
    ax.legend(fontsize=8, ncol=min(n, 5), loc="lower left", bbox_to_anchor=(0.0, 1.0),
              frameon=False, borderaxespad=0.2)
    return _svg(fig)


def scatter(groups: Mapping[str, tuple[Sequence[float], Sequence[float]]], xlabel: str,
            ylabel: str, title: str, connect: Sequence[str] = (),
            hlines: Mapping[str, float] | None = None,
            marks: Mapping[str, tuple[float, float]] | None = None) -> str:
    """Points of several named groups; groups in ``connect`` joined by a line (a front),
    labelled horizontal limits, and single points marked with a star and their name."""
    fig, ax = plt.subplots(figsize=(WIDTH_IN, HEIGHT_IN * 1.3))
    for name, (x, y) in groups.items():
        if name in connect:
            ax.plot(x, y, "o-", label=name, linewidth=1.4, markersize=5)
        else:
            ax.plot(x, y, "o", label=name, markersize=4, alpha=0.45, color="#888888")
    for label, value in (hlines or {}).items():
        ax.axhline(value, color="#c62828", linestyle="--", linewidth=0.8)
        ax.annotate(label, (ax.get_xlim()[0], value), fontsize=8, color="#c62828",
                    va="bottom")
    for label, (x, y) in (marks or {}).items():
        ax.plot([x], [y], "*", markersize=14, color="#1a7f37", label=label)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return _svg(fig)


def waterfall(steps: Sequence[tuple[str, float]], ylabel: str, title: str,
              hlines: Mapping[str, float] | None = None,
              marks: Mapping[str, float] | None = None) -> str:
    """A waterfall: the first step's value as a bar, each later step the change it brings
    (green down, red up), the last value as a closing bar; labelled horizontal limits and
    single values marked with a star at the end (e.g. what a co-simulation proved)."""
    fig, ax = plt.subplots(figsize=(WIDTH_IN, HEIGHT_IN * 1.2))
    labels = [s[0] for s in steps] + ["result"]
    values = [float(s[1]) for s in steps]
    ax.bar(0, values[0], 0.7, color="#888888")
    for i in range(1, len(values)):
        lo, hi = sorted((values[i - 1], values[i]))
        ax.bar(i, hi - lo, 0.7, bottom=lo,
               color="#1a9641" if values[i] <= values[i - 1] else "#d7191c")
    ax.bar(len(values), values[-1], 0.7, color="#2b8cbe")
    for label, value in (hlines or {}).items():
        ax.axhline(value, color="#c62828", linestyle="--", linewidth=0.8)
        ax.annotate(label, (-0.4, value), fontsize=8, color="#c62828", va="bottom")
    for label, value in (marks or {}).items():
        ax.plot([len(values)], [value], "*", markersize=14, color="#1a7f37", label=label)
    if marks:
        ax.legend(fontsize=8)
    ax.set_xticks(np.arange(len(labels)), labels, fontsize=8, rotation=25, ha="right")
    ax.set(ylabel=ylabel, title=title)
    ax.grid(axis="y", alpha=0.3)
    return _svg(fig)


def network_map(pos: Mapping[int, tuple[float, float]], edges: Sequence[tuple[int, int]],
                panels: Mapping[str, Mapping[int, float]], labels: Mapping[int, str],
                unit: str, title: str) -> str:
    """The network drawn once per panel (buses at ``pos``, branches ``edges``), the buses of
    each panel's values as dots sized and coloured by their value (``unit``), labelled."""
    n = max(len(panels), 1)
    cols = min(n, 2)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(WIDTH_IN, 3.6 * rows), squeeze=False)
    top = max([v for values in panels.values() for v in values.values()] + [1e-9])
    for ax, (name, values) in zip(axes.flat, panels.items(), strict=False):
        for a, b in edges:
            (xa, ya), (xb, yb) = pos[a], pos[b]
            ax.plot([xa, xb], [ya, yb], color="#bbbbbb", linewidth=0.6, zorder=1)
        xy = np.array([pos[b] for b in values]) if values else np.zeros((0, 2))
        v = np.array(list(values.values()), dtype=float)
        dots = ax.scatter(xy[:, 0], xy[:, 1], s=20 + 280 * v / top, c=v, cmap="viridis",
                          vmin=0.0, vmax=top, zorder=2, edgecolors="#333333", linewidths=0.4)
        for b, value in values.items():
            ax.annotate(f"{labels.get(b, b)}\n{value:.0f}", pos[b], fontsize=6,
                        ha="center", va="bottom", xytext=(0, 5), textcoords="offset points")
        ax.set_title(f"{name} ({unit})", fontsize=9)
        ax.set_axis_off()
        fig.colorbar(dots, ax=ax, shrink=0.7)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_axis_off()
    fig.suptitle(title, fontsize=10)
    return _svg(fig)
