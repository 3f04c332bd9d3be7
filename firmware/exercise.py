# Generator exercise: a scheduled run of the engine, on or off load, so that a set that
# stands for months is known to start.
#
#   IDLE --start (scheduled, or resumed after a restart)--> RUNNING
#   RUNNING --(run time over)--> IDLE, report: pass when the generator became ready
#   RUNNING --(not allowed: mode, alarm, mains failure, battery low)--> IDLE, interrupted
#
# Schedule: every `every_d` days, on cycle day `day` (with every_d 7: the weekday, Monday 0),
# at `at_min` minutes after midnight on the board clock. A run is only started in AUTO with
# no latched shutdown alarm, mains good and the generator idle; one that cannot start within
# `window_min` of its time is skipped (and logged) rather than run at an odd hour. The slot
# last handled and the end of a run under way are kept in the persistent record, so a
# restart neither doubles a run nor loses one: the first run after a restart that falls in
# an unhandled slot's window starts, and a run that was under way resumes for the time it
# had left.
#
# step() runs in the control block (ticks only); plan() runs between blocks on the
# board clock.
from micropython import const

from firmware import clock, events, store

IDLE = const(0)
RUNNING = const(1)

PASS = const(1)
FAIL = const(0)
INTERRUPTED = const(2)


class Exercise:
    def __init__(self, cfg, log, diff):
        self._log = log
        self._diff = diff
        self.configure(cfg)
        self.state = IDLE
        self.on_load = False
        self._t = 0
        self._run_ms = 0
        self._ready = False
        self._ended = False

    def configure(self, cfg):
        self.every_d = cfg.get("exercise.every_d")
        self._day = cfg.get("exercise.day")
        self._at_s = cfg.get("exercise.at_min") * 60
        self.run_s = cfg.get("exercise.run_s")
        self._on_load = cfg.get("exercise.on_load")
        self._window_s = cfg.get("exercise.window_min") * 60

    def running(self):
        return self.state == RUNNING

    def slot(self, rtc):
        # The latest scheduled start at or before rtc (clock s), 0 when there is none.
        if self.every_d == 0 or rtc < clock.VALID_FROM_S:
            return 0
        days = rtc // clock.DAY_S
        back = (days + 5 - self._day) % self.every_d  # days since the last cycle day
        t = (days - back) * clock.DAY_S + self._at_s
        if t > rtc:
            t -= self.every_d * clock.DAY_S
        return t

    def start(self, now, run_s):
        self.state = RUNNING
        self.on_load = self._on_load
        self._t = now
        self._run_ms = run_s * 1000
        self._ready = False
        self._log.add(now, events.EV_EXERCISE_START, run_s)

    def step(self, now, allowed, ready):
        # In the control block while RUNNING.
        if ready:
            self._ready = True
        if not allowed:
            self._end(now, INTERRUPTED)
        elif self._diff(now, self._t) >= self._run_ms:
            self._end(now, PASS if self._ready else FAIL)

    def _end(self, now, result):
        self.state = IDLE
        self._ended = True
        self._log.add(now, events.EV_EXERCISE_END, result)

    def plan(self, now, rtc, rec, can_start):
        # Between blocks, once a second: start, resume or skip runs. rec is the persistent
        # record's values. Returns 0 (nothing to save) or how soon the record must be
        # saved (store.SOON, store.NOW).
        if self.state == RUNNING:
            return 0
        if self._ended:
            self._ended = False
            rec["ex_until"] = 0
            return store.SOON
        until = rec["ex_until"]
        if until:
            if rtc >= until or rtc < until - self.run_s - self._window_s:
                rec["ex_until"] = 0  # over while the board was down, or the clock moved
                return store.SOON
            if can_start:
                self.start(now, until - rtc)
            return 0
        slot = self.slot(rtc)
        if slot <= rec["ex_slot"]:
            return 0
        late = rtc - slot
        if late > self._window_s:
            if rec["ex_slot"]:  # not on a board's first boot: nothing was missed
                self._log.add(now, events.EV_EXERCISE_SKIPPED, late // 60)
            rec["ex_slot"] = slot
            return store.SOON
        if not can_start:
            return 0
        rec["ex_slot"] = slot
        rec["ex_until"] = rtc + self.run_s
        self.start(now, self.run_s)
        return store.NOW

    def next_text(self, rtc, rec):
        if self.every_d == 0:
            return "off"
        if rtc < clock.VALID_FROM_S:
            return "waiting for the board clock to be set"
        slot = self.slot(rtc)
        if slot <= rec["ex_slot"] or rtc - slot > self._window_s:
            slot += self.every_d * clock.DAY_S
        return "every %d d, next %s for %d s %s load" % (
            self.every_d,
            clock.text(slot),
            self.run_s,
            "on" if self._on_load else "off",
        )
