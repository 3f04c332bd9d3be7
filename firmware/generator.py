# Generator sequencer: starts, watches and stops the engine.
#
#   IDLE/START_DELAY --want, engine turning at speed (after a controller restart)--> RUNNING
#   IDLE --want--> START_DELAY --(start_delay_s, or at once when hurried)--> PREHEAT
#   PREHEAT --(preheat_s)--> CRANK --(voltage or frequency >= crank_disconnect)--> RUNNING
#   CRANK --(crank_s, attempts left)--> REST --(crank_rest_s, engine still)--> PREHEAT
#   CRANK --(crank_s, last attempt)--> FAILED (fail_to_start, latched)
#   RUNNING --(warm-up done, within limits)--> READY
#   RUNNING/READY --(out of limits for limit_qual_ms after safety_on)--> COOLDOWN (trip)
#   RUNNING/READY --(overspeed)--> FAILED (shutdown, latched)
#   RUNNING/READY --no want--> COOLDOWN --(cooldown_s)--> STOPPING --(engine still)--> IDLE
#   STOPPING --(fail_to_stop_s)--> alarm fail_to_stop (warning), keeps waiting
#
# `want` is a level: the supervisor says every step whether it wants the engine, and why
# (WHY_*, 0 for not wanted; the reason goes into the log with generator_start). The
# starter is only ever engaged on a still engine. Readings arrive as per mille of nominal.
from micropython import const

from firmware import alarms, events, hal

IDLE = const(0)
START_DELAY = const(1)
PREHEAT = const(2)
CRANK = const(3)
REST = const(4)
RUNNING = const(5)
READY = const(6)
COOLDOWN = const(7)
STOPPING = const(8)
FAILED = const(9)

NAMES = (
    "idle",
    "start_delay",
    "preheat",
    "crank",
    "rest",
    "running",
    "ready",
    "cooldown",
    "stopping",
    "failed",
)

# Why the engine is wanted.
WHY_OUTAGE = const(1)  # mains failed, and stayed failed for the start delay
WHY_BATTERY = const(2)  # on battery with too little runtime to wait
WHY_FLAPPING = const(3)  # mains failing again and again
WHY_EXERCISE = const(4)
WHY_REMOTE = const(5)  # the remote start contact
WHY_MANUAL = const(6)  # gen start in manual mode
WHY_DRILL = const(7)
WHY_NAMES = ("", "outage", "battery", "flapping", "exercise", "remote", "manual", "drill")

_STILL_PM = const(100)  # below 10 % of nominal voltage and frequency: not turning
SETTLE_S = const(5)  # allowance for the voltage to build up after firing
# The latched alarms that forbid putting the generator on load (tripped()), as alarm bits.
_TRIPS = (
    (1 << alarms.AL_GEN_OUT_OF_LIMITS)
    | (1 << alarms.AL_GEN_OVERSPEED)
    | (1 << alarms.AL_GEN_FAIL_TO_START)
    | (1 << alarms.AL_EMERGENCY_STOP)
)


