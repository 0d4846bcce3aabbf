"""Benchmark: real-time pacing with the twin's pacer against mosaik's own ``rt_factor``.

Two worlds, measured the same way, at 1 s steps and at 100 ms steps:

- ``pacer``: :class:`hil.pacer.PacerSim` sleeping to absolute deadlines, followed by a small
  chain of in-process simulators (a little numpy work each, like a park's adapters);
- ``rt_factor``: the same chain run by ``world.run(rt_factor=1)``.

A probe simulator at the end of the chain notes the wall time of each of its steps;
lateness of step k = its wall time - (its first step's wall time + k x step). Printed per
world: mean, median, p99 and largest lateness, the end offset (lateness of the last step:
drift), and how many real-time warnings mosaik gave. The README figure is the full run
(10 minutes at 1 s steps); ``--minutes`` shortens it for a quick look.

Then the device side, against the battery emulator (``twin emulate battery`` in its own
process on loopback, SunSpec over Modbus TCP, its default 2 ms response delay) through the
twin's own client (:mod:`hil.devices`):

- round trip: one polled read of the device's measurements (what every step does after its
  setpoint), p50 and p99;
- end to end: from writing a setpoint (alternating +-0.5 MW) to the first read that shows it
  as measured power (within 1 % of the rating), p50 and p99.

    .venv/bin/python benchmarks/bench_pacer.py [--minutes 10] [--fast-minutes 2] [--realtime]
        [--device-samples 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import mosaik  # noqa: E402
import mosaik_api_v3  # noqa: E402

from adapters.base import resolution_for  # noqa: E402
from benchmarks._calibrate import python_loop_s  # noqa: E402
from hil.pacer import realtime_priority  # noqa: E402

CHAIN = 3  # simulators between the pacer and the probe


class Work(mosaik_api_v3.Simulator):
    """A simulator doing a little work per step (about a park adapter's share)."""

    ticks = 1  # mosaik ticks per step (the park's: 1 s ticks, or 1 ms below a second)

    def __init__(self) -> None:
        super().__init__({"api_version": "3.0", "type": "time-based", "models": {
            "W": {"public": True, "params": [], "attrs": ["x", "y"], "any_inputs": True}}})
        self.rng = np.random.default_rng(0)

    def create(self, num: int, model: str, **kw: Any) -> list[dict[str, str]]:
        return [{"eid": "w", "type": "W"}]

    def step(self, time: int, inputs: dict[str, Any], max_advance: int) -> int:
        a = self.rng.standard_normal((40, 40))
        self.value = float(np.linalg.norm(a @ a))
        return time + Work.ticks

    def get_data(self, outputs: dict[str, Any]) -> dict[str, Any]:
        return {"w": {"y": self.value}}


class Probe(Work):
    """Notes the wall time of each of its steps."""

    stamps: list[float] = []

    def step(self, time: int, inputs: dict[str, Any], max_advance: int) -> int:
        Probe.stamps.append(time_now())
        return super().step(time, inputs, max_advance)


def time_now() -> float:
    return time.perf_counter()


def run_world(kind: str, step_s: float, n_steps: int) -> dict[str, float]:
    """Run one world; lateness statistics of the probe (and of the pacer itself)."""
    config = {"Work": {"python": "__main__:Work"}, "Probe": {"python": "__main__:Probe"},
              "Pacer": {"python": "hil.pacer:PacerSim"}}
    loop = asyncio.new_event_loop()
    resolution = resolution_for(step_s)  # as twin hil: 1 s ticks, or 1 ms for 0.1 s steps
    Work.ticks = round(step_s / resolution)
    world = mosaik.World(config, time_resolution=resolution, skip_greetings=True,
                         configure_logging=False, asyncio_loop=loop)
    Probe.stamps = []
    chain = [world.start("Work").W.create(1)[0] for _ in range(CHAIN)]
    probe = world.start("Probe").W.create(1)[0]
    first = chain[0]
    pacer_sim = None
    if kind == "pacer":
        pacer_sim = world.start("Pacer", step_s=step_s, policy="warn")
        pacer = pacer_sim.Pacer.create(1, name="pacer")[0]
        world.connect(pacer, first, ("lateness_s", "x"))
    for a, b in zip([*chain, probe][:-1], [*chain, probe][1:], strict=True):
        world.connect(a, b, ("y", "x"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        world.run(until=n_steps * Work.ticks, print_progress=False, shutdown=False,
                  rt_factor=1.0 if kind == "rt_factor" else None)
    pacer_late = np.array(pacer_sim.lateness()) if pacer_sim is not None else None
    world.shutdown()
    stamps = np.array(Probe.stamps)
    late = stamps - (stamps[0] + np.arange(len(stamps)) * step_s)
    out = {"steps": len(late), "mean_ms": late.mean() * 1e3,
           "p50_ms": np.percentile(late, 50) * 1e3, "p99_ms": np.percentile(late, 99) * 1e3,
           "max_ms": late.max() * 1e3, "end_ms": late[-1] * 1e3,
           "warnings": sum("real-time" in str(w.message) for w in caught)}
    if pacer_late is not None:
        out["pacer_p99_ms"] = np.percentile(pacer_late, 99) * 1e3
    return out


def main() -> None:
    """Run the four worlds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0,
                        help="length of the 1 s runs (README figure: 10)")
    parser.add_argument("--fast-minutes", type=float, default=2.0,
                        help="length of the 100 ms runs")
    parser.add_argument("--realtime", action="store_true",
                        help="run every world under real-time scheduling (SCHED_FIFO)")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"speed now: 1e7-addition Python loop {python_loop_s():.2f} s; load average "
          f"{load:.2f} on {os.cpu_count()} cores; chain of {CHAIN} in-process simulators and a "
          "probe")
    parser.add_argument("--device-samples", type=int, default=300,
                        help="exchanges with the emulator for the device figures (0: none)")
    args = parser.parse_args()
    with realtime_priority(args.realtime) as scheduling:
        print(f"scheduling: {scheduling}")
        table(args)
        if args.device_samples > 0:
            device_table(args.device_samples)


def table(args: argparse.Namespace) -> None:
    """The four worlds, one line each."""
    print(f"{'step':>6} {'clock':<10} {'steps':>6} {'mean ms':>8} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'max ms':>7} {'end ms':>7} {'rt warnings':>11}")
    for step_s, minutes in ((1.0, args.minutes), (0.1, args.fast_minutes)):
        n = max(2, int(round(minutes * 60 / step_s)))
        for kind in ("pacer", "rt_factor"):
            r = run_world(kind, step_s, n)
            extra = (f"   (pacer's own wake-up p99 {r['pacer_p99_ms']:.2f} ms)"
                     if "pacer_p99_ms" in r else "")
            print(f"{step_s:>5g}s {kind:<10} {r['steps']:>6} {r['mean_ms']:>8.2f} "
                  f"{r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['max_ms']:>7.2f} "
                  f"{r['end_ms']:>7.2f} {r['warnings']:>11}{extra}", flush=True)


def device_table(samples: int) -> None:
    """Round trip and setpoint-to-measurement latency against the battery emulator."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    proc = subprocess.Popen([sys.executable, "-m", "twin", "emulate", "battery", "--port",
                             str(port), "--log", str(Path(tempfile.mkdtemp()) / "emu.jsonl")],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the battery emulator did not start") from None
                time.sleep(0.1)
        trip, e2e, polls = asyncio.run(_device_samples(f"modbus://127.0.0.1:{port}?unit=1",
                                                       samples))
    finally:
        proc.kill()
        proc.wait(timeout=10)
    q = lambda v, p: float(np.percentile(v, p)) * 1e3  # noqa: E731
    print(f"device (battery emulator on loopback, SunSpec over Modbus TCP, {samples} samples):")
    print(f"  round trip (one polled read)            p50 {q(trip, 50):7.2f} ms   "
          f"p99 {q(trip, 99):7.2f} ms   max {max(trip) * 1e3:7.2f} ms")
    print(f"  setpoint -> measured power (end to end) p50 {q(e2e, 50):7.2f} ms   "
          f"p99 {q(e2e, 99):7.2f} ms   max {max(e2e) * 1e3:7.2f} ms   "
          f"(reads per setpoint: mean {np.mean(polls):.2f})")


async def _device_samples(url: str, samples: int) -> tuple[list[float], list[float], list[int]]:
    from hil import devices

    dev, _ = devices.make("battery", url, "sunspec", None, 1.0)
    await dev.open()
    await dev.arm(60.0)
    trip, e2e, polls = [], [], []
    try:
        for i in range(samples):
            t0 = time.perf_counter()
            await dev.read()
            trip.append(time.perf_counter() - t0)
            target = 0.5 if i % 2 else -0.5
            t0 = time.perf_counter()
            await dev.write({"p_set_mw": target})
            n = 0
            while True:
                n += 1
                p = (await dev.read()).get("p_mw")
                if p is not None and abs(p - target) <= 0.02:
                    break
                if time.perf_counter() - t0 > 5.0:
                    raise RuntimeError(f"the emulator did not reach {target} MW in 5 s")
            e2e.append(time.perf_counter() - t0)
            polls.append(n)
    finally:
        await dev.safe()
        await dev.disarm()
        await dev.close()
    return trip, e2e, polls


if __name__ == "__main__":
    main()
