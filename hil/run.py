"""A HIL run from start to report: ``twin hil SCENARIO --duration 10m``.

1. :func:`prepare`: the scenario at the HIL step for the given duration (the energy
   simulators step in real time with the devices), cameras bound to their AOI lines, the
   record or replay path set, the bindings made active (``twin run`` of the same scenario
   leaves them out and simulates every entity over the scenario's period);
2. :func:`preflight`: every device answers once before the park starts (a user's mistake -
   an emulator not started, a wrong port - is one line, not a traceback);
3. :func:`run`: the park through :func:`twin.runner.run` (the pacer and the device proxies are
   wired by :class:`hil.wiring.HILExtension`), then the HIL tables, KPIs and assertions written into
   the run's HDF5 file, and the HTML test report beside it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hil import trace as tr
from hil.session import HILAbort, check_replay
from twin.core.results import (
    KPI,
    Run,
    finish,
    open_run,
    partial_path,
    write_kpis,
    write_table,
)
from twin.scenario import assertions as asr
from twin.scenario.hil import sequence_expectations


class HILError(ValueError):
    """A user's mistake in a HIL run: no hil section, unreachable device, bad trace."""


@dataclass
class HILResult:
    """What a HIL run produced."""

    path: Path
    report: Path
    trace: Path
    verdicts: list[asr.Verdict]
    kpis: dict[str, KPI]
    aborted: str | None = None
    scheduling: str = ""
    junit: Path | None = None  # JUnit XML beside the report (hil/junit.py)
    json: Path | None = None  # the same results as JSON

    @property
    def passed(self) -> bool:
        """Every assertion passed and the run was not aborted."""
        return self.aborted is None and all(v.passed for v in self.verdicts)


