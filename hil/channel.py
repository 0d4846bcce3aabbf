"""One bound entity's loop, step by step: command -> safety -> device -> watchdog -> outputs.

Each step a :class:`Channel`

1. applies the operator actions due (estop, disarm, arm) and turns the controller's command
   into the setpoint to send (:class:`hil.safety.Interlock`; 0 MW unless armed);
2. exchanges with the device on the session's I/O thread - write the setpoint, read the
   measurements - which the simulator awaits at most the I/O budget (live; :meth:`begin`
   and :meth:`finish`), or takes the recorded exchange of that step from the trace (replay);
   the exchange is written to the run's trace;
3. judges the exchange (:class:`hil.safety.Watchdog`): on stale data or comm loss it sends the
   device to its safe state and lets the simulated twin take over the entity, reported; the
   device's reversion is reported once a reading shows it; the entity goes back to the device
   after ``rearm_after`` of healthy comms (a meter's: after ``stale_after``, nothing to make
   safe); a device whose power stays outside a band around its setpoint for longer than a
   window is reported as not following (:class:`hil.safety.Follower`);
4. gives the entity's outputs: the device's measurements, or the twin's after a takeover.

Setpoints are never older than their step: one that has not gone out a step after it was
made is dropped (status ``expired``), however long the link held it. The ramp limit holds in
wall-clock time at the device (:class:`hil.safety.Interlock`). During a takeover the twin
starts from the device's last confirmed state (its SOC and power) and obeys the same limits.

Steps 3 and 4 depend only on the exchange records and the twin's inputs, never on the clock,
so a replayed trace gives the same outputs bit for bit.
"""

from __future__ import annotations

import concurrent.futures
import math
from dataclasses import dataclass, field
from typing import Any

from hil import devices, faults
from hil.faults import CommError
from hil.modbus import Refused
from hil.safety import SAFE_MW, Follower, Interlock, Limits, Watchdog
from hil.session import Session
from twin.core.quantities import Quantity, names
from twin.models import battery as bat
from twin.scenario.hil import Binding, sequence_actions, sequence_setpoint

NAN = float("nan")
INTERLOCKS = ("clamp", "ramp", "soc_guard", "invalid", "estop")
NOT_SENT = ("skipped", "busy", "missing", "expired", "refused_write")  # the setpoint did not go out
FOLLOW_BAND = 0.05  # of the power limit: default band of the setpoint tracking
FOLLOW_WITHIN_S = 3.0  # default window: longer outside the band is "not following"
# what a device says of itself, as read this step (NaN: no answer, or a device without it);
# the names are the point lists' twin names (twin/data/hil_points.yaml)
DEVICE_STATE = (
    Quantity("inv_state", "1", "operating state the device reports (SunSpec 701.InvSt: 1 off, "
             "2 sleeping, 3 starting, 4 running, 5 throttled, 6 shutting down, 7 fault, "
             "8 standby; NaN: not read this step)"),
    Quantity("connected", "1", "1 when the device reports itself connected to the grid "
             "(701.ConnSt; NaN: not read this step)"),
    Quantity("alarms", "1", "the device's alarm bits (701.Alrm; 0: none; NaN: not read)"),
    Quantity("bat_state", "1", "the battery's state (802.State: 1 disconnected, 2 "
             "initializing, 3 connected, 4 standby, 5 SOC protection, 6 suspending, 99 fault; "
             "NaN: not read this step)"),
)
STATE_NAMES = names(DEVICE_STATE)
NO_SOC = NAN  # a PV inverter stores nothing: no SOC guard applies to its limit
SETPOINT = {"battery": "p_set_mw", "pv": "p_limit_mw"}  # what the device is sent, by kind


@dataclass
class Exchange:
    """What one step's exchange with the device gave."""

    status: str  # ok, timeout, refused, exception, corrupt, dropped, rebooting, late, busy,
    #              skipped, refused_write, error, missing (replay)
    reading: dict[str, float] | None = None
    error: str = ""
    t_send_s: float | None = None
    t_recv_s: float | None = None
    info: dict[str, Any] | None = None
    ops: list[str] = field(default_factory=list)


def _number(value: Any) -> float:
    """A reading's value as a float (NaN: none, or not a number)."""
    return float(value) if isinstance(value, int | float) else NAN


