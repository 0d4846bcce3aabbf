"""A fixed pure-Python workload that tells how fast this machine is right now.

Shared cloud machines change speed from minute to minute (here by up to a third); the
benchmarks print this figure beside theirs so runs can be compared.
"""

from __future__ import annotations

import time


def python_loop_s(n: int = 10_000_000) -> float:
    """Seconds for ``n`` integer additions in a Python loop (best of three)."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        total = 0
        for i in range(n):
            total += i
        best = min(best, time.perf_counter() - t0)
    return best
