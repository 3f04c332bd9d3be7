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


@micropython.viper
def _copy_ring(ring, r: int, buf, n: int) -> int:
    # n samples from the ring at r on into buf; returns r + n
    src = ptr16(ring)
    dst = ptr16(buf)
    for i in range(n):
        dst[i] = src[(r + i) & (_RING - 1)]
    return r + n


class TimerSampler:
    RING = _RING

    def __init__(self, read_mains, read_slow, disable_irq, enable_irq, clock, on_lost):
        # clock: the time module (ticks_ms, ticks_us, ticks_add, ticks_diff); on_lost(n):
        # the board, told of samples lost
        self._read = read_mains  # () -> 16-bit reading
        self._read_slow = read_slow  # [k]() -> 16-bit reading of slow input k
        self._off = disable_irq
        self._on = enable_irq
        self._ring = array("H", bytearray(2 * _RING))
        self._w = array("i", [0])  # samples written, wrapping at 2^30
        self._r = 0  # samples read
        self._k = 0  # the slow input read next
        self._odd = False  # blocks alternate: a slow input every other
        self._m = 0  # readings of each summed
        self._sum = array("i", [0] * SLOW_INPUTS)
        # a first reading of each now, so that nothing reads 0 V at boot
        self.slow = array("i", [f() >> 4 for f in read_slow])
        self.overruns = 0
        self.ticks_ms = clock.ticks_ms
        self.on_lost = on_lost
        self.gaps = 0  # stretches with no interrupt, found by the clock
        self._us = clock.ticks_us
        self._add = clock.ticks_add
        self._diff = clock.ticks_diff
        # samples written when the loop last looked, and when the last of them was due
        # (the board calls drop() once the timer runs, to start this clock with it)
        self._seen = 0
        self._t = self._us()

    @micropython.viper
    def isr(self, _timer):
        w = ptr32(self._w)
        n = w[0]
        ring = ptr16(self._ring)
        ring[n & (_RING - 1)] = int(self._read()) >> 4
        w[0] = (n + 1) & _WRAP

    def read_block(self, buf, n):
        # The board's read (hal.py): the samples, what was lost before them told to the
        # board (on_lost), the clock then.
        lost = self.read(buf, n)
        if lost:
            self.on_lost(lost)
        return self.ticks_ms()

    def available(self):
        return (self._w[0] - self._r) & _WRAP

    def read(self, buf, n):
        # Wait for n samples, then copy them. Returns how many samples were lost just before
        # these: a loop that fell more than the ring behind resumes at the oldest sample the
        # interrupt cannot overwrite while this copies (MainsMonitor.gap); overruns counted.
        # Then, every other block, one slow input, with the interrupt held off for its
        # conversion.
        r = self._r
        ahead = (self._w[0] - r) & _WRAP
        if ahead < n:
            while self.available() < n:
                pass
            ahead = self.available()
        lost = ahead - (_RING - n)
        if lost > 0:
            r = (r + lost) & _WRAP
            self.overruns += 1
        else:
            lost = 0
        # the clock: the samples written since the last look account for that much time
        w = self._w[0]
        t = self._add(self._t, ((w - self._seen) & _WRAP) * PERIOD_US)
        self._seen = w
        late = self._diff(self._us(), t) // PERIOD_US
        if late > GAP_SLACK:
            t = self._add(t, late * PERIOD_US)  # never taken: before these, in the loop's stall
            lost += late
            self.gaps += 1
        self._t = t
        self._r = _copy_ring(self._ring, r, buf, n) & _WRAP
        self._odd = not self._odd
        if self._odd:
            return lost
        k = self._k
        state = self._off()
        v = self._read_slow[k]()
        self._on(state)
        self._sum[k] += v >> 4
        if k < SLOW_INPUTS - 1:
            self._k = k + 1
            return lost
        self._k = 0
        self._m += 1
        if self._m == SLOW_N:
            self._m = 0
            for j in range(SLOW_INPUTS):
                self.slow[j] = self._sum[j] // SLOW_N
                self._sum[j] = 0
        return lost

    def drop(self):
        # Forget what is waiting (the loop looked away on purpose: hal skip()).
        self._r = self._seen = self._w[0]
        self._t = self._us()
