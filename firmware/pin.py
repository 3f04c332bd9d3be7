# The PIN check that every channel shares (the serial console, MQTT): wrong guesses are
# counted together, and after _FREE_TRIES of them in a row a guess is refused for
# _LOCKOUT_S, doubling with each further wrong one up to MAX_LOCKOUT_S. The count and the
# wait are written to the persistent record at once (store.NOW), so that cutting the
# power neither forgets them nor shortens the wait (a restart begins the whole wait
# again). The wait is counted down by tick(), called every few ms between blocks: no
# clock difference is kept long enough to wrap.
#
# The PIN is a string of digits as typed: "0042" is not "42".
from firmware import store as record
from micropython import const

_FREE_TRIES = const(3)
_LOCKOUT_S = const(30)
MAX_LOCKOUT_S = 3600


class PinGuard:
    def __init__(self, store, ticks_diff):
        self._store = store
        self._diff = ticks_diff
        self.wrong = store.values["pin_wrong"]
        self.wait_ms = min(store.values["pin_wait_s"], MAX_LOCKOUT_S) * 1000
        self._t = None

    def tick(self, now):
        if self._t is None or not self.wait_ms:
            self._t = now
            return
        dt = self._diff(now, self._t)
        self._t = now
        if dt > 0:
            self.wait_ms = self.wait_ms - dt if dt < self.wait_ms else 0

    def check(self, typed, pin):
        # None when typed is the PIN; else what is wrong (never the PIN, never what was
        # typed).
        if self.wait_ms:
            return "too many wrong PINs; try again in %d s" % ((self.wait_ms + 999) // 1000)
        if typed == pin:
            if self.wrong:
                self._keep(0, 0)
            return None
        wrong = self.wrong + 1
        wait = 0
        if wrong >= _FREE_TRIES:
            shift = wrong - _FREE_TRIES
            wait = MAX_LOCKOUT_S if shift > 7 else min(MAX_LOCKOUT_S, _LOCKOUT_S << shift)
        self._keep(wrong, wait)
        return "wrong PIN"

    def _keep(self, wrong, wait_s):
        self.wrong = wrong
        self.wait_ms = wait_s * 1000
        v = self._store.values
        v["pin_wrong"] = wrong
        v["pin_wait_s"] = wait_s
        self._store.changed(record.NOW)
