# A plant small enough to measure the firmware's own heap beside it (tools/heap_peak.py):
# the three-hour demo's supply (a 40 % dip at 20 s, an outage from 60 s for three hours)
# from a one-cycle table, a generator that fires after two seconds of cranking, a battery
# at a plausible voltage, contacts that follow their coils, a clock, and the board's flash
# as a real directory (a board keeps its files in flash, not in the heap). After
# construction nothing here allocates, so whatever the heap holds beyond it is the
# firmware's.
from array import array

from boards.sim.board import BlockReads
from boards.sim.replay import BenchBoard
from firmware import hal
from firmware.files import DirFS

TICKS_MAX = (1 << 30) - 1
TICKS_HALF = 1 << 29
_RATE = 4000
_PER_CYCLE = 80  # 50 Hz at 4 kHz
# (from ms, to ms, level %): the demo's disturbances
_EVENTS = ((20000, 20200, 40), (60000, 60000 + 10800 * 1000, 0))
_PEAK = 903  # 230 V at the default calibration


class LeanBoard(BenchBoard, BlockReads):
    sample_rate_hz = _RATE
    block_len = 4

    def __init__(self, fs_dir, start_s=820540800):
        BenchBoard.__init__(self)
        self.fs = DirFS(fs_dir)
        self._start_s = start_s
        self.ms = 0
        self._k = 0
        tab = array("h", [0] * _PER_CYCLE)
        import math

        for i in range(_PER_CYCLE):
            tab[i] = int(_PEAK * math.sin(2 * math.pi * i / _PER_CYCLE))
        self._tab = tab
        self._crank_ms = 0
        self._running = False
        self.feeds = 0

    def configure(self, cfg):
        pass

    def ticks_ms(self):
        return self.ms & TICKS_MAX

    def ticks_add(self, t, d):
        return (t + d) & TICKS_MAX

    def ticks_diff(self, a, b):
        return ((a - b + TICKS_HALF) & TICKS_MAX) - TICKS_HALF

    def _level(self):
        ms = self.ms
        for start, end, level in _EVENTS:
            if start <= ms < end:
                return level
        return 100

    def _read(self, buf, n):
        level = self._level()
        k = self._k
        tab = self._tab
        for j in range(n):
            buf[j] = 2048 + tab[(k + j) % _PER_CYCLE] * level // 100 + (k + j) % 3 - 1
        self._k = k + n
        self._tick((k + n) // 4 - k // 4)  # the clock is the samples, 4 a ms
        return self.ms & TICKS_MAX

    def skip(self, ms):
        self._k += ms * 4
        self._tick(ms)

    def _tick(self, ms):
        self.ms += ms
        out = self.out_bits
        if out >> hal.OUT_GEN_RUN & 1 and out >> hal.OUT_GEN_START & 1:
            self._crank_ms += ms
            if self._crank_ms >= 2000:
                self._running = True
        elif not out >> hal.OUT_GEN_RUN & 1:
            self._running = False
            self._crank_ms = 0

    def set_output(self, out, on):
        self._drive(out, on)

    def feed_watchdog(self):
        self.feeds += 1

    def gen_volts_x10(self):
        return 2300 if self._running else 0

    def gen_hz_x100(self):
        return 5000 if self._running else 0

    def battery_mv(self):
        return 50000 if self.out_bits >> hal.OUT_XFER & 1 else 54000

    def battery_ma(self):
        return 31000 if self.out_bits >> hal.OUT_XFER & 1 else -500

    def output_w(self):
        return 1500

    def time_s(self):
        return self._start_s + self.ms // 1000
