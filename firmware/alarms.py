# Active alarms as a bit set, so that raising one in the control loop never allocates.
# Classes, latching and acknowledgement arrive with the generator supervisor.
try:
    from micropython import const
except ImportError:
    def const(x):
        return x

from firmware import events

AL_TRANSFER_CHATTER = const(1)  # too many transfers in a minute: held on battery

NAMES = {
    AL_TRANSFER_CHATTER: "transfer_chatter",
}


class Alarms:
    def __init__(self, log):
        self._log = log
        self.active = 0

    def raise_(self, now_ms, code):
        bit = 1 << code
        if not self.active & bit:
            self.active |= bit
            self._log.add(now_ms, events.EV_ALARM, code)

    def clear(self, now_ms, code):
        bit = 1 << code
        if self.active & bit:
            self.active &= ~bit
            self._log.add(now_ms, events.EV_ALARM_CLEARED, code)

    def is_active(self, code):
        return bool(self.active & (1 << code))
