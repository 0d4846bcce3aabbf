"""Benchmark: the loader on random mutants of the shipped files, as ``twin check`` reads them.

The longer run of ``tests/test_loading.py``'s fuzzer: each mutant of ``scenarios/park.yaml``,
``scenarios/baseline-2025.yaml``, ``scenarios/hil-battery.yaml`` and
``studies/sizing-2027.yaml`` gets one to three line mutations (a value replaced by one of the
test's nasty values - ``.inf``, ``.nan``, impossible dates, maps, aliases, control characters
- a line deleted, duplicated or cut), and one in ten also a byte-level one (saved as UTF-16,
binary bytes inserted, the file cut mid-character); then ``--grid`` mutants of a pandapower
JSON network as a scenario's ``grid.path`` (numbers replaced by NaN, infinities, -1, 0, 1e12
or text, the file cut). Each is written to a file and loaded from
it, as ``twin check`` (or ``twin sweep`` for the study) loads it: loaded (exit code 0),
refused with one line per error each naming the file (exit code 2), or anything else - a
traceback, a message without the file, a load over ``--hang`` seconds - counted as a failure
and printed. A sample also runs as ``twin check`` processes, whose exit codes must be 0 or 2
without a traceback.

    .venv/bin/python benchmarks/bench_fuzz.py [--mutants 300] [--grid 300] [--seed 17] [--cli 12]
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_loading import NASTY, mutate  # noqa: E402
from tests.test_robust_network import NUMBERS, SMALL_NET, _scenario  # noqa: E402
from twin.scenario import ScenarioError  # noqa: E402
from twin.scenario import load as load_scenario  # noqa: E402
from twin.studies.spec import StudyError  # noqa: E402
from twin.studies.spec import load as load_study  # noqa: E402

FILES = (("scenarios/park.yaml", load_scenario, ScenarioError),
         ("scenarios/baseline-2025.yaml", load_scenario, ScenarioError),
         ("scenarios/hil-battery.yaml", load_scenario, ScenarioError),
         ("studies/sizing-2027.yaml", load_study, StudyError))
HOWS = ("value", "delete", "duplicate", "truncate")
GRID_VALUES = ("NaN", "-1.0", "Infinity", "1e999", "0.0", '\\"x\\"', "1e12", "truncate")


class Hang(Exception):
    """A load that took longer than the limit."""


def _alarm(signum: int, frame: object) -> None:
    raise Hang


def mutant(rng: random.Random, lines: list[str]) -> bytes:
    """One mutant's bytes: one to three line mutations, one time in ten a byte-level one."""
    mutations = [(rng.randrange(400), rng.choice(HOWS), rng.choice(NASTY))
                 for _ in range(rng.randint(1, 3))]
    raw = mutate(lines, mutations).encode("utf-8")
    if rng.random() < 0.1:
        cut = rng.randrange(1, len(raw))
        raw = rng.choice((lambda: raw.decode().encode("utf-16"),
                          lambda: raw[:cut] + bytes(rng.randrange(256) for _ in range(4))
                          + raw[cut:],
                          lambda: raw[:cut] + "é".encode()[:1]))()
    return raw


def grid_mutant(rng: random.Random) -> str:
    """A pandapower JSON network (tests/test_robust_network.py's small one) with one to four
    of its element tables' numbers replaced by NaN, -1, infinities, 0, 1e12 or text, or the
    file cut there."""
    text = SMALL_NET
    mutations = {rng.randrange(len(NUMBERS)): rng.choice(GRID_VALUES)
                 for _ in range(rng.randint(1, 4))}
    for k, value in sorted(mutations.items(), reverse=True):  # from the end: spans stay valid
        a, b = NUMBERS[k]
        text = text[:a] if value == "truncate" else text[:a] + value + text[b:]
    return text


def one(load, error: type[Exception], path: Path, hang_s: float) -> tuple[str, float, str]:
    """(outcome, seconds, detail): loaded, refused, or a failure."""
    t0 = time.perf_counter()
    signal.alarm(int(hang_s))
    try:
        load(path)
        outcome, detail = "loaded", ""
    except Hang:
        outcome, detail = "hang", f"over {hang_s:g} s"
    except error as exc:
        bad = [m for m in str(exc).splitlines() if not m.startswith((str(path), "... and "))]
        outcome, detail = ("refused", "") if not bad else ("unnamed", bad[0][:200])
    except Exception as exc:  # what a user would see as a traceback
        outcome, detail = "traceback", f"{type(exc).__name__}: {exc}"[:200]
    finally:
        signal.alarm(0)
    return outcome, time.perf_counter() - t0, detail


class Tally:
    """The outcomes of one file's mutants: counts, the slowest load; failures printed."""

    def __init__(self, name: str) -> None:
        self.name, self.counts, self.slowest, self.failures = name, {}, 0.0, 0

    def add(self, k: int, outcome: str, seconds: float, detail: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
        self.slowest = max(self.slowest, seconds)
        if outcome not in ("loaded", "refused"):
            self.failures += 1
            print(f"  {self.name} mutant {k}: {outcome}: {detail}")

    def line(self, extra: str = "") -> str:
        shown = ", ".join(f"{v} {k}" for k, v in sorted(self.counts.items()))
        return (f"{self.name}: {sum(self.counts.values())} mutants: {shown}; slowest load "
                f"{self.slowest:.2f} s{extra}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mutants", type=int, default=300, help="mutants per file")
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--hang", type=float, default=30.0, help="seconds that count as a hang")
    ap.add_argument("--cli", type=int, default=12, help="mutants per file run as twin check")
    ap.add_argument("--grid", type=int, default=300, help="mutants of a grid JSON network")
    args = ap.parse_args()
    signal.signal(signal.SIGALRM, _alarm)
    rng = random.Random(args.seed)
    tallies = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, load, error in FILES:
            source = ROOT / name
            text = source.read_text(encoding="utf-8")  # the study's base from anywhere:
            text = text.replace("../scenarios/", f"{ROOT / 'scenarios'}/")
            lines = text.splitlines()
            tally = Tally(name)
            cli_codes: dict[int, int] = {}
            for k in range(args.mutants):
                path = Path(tmp) / f"{k}-{source.name}"
                path.write_bytes(mutant(rng, lines))
                outcome, seconds, detail = one(load, error, path, args.hang)
                if k < args.cli and load is load_scenario:
                    run = subprocess.run([sys.executable, "-m", "twin", "check", str(path)],
                                         cwd=ROOT, capture_output=True, text=True,
                                         timeout=args.hang + 30)
                    cli_codes[run.returncode] = cli_codes.get(run.returncode, 0) + 1
                    if run.returncode not in (0, 2) or "Traceback" in run.stderr:
                        outcome, detail = "cli", run.stderr.strip()[-300:]
                tally.add(k, outcome, seconds, detail)
            cli = (f"; twin check on {sum(cli_codes.values())}: exit codes "
                   + ", ".join(f"{c} x{n}" for c, n in sorted(cli_codes.items()))
                   if cli_codes else "")
            print(tally.line(cli), flush=True)
            tallies.append(tally)
        tally = Tally("grid JSON (pandapower) network")
        for k in range(args.grid):
            folder = Path(tmp) / f"grid-{k}"
            folder.mkdir()
            path = _scenario(folder, grid_mutant(rng))
            tally.add(k, *one(load_scenario, ScenarioError, path, args.hang))
        print(tally.line())
        tallies.append(tally)
    failures = sum(t.failures for t in tallies)
    print(f"failures (traceback, unnamed message, hang, bad exit code): {failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
