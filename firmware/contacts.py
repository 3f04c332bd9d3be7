# Contact feedback: the changeover relay and the two source contactors each have an
# auxiliary contact wired to a digital input (hal.IN_*), and what it reports must agree
# with what is commanded once the operate time (plus FEEDBACK_GRACE_MS of bounce) is over.
# A disagreement names the part and how it failed: a contact that did not open (welded),
# or one that did not close (a failed coil, a broken contact, a contactor that dropped
# out by itself). The alarm latches: a contact that failed once is inspected.
#
# The machines ask before they act: the ATS closes a source only with the other
# contactor reported open (never onto a welded contact), and counts a source as
# connected only once its contactor reports closed; the transfer relay counts a move as
# done only once the relay reports it. With relay.feedback off (no auxiliary contacts
# wired) every question is answered from the command, as before.
from micropython import const

from firmware import alarms, events, hal

XFER = const(0)  # the UPS changeover relay: "closed" means on the inverter side
MAINS = const(1)
GEN = const(2)

DID_NOT_OPEN = const(1)  # welded, or stuck on the inverter side
DID_NOT_CLOSE = const(2)

FEEDBACK_GRACE_MS = const(50)
_CHECK_MS = const(5)

_INPUTS = (hal.IN_XFER_FB, hal.IN_MAINS_FB, hal.IN_GEN_FB)
_OUTPUTS = (hal.OUT_XFER, hal.OUT_MAINS_OPEN, hal.OUT_GEN_CLOSE)  # (mains: energise to open)
_ALARMS = (
    alarms.AL_XFER_RELAY_FAULT,
    alarms.AL_MAINS_CONTACTOR_FAULT,
    alarms.AL_GEN_CONTACTOR_FAULT,
)


class Contacts:
    def __init__(self, cfg, board, log, alarm_set):
        self._board = board
        self._log = log
        self._alarms = alarm_set
        self._diff = board.ticks_diff
        self._since = [-1, -1, -1]  # when each part began to disagree, -1 while it agrees
        self.faults = [0, 0, 0]  # DID_NOT_* per part, 0 when it agrees
        self._t_check = 0
        self.configure(cfg)

    def configure(self, cfg):
        self._seen = -1  # outputs and inputs at the last look that left nothing to wait for
        self.enabled = cfg.get("relay.feedback")
        self._limit = cfg.get("relay.operate_ms") + FEEDBACK_GRACE_MS

    def closed(self, part):
        # Where the part is: its feedback, or without feedback what it was told (True for
        # closed, on the inverter side).
        if self.enabled:
            return self._board.input_bits() >> _INPUTS[part] & 1 == 1
        return (self._board.output_bits() >> _OUTPUTS[part] & 1) != (part == MAINS)

    def step(self, now):
        # Every _CHECK_MS: a disagreement is alarmed within the operate time, the grace and
        # _CHECK_MS (the machines read the contacts themselves before they act). The
        # outputs and the inputs read once for the three, and looked at part by part only
        # when they moved or a part is waiting out its grace: nearly always, nothing moved.
        if not self.enabled or self._diff(now, self._t_check) < _CHECK_MS:
            return
        self._t_check = now
        o = self._board.output_bits()
        seen = o << 8 | self._board.input_bits()
        if seen == self._seen:
            return
        self._seen = seen
        i = seen & 255
        for part in range(3):
            want = (o >> _OUTPUTS[part] & 1) != (part == MAINS)
            if (i >> _INPUTS[part] & 1) == want:
                self._since[part] = -1
                self.faults[part] = 0
            elif self._since[part] < 0:
                self._since[part] = now
                self._seen = -1
            elif not self.faults[part]:
                self._seen = -1
                if self._diff(now, self._since[part]) >= self._limit:
                    kind = DID_NOT_CLOSE if want else DID_NOT_OPEN
                    self.faults[part] = kind
                    self._log.add(now, events.EV_CONTACT_FAULT, part * 16 + kind)
                    self._alarms.raise_(now, _ALARMS[part])
