# Battery self-test: a short real discharge while mains is good.
#
#   IDLE --start--> MOVING --(load settled on battery)--> TESTING --(duration_s)--> IDLE
#   MOVING/TESTING --(mains fault)--> IDLE (interrupted: the outage logic takes over)
#   TESTING --(terminal voltage at the abort level)--> IDLE (fail, at once)
#
# Pass: the terminal voltage stayed at or above min_mv_per_cell and the internal
# resistance measured at the load step is at most max_r_pct of battery.r_mohm. A fail
# raises battery_failed, which stays until an operator acknowledges it (or a later test
# passes). The result goes to the event log: resistance, lowest voltage, then the end.
from micropython import const

from firmware import alarms, events

IDLE = const(0)
MOVING = const(1)
TESTING = const(2)

PASS = const(1)
FAIL = const(0)
INTERRUPTED = const(2)


class BatteryTest:
    def __init__(self, cfg, log, alarm_set, battery, ticks_diff):
        self._log = log
        self._alarms = alarm_set
        self._battery = battery
        self._diff = ticks_diff
        self.configure(cfg)
        self.state = IDLE
        self._t = 0
        self._v_min = 0
        self._r_before = 0
        self._run_ms = 0

    def configure(self, cfg):
        self._duration = cfg.get("selftest.duration_s") * 1000
        cells = max(1, cfg.get("battery.nominal_v") // 2)
        self._v_pass = cfg.get("selftest.min_mv_per_cell") * cells
        self._v_abort = (cfg.get("battery.cutoff_mv_per_cell") + 50) * cells
        self._r_max = cfg.get("battery.r_mohm") * cfg.get("selftest.max_r_pct") // 100

    def wants_battery(self):
        return self.state != IDLE

    def start(self, now, duration_s=0):
        # duration_s 0: selftest.duration_s
        self._run_ms = duration_s * 1000 if duration_s else self._duration
        self.state = MOVING
        self._t = now
        self._v_min = 1 << 29
        self._r_before = self._battery.r_measured
        self._battery.r_measured = 0  # this test measures it afresh
        self._log.add(now, events.EV_SELFTEST_START, self._run_ms // 1000)

    def step(self, now, settled_on_battery, mains_fault):
        if self.state == IDLE:
            return
        if mains_fault:
            if not self._battery.r_measured:
                self._battery.r_measured = self._r_before
            self._finish(now, INTERRUPTED)
            return
        if self.state == MOVING:
            if settled_on_battery:
                self.state = TESTING
                self._t = now
            return
        v = self._battery.voltage_mv
        if v and v < self._v_min:
            self._v_min = v
        if v and v <= self._v_abort:
            self._finish(now, FAIL)
        elif self._diff(now, self._t) >= self._run_ms:
            r = self._battery.r_measured
            ok = self._v_min >= self._v_pass and 0 < r <= self._r_max
            self._finish(now, PASS if ok else FAIL)

    def cancel(self, now):
        # An operator (or NUT) stops the test: interrupted, no verdict.
        if self.state != IDLE:
            if not self._battery.r_measured:
                self._battery.r_measured = self._r_before
            self._finish(now, INTERRUPTED)

    def _finish(self, now, result):
        self.state = IDLE
        log = self._log
        log.add(now, events.EV_SELFTEST_R, self._battery.r_measured)
        log.add(now, events.EV_SELFTEST_VMIN, self._v_min if self._v_min < (1 << 29) else 0)
        log.add(now, events.EV_SELFTEST_END, result)
        if result == FAIL:
            self._alarms.raise_(now, alarms.AL_BATTERY_FAILED)
        elif result == PASS:
            self._alarms.ack(now, alarms.AL_BATTERY_FAILED)
