# Automatic transfer switch: which source feeds the utility side of the UPS relay.
#
#   AT_MAINS --select(GEN)--> OPENING --(operate + dead time)--> CLOSING --(operate)--> AT_GEN
#   AT_GEN --select(MAINS)--> OPENING --(operate + dead time)--> CLOSING --(operate)--> AT_MAINS
#
# Two contactors, never closed together: the one closed is opened first, and the other is
# only commanded closed once the first has had its operate time plus the dead time. The
# mains contactor is normally closed (energise to open) and the generator contactor
# normally open, so a controller without power leaves the site on mains. With contact
# feedback (contacts.py) a source is closed only while the other contactor reports open,
# and counts as connected only once its own contactor reports closed; one that does not
# close is opened again when the target moves away. (MAINS and GEN are also the
# contacts.py part numbers of the two contactors.)
from micropython import const

from firmware import contacts, hal

MAINS = const(1)
GEN = const(2)
NONE = const(0)

AT = const(0)
OPENING = const(1)
CLOSING = const(2)


class Ats:
    def __init__(self, cfg, board, contacts):
        self._board = board
        self._contacts = contacts
        self._diff = board.ticks_diff
        self.configure(cfg)
        self.position = MAINS
        self.target = MAINS
        self.state = AT
        self._t = 0
        self.mains_ops = 0  # contactor operations since boot
        self.gen_ops = 0

    def configure(self, cfg):
        self._operate = cfg.get("relay.operate_ms")
        self._dead = cfg.get("ats.dead_time_ms")

    def recover(self, now, mains_open, gen_closed):
        # After a watchdog reset, from the contactor outputs the board held.
        if gen_closed:
            self.position = self.target = GEN
        elif mains_open:
            # caught between the two: both open; the dead time starts again
            self.position = self.target = MAINS
            self.state = OPENING
            self._t = now

    def closed(self):
        # The source connected to the utility side, NONE while switching.
        return self.position if self.state == AT else NONE

    def settled(self):
        return self.state == AT and self.position == self.target

    def wait_ms(self, now, most):
        # How long the supervisor may leave this machine (at most `most`): to the end of the
        # operate time, and of the dead time while both sources stand open (the load on the
        # battery: nothing else there needs the ms); one ms once it is over, through the
        # contacts' grace; after that a contact that has not reported is a fault standing
        # (contacts.py), looked at again at `most`, not every ms for as long as it stands.
        left = self._operate - self._diff(now, self._t)
        if self.state == OPENING:
            left += self._dead
        if left > 1:
            return min(left, most)
        return 1 if left > -contacts.FEEDBACK_GRACE_MS else most

    def step(self, now, target):
        self.target = target
        state = self.state
        if state == AT:
            if target != self.position:
                self._set(self.position, False)
                self.state = OPENING
                self._t = now
        elif state == OPENING:
            if self._diff(
                now, self._t
            ) >= self._operate + self._dead and not self._contacts.closed(
                MAINS if target == GEN else GEN
            ):
                self.position = target
                self._set(target, True)
                self.state = CLOSING
                self._t = now
        elif self._diff(now, self._t) >= self._operate:
            if self._contacts.closed(self.position):
                self.state = AT
            elif target != self.position:
                self._set(self.position, False)
                self.state = OPENING
                self._t = now

    def _set(self, source, closed):
        if source == MAINS:
            self.mains_ops += 1
            self._board.set_output(hal.OUT_MAINS_OPEN, not closed)
        else:
            self.gen_ops += 1
            self._board.set_output(hal.OUT_GEN_CLOSE, closed)
