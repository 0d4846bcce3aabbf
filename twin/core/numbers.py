"""How numbers are written in tables, in the terminal and in reports alike."""

from __future__ import annotations


def fmt(value: float) -> str:
    """A number for a table: thousands separators, 3 decimals for small ones, n/a for NaN."""
    if value != value:
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"
