# What the unit tests give a firmware state machine in place of a board: the boards' tick
# arithmetic, and a board that records what it was told to drive.
from firmware import hal

MASK = (1 << 30) - 1  # the boards' ticks wrap at 2^30


def ticks_diff(a, b):
    # time.ticks_diff as on a board: the signed difference of two wrapping tick counts
    return ((a - b + (1 << 29)) & MASK) - (1 << 29)


class RecordingBoard:
    # The outputs in the order they were driven (outputs) and as they stand (state). The
    # transfer relay's feedback contact follows its command (its operate time is the
    # machine's to wait out) unless a test sets stuck.
    def __init__(self):
        self.outputs = []
        self.state = {}
        self.stuck = None

    def ticks_diff(self, a, b):
        return ticks_diff(a, b)

    def set_output(self, out, on):
        self.outputs.append((out, on))
        self.state[out] = on

    def output_bits(self):
        return sum(1 << out for out, on in self.state.items() if on)

    def input_bits(self):
        # only the relay's feedback contact is wired
        on = self.stuck if self.stuck is not None else self.state.get(hal.OUT_XFER, False)
        return 1 << hal.IN_XFER_FB if on else 0
