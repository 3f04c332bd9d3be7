# A board that replays pre-generated sample blocks and records outputs in preallocated
# arrays: nothing on its read path allocates, so a heap lock around the control loop
# measures the firmware alone (tools/heap_check.py, tools/bench.py). The plant does not
# react to the outputs; for that, use SimBoard.
from array import array

try:
    import micropython
except ImportError:
    from firmware.cpython import micropython, ptr16

from boards.sim import scenario
from boards.sim.board import MemFS
from boards.sim.mains import Mains
from firmware import hal

TICKS_MAX = (1 << 30) - 1
TICKS_HALF = 1 << 29


def contact_at_rest(outputs, inp):
    # A digital input on a bench board: the auxiliary contacts follow their coils at once
    # (outputs: a bytearray of output states), the emergency stop chain is closed, nothing
    # else is.
    if inp == hal.IN_XFER_FB:
        return outputs[hal.OUT_XFER] == 1
    if inp == hal.IN_MAINS_FB:
        return outputs[hal.OUT_MAINS_OPEN] == 0
    if inp == hal.IN_GEN_FB:
        return outputs[hal.OUT_GEN_CLOSE] == 1
    return inp == hal.IN_ESTOP


@micropython.viper
def _copy(src, pos: int, dst, n: int) -> int:
    s = ptr16(src)
    d = ptr16(dst)
    for j in range(n):
        d[j] = s[pos + j]
    return pos + n


class BenchBoard:
    # What neither bench board (this one, lean.py) has: a console line, a network, a
    # battery-room sensor.
    def serial_read(self, buf):
        return 0

    def serial_write(self, data):
        return len(data)

    def tcp_open(self, host, port):
        raise OSError("no network on this board")

    def temperature_c10(self):
        return hal.NO_READING


class ReplayBoard(BenchBoard):
    sample_rate_hz = 4000
    block_len = 4

    def __init__(self, sc_dict, seconds, start_ms=0):
        sc = scenario.check(sc_dict)
        n = int(seconds * self.sample_rate_hz) // self.block_len * self.block_len
        self.samples = array("H", [0] * n)
        mains = Mains(sc, self.sample_rate_hz, 1000.0 / 360, lambda k, ev, started: None)
        chunk = array("H", [0] * 400)
        for off in range(0, n, 400):
            m = min(400, n - off)
            mains.fill(chunk, m, off / self.sample_rate_hz)
            for j in range(m):
                self.samples[off + j] = chunk[j]
        self.n = n
        self.pos = 0                    # samples read or skipped: the clock runs on them
        self._ms0 = start_ms
        self.out_t = array("i", [0] * 256)
        self.out_v = array("b", [0] * 256)
        self.out_n = 0
        self.out_state = bytearray(8)
        self.feeds = 0
        self.fs = MemFS()
        self.skipped = 0
        self.battery_fault_ms = None    # (from, to) in ms of the run: the reading is 0 V

    def configure(self, cfg):
        pass            # calibration and polarity are the plant's own here

    def ticks_ms(self):
        return (self._ms0 + (self.pos >> 2)) & TICKS_MAX     # 4 samples per ms

    def ticks_add(self, t, d):
        return (t + d) & TICKS_MAX

    def ticks_diff(self, a, b):
        return ((a - b + TICKS_HALF) & TICKS_MAX) - TICKS_HALF

    def read_block(self, buf, n):
        # as cheap as a board's copy out of its sampling ring (viper), so that the bench
        # times the firmware rather than this board
        pos = _copy(self.samples, self.pos, buf, n)
        self.pos = pos
        return (self._ms0 + (pos >> 2)) & TICKS_MAX

    def skip(self, ms):
        self.pos += ms * 4
        self.skipped += 1

    def set_output(self, out, on):
        self.out_state[out] = 1 if on else 0
        if self.out_n < 256:
            self.out_t[self.out_n] = self.ticks_ms()
            self.out_v[self.out_n] = out * 2 + (1 if on else 0)
            self.out_n += 1

    # A generator that never fires and a battery at rest: the sequencer still runs its
    # whole start sequence (cranks, rests, fail-to-start) under the heap lock.
    def gen_volts_x10(self):
        return 0

    def gen_hz_x100(self):
        return 0

    def battery_mv(self):
        f = self.battery_fault_ms
        if f is not None and f[0] <= self.pos >> 2 < f[1]:
            return 0
        return 51600

    def battery_ma(self):
        return 0

    def feed_watchdog(self):
        self.feeds += 1

    def time_s(self):
        return 0

    def output_w(self):
        return 0

    def output_state(self, out):
        return self.out_state[out] == 1

    def read_input(self, inp):
        return contact_at_rest(self.out_state, inp)

    def blocks_left(self):
        return (self.n - self.pos) // self.block_len
