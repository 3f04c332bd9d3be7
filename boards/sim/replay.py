# A board that replays pre-generated sample blocks and records outputs in preallocated
# arrays: nothing on its read path allocates, so a heap lock around the control loop
# measures the firmware alone (tools/heap_check.py, tools/bench.py). The plant does not
# react to the outputs; for that, use SimBoard.
import sys
from array import array

import micropython
from micropython import const

if sys.implementation.name != "micropython":  # the viper casts, for CPython
    from firmware.cpython import ptr16, ptr32

from boards.sim import scenario
from boards.sim.board import MemFS
from boards.sim.mains import Mains
from firmware import hal

TICKS_MAX = (1 << 30) - 1
TICKS_HALF = 1 << 29
TICKS_MAX_V = const(0x3FFFFFFF)  # the same, for viper
TICKS_HALF_V = const(0x20000000)


def contacts_at_rest(outputs):
    # A bench board's digital inputs (hal.py's input_bits) from its outputs (output_bits):
    # the auxiliary contacts follow their coils at once, the emergency stop chain is
    # closed, nothing else is.
    i = 1 << hal.IN_ESTOP
    if outputs >> hal.OUT_XFER & 1:
        i |= 1 << hal.IN_XFER_FB
    if not outputs >> hal.OUT_MAINS_OPEN & 1:
        i |= 1 << hal.IN_MAINS_FB
    if outputs >> hal.OUT_GEN_CLOSE & 1:
        i |= 1 << hal.IN_GEN_FB
    return i


# The clock's arithmetic as the boards have it, one call into machine code (MicroPython's
# time.ticks_add and ticks_diff are C on a board, but wrap at 2^62 in the 64-bit unix port).
@micropython.viper
def ticks_add(t: int, d: int) -> int:
    return (t + d) & TICKS_MAX_V


@micropython.viper
def ticks_diff(a: int, b: int) -> int:
    return ((a - b + TICKS_HALF_V) & TICKS_MAX_V) - TICKS_HALF_V


class BenchBoard:
    # What neither bench board (this one, lean.py) has: a console line, a network, a
    # battery-room sensor; and their outputs, with contacts that follow them.
    def __init__(self):
        # The instance's own from the start: an attribute first stored in the loop, under
        # the heap lock, could need its dict to grow.
        self.out_bits = 0  # bit k: OUT_k energised

    def output_bits(self):
        return self.out_bits

    def input_bits(self):
        return contacts_at_rest(self.out_bits)

    def _drive(self, out, on):
        if on:
            self.out_bits |= 1 << out
        else:
            self.out_bits &= ~(1 << out)

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
        BenchBoard.__init__(self)
        sc = scenario.check(sc_dict)
        n = int(seconds * self.sample_rate_hz) // self.block_len * self.block_len
        self.samples = array("H", bytearray(2 * n))  # no list of n first: a board's heap
        mains = Mains(sc, self.sample_rate_hz, 1000.0 / 360, lambda k, ev, started: None)
        chunk = array("H", bytearray(800))
        for off in range(0, n, 400):
            m = min(400, n - off)
            mains.fill(chunk, m, off / self.sample_rate_hz)
            for j in range(m):
                self.samples[off + j] = chunk[j]
        self.n = n
        # samples read or skipped (the clock runs on them), the clock at the start, the
        # samples there are
        self._at = array("i", [0, start_ms, n])
        self._ms0 = start_ms
        self.out_t = array("i", [0] * 256)
        self.out_v = array("b", [0] * 256)
        self.out_n = 0
        self.feeds = 0
        self.fs = MemFS()
        self.skipped = 0  # the idle watch's skips, and the ms they skipped
        self.skipped_ms = 0
        self.battery_fault_ms = None  # (from, to) in ms of the run: the reading is 0 V
        self.fires_ms = 0  # a generator firing after this long cranking (0: never)
        self.load_ma = 0  # the battery's current while it carries the load (0: none, dead)
        self._crank_from = -1  # when the crank began (ms of the run), -1: not cranking
        self._running = False

    def configure(self, cfg):
        pass  # calibration and polarity are the plant's own here

    def ticks_ms(self):
        return (self._ms0 + (self.pos >> 2)) & TICKS_MAX  # 4 samples per ms

    ticks_add = staticmethod(ticks_add)
    ticks_diff = staticmethod(ticks_diff)

    @property
    def pos(self):
        return self._at[0]

    @micropython.viper
    def read_block(self, buf, n: int, process) -> int:
        # as cheap as a board's copy out of its sampling ring (machine code), so that the
        # bench counts the firmware rather than this board
        at = ptr32(self._at)
        s = ptr16(self.samples)
        d = ptr16(buf)
        pos = int(at[0])
        end = int(at[2])
        while True:
            if pos + n > end:  # the recording is over: nothing more to hand over
                return (int(at[1]) + (pos >> 2)) & TICKS_MAX_V
            for j in range(n):
                d[j] = s[pos + j]
            pos += n
            at[0] = pos
            now = (int(at[1]) + (pos >> 2)) & TICKS_MAX_V
            if int(process(buf, n, now)):
                return now

    def skip(self, ms):
        self._at[0] += ms * 4
        self.skipped += 1
        self.skipped_ms += ms

    def set_output(self, out, on):
        self._drive(out, on)
        if out == hal.OUT_GEN_START and on and self._crank_from < 0:
            self._crank_from = self.pos >> 2
        elif out == hal.OUT_GEN_START and not on:
            self._crank_from = -1
        elif out == hal.OUT_GEN_RUN and not on:
            self._running = False
        if self.out_n < 256:
            self.out_t[self.out_n] = self.ticks_ms()
            self.out_v[self.out_n] = out * 2 + (1 if on else 0)
            self.out_n += 1

    # A generator that never fires (by default) and a battery at rest even with the load on
    # it, found dead: the sequencer still runs its whole start sequence (cranks, rests,
    # fail-to-start) under the heap lock, in a hurry.
    def _turning(self):
        if (
            not self._running
            and self.fires_ms
            and self._crank_from >= 0
            and (self.pos >> 2) - self._crank_from >= self.fires_ms
            and self.out_bits >> hal.OUT_GEN_RUN & 1
        ):
            self._running = True
        return self._running

    def gen_volts_x10(self):
        return 2300 if self._turning() else 0

    def gen_hz_x100(self):
        return 5000 if self._turning() else 0

    def battery_mv(self):
        f = self.battery_fault_ms
        if f is not None and f[0] <= self.pos >> 2 < f[1]:
            return 0
        return 51600

    def battery_ma(self):
        return self.load_ma if self.out_bits >> hal.OUT_XFER & 1 else 0

    def feed_watchdog(self):
        self.feeds += 1

    def time_s(self):
        return 0

    def output_w(self):
        return 0

    def blocks_left(self):
        return (self.n - self.pos) // self.block_len