def limits_for(b: Binding, spec: Any) -> Limits:
    """The safety limits of a binding: its own, within the entity's ratings."""
    sp = b.safety
    rating = getattr(spec, "p_max_mw", getattr(spec, "p_ac_mw", math.inf))  # PV: AC rating
    p_max = min(sp.p_max_mw if sp.p_max_mw is not None else rating, rating)
    if b.kind == "pv":  # a curtailment limit: 0 (off) up to the rating
        return Limits(0.0, p_max, sp.ramp_mw_per_s)
    return Limits(p_min_mw=max(sp.p_min_mw if sp.p_min_mw is not None else -p_max, -rating),
                  p_max_mw=p_max,
                  ramp_mw_per_s=sp.ramp_mw_per_s,
                  soc_min=sp.soc_min if sp.soc_min is not None else getattr(spec, "soc_min", None),
                  soc_max=sp.soc_max if sp.soc_max is not None else getattr(spec, "soc_max", None))


class Channel:
    """The loop of one bound entity (battery or meter)."""

    def __init__(self, binding: Binding, spec: Any, session: Session, step_s: float) -> None:
        self.b = binding
        self.spec = spec
        self.session = session
        self.step_s = step_s
        self.entity = binding.entity
        limits = limits_for(binding, spec)
        self.interlock = Interlock(limits, revert_s=binding.safety.revert_after)
        self.twin_lock = Interlock(limits)  # the twin obeys the same limits in a takeover
        self.watchdog = Watchdog(binding.safety.stale_after)
        band = getattr(binding.safety, "follow_band_mw", None)
        within = getattr(binding.safety, "follow_within", None)
        p_scale = max(abs(limits.p_min_mw), abs(limits.p_max_mw))
        self.follower = Follower(band if band is not None else max(
            FOLLOW_BAND * (p_scale if math.isfinite(p_scale) else 0.0), 0.01),
            within if within is not None else max(FOLLOW_WITHIN_S, 2 * step_s))
        self.trip: tuple[float, Any] | None = None  # a takeover's wall time and heartbeat,
        #                                             until a reading shows the device at 0 MW
        self.on_device = True
        self.need_ops: list[str] = ["arm"] if binding.armed else ["disarm"]
        self.acting: set[str] = set()
        self.comm_bad = False
        self.streak_s: float | None = None
        self.last: dict[str, float] | None = None
        self.throughput_mwh = 0.0
        self.info: dict[str, Any] = {}
        self.diverged = False
        self.twin = devices.SimBattery(spec, step_s) if binding.kind == "battery" else None
        self.device: Any = None
        self.link_faults: faults.LinkFaults | None = None
        self.pending: concurrent.futures.Future[Exchange] | None = None
        self.opened = False
        self._step: tuple[int, float, float, float, float] = (0, 0.0, 0.0, 0.0, 0.0)
        self._sent: float | None = None
        self._expires = 0.0
        self._ops: list[str] = []
        self._override: float | None = None  # the sequence's setpoint in force
        if session.live:
            self.device, self.link_faults = devices.make(
                binding.kind, binding.device, binding.resolved_protocol,
                str(binding.points) if binding.points else None, binding.safety.timeout,
                spec, step_s, read_only=binding.read_only)
            self.link_faults.clock = session.wall
            self.link_faults.schedule = self._faults  # sim time = wall time, live

    # --- one step: begin (command, safety, submit the exchange), then finish -------------
    def begin(self, k: int, t_s: float, cmd_mw: float, twin_mw: float, skip: bool
              ) -> Exchange | concurrent.futures.Future[Exchange]:
        """Apply due actions, filter the command, start the exchange; the exchange when it is
        known at once (replay, skipped, busy), else the future of the live one."""
        wall = self.session.wall()
        if not self.session.live:  # the wall clock of the recording, not of this replay
            assert self.session.replay is not None
            rec = self.session.replay.exchanges.get((k, self.entity))
            wall = rec["wall_s"] if rec else k * self.step_s
        cmd_mw = self._sequence(k, t_s, wall, cmd_mw)
        self._step = (k, t_s, float(cmd_mw), float(twin_mw), wall)
        self._expires = wall + self.step_s  # a setpoint not out by then is not sent
        self._actions(k, t_s, self._step[4])
        self._sent = None
        if self.b.kind == "battery":
            soc = self.last.get("soc") if self.last else None
            self._sent, acted = (self.interlock.command(cmd_mw, soc, self.step_s, now_s=wall)
                                 if self.on_device else (SAFE_MW, set()))
            self._interlock_events(k, t_s, self._step[4], acted)
        elif self.b.kind == "pv" and self.on_device and (self.interlock.armed
                                                         or self.interlock.estopped):
            # the limit asked for, or none: the rating (the device's own limit)
            want = cmd_mw if math.isfinite(cmd_mw) else self.interlock.limits.p_max_mw
            self._sent, acted = self.interlock.command(want, NO_SOC, self.step_s, now_s=wall)
            self._interlock_events(k, t_s, self._step[4], acted)
        elif isinstance(self.device, devices.SimMeter):
            self.device.feed(twin_mw)
        ops = list(self.need_ops)
        if not self.session.live:
            return self._replayed(k, self._sent, ops)
        if skip:
            return Exchange("skipped", error="overrun: the step's device I/O was skipped")
        if self.pending is not None and not self.pending.done():
            return Exchange("busy", error="the previous exchange is still waiting for an answer")
        if self.pending is not None:  # a late exchange ended since: what became of it
            late = self.pending.result()
            self.session.event(k, t_s, wall, self.entity, "comm", late.status,
                               f"the late exchange ended {late.status}"
                               + (f": {late.error}" if late.error else ""))
        assert self.link_faults is not None
        self.link_faults.set(self._faults(t_s))
        self.pending = self.session.io.submit(self._io(self._sent, ops, self._expires))
        self._ops = ops
        return self.pending

    def finish(self, started: Exchange | concurrent.futures.Future[Exchange]
               ) -> dict[str, float]:
        """Take the exchange (a live one not done by now is late), judge it, give outputs."""
        k, t_s, cmd_mw, twin_mw, wall = self._step
        if isinstance(started, Exchange):
            ex = started
        elif started.done():
            ex = started.result()
            self.pending = None
        else:
            budget = self.session.section.budget_for(self.b)
            ex = Exchange("late", error=f"no answer within the I/O budget ({budget * 1e3:.0f} "
                          "ms)", ops=self._ops)
        self.session.writer.write(
            "exchange", step=k, t_s=t_s, entity=self.entity, wall_s=wall, sent_mw=self._sent,
            ops=ex.ops, status=ex.status, error=ex.error, reading=ex.reading, info=ex.info,
            t_send_s=ex.t_send_s, t_recv_s=ex.t_recv_s,
            faults=list(self._faults(t_s).names))
        self._settle(ex)
        self._judge(k, t_s, wall, ex)
        return self._outputs(cmd_mw, twin_mw, self._sent, ex)

    def _settle(self, ex: Exchange) -> None:
        """Tell the interlock what became of the setpoint: confirmed by the answer that
        followed it, possibly landed (the exchange failed after it may have gone out), or
        not sent."""
        sent = self._sent
        if sent is None or ex.status in NOT_SENT:
            return
        if ex.status == "ok":
            self.interlock.confirm(sent, ex.t_recv_s if ex.t_recv_s is not None
                                   else self._expires)
        else:  # late: it may still land, until it expires
            self.interlock.maybe(sent, self._expires if ex.status == "late" or ex.t_recv_s
                                 is None else ex.t_recv_s)

    def _faults(self, t_s: float) -> faults.Active:
        return faults.active(self.session.section.faults, self.entity, t_s)

    def _sequence(self, k: int, t_s: float, wall: float, cmd_mw: float) -> float:
        """The sequence's setpoint for this step in place of the controller's command (an
        event when it is set or released)."""
        seq = sequence_setpoint(self.session.section, self.entity, t_s, self.step_s)
        if seq != self._override:
            self.session.event(k, t_s, wall, self.entity, "sequence",
                               "release" if seq is None else "set",
                               "the controller's command again" if seq is None else
                               f"{seq:g} MW in place of the controller's command")
            self._override = seq
        return cmd_mw if seq is None else seq

    def _actions(self, k: int, t_s: float, wall: float) -> None:
        h = self.session.section
        due = [(a, "scheduled") for a in faults.actions(h.faults, self.entity, t_s,
                                                         self.step_s)]
        due += [(a, f"sequence[{i}]") for i, a in sequence_actions(h, t_s, self.step_s)
                if a != "release"]
        for action, why in due:
            self.session.event(k, t_s, wall, self.entity, "action", action, why)
            if action == "estop":
                self.interlock.estop()  # a PV inverter stays enabled at 0 % (disarmed: 100 %)
                self.need_ops = ["safe"] if self.b.kind == "pv" else ["safe", "disarm"]
            elif action == "disarm":
                self.interlock.disarm()
                self.need_ops = ["disarm"]
            elif self.on_device and not self.interlock.estopped:
                self.need_ops = ["arm"]

    def _interlock_events(self, k: int, t_s: float, wall: float, acted: set[str]) -> None:
        acted = acted & set(INTERLOCKS)
        for name in sorted(acted - self.acting):
            self.session.event(k, t_s, wall, self.entity, "interlock", name, "on")
        for name in sorted(self.acting - acted):
            self.session.event(k, t_s, wall, self.entity, "interlock", name, "off")
        self.acting = acted

    async def _io(self, sent: float | None, ops: list[str], expires: float) -> Exchange:
        """Runs on the I/O thread: (re)open, operations, setpoint (unless it expired:
        ``expires``, wall s), measurements."""
        dev, wall = self.device, self.session.wall
        t_send = wall()
        info = None
        try:
            if not self.opened or (self.link_faults and self.link_faults.rebooted):
                info = await dev.open()
                self.opened = True
            for op in ops:
                await (dev.arm(self.b.safety.revert_after) if op == "arm"
                       else dev.disarm() if op == "disarm" else dev.safe())
            if sent is not None:
                await self._write(sent, expires)
            reading = await dev.read()
        except CommError as exc:
            if exc.status in ("refused", "rebooting"):
                self.opened = False
            return Exchange(exc.status, error=str(exc), t_send_s=t_send, t_recv_s=wall(),
                            info=info, ops=ops)
        except Refused as exc:
            return Exchange("refused_write", error=str(exc), t_send_s=t_send, t_recv_s=wall(),
                            info=info, ops=ops)
        except Exception as exc:  # noqa: BLE001 - a device answering nonsense must not stop the run
            return Exchange("error", error=f"{type(exc).__name__}: {exc}", t_send_s=t_send,
                            t_recv_s=wall(), info=info, ops=ops)
        return Exchange("ok", reading=reading, t_send_s=t_send, t_recv_s=wall(), info=info,
                        ops=ops)

    async def _write(self, sent: float, expires: float) -> None:
        """The setpoint, unless it is older than its step (checked again by the link's fault
        layer right before the request goes out, after any delay)."""
        late = self.session.wall() - expires
        if late > 0:
            raise CommError("expired", f"setpoint {sent:g} MW not sent: older than its step "
                            f"by {late * 1e3:.0f} ms")
        lf = self.link_faults
        if lf is not None:
            lf.deadline = expires
        try:
            await self.device.write({SETPOINT[self.b.kind]: sent})
        finally:
            if lf is not None:
                lf.deadline = None

    def _replayed(self, k: int, sent: float | None, ops: list[str]) -> Exchange:
        assert self.session.replay is not None
        rec = self.session.replay.exchanges.get((k, self.entity))
        if rec is None:
            return Exchange("missing", error=f"the trace has no exchange of step {k}")
        same = (rec["sent_mw"] is None) == (sent is None) and (
            sent is None or abs(rec["sent_mw"] - sent) <= 1e-9)
        if not same and not self.diverged:
            self.diverged = True
            self.session.event(k, k * self.step_s, rec["wall_s"], self.entity, "replay",
                               "diverged", f"sends {sent} MW where the recording sent "
                               f"{rec['sent_mw']} MW")
        return Exchange(rec["status"], reading=rec["reading"], error=rec["error"],
                        t_send_s=rec["t_send_s"], t_recv_s=rec["t_recv_s"], info=rec["info"],
                        ops=rec["ops"])

    # --- judging the exchange (deterministic) ---------------------------------------------
    def _judge(self, k: int, t_s: float, wall: float, ex: Exchange) -> None:
        ok = ex.status == "ok"
        if ex.info:
            self.info = ex.info
            ident = ex.info.get("identity", {})
            self.session.event(k, t_s, wall, self.entity, "device", "discovered",
                               " ".join(str(v) for v in ident.values() if v))
        if ok:
            self.last = ex.reading
            self._ops_done(k, t_s, wall, ex.ops, ex.t_recv_s if ex.t_recv_s is not None
                           else wall)
            if self.comm_bad:
                self.session.event(k, t_s, wall, self.entity, "comm", "restored", "")
            self.comm_bad = False
        elif ex.status != "skipped" and not self.comm_bad:
            self.comm_bad = True
            self.session.event(k, t_s, wall, self.entity, "comm", ex.status, ex.error)
        reason = self.watchdog.update(wall, ok, ex.reading if ok else None)
        if self.b.kind in SETPOINT and self.on_device and reason is None:
            self._track(k, t_s, wall, ex)
        if reason is not None and self.on_device:
            self._take_over(k, t_s, wall, reason)
        if not self.on_device:
            self._confirm_revert(k, t_s, wall, ex)
            self._maybe_rearm(k, t_s, wall, ok and reason is None)

    def _track(self, k: int, t_s: float, wall: float, ex: Exchange) -> None:
        """Whether the device follows what it was sent (judged on fresh answers only)."""
        if not self.interlock.armed or ex.status != "ok" or not ex.reading:
            self.follower.reset()
            return
        p = ex.reading.get("p_mw")
        target = self._sent
        if self.b.kind == "pv" and p is not None and target is not None and p <= target:
            target = p  # a PV inverter follows its limit by staying under it
        changed = self.follower.update(wall, target, p)
        if changed is None:
            return
        name, secs = changed
        f = self.follower
        detail = (f"device at {p:.3f} MW while {self._sent:.3f} MW was sent, outside "
                  f"+-{f.band_mw:.3f} MW for {secs:.1f} s (window {f.window_s:g} s)"
                  if name == "not_following" else f"back within +-{f.band_mw:.3f} MW of "
                  f"the setpoint after {secs:.1f} s")
        state = {key: v for key, v in ex.reading.items() if key in (*STATE_NAMES, "soc")}
        if state and name == "not_following":
            detail += "; device reports " + ", ".join(f"{key} {v:g}" for key, v in state.items())
        self.session.event(k, t_s, wall, self.entity, "tracking", name, detail)

    def _confirm_revert(self, k: int, t_s: float, wall: float, ex: Exchange) -> None:
        """Report the device at 0 MW after a takeover once a fresh reading shows it."""
        if self.trip is None or ex.status != "ok" or not ex.reading:
            return
        trip_wall, beat = self.trip
        r = ex.reading
        fresh = r.get("heartbeat") != beat if "heartbeat" in r else True
        p = r.get("p_mw")
        tol = max(1e-3, 0.01 * self.interlock.limits.p_max_mw)
        if fresh and p is not None and abs(p - SAFE_MW) <= tol:
            self.trip = None
            self.session.event(k, t_s, wall, self.entity, "device", "reverted",
                               f"device reads {p:.3f} MW, {wall - trip_wall:.2f} s after the "
                               "trip (read back)")

    def _ops_done(self, k: int, t_s: float, wall: float, ops: list[str], at_s: float) -> None:
        if ops != self.need_ops:
            return
        self.need_ops = []
        if "arm" in ops:
            self.interlock.arm(at_s)
            self.follower.reset()
            self.session.event(k, t_s, wall, self.entity, "action", "armed",
                               f"device-side reversion {self.b.safety.revert_after:g} s")
            if not self.on_device:
                self.on_device = True
                self.session.event(k, t_s, wall, self.entity, "rearm", "device",
                                   "the device serves the entity again")

    def _take_over(self, k: int, t_s: float, wall: float, reason: str) -> None:
        self.on_device = False
        self.interlock.disarm()
        # a PV inverter reverts to its own limit (none) by itself: nothing to make safe
        self.need_ops = [] if self.b.kind == "pv" else ["safe"]
        self.streak_s = None
        onset = self.watchdog.last_ok_s
        self.session.event(k, t_s, wall, self.entity, "watchdog", "trip",
                           f"{reason}; last good answer at wall {onset if onset is not None else 0:.3f} s")
        last = self.last or {}
        if self.twin is not None:  # from the device's last confirmed state, same limits
            p_last = float(last.get("p_mw", SAFE_MW))
            self.twin.reset(last.get("soc"))
            self.twin.armed = True
            self.twin_lock.arm()
            self.twin_lock.lo_mw = self.twin_lock.hi_mw = p_last
        self.follower.reset()
        if self.b.kind == "battery":
            self.trip = (wall, last.get("heartbeat"))
        self.session.event(k, t_s, wall, self.entity, "takeover", "twin",
                           "the simulated twin serves the entity" + (
                               "; device commanded to 0 MW (reported once read back)"
                               if self.b.kind == "battery" else ""))

    def _maybe_rearm(self, k: int, t_s: float, wall: float, fresh: bool) -> None:
        after = self.b.safety.rearm_after
        if after is None and self.b.kind != "battery":  # a meter: nothing to make safe
            after = self.b.safety.stale_after
        if after is None or self.interlock.estopped:
            return
        self.streak_s = (self.streak_s if self.streak_s is not None else wall) if fresh else None
        if self.streak_s is not None and wall - self.streak_s >= after and not self.need_ops:
            self.need_ops = ["arm"]

    # --- outputs --------------------------------------------------------------------------
    def _outputs(self, cmd_mw: float, twin_mw: float, sent: float | None, ex: Exchange
                 ) -> dict[str, float]:
        ok = ex.status == "ok"
        reading = ex.reading if ok else None
        extras = {"p_cmd_mw": float(cmd_mw), "p_sent_mw": NAN if sent is None or ex.status in
                  NOT_SENT else float(sent),
                  "p_device_mw": reading.get("p_mw", NAN) if reading else NAN,
                  "online": 1.0 if ok else 0.0, "on_device": 1.0 if self.on_device else 0.0,
                  "latency_ms": (ex.t_recv_s - ex.t_send_s) * 1e3 if ok and ex.t_recv_s
                  is not None and ex.t_send_s is not None else NAN,
                  **{name: _number((reading or {}).get(name)) for name in STATE_NAMES}}
        if self.b.kind == "pv" and not self.on_device:  # the plant's model, same limits
            limit = cmd_mw if math.isfinite(cmd_mw) else math.inf
            twin_mw = min(twin_mw, limit, self.interlock.limits.p_max_mw)
        if self.b.kind != "battery":
            p = (reading or self.last or {}).get("p_mw", twin_mw) if self.on_device else twin_mw
            return {"p_mw": float(p), **extras}
        return {**self._battery(cmd_mw, reading), **extras}

    def _battery(self, cmd_mw: float, reading: dict[str, float] | None) -> dict[str, float]:
        spec = self.spec
        dt_h = self.step_s / 3600.0
        if self.on_device:
            r = reading or self.last or {}
            p = float(r.get("p_mw", 0.0))
            soc = float(r.get("soc", spec.soc_init))
            e = float(r.get("e_mwh", soc * spec.e_max_mwh))
            loss = p * (1 - spec.eta_charge) if p > 0 else -p * (1 / spec.eta_discharge - 1)
        else:
            assert self.twin is not None
            self.twin.p_set_mw, _ = self.twin_lock.command(cmd_mw, self.twin.last.soc,
                                                           self.step_s)
            step: bat.BatteryStep = self.twin.advance(self.step_s)
            p, soc, e, loss = step.p_mw, step.soc, step.e_mwh, step.p_loss_mw
        self.throughput_mwh += abs(p) * dt_h
        return {"p_mw": p, "p_loss_mw": loss, "soc": soc, "e_mwh": e,
                "efc": self.throughput_mwh / (2.0 * spec.e_max_mwh)}

    # --- the end --------------------------------------------------------------------------
    def shut_down(self) -> str:
        """Send the device to its safe state and disarm it (at the end, whatever happened)."""
        if not self.session.live or self.device is None:
            return "replay: no device"
        try:
            if self.pending is not None:
                self.pending.result(timeout=1.0)
        except Exception:  # noqa: BLE001 - whatever the last exchange did, go safe now
            pass

        async def bye() -> str:
            try:
                if self.opened and self.b.kind == "battery":
                    await self.device.safe()
                    await self.device.disarm()
                    p = (await self.device.read()).get("p_mw")
                    return ("device commanded to 0 MW and disarmed; it reads "
                            + (f"{p:.3f} MW" if p is not None else "no power") + " (read back)")
                if self.opened and self.b.kind == "pv":
                    await self.device.disarm()  # no curtailment left behind
                    return "curtailment disabled"
                return "device closed"
            finally:
                await self.device.close()

        if self.link_faults is not None:
            self.link_faults.set(faults.Active())  # the run is over: no injected faults
        try:
            return self.session.io.submit(bye()).result(timeout=2.0)
        except Exception as exc:  # noqa: BLE001 - reported, the run is over anyway
            return f"could not reach the device to make it safe: {exc}"
