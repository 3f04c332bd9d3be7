# Load shutdown, as NUT asks for it at the end of a power failure (Megatec S<n>, S<n>R<m>,
# C): the servers have halted, so the UPS switches its output off after a delay, and on
# again when power is back, so that they boot.
#
#   IDLE --request(delay, restore)--> PENDING --(delay)--> OFF (OUT_LOAD_OFF energised)
#   OFF --(utility side ready: restore < 0 at once, restore > 0 after that many
#          minutes of it)--> IDLE (load on)
#   OFF --(restore == 0)--> stays off until cancel
#   PENDING/OFF --cancel (C)--> IDLE (load on)
#
# The output contactor is normally closed: energised, it disconnects the load, so a
# controller without power never leaves the servers without it.
from micropython import const

from firmware import events, hal

IDLE = const(0)
PENDING = const(1)
OFF = const(2)

NAMES = ("idle", "pending", "off")


class Shutdown:
    def __init__(self, board, log):
        self._board = board
        self._diff = board.ticks_diff
        self._log = log
        self.state = IDLE
        self._t = 0
        self._delay_ms = 0
        self._restore = -1  # minutes of power before the load comes back; 0 never; -1 at once
        self._t_ready = 0
        self._ready = False

    def recover(self, now, off):
        # After a watchdog reset the output contactor may still hold the load off: it
        # comes back on when power is ready.
        if off:
            self.state = OFF
            self._restore = -1
            self._ready = False

    def active(self):
        return self.state != IDLE

    def request(self, now, delay_s, restore_min):
        self.state = PENDING
        self._t = now
        self._delay_ms = delay_s * 1000
        self._restore = restore_min
        self._log.add(now, events.EV_SHUTDOWN_PENDING, delay_s)

    def cancel(self, now):
        if self.state == OFF:
            self._on(now)
        elif self.state == PENDING:
            self.state = IDLE
            self._log.add(now, events.EV_LOAD_ON, 0)

    def step(self, now, power_ready):
        state = self.state
        if state == PENDING:
            if self._diff(now, self._t) >= self._delay_ms:
                self.state = OFF
                self._ready = False
                self._board.set_output(hal.OUT_LOAD_OFF, True)
                self._log.add(now, events.EV_LOAD_OFF, 0)
        elif state == OFF:
            if power_ready:
                if not self._ready:
                    self._ready = True
                    self._t_ready = now
            else:
                self._ready = False
            if self._ready and self._restore != 0:
                wait = 0 if self._restore < 0 else self._restore * 60000
                if self._diff(now, self._t_ready) >= wait:
                    self._on(now)

    def _on(self, now):
        self.state = IDLE
        self._board.set_output(hal.OUT_LOAD_OFF, False)
        self._log.add(now, events.EV_LOAD_ON, 1)
