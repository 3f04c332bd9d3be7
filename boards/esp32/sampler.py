# The ESP32's sampling: hardware timer 0 fires at the sample rate with a hard interrupt
# whose handler, in viper, only reads the mains input and writes the ring. The slow inputs
# (battery voltage and current, generator voltage, output current) are read by the loop, one
# every other block in turn, each averaged over SLOW_N readings (64 ms at a 1 ms block),
# with the interrupt held off for the one conversion so that ADC1 is never read from two
# places at once (the mains sample it delays by some 20 us is 0.4 degrees of a 50 Hz wave).
#
# The interrupt allocates nothing: the count wraps at 2^30, samples go into a preallocated
# array. The ring holds RING samples (64 ms at 4 kHz): as long as the loop is back within
# that, the mains monitor sees an unbroken waveform.
#
# A flash write or erase stops the ESP32's cache, and with it every interrupt whose code
# is not in IRAM, this one among them: for a sector erase, tens of ms without a sample,
# and nothing in the ring says so. So each read also holds the samples against the clock
# (time.ticks_us, the same crystal): when more than GAP_SLACK sample periods have gone by
# that brought no sample, they are reported lost, as an overrun's are.
import micropython
from array import array
from micropython import const

import sys

if sys.implementation.name != "micropython":  # the driver tests, under CPython
    from firmware.cpython import ptr16, ptr32

_RING = const(256)  # samples (64 ms at 4 kHz)
SLOW_N = const(8)
SLOW_INPUTS = const(4)
_WRAP = const(0x3FFFFFFF)
PERIOD_US = const(250)  # 4 kHz
GAP_SLACK = const(1)  # periods of interrupt latency that are not a gap


# state words (st): samples read and written when the loop last looked, when the last of
# those was due (ticks_us), and whether this block reads a slow input
_R = const(0)
_SEEN = const(1)
_T = const(2)
_ODD = const(3)
_US_MASK = const((1 << 30) - 1)  # ticks_us wraps at 2^30 on the board (2^62 on the host:
_US_HALF = const(1 << 29)  # the same arithmetic modulo 2^30 holds there too)


class TimerSampler:
    RING = _RING

    def __init__(self, read_mains, read_slow, disable_irq, enable_irq, clock, on_lost):
        # clock: the time module (ticks_ms, ticks_us); on_lost(n): the board, told of
        # samples lost
        self._read = read_mains  # () -> 16-bit reading
        self._read_slow = read_slow  # [k]() -> 16-bit reading of slow input k
        self._off = disable_irq
        self._on = enable_irq
        self._ring = array("H", bytearray(2 * _RING))
        self._w = array("i", [0])  # samples written, wrapping at 2^30
        self._st = array("i", [0, 0, 0, 0])
        self._c = 0  # slow readings taken: the input next is its low bits
        self._sum = array("i", [0] * SLOW_INPUTS)
        # a first reading of each now, so that nothing reads 0 V at boot
        self.slow = array("i", [f() >> 4 for f in read_slow])
        self.overruns = 0
        self.gaps = 0  # stretches with no interrupt, found by the clock
        self.ticks_ms = clock.ticks_ms
        self.on_lost = on_lost
        self._us = clock.ticks_us
        self.drop()  # (and the board again once the timer runs, to start the clock with it)

    @micropython.viper
    def isr(self, _timer):
        w = ptr32(self._w)
        n = w[0]
        ring = ptr16(self._ring)
        ring[n & (_RING - 1)] = int(self._read()) >> 4
        w[0] = (n + 1) & _WRAP

    @micropython.viper
    def read_block(self, buf, n: int, process) -> int:
        # The board's read (hal.py), in machine code: wait for n samples, copy them and hand
        # them to process; again until it returns 1. A loop that fell more than the ring
        # behind resumes at the oldest sample the interrupt cannot overwrite while this
        # copies (an overrun). The samples written since the last look account for that
        # much time on the clock (ticks_us, the same crystal): more than GAP_SLACK periods
        # beyond it brought no sample, and count as lost before these. Python (_slow) only
        # then, and every other block for a slow input; the board is told what was lost.
        # Returns ticks_ms() at the last block.
        st = ptr32(self._st)
        w = ptr32(self._w)
        ring = ptr16(self._ring)
        out = ptr16(buf)
        while True:
            r = int(st[_R])
            lost = -1
            while lost < 0:
                lost = ((w[0] - r) & _WRAP) - n  # samples there beyond these
            lost -= _RING - 2 * n
            flags = 0
            if lost > 0:
                r = (r + lost) & _WRAP
                flags = 1
            else:
                lost = 0
            seen = int(w[0])
            t = (int(st[_T]) + ((seen - int(st[_SEEN])) & _WRAP) * PERIOD_US) & _US_MASK
            st[_SEEN] = seen
            late = (((int(self._us()) - t + _US_HALF) & _US_MASK) - _US_HALF) // PERIOD_US
            if late > GAP_SLACK:
                t = (t + late * PERIOD_US) & _US_MASK  # never taken: in the loop's stall
                lost += late
                flags |= 2
            st[_T] = t
            for i in range(n):
                out[i] = ring[(r + i) & (_RING - 1)]
            st[_R] = (r + n) & _WRAP
            odd = int(st[_ODD]) ^ 1
            st[_ODD] = odd
            flags |= (odd ^ 1) << 2
            if flags != 0:
                self._slow(lost, flags)
            now = int(self.ticks_ms())
            if int(process(buf, n, now)):
                return now

    def _slow(self, lost, flags):
        # An overrun or a gap counted; every other block one slow input, with the
        # interrupt held off for its conversion, each averaged over SLOW_N readings.
        if flags & 1:
            self.overruns += 1
        if flags & 2:
            self.gaps += 1
        if flags & 4:
            c = self._c
            k = c & (SLOW_INPUTS - 1)
            state = self._off()
            v = self._read_slow[k]()
            self._on(state)
            self._sum[k] += v >> 4
            c = (c + 1) & (SLOW_INPUTS * SLOW_N - 1)
            self._c = c
            if c == 0:
                for j in range(SLOW_INPUTS):
                    self.slow[j] = self._sum[j] // SLOW_N
                    self._sum[j] = 0
        if lost:
            self.on_lost(lost)

    def drop(self):
        # Forget what is waiting (the loop looked away on purpose: hal skip()).
        st = self._st
        st[_R] = st[_SEEN] = self._w[0]
        st[_T] = self._us() & _US_MASK
