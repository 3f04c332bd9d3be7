# Transfer state machine: which side of the UPS changeover relay feeds the load.
#
#   ON_UTILITY --(fault, or not wanted)--> TO_BATTERY --(relay operate time)--> ON_BATTERY
#      ^                                       ^                                    |
#      |                                       +------(fault, or not wanted)---+    | ready
#      +-----------(relay operate time)------------------------ TO_UTILITY <---+----+ and wanted
#
#   TO_BATTERY --(operate time, max_per_min fault transfers within 60 s)--> HELD (alarm)
#   HELD --(utility ready for lockout_s)--> TO_UTILITY (alarm cleared)
#
# The utility side is fed by mains or the generator through the ATS; the supervisor says
# whether that source is ready (its delays already served), whether it has a fault that
# must drop it at once, and whether it wants the load there at all. The relay is a
# changeover, so two sources are never closed together; the TO_* states wait out the
# operate time so that no decision is taken while the contact is in flight, and with
# contact feedback (contacts.py) until the relay reports where it landed; a relay that
# stays on the utility side is let go back there when the utility is ready again. Planned
# moves (not wanted) do not count towards the chatter limit; faults do.
from array import array

from micropython import const

from firmware import alarms, contacts, events, hal

ON_UTILITY = const(0)
TO_BATTERY = const(1)
ON_BATTERY = const(2)
TO_UTILITY = const(3)
HELD = const(4)

NAMES = ("on_utility", "to_battery", "on_battery", "to_utility", "held")

_WINDOW_MS = const(60000)


# Times of recent occurrences in a preallocated ring, counted over a sliding window: used
# for the transfer chatter limit and for flapping mains. Adding and counting allocate
# nothing.
class Recent:
    def __init__(self, size, ticks_diff):
        self._t = array("i", [0] * size)
        self._diff = ticks_diff
        self._next = 0
        self._count = 0

    def add(self, now):
        size = len(self._t)
        self._t[self._next] = now
        self._next = (self._next + 1) % size
        if self._count < size:
            self._count += 1

    def within(self, now, window_ms):
        # How many of the recorded times lie less than window_ms before now.
        size = len(self._t)
        n = 0
        for k in range(1, self._count + 1):
            if self._diff(now, self._t[(self._next - k) % size]) < window_ms:
                n += 1
            else:
                break
        return n


class Transfer:
    def __init__(self, cfg, board, log, alarm_set, contact_set):
        self._board = board
        self._contacts = contact_set
        self._log = log
        self._alarms = alarm_set
        self._diff = board.ticks_diff
        self._history = Recent(30, board.ticks_diff)  # recent fault transfers to battery
        self.configure(cfg)
        self.state = ON_UTILITY
        self._t_state = 0
        self._good = False
        self._t_good = 0
        self.transfers = 0  # relay operations commanded since boot
        self._counted = False  # the present move to battery was caused by a fault

    def configure(self, cfg):
        self._operate_ms = cfg.get("relay.operate_ms")
        self._max = cfg.get("transfer.max_per_min")
        self._lockout_ms = cfg.get("transfer.lockout_s") * 1000

    def step(self, now, ready, faults, want, source):
        if ready:
            if not self._good:
                self._good = True
                self._t_good = now
        else:
            self._good = False
        state = self.state
        if state == ON_UTILITY:
            if faults:
                self._to_battery(now, True)
            elif not want:
                self._to_battery(now, False)
        elif state == TO_BATTERY:
            if self._diff(now, self._t_state) < self._operate_ms:
                pass
            elif not self._contacts.closed(contacts.XFER):
                if ready and want and not faults:
                    self._to_utility(now, source)  # it never left the utility side
            else:
                if self._counted and self._history.within(now, _WINDOW_MS) >= self._max:
                    self._enter(HELD, now)
                    self._alarms.raise_(now, alarms.AL_TRANSFER_CHATTER)
                else:
                    self._enter(ON_BATTERY, now)
        elif state == ON_BATTERY:
            if ready and want and not faults:
                self._to_utility(now, source)
        elif state == TO_UTILITY:
            if faults:
                self._to_battery(now, True)
            elif not want:
                self._to_battery(now, False)
            elif self._diff(now, self._t_state) >= self._operate_ms and not self._contacts.closed(
                contacts.XFER
            ):
                self._enter(ON_UTILITY, now)
        elif state == HELD:
            if self._good and want and self._diff(now, self._t_good) >= self._lockout_ms:
                self._alarms.clear(now, alarms.AL_TRANSFER_CHATTER)
                self._to_utility(now, source)

    def recover(self, now, energised):
        # After a watchdog reset, from the relay output the board held: on battery, settled.
        if energised:
            self._enter(ON_BATTERY, now)

    def on_battery(self):
        # Commanded there, or reported there by a relay that did not come back.
        c = self._contacts
        return (
            self.state != ON_UTILITY
            and self.state != TO_UTILITY
            or c.enabled
            and c.closed(contacts.XFER)
        )

    def moving(self):
        # The relay has been told to change over and its operate time is not over.
        return self.state == TO_BATTERY or self.state == TO_UTILITY

    def wait_ms(self, now, most):
        # How long the supervisor may leave this machine (at most `most`). While the relay
        # is in flight nothing is decided until its operate time is over
        # (a fault that comes meanwhile steps the supervisor at once): one ms after the
        # command, so that the supervisor sees the load leave its side, then up to the end
        # of the operate time (at most `most`), then every ms until the contacts report,
        # through their grace; a relay that has not reported by then is a fault standing
        # (contacts.py), looked at again at `most`.
        if not self.moving():
            return most
        gone = self._diff(now, self._t_state)
        left = self._operate_ms - gone
        if gone > 0 and left > 1:
            return min(left, most)
        return 1 if left > -contacts.FEEDBACK_GRACE_MS else most

    def settled_on_battery(self):
        # On battery with the relay at rest: the utility side may be switched.
        return self.state == ON_BATTERY or self.state == HELD

    def _enter(self, state, now):
        self.state = state
        self._t_state = now

    def _to_battery(self, now, counted):
        self._board.set_output(hal.OUT_XFER, True)
        self._log.add(now, events.EV_XFER_TO_BATTERY, 1 if counted else 0)
        self.transfers += 1
        self._counted = counted
        if counted:
            self._history.add(now)
        self._enter(TO_BATTERY, now)

    def _to_utility(self, now, source):
        self._board.set_output(hal.OUT_XFER, False)
        self._log.add(now, events.EV_XFER_TO_UTILITY, source)
        self.transfers += 1
        self._enter(TO_UTILITY, now)