class Generator:
    def __init__(self, cfg, board, log, alarm_set):
        self._board = board
        self._diff = board.ticks_diff
        self._log = log
        self._alarms = alarm_set
        self.configure(cfg)
        self.state = IDLE
        self._why = 0
        self._t = 0
        self._t_fire = 0
        self.attempt = 0
        self.starts = 0  # crank attempts since boot
        self.fired = 0  # successful starts since boot
        self._t_bad = 0
        self._bad = False
        self._t_over = 0
        self._over = False
        self._stop_alarmed = False
        self._cool_left = -1  # a cooldown resumed after a restart: ms left
        self.v_pm = 0
        self.f_pm = 0

    def configure(self, cfg):
        self.present = cfg.get("gen.present")
        self._delay = cfg.get("gen.start_delay_s") * 1000
        self._preheat = cfg.get("gen.preheat_s") * 1000
        self._crank = cfg.get("gen.crank_s") * 1000
        self._rest = cfg.get("gen.crank_rest_s") * 1000
        self._attempts = cfg.get("gen.attempts")
        self._disc = cfg.get("gen.crank_disconnect_pct") * 10
        self._safety = cfg.get("gen.safety_on_s") * 1000
        self._warmup = cfg.get("gen.warmup_s") * 1000
        self._cooldown = cfg.get("gen.cooldown_s") * 1000
        self._fts = cfg.get("gen.fail_to_stop_s") * 1000
        self._v_lo = cfg.get("gen.v_low_pct") * 10
        self._v_hi = cfg.get("gen.v_high_pct") * 10
        self._f_lo = cfg.get("gen.f_low_pct") * 10
        self._f_hi = cfg.get("gen.f_high_pct") * 10
        self._f_over = cfg.get("gen.overspeed_pct") * 10
        self._qual = cfg.get("gen.limit_qual_ms")
        # Longest time from the start signal to a generator ready for load, in seconds.
        n = self._attempts
        self.start_to_ready_s = (
            n * (self._preheat + self._crank) + (n - 1) * self._rest
        ) // 1000 + SETTLE_S
        self.warmup_s = self._warmup // 1000
        self.delay_s = self._delay // 1000

    def ready(self):
        return self.state == READY

    def to_ready_ms(self, now, hurry):
        # How long until a running engine is ready for the load (warm-up, or with hurry
        # the voltage settling after firing); -1 when it is not running towards that.
        if self.state == READY:
            return 0
        if self.state != RUNNING:
            return -1
        since = self._diff(now, self._t_fire)
        left = 0 if hurry else self._warmup - since
        settle = SETTLE_S * 1000 - since
        left = left if left > settle else settle
        return left if left > 0 else 0

    def wait_ms(self, now, most):
        # How long the supervisor may leave this machine (at most `most`): to the end of
        # the timer its state runs (start delay, preheat, crank, rest, warm-up, cooldown,
        # fail to stop). The readings (an engine firing, going out of limits or over speed,
        # coming to a stop) are looked at every step.
        state = self.state
        if state == RUNNING:
            t = self._warmup - self._diff(now, self._t_fire)
            return t if 0 < t < most else most
        if state == START_DELAY:
            t = self._delay
        elif state == PREHEAT:
            t = self._preheat
        elif state == CRANK:
            t = self._crank
        elif state == REST:
            t = self._rest
        elif state == STOPPING and not self._stop_alarmed:
            t = self._fts
        elif state == COOLDOWN:
            t = self._cooldown if self._cool_left < 0 else self._cool_left
        else:
            return most  # idle, ready, failed: no timer runs
        t -= self._diff(now, self._t)
        return t if 0 < t < most else most

    def committed(self):
        # Past the start delay: the start sequence is under way or the engine runs.
        return self.state != IDLE and self.state != START_DELAY

    def running(self):
        return self.state in (RUNNING, READY, COOLDOWN)

    def quiet(self):
        # Nothing timed to the millisecond: idle, warming up or ready for (or carrying) the
        # load, or failed.
        return self.state in (IDLE, RUNNING, READY, FAILED)

    def within_limits(self):
        return (self._v_lo <= self.v_pm <= self._v_hi) and (self._f_lo <= self.f_pm <= self._f_hi)

    def _still(self):
        return self.v_pm < _STILL_PM and self.f_pm < _STILL_PM

    def _enter(self, state, now):
        self.state = state
        self._t = now

    def _out(self, run, start, preheat=False):
        b = self._board
        b.set_output(hal.OUT_GEN_RUN, run)
        b.set_output(hal.OUT_GEN_START, start)
        b.set_output(hal.OUT_GEN_PREHEAT, preheat)

    def recover(self, now, run_on, cranking, v_pm, f_pm):
        # After a watchdog reset, from the outputs the board held and the engine's
        # readings: a set running on fuel is adopted as running; a starter or glow plugs
        # left on are switched off, and a set that is not running is stopped, so that
        # the start sequence, if still wanted, begins again on a still engine.
        self.v_pm = v_pm
        self.f_pm = f_pm
        if not self.present:
            return
        if cranking:
            self._board.set_output(hal.OUT_GEN_START, False)
            self._board.set_output(hal.OUT_GEN_PREHEAT, False)
        if run_on and (v_pm >= self._disc or f_pm >= self._disc):
            self._running(now)
            if self.within_limits():
                self._enter(READY, now)  # it was warm: take the load back at once
        elif run_on or cranking:
            self._out(False, False)
            self._enter(STOPPING, now)

    def cooldown_left_s(self, now):
        # In COOLDOWN: how long until the engine is stopped.
        limit = self._cooldown if self._cool_left < 0 else self._cool_left
        left = limit - self._diff(now, self._t)
        return left // 1000 if left > 0 else 0

    def resume_cooldown(self, now, left_s):
        # At boot, for a running set with nothing for it to do: the cooldown that was
        # under way before the restart goes on for what it had left, not from the start.
        if self.state == READY or self.state == RUNNING:
            left = left_s * 1000
            self._cool_left = left if left < self._cooldown else self._cooldown
            self._enter(COOLDOWN, now)

    def emergency_stop(self, now):
        # The emergency stop chain is open: fuel and starter off at once, no cooldown,
        # latched (a shutdown alarm: acknowledged once the chain is closed again).
        if self.state != FAILED:
            self._out(False, False)
            if self.running():
                self._log.add(now, events.EV_GEN_STOP, 1)
            self._enter(FAILED, now)
        self._alarms.raise_(now, alarms.AL_EMERGENCY_STOP)

    def reset(self, now):
        # Operator acknowledged a latched failure: back to idle with everything off.
        if self.state == FAILED:
            self._out(False, False)
            self._enter(STOPPING, now)

    def step(self, now, want, hurry, v_pm, f_pm, skip_delay=False):
        # hurry: the battery cannot wait, skip the start delay and the warm-up;
        # skip_delay: skip only the start delay (mains flapping).
        self.v_pm = v_pm
        self.f_pm = f_pm
        if not self.present:
            return
        self._why = want
        state = self.state
        elapsed = self._diff(now, self._t)
        if state == IDLE or state == START_DELAY:
            if want and (v_pm >= self._disc or f_pm >= self._disc):
                # Turning at speed when wanted: the controller has restarted under a
                # running set, whose fuel solenoid dropped with it. Fuel it again rather
                # than wait for it to stop and crank it.
                self._board.set_output(hal.OUT_GEN_RUN, True)
                self._running(now)
                return
        if state == IDLE:
            if want:
                self.attempt = 0
                if hurry or skip_delay or self._delay == 0:
                    self._begin(now)
                else:
                    self._enter(START_DELAY, now)
        elif state == START_DELAY:
            if not want:
                self._enter(IDLE, now)
            elif hurry or skip_delay or elapsed >= self._delay:
                self._begin(now)
        elif state == PREHEAT:
            if not want:
                self._abort(now)
            elif elapsed >= self._preheat:
                self._crank_now(now)
        elif state == CRANK:
            if v_pm >= self._disc or f_pm >= self._disc:
                self._board.set_output(hal.OUT_GEN_START, False)
                self.fired += 1
                self._running(now)
                if not want:
                    self._enter(COOLDOWN, now)
            elif not want:
                self._abort(now)
            elif elapsed >= self._crank:
                self._out(False, False)
                if self.attempt >= self._attempts:
                    self._enter(FAILED, now)
                    self._log.add(now, events.EV_GEN_FAIL_TO_START, self.attempt)
                    self._alarms.raise_(now, alarms.AL_GEN_FAIL_TO_START)
                else:
                    self._enter(REST, now)
        elif state == REST:
            if not want:
                self._abort(now)
            elif elapsed >= self._rest and self._still():
                self._heat_or_crank(now)
        elif state == RUNNING or state == READY:
            if self._watch_limits(now):
                return
            if not want:
                self._enter(COOLDOWN, now)
            elif state == RUNNING:
                warm = hurry or self._diff(now, self._t_fire) >= self._warmup
                if warm and self.within_limits():
                    self._enter(READY, now)
                    self._log.add(now, events.EV_GEN_READY, 0)
            elif not self.within_limits():
                self._enter(RUNNING, now)
        elif state == COOLDOWN:
            if self._watch_limits(now):
                return
            if want and not self._alarms.is_active(alarms.AL_GEN_OUT_OF_LIMITS):
                self._cool_left = -1
                self._enter(RUNNING, now)
            elif elapsed >= (self._cooldown if self._cool_left < 0 else self._cool_left):
                self._cool_left = -1
                self._stop(now)
        elif state == STOPPING:
            if self._still():
                self._enter(IDLE, now)
                self._stop_alarmed = False
                self._alarms.clear(now, alarms.AL_GEN_FAIL_TO_STOP)
            elif elapsed >= self._fts and not self._stop_alarmed:
                self._stop_alarmed = True
                self._alarms.raise_(now, alarms.AL_GEN_FAIL_TO_STOP)

    def _running(self, now):
        self._t_fire = now
        self._bad = self._over = False
        self._enter(RUNNING, now)

    def _begin(self, now):
        self._log.add(now, events.EV_GEN_START, self._why)
        self._heat_or_crank(now)

    def _heat_or_crank(self, now):
        if self._preheat > 0:
            self._out(False, False, True)
            self._enter(PREHEAT, now)
        else:
            self._crank_now(now)

    def _crank_now(self, now):
        if not self._still():
            # Never engage the starter on a turning engine: wait for it.
            self._out(False, False)
            self._enter(REST, now)
            return
        self.attempt += 1
        self.starts += 1
        self._out(True, True)
        self._log.add(now, events.EV_GEN_CRANK, self.attempt)
        self._enter(CRANK, now)

    def _abort(self, now):
        self._out(False, False)
        self._enter(STOPPING, now)

    def _stop(self, now):
        self._out(False, False)
        self._log.add(now, events.EV_GEN_STOP, 0)
        self._enter(STOPPING, now)

    def _watch_limits(self, now):
        # After the safety-on delay: overspeed shuts down, other limits trip the generator
        # off the load and cool it down. Returns True when it acted.
        if self._diff(now, self._t_fire) < self._safety:
            return False
        if self.f_pm >= self._f_over:
            if not self._over:
                self._over = True
                self._t_over = now
            elif self._diff(now, self._t_over) >= 100:
                self._out(False, False)
                self._log.add(now, events.EV_GEN_STOP, 1)
                self._alarms.raise_(now, alarms.AL_GEN_OVERSPEED)
                self._enter(FAILED, now)
                return True
        else:
            self._over = False
        if self.state == COOLDOWN:
            return False
        if not self.within_limits():
            if not self._bad:
                self._bad = True
                self._t_bad = now
            elif self._diff(now, self._t_bad) >= self._qual:
                self._alarms.raise_(now, alarms.AL_GEN_OUT_OF_LIMITS)
                self._enter(COOLDOWN, now)
                return True
        else:
            self._bad = False
        return False

    def tripped(self):
        return self._alarms.active & _TRIPS != 0
