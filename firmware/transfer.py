# Transfer state machine: which side of the changeover relay feeds the load.
#
#   ON_MAINS --(mains fault)--> TO_BATTERY --(relay operate time)--> ON_BATTERY
#      ^                            ^                                    |
#      |                            +----(mains fault)----+              | mains good for
#      +-------(relay operate time)------------------ TO_MAINS <--------+ return_delay_s
#
#   TO_BATTERY --(operate time, max_per_min transfers within 60 s)--> HELD (alarm)
#   HELD --(mains good for lockout_s)--> TO_MAINS (alarm cleared)
#
# The relay is a changeover, so two sources are never closed together; the TO_* states
# wait out the operate time so that no decision is taken while the contact is in flight.
from array import array

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

from firmware import alarms, events, hal

ON_MAINS = const(0)
TO_BATTERY = const(1)
ON_BATTERY = const(2)
TO_MAINS = const(3)
HELD = const(4)

NAMES = ("on_mains", "to_battery", "on_battery", "to_mains", "held")

_WINDOW_MS = const(60000)


class Transfer:
    def __init__(self, cfg, board, log, alarm_set):
        self._board = board
        self._log = log
        self._alarms = alarm_set
        self._diff = board.ticks_diff
        self._history = array("i", [0] * 30)  # times of recent transfers to battery
        self._hist_next = 0
        self._hist_count = 0
        self.configure(cfg)
        self.state = ON_MAINS
        self._t_state = 0
        self._good = False
        self._t_good = 0

    def configure(self, cfg):
        self._operate_ms = cfg.get("relay.operate_ms")
        self._return_ms = cfg.get("transfer.return_delay_s") * 1000
        self._max = cfg.get("transfer.max_per_min")
        self._lockout_ms = cfg.get("transfer.lockout_s") * 1000

    def step(self, now, mains_ok, mains_faults):
        # mains_ok: the monitor vouches for mains; mains_faults: its fault bits (0 = none).
        if mains_ok:
            if not self._good:
                self._good = True
                self._t_good = now
        else:
            self._good = False
        state = self.state
        if state == ON_MAINS:
            if mains_faults:
                self._to_battery(now)
        elif state == TO_BATTERY:
            if self._diff(now, self._t_state) >= self._operate_ms:
                if self._recent(now) >= self._max:
                    self._enter(HELD, now)
                    self._alarms.raise_(now, alarms.AL_TRANSFER_CHATTER)
                else:
                    self._enter(ON_BATTERY, now)
        elif state == ON_BATTERY:
            if self._good and self._diff(now, self._t_good) >= self._return_ms:
                self._to_mains(now)
        elif state == TO_MAINS:
            if mains_faults:
                self._to_battery(now)
            elif self._diff(now, self._t_state) >= self._operate_ms:
                self._enter(ON_MAINS, now)
        elif state == HELD:
            if self._good and self._diff(now, self._t_good) >= self._lockout_ms:
                self._alarms.clear(now, alarms.AL_TRANSFER_CHATTER)
                self._to_mains(now)

    def on_battery(self):
        return self.state != ON_MAINS and self.state != TO_MAINS

    def settled_on_battery(self):
        # On battery with the relay at rest: nothing to time until mains comes back.
        return self.state == ON_BATTERY or self.state == HELD

    def _enter(self, state, now):
        self.state = state
        self._t_state = now

    def _to_battery(self, now):
        self._board.set_output(hal.OUT_XFER, True)
        self._log.add(now, events.EV_XFER_TO_BATTERY, 0)
        self._history[self._hist_next] = now
        self._hist_next = (self._hist_next + 1) % len(self._history)
        if self._hist_count < len(self._history):
            self._hist_count += 1
        self._enter(TO_BATTERY, now)

    def _to_mains(self, now):
        self._board.set_output(hal.OUT_XFER, False)
        self._log.add(now, events.EV_XFER_TO_MAINS, 0)
        self._enter(TO_MAINS, now)

    def _recent(self, now):
        # Transfers to battery in the last minute, this one included.
        n = 0
        size = len(self._history)
        for k in range(1, self._hist_count + 1):
            if self._diff(now, self._history[(self._hist_next - k) % size]) < _WINDOW_MS:
                n += 1
            else:
                break
        return n
