# The controller's event record: a preallocated ring of (ticks_ms, code, argument), so that
# recording an event never allocates, even inside the control loop.
from array import array

from micropython import const

EV_BOOT = const(1)
EV_MAINS_LOST = const(2)  # arg: mains_monitor reason bits
EV_MAINS_RESTORED = const(3)
EV_XFER_TO_BATTERY = const(4)  # transfer relay commanded to the battery side
EV_XFER_TO_UTILITY = const(5)  # arg: the source on the utility side (ats.MAINS/GEN)
EV_ALARM = const(6)  # arg: alarm code
EV_ALARM_CLEARED = const(7)
EV_GEN_START = const(8)  # start sequence begins (after any start delay)
EV_GEN_CRANK = const(9)  # arg: attempt number
EV_GEN_READY = const(10)
EV_GEN_STOP = const(11)  # arg: 1 when stopped by a protection
EV_GEN_FAIL_TO_START = const(12)  # arg: attempts made
EV_BATTERY_LOW = const(13)  # arg: runtime left, s
EV_BATTERY_OK = const(14)
EV_MAINS_FLAPPING = const(15)  # arg: failures counted in the window
EV_MODE = const(16)  # arg: supervisor mode
EV_DRILL_START = const(17)  # arg: duration, s
# A drill report is four records in a row: time to ready (ms, -1 if never), transfers,
# lowest state of charge (per mille), then the end with 1 for pass, 0 for fail.
EV_DRILL_READY_MS = const(18)
EV_DRILL_TRANSFERS = const(19)
EV_DRILL_MIN_SOC = const(20)
EV_DRILL_END = const(21)
# A self-test report: resistance (mOhm), lowest voltage (mV), then the end (1 pass,
# 0 fail, 2 interrupted).
EV_SELFTEST_START = const(22)  # arg: duration, s
EV_SELFTEST_R = const(23)
EV_SELFTEST_VMIN = const(24)
EV_SELFTEST_END = const(25)
EV_SHED = const(26)  # arg: 1 non-critical loads dropped, 0 restored
EV_EXERCISE_START = const(27)  # arg: run time, s (less than configured when resumed)
EV_EXERCISE_END = const(28)  # arg: 1 pass (generator ready), 0 fail, 2 interrupted
EV_EXERCISE_SKIPPED = const(29)  # arg: minutes late; not allowed within the window
EV_COUNTER_RESET = const(30)  # arg: 1 engine, 2 relays, 3 battery
EV_SHUTDOWN_PENDING = const(31)  # arg: delay, s
EV_LOAD_OFF = const(32)
EV_LOAD_ON = const(33)  # arg: 1 the load was off, 0 a pending shutdown cancelled
EV_RECOVERED = const(34)  # arg: 1 booted into an outage the outputs showed
EV_CONTACT_FAULT = const(35)  # arg: part * 16 + kind (contacts.py)
EV_MAINS_SENSOR = const(36)  # arg: mains_monitor.SENSOR_* kind
EV_CLOCK_SET = const(37)  # arg: the step, s (new minus old, within +-2^31)

NAMES = {
    EV_BOOT: "boot",
    EV_MAINS_LOST: "mains_lost",
    EV_MAINS_RESTORED: "mains_restored",
    EV_XFER_TO_BATTERY: "transfer_to_battery",
    EV_XFER_TO_UTILITY: "transfer_to_utility",
    EV_ALARM: "alarm",
    EV_ALARM_CLEARED: "alarm_cleared",
    EV_GEN_START: "generator_start",
    EV_GEN_CRANK: "generator_crank",
    EV_GEN_READY: "generator_ready",
    EV_GEN_STOP: "generator_stop",
    EV_GEN_FAIL_TO_START: "generator_fail_to_start",
    EV_BATTERY_LOW: "battery_low",
    EV_BATTERY_OK: "battery_ok",
    EV_MAINS_FLAPPING: "mains_flapping",
    EV_MODE: "mode",
    EV_DRILL_START: "drill_start",
    EV_DRILL_READY_MS: "drill_time_to_ready",
    EV_DRILL_TRANSFERS: "drill_transfers",
    EV_DRILL_MIN_SOC: "drill_min_soc",
    EV_DRILL_END: "drill_end",
    EV_SELFTEST_START: "selftest_start",
    EV_SELFTEST_R: "selftest_r",
    EV_SELFTEST_VMIN: "selftest_v_min",
    EV_SELFTEST_END: "selftest_end",
    EV_SHED: "load_shed",
    EV_EXERCISE_START: "exercise_start",
    EV_EXERCISE_END: "exercise_end",
    EV_EXERCISE_SKIPPED: "exercise_skipped",
    EV_COUNTER_RESET: "counter_reset",
    EV_SHUTDOWN_PENDING: "shutdown_pending",
    EV_LOAD_OFF: "load_switched_off",
    EV_LOAD_ON: "load_switched_on",
    EV_RECOVERED: "recovered_outage",
    EV_CONTACT_FAULT: "contact_fault",
    EV_MAINS_SENSOR: "mains_sensor_fault",
    EV_CLOCK_SET: "clock_set",
}


class EventRing:
    def __init__(self, size=64):
        self._buf = array("i", [0] * (3 * size))
        self._size = size
        self.size = size
        self._next = 0
        self.count = 0
        # Called as listener(code, arg) after each record; the simulator uses it to stamp
        # events with simulated time. Left None on a board.
        self.listener = None

    def add(self, now_ms, code, arg=0):
        i = 3 * self._next
        self._buf[i] = now_ms
        self._buf[i + 1] = code
        self._buf[i + 2] = arg
        self._next = (self._next + 1) % self._size
        self.count += 1
        if self.listener is not None:
            self.listener(code, arg)

    def recent(self, n):
        # Newest last: [(ticks_ms, code, arg), ...]; allocates, so not for the control path.
        n = min(n, self.count, self._size)
        out = []
        for k in range(n, 0, -1):
            i = 3 * ((self._next - k) % self._size)
            out.append((self._buf[i], self._buf[i + 1], self._buf[i + 2]))
        return out
