"""The HIL test report: one self-contained HTML file (inline SVG, no scripts).

Verdict and assertions first, then the devices and their safety limits, the pacing (lateness
statistics and a plot), each bound entity's command, setpoint sent and measurement over time,
the interlock activations and comm faults, and every exchange with timestamps.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hil.trace import Trace
from twin.core import atomic, plots
from twin.core.html import page, table
from twin.core.results import Run, open_run
from twin.scenario.assertions import Verdict

STATUS = {"pass": '<span class="ok">pass</span>', "fail": '<span class="bad">FAIL</span>',
          "n/a": '<span class="muted">n/a</span>'}


def _esc(value: object) -> str:
    return html.escape(str(value))


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:.{digits}f}"


def header(run: Run, trace: Trace, verdicts: Sequence[Verdict], aborted: str | None,
           notes: Sequence[str] = ()) -> str:
    """Title, verdict and what was run."""
    m = run.meta
    failed = [v for v in verdicts if not v.passed]
    if aborted:
        verdict = f'<span class="bad">ABORTED</span>: {_esc(aborted)}'
    elif failed:
        verdict = f'<span class="bad">FAIL</span>: {len(failed)} of {len(verdicts)} assertions'
    else:
        verdict = f'<span class="ok">PASS</span>: {len(verdicts)} assertions'
    mode = (f"replay of <code>{_esc(trace.header.get('replay_of'))}</code>"
            if trace.header.get("replay_of") else "live, devices in the loop")
    n = len(run.time_s)
    return (f"<h1>HIL test report — {_esc(m.get('park', 'park'))}</h1><p><b>{verdict}</b></p>"
            f"<p>Scenario <code>{_esc(m.get('scenario_path', ''))}</code>; {n} steps of "
            f"{run.step_s} s ({n * run.step_s / 60:.1f} min) in real time; {mode}; trace "
            f"<code>{_esc(trace.path)}</code>; "
            f"{'complete' if run.complete else 'incomplete'} run file; "
            f"{'; '.join(_esc(n) for n in notes) or 'normal scheduling'}. Written "
            f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.</p>")


def assertions(verdicts: Sequence[Verdict]) -> str:
    """Each assertion with its verdict and evidence."""
    if not verdicts:
        return "<h2>Assertions</h2><p class=\"muted\">The scenario states none.</p>"
    rows = [(v.text, STATUS[v.status], v.detail) for v in verdicts]
    return "<h2>Assertions</h2>" + table(("assertion", "verdict", "evidence"), rows)


def devices(trace: Trace) -> str:
    """The bound devices, what they said they are, their safety settings."""
    found = {e["entity"]: e["detail"] for e in trace.events if e["kind"] == "device"}
    rows = [(b["entity"], b["kind"], b["device"], b["protocol"], found.get(b["entity"], "—"),
             f"{b.get('revert_after_s', '—')} s") for b in trace.header.get("bindings", [])]
    return "<h2>Devices</h2>" + table(("entity", "kind", "device", "protocol", "identity",
                                       "device-side reversion"), rows)


def pacing(run: Run, trace: Trace) -> str:
    """Lateness statistics and plot of the pacer."""
    if not run.has("pacer", "lateness_s"):
        return ""
    late_ms = np.asarray(run.series("pacer", "lateness_s")) * 1e3
    late_ms = late_ms[np.isfinite(late_ms)]
    if not len(late_ms):
        return "<h2>Pacing</h2><p>No step was paced.</p>"
    overruns = [e for e in trace.events if e["kind"] == "overrun"]
    rows = [("steps", str(len(late_ms))), ("mean lateness", f"{late_ms.mean():.3f} ms"),
            ("median", f"{np.percentile(late_ms, 50):.3f} ms"),
            ("99th percentile", f"{np.percentile(late_ms, 99):.3f} ms"),
            ("largest", f"{late_ms.max():.3f} ms"),
            ("end offset (drift)", f"{late_ms[-1]:.3f} ms"), ("overruns", str(len(overruns)))]
    x = run.time_s[: len(late_ms)]
    chart = plots.lines(x, {"lateness": late_ms}, "ms", "Lateness of each step against its "
                        "absolute deadline", xlabel="simulation time (s)")
    return ("<h2>Pacing</h2><p class=\"note\">The pacer sleeps to absolute deadlines "
            "t0 + k·step; lateness is how long after its deadline each step began.</p>"
            + table(("figure", "value"), rows, (1,)) + chart)


def entities(run: Run, trace: Trace) -> str:
    """Command, setpoint sent, measurement and SOC of each bound entity."""
    out = []
    x = run.time_s
    for b in trace.header.get("bindings", []):
        e = b["entity"]
        if not run.has(e, "p_cmd_mw"):
            continue
        series = {name: run.series(e, attr) for name, attr in (
            ("command", "p_cmd_mw"), ("sent", "p_sent_mw"), ("measured", "p_device_mw"),
            ("entity", "p_mw")) if run.has(e, attr)}
        out.append(f"<h3>{_esc(e)} ({_esc(b['kind'])})</h3>" + plots.lines(
            x, series, "MW", f"{e}: command, setpoint sent (after the safety layer), device "
            "reading, and the entity's power", xlabel="simulation time (s)"))
        extra = {"on device": run.series(e, "on_device")}
        if run.has(e, "soc"):
            extra["soc"] = run.series(e, "soc")
        out.append(plots.lines(x, extra, "1", f"{e}: served by the device (1) or its twin (0)"
                               + (", state of charge" if "soc" in extra else ""),
                               xlabel="simulation time (s)"))
    return "<h2>Bound entities</h2>" + "".join(out) if out else ""


def events(trace: Trace) -> str:
    """Interlock activations, comm faults, watchdog trips, takeovers, actions."""
    rows = [(_num(e["t_s"], 0) if e["t_s"] >= 0 else "end", _num(e["wall_s"]), e["entity"],
             e["kind"], e["name"], e["detail"]) for e in trace.events]
    if not rows:
        return "<h2>Interlocks and comm faults</h2><p>None.</p>"
    return ("<h2>Interlocks and comm faults</h2>"
            + table(("t (s)", "wall (s)", "entity", "kind", "name", "detail"), rows, (0, 1)))


def traffic(trace: Trace) -> str:
    """Every exchange: setpoint sent and measurements received, with wall times."""
    rows = []
    for x in trace.exchange_list():
        r = x["reading"] or {}
        lat = (x["t_recv_s"] - x["t_send_s"]) * 1e3 if x["t_recv_s"] is not None and x[
            "t_send_s"] is not None else None
        rows.append((_num(x["t_s"], 0), _num(x["t_send_s"]), _num(x["t_recv_s"]), x["entity"],
                     " ".join(x["ops"]), _num(x["sent_mw"]), _num(r.get("p_mw")),
                     _num(r.get("soc"), 4), f"{r['heartbeat']:.0f}" if "heartbeat" in r else "—",
                     _num(lat, 2), x["status"], " ".join(x.get("faults", [])), x["error"]))
    return ("<h2>Device traffic</h2><p class=\"note\">Every exchange: operations and setpoint "
            "sent (MW, > 0 charging), measurements received; wall times in s from the first "
            "deadline.</p>" + table(("t (s)", "sent at", "answer at", "entity", "ops",
                                     "setpoint (MW)", "p (MW)", "soc", "heartbeat",
                                     "latency (ms)", "status", "faults", "error"), rows,
                                    (0, 1, 2, 5, 6, 7, 8, 9)))


def write(path: str | Path, trace: Trace, verdicts: Sequence[Verdict],
          aborted: str | None = None, out: str | Path | None = None,
          notes: Sequence[str] = ()) -> Path:
    """Write the HIL report of run file ``path``; returns the HTML path."""
    path = Path(path)
    out = Path(out) if out is not None else path.with_name(path.stem + "-hil.html")
    with open_run(path) as run:
        text = page(f"HIL test report — {run.meta.get('park', '')}", [
            header(run, trace, verdicts, aborted, notes), assertions(verdicts), devices(trace),
            pacing(run, trace), entities(run, trace), events(trace), traffic(trace)])
    return atomic.write_text(out, text)  # a killed run leaves the previous report whole
