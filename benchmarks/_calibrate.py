"""A fixed pure-Python workload that tells how fast this machine is right now.

Shared cloud machines change speed from minute to minute (here by up to a third); the
benchmarks print this figure beside theirs so runs can be compared.
"""

from __future__ import annotations

import time


def python_loop_s(n: int = 10_000_000, clock: str = "wall") -> float:
    """Seconds for ``n`` integer additions in a Python loop (best of three), by the wall
    clock or (``clock="cpu"``) by this process's CPU time: on a machine shared with other
    work the first grows with the waiting, the second only with what sharing the cores'
    caches costs, so the two together tell how loaded the machine is and how far a CPU
    time measured now stands from a quiet machine's."""
    now = time.perf_counter if clock == "wall" else time.process_time
    best = float("inf")
    for _ in range(3):
        t0 = now()
        total = 0
        for i in range(n):
            total += i
        best = min(best, now() - t0)
    return best