def prepare(s: Any, duration_s: int | None = None, replay: str | Path | None = None,
            record: str | Path | None = None, realtime: bool | None = None,
            out_dir: str | Path | None = None) -> Any:
    """The scenario of a HIL run: HIL step, duration, cameras bound, record/replay set
    (``out_dir``: where :func:`run` will write, for the default trace and frames paths)."""
    h = s.hil
    if h is None:
        raise HILError(f"{s.path}: the scenario has no hil section (bindings of entities to "
                       "devices); see scenarios/hil-battery.yaml")
    step = int(h.step) if float(h.step).is_integer() else float(h.step)  # 0.1: ms ticks
    if replay is not None:
        try:
            recorded = tr.read(replay)
            check_replay(recorded, s)
        except tr.TraceError as exc:
            raise HILError(str(exc)) from None
        if duration_s is None:  # the whole recording
            duration_s = round(max(1, len(recorded.pace)) * step)
    duration = int(duration_s if duration_s is not None else h.duration)
    # a sub-second step divides a second (twin.scenario.hil): whole seconds are whole steps
    duration = max(step, duration // step * step) if isinstance(step, int) else max(1, duration)
    h = dataclasses.replace(h, active=True,
                            realtime=h.realtime if realtime is None else realtime)
    if replay is not None:
        h = dataclasses.replace(h, replay=Path(replay), record=None)
    if record is not None:
        h = dataclasses.replace(h, record=Path(record), replay=None)
    name = s.output.name or (s.path.stem if s.path.name != "<memory>" else "hil")
    output = dataclasses.replace(s.output, name=name + ("-replay" if h.replay else ""))
    s = dataclasses.replace(s, hil=h, output=output,
                            period=dataclasses.replace(s.period, step=step, duration=duration))
    return bind_cameras(s, trace_path(s, out_dir))


def trace_path(s: Any, out_dir: str | Path | None = None) -> Path:
    """Where the trace of prepared scenario ``s`` goes: ``hil.record``, else beside the
    results (``<name>.trace.jsonl``)."""
    from twin import runner

    if s.hil.record is not None:
        return Path(s.hil.record)
    return runner.output_path(s, out_dir).with_suffix(".trace.jsonl")


def frames_dir(trace: str | Path, entity: str) -> Path:
    """The camera frames of ``entity`` recorded beside a trace: ``<stem>.frames/ENTITY``
    (``park-hil.trace.jsonl`` -> ``park-hil.frames/line``)."""
    trace = Path(trace)
    stem = trace.name.removesuffix(".jsonl").removesuffix(".trace")
    return trace.with_name(f"{stem}.frames") / entity


def bind_cameras(s: Any, trace: Path) -> Any:
    """Each bound camera's AOI line reads its frames off the real-time thread and records
    them beside the trace (``grab:DEVICE|record=<stem>.frames/ENTITY``), or, replaying,
    takes the frames recorded beside the replayed trace (``replay:DIR``)."""
    import hil.camera  # noqa: F401 - registers the grab: and replay: openers

    h = s.hil
    cameras = {b.entity: (f"replay:{frames_dir(h.replay, b.entity)}" if h.replay is not None
                          else f"grab:{b.device}|record={frames_dir(trace, b.entity)}")
               for b in h.bindings if b.kind == "camera"}
    lines = tuple(dataclasses.replace(a, camera=cameras[a.name], fidelity="full")
                  if a.name in cameras else a for a in s.aoi_lines)
    return dataclasses.replace(s, aoi_lines=lines)


def preflight(s: Any, timeout_s: float = 3.0) -> list[str]:
    """Reach every bound device once; one line per device; :class:`HILError` if one fails,
    or if a device's nameplate (its SunSpec ratings) does not match its entity
    (:func:`nameplate_mismatch`)."""
    from hil import camera, devices
    from hil.faults import CommError
    from hil.modbus import parse_url

    if s.hil.replay is not None:
        return [f"replaying {s.hil.replay} (no device is contacted)"]
    lines = []
    specs = {spec.name: spec for spec in (*s.batteries, *s.pv_plants, *s.factory_loads)}
    for i, b in enumerate(s.hil.bindings):
        where = _at(s, f"hil.bindings[{i}].device")
        if b.kind == "camera":
            try:
                lines.append(f"{b.entity}: {camera.probe(b.device)}")
            except (ValueError, RuntimeError) as exc:
                raise HILError(f"{where}: {exc}") from None
            continue
        if b.resolved_protocol == "sim":
            lines.append(f"{b.entity}: simulated {b.kind}")
            continue
        dev, _ = devices.make(b.kind, b.device, b.resolved_protocol,
                              str(b.points) if b.points else None, b.safety.timeout,
                              read_only=b.read_only)

        async def probe(dev: Any = dev) -> dict[str, Any]:
            try:
                info = await asyncio.wait_for(dev.open(), timeout_s)
                await asyncio.wait_for(dev.read(), timeout_s)
                return info
            finally:
                await dev.close()

        try:
            info = asyncio.run(probe())
        except (CommError, TimeoutError) as exc:
            host, port, _ = parse_url(b.device)
            hint = (f"; to stand in for it: twin emulate {b.kind} --port {port}"
                    if host in ("127.0.0.1", "localhost", "::1") else "")
            raise HILError(f"{where}: cannot reach {b.device}: {exc or 'timeout'}{hint}"
                           ) from None
        ident = " ".join(str(v) for v in info.get("identity", {}).values() if v)
        wrong = nameplate_mismatch(info.get("ratings") or {}, specs.get(b.entity),
                                   b.nameplate_tolerance)
        if wrong and b.nameplate == "check":
            raise HILError(f"{_at(s, f'hil.bindings[{i}]')}: the device at {b.device} does not "
                           f"match entity {b.entity!r}: {wrong} (more than "
                           f"{b.nameplate_tolerance:.0%} apart); bind a matching device, "
                           "size the entity to the device, or set nameplate: ignore (or a "
                           "larger nameplate_tolerance) in the binding")
        note = f"; nameplate ignored: {wrong}" if wrong else ""
        lines.append(f"{b.entity}: {b.device} answers ({ident or b.kind}){note}")
    return lines


def default_assertions(s: Any) -> list[asr.Assertion]:
    """What every run with a bound battery or PV inverter must show besides the scenario's
    assertions: each device followed its setpoints (no ``not_following`` event)."""
    if not any(b.kind in ("battery", "pv") for b in s.hil.bindings):
        return []
    have = {a.name for a in s.hil.assertions if isinstance(a, asr.NoEvent)}
    return [] if "not_following" in have else [
        asr.NoEvent("no not_following (default: every device follows its setpoints)",
                    "not_following")]


NAMEPLATE = (("p_max_mw", "power rating", "MW", "WMaxRtg"),
             ("e_max_mwh", "energy capacity", "MWh", "WHRtg"))


def nameplate_mismatch(ratings: dict[str, float], spec: Any, tolerance: float) -> str:
    """How a device's ratings differ from its entity's beyond ``tolerance`` (relative to the
    entity's); empty when they match or there is nothing to compare."""
    out = []
    for name, what, unit, point in NAMEPLATE:
        have, want = ratings.get(name), getattr(spec, name, None)
        if want is None and name == "p_max_mw":  # a PV plant's power rating
            want = getattr(spec, "p_ac_mw", None)
        if have is None or want is None or not want > 0:
            continue
        if not abs(have - want) <= tolerance * want:  # NaN from the device is a mismatch too
            out.append(f"{what} {have:g} {unit} on the device ({point}) against {want:g} "
                       f"{unit} in the scenario")
    return "; ".join(out)


def _at(s: Any, path: str) -> str:
    """``FILE:LINE: PATH`` of a scenario field (the line where the file has it, if known)."""
    import contextlib

    import yaml

    from twin.scenario import _line_map, _nearest_line

    line = None
    with contextlib.suppress(yaml.YAMLError):
        line = _nearest_line(_line_map(yaml.compose(s.text)), path) if s.text else None
    return f"{s.path}:{line}: {path}" if line else f"{s.path}: {path}"


def run(s: Any, out_dir: str | Path | None = None,
        progress: Callable[[int], None] | None = None) -> HILResult:
    """Run a prepared HIL scenario; write tables, KPIs, assertions and the HTML report."""
    from hil import junit, report
    from hil.wiring import HILExtension
    from twin import runner

    path = runner.output_path(s, out_dir)
    trace = trace_path(s, out_dir)
    s = bind_cameras(s, trace)  # where this run's trace goes (out_dir may differ from prepare's)
    aborted = None
    kpis: dict[str, KPI] = {}
    judged: dict[str, Any] = {}

    def judge_hil(target: Path) -> None:  # into the run's file before it is published
        tr.publish(trace)  # a run that ended: its trace, then its results (never on Ctrl-C)
        judged.update(_judge(s, trace, target))

    try:
        kpis = dict(runner.run(s, out_dir=out_dir, progress=progress,
                               extensions=[HILExtension()], judge_also=judge_hil).kpis)
    except HILAbort as exc:
        aborted = str(exc)
        if partial_path(path).exists():  # the aborted run's record, marked incomplete
            finish(path, judge_hil, complete=False)
    if not judged:  # aborted before the recorder started: no run to judge or publish
        raise HILError(f"{aborted}: the run stopped before its first step; nothing was "
                       f"written, the previous result at {path} (if any) is kept")
    recorded, verdicts, scheduling = judged["trace"], judged["verdicts"], judged["scheduling"]
    kpis.update(judged["kpis"])
    html = report.write(path, recorded, verdicts, aborted, notes=[scheduling])
    junit_path, json_path = junit.write(
        s, path, verdicts, kpis, aborted, scheduling, html, trace,
        overruns=sum(e["kind"] == "overrun" for e in recorded.events),
        wall_s=max((float(p["wall_s"]) for p in recorded.pace.values()), default=None))
    return HILResult(path, html, trace, verdicts, kpis, aborted, scheduling, junit_path,
                     json_path)


def _judge(s: Any, trace: Path, target: Path) -> dict[str, Any]:
    """The verdicts of the run in file ``target`` and its trace; its HIL KPIs and tables
    written into ``target``."""
    recorded = tr.read(trace)
    scheduling = next((e["detail"] for e in recorded.events if e["kind"] == "scheduling"),
                      "replay: no pacing" if s.hil.replay else "")
    with open_run(target) as r:
        ev = RunEvidence(r, recorded, s)
        verdicts = [a.evaluate(ev) for a in (
            *s.hil.assertions, *default_assertions(s),
            *sequence_expectations(s.hil, float(s.period.duration_s)))]
        hil_kpis = ev.kpis(verdicts)
    write_kpis(target, hil_kpis)
    write_table(target, "hil/traffic", traffic_rows(recorded), "every exchange with a device: "
                "setpoint sent, measurements received, status, wall times (s from the first "
                "deadline)")
    write_table(target, "hil/events", event_rows(recorded), "interlocks, comm faults, "
                "watchdog trips, takeovers, overruns, operator actions")
    write_table(target, "hil/assertions", [{"assertion": v.text, "status": v.status,
                                            "detail": v.detail} for v in verdicts],
                "the scenario's assertions and their verdicts")
    return {"trace": recorded, "verdicts": verdicts, "kpis": hil_kpis, "scheduling": scheduling}


# --- evidence for the assertions -----------------------------------------------------------


class RunEvidence:
    """The recorded run and its trace, as :class:`twin.scenario.assertions.Evidence`.

    What the devices did is judged from the trace - the device's own readings, read back -
    never from the configuration; the pacing from the trace's pace records, which hold every
    step the pacer ran, the one that aborted the run included (the HDF5 series stop before
    it)."""

    def __init__(self, run: Run, trace: tr.Trace, s: Any) -> None:
        self.run = run
        self.trace = trace
        self.s = s
        self._keys = run.series_keys()

    def matching(self, entity: str | None, attr: str) -> list[tuple[str, str]]:
        out = []
        for e, a in self._keys:
            if entity is None and (e.endswith(".twin") or self.run.info(e, a).columns):
                continue
            if (entity is None or e == entity) and a in (attr, f"p_{attr}"):
                out.append((e, a))
        return out

    def series(self, entity: str, attr: str) -> np.ndarray:
        return np.asarray(self.run.series(entity, attr), dtype=float)

    @property
    def time_s(self) -> np.ndarray:
        return np.asarray(self.run.time_s, dtype=float)

    @property
    def lateness_s(self) -> np.ndarray:
        if self.trace.pace:
            return np.array([self.trace.pace[k]["lateness_s"] for k in sorted(self.trace.pace)],
                            dtype=float)
        if not self.run.has("pacer", "lateness_s"):
            return np.array([])
        return self.series("pacer", "lateness_s")

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.trace.events

    def episodes(self, entity: str | None, trigger: str = "comm loss") -> list[dict[str, Any]]:
        """Episodes of power devices - comm loss (watchdog trips), estop or disarm actions -
        with the device's fresh readings after each onset."""
        bindings = {b.entity: b for b in self.s.hil.bindings if b.kind == "battery"}
        specs = {b.name: b for b in self.s.batteries}
        out = []
        for ev in self.trace.events:
            e = ev["entity"]
            if e not in bindings or entity not in (None, e):
                continue
            ex = [x for x in self.trace.exchange_list() if x["entity"] == e]
            if trigger == "comm loss" and (ev["kind"], ev["name"]) == ("watchdog", "trip"):
                before = [x for x in ex if x["step"] < ev["step"] and _fresh(x)]
                beat = before[-1]["reading"].get("heartbeat") if before else None
                first = next((x for x in before if x["reading"].get("heartbeat") == beat),
                             None)
                onset_wall = first["t_recv_s"] if first else 0.0
                onset_t = first["t_s"] if first else 0.0
                after = [x for x in ex if x["step"] > (first["step"] if first else -1)
                         and _fresh(x) and x["reading"].get("heartbeat", object()) != beat]
            elif trigger != "comm loss" and (ev["kind"], ev["name"]) == ("action", trigger):
                onset_wall, onset_t = ev["wall_s"], ev["t_s"]
                after = [x for x in ex if x["step"] >= ev["step"] and _fresh(x)]
            else:
                continue
            readings = [(x["t_recv_s"] - onset_wall, float(x["reading"]["p_mw"]), _how(x))
                        for x in after if "p_mw" in x["reading"]]
            out.append({"entity": e, "onset_t_s": onset_t, "readings": readings,
                        "revert_s": bindings[e].safety.revert_after,
                        "tol_mw": max(1e-3, 0.01 * specs[e].p_max_mw)})
        return out

    def kpis(self, verdicts: list[asr.Verdict]) -> dict[str, KPI]:
        """The run's HIL figures as KPIs."""
        late = self.lateness_s
        late = late[np.isfinite(late)] if len(late) else late
        stat = (lambda f: float(f(late)) * 1e3) if len(late) else (lambda f: math.nan)
        ex = self.trace.exchange_list()
        ev = self.trace.events
        return {
            "hil_lateness_mean_ms": KPI(stat(np.mean), "ms", "pacer: mean lateness of a step"),
            "hil_lateness_p99_ms": KPI(stat(lambda v: np.percentile(v, 99)), "ms",
                                       "pacer: 99th percentile of the lateness"),
            "hil_lateness_max_ms": KPI(stat(np.max), "ms", "pacer: largest lateness"),
            "hil_end_offset_ms": KPI(stat(lambda v: v[-1]), "ms",
                                     "pacer: lateness of the last step (drift)"),
            "hil_exchanges": KPI(float(len(ex)), "1", "exchanges with devices"),
            "hil_comm_faults": KPI(float(sum(x["status"] not in ("ok", "skipped") for x in ex)),
                                   "1", "exchanges that failed (timeout, refused, corrupt, ...)"),
            "hil_takeovers": KPI(float(sum(e["kind"] == "takeover" for e in ev)), "1",
                                 "watchdog trips that handed an entity to its twin"),
            "hil_interlocks": KPI(float(sum(e["kind"] == "interlock" and e["detail"] == "on"
                                            for e in ev)), "1", "interlock activations"),
            "hil_assertions_failed": KPI(float(sum(not v.passed for v in verdicts)), "1",
                                         "assertions that failed"),
        }


def _fresh(x: dict[str, Any]) -> bool:
    """An exchange whose reading came from the device now (not a frozen answer)."""
    return (x["status"] == "ok" and bool(x["reading"]) and x["t_recv_s"] is not None
            and "stuck" not in x.get("faults", []))


def _how(x: dict[str, Any]) -> str:
    """What the twin had sent the device in the exchange of a reading."""
    ops = [op for op in x.get("ops", []) if op in ("safe", "disarm")]
    if ops:
        return f"after the twin's {' and '.join(ops)} command"
    if x.get("sent_mw") is not None:
        return f"setpoint {x['sent_mw']:.3f} MW sent in that step"
    return "no command sent since"


def traffic_rows(trace: tr.Trace) -> list[dict[str, Any]]:
    """One row per exchange, for the HDF5 table and the report."""
    nan = math.nan
    rows = []
    for x in trace.exchange_list():
        r = x["reading"] or {}
        lat = (x["t_recv_s"] - x["t_send_s"]) * 1e3 if x["t_recv_s"] is not None and x[
            "t_send_s"] is not None else nan
        rows.append({"step": float(x["step"]), "t_s": float(x["t_s"]),
                     "wall_s": float(x["wall_s"]), "entity": x["entity"],
                     "sent_mw": nan if x["sent_mw"] is None else float(x["sent_mw"]),
                     "p_mw": float(r.get("p_mw", nan)), "soc": float(r.get("soc", nan)),
                     "heartbeat": float(r.get("heartbeat", nan)), "latency_ms": lat,
                     "status": x["status"], "ops": " ".join(x["ops"]),
                     "faults": " ".join(x.get("faults", [])), "error": x["error"] or ""})
    return rows


def event_rows(trace: tr.Trace) -> list[dict[str, Any]]:
    """One row per event."""
    return [{"step": float(e["step"]), "t_s": float(e["t_s"]), "wall_s": float(e["wall_s"]),
             "entity": e["entity"], "kind": e["kind"], "name": e["name"],
             "detail": e["detail"] or ""} for e in trace.events]
