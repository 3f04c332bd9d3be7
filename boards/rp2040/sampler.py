# The RP2040's sampling, with no CPU per sample: the ADC converts on its own clock and DMA
# moves every conversion into a ring, through GC, flash writes with interrupts off, a
# console reply or anything else the CPU does. The loop learns what is new from the DMA
# channel's count of transfers left.
#
# The ADC runs free (CS.START_MANY) at four times the sample rate, round-robin over four
# inputs, so that a frame of four conversions is one sample of each: the mains (ADC0), the
# battery voltage (ADC1), the 74HC4051's common (ADC2) and the chip's temperature sensor
# (ADC4: it only makes the frame a power of two, which the DMA's ring needs). The order is
# the hardware's: from AINSEL = 0, the next enabled channel each time.
#
# DMA channel A moves halfwords from the ADC's FIFO (paced by its DREQ) into a 2 KB ring
# aligned to its size, whose write address the DMA wraps itself (ring_sel on the write
# side). A's count is 2^28; when it runs out (every 4.7 hours) it chains to channel B, which
# writes 2^28 into A's TRANS_COUNT_TRIG and so starts A again, with no gap the ADC's FIFO
# (four deep) does not cover. Because 2^28 is a multiple of the ring, the count left says
# exactly where A writes, and how far it has gone since the loop last looked: an overrun is
# seen and counted however long the loop was away (up to 2^26 samples, 4.6 hours).
#
# The slow inputs: each block adds its frames' battery and multiplexer readings to two sums.
# Once SLOW_N frames are summed, the battery's average and the multiplexer input's are kept,
# the multiplexer moves on to its next input and the next SETTLE frames are not summed (its
# output and the ADC's input settle long before, but the frames the DMA wrote between the
# loop's read and the switch were taken on the old input).
import micropython
from array import array
from micropython import const

import sys

if sys.implementation.name != "micropython":  # the driver tests, under CPython
    from firmware.cpython import ptr16, ptr32

ADC_BASE = 0x4004C000  # above a small int on the chip: set-up only, never per block
_CS = const(0x0)
_FCS = const(0x8)
_FIFO = const(0xC)
_DIV = const(0x10)
CS_RUN = const(0x1 | 0x2 | 0x8 | (0b10111 << 16))  # EN, TS_EN, START_MANY, RROBIN 0, 1, 2, 4
FCS_RUN = const(0x1 | 0x8 | (1 << 24))  # EN, DREQ_EN, DREQ at one entry
FCS_EMPTY = const(1 << 8)
FCS_OVER = const(1 << 11)  # write 1 to clear (with UNDER, 1 << 10)
FCS_CLEAR = const(3 << 10)
ADC_HZ = const(48_000_000)
DREQ_ADC = const(36)
FRAME = const(4)  # conversions a sample
RING_BITS = const(11)  # the ring: 2 KB, 1024 conversions, 256 frames (64 ms)
FRAMES = const(256)
COUNT = const(1 << 28)  # a multiple of the ring's 1024 conversions
_COUNT_MASK = const((1 << 28) - 1)
_POS_MASK = const((1 << 26) - 1)  # frames, from the count
SLOW_N = const(64)  # frames averaged per slow reading (16 ms)
SETTLE = const(4)  # frames not summed after the multiplexer moves
# DMA channel registers, in words: the count left, and A's count-and-trigger alias
_TRANS_COUNT = const(2)
_AL1_COUNT_TRIG = const(7)

# state words
_R = const(0)  # frames read, modulo 2^26
_CNT = const(1)  # frames in this slot: SETTLE not summed, then SLOW_N summed (never
# negative: a ptr32 word reads back unsigned in a 64-bit unix port)
_SB = const(2)  # battery sum
_SS = const(3)  # multiplexer sum


class DmaSampler:
    def __init__(
        self, rp2, mem32, addressof, sample_rate_hz, select, battery, shared, clock, on_lost
    ):
        # rp2: the module (its DMA class); mem32: machine.mem32; addressof: uctypes'; select:
        # the multiplexer's S0 and S1 pins; battery, shared: the ADC objects of ADC1 and
        # ADC2, read once here before the capture starts, so that nothing reads 0 V at boot;
        # clock: the time module (ticks_ms); on_lost(n): the board, told of samples lost.
        self.ticks_ms = clock.ticks_ms
        self.on_lost = on_lost
        self._mem32 = mem32
        self._select = select
        self.slow = array("i", [battery.read_u16() >> 4, 0, 0, 0])
        for k in range(3):
            self._mux(k)
            self.slow[1 + k] = shared.read_u16() >> 4
        self._k = 2  # the multiplexer's input (slow[1 + k]): the last read
        self._div = (ADC_HZ // (sample_rate_hz * FRAME) - 1) << 8
        # a ring aligned to its size, inside a buffer of twice that
        raw = array("H", bytearray(2 << RING_BITS))
        skip = (-addressof(raw)) & ((1 << RING_BITS) - 1)
        self._ring = memoryview(raw)[skip >> 1 : (skip >> 1) + FRAMES * FRAME]
        self._reload = array("I", [COUNT])
        self._a = rp2.DMA()
        self._b = rp2.DMA()
        self._regs = self._a.registers  # a view of A's registers, taken once
        # A's AL1_TRANS_COUNT_TRIG, what B writes; and the FIFO's status register, kept as
        # objects (neither address is a small int on the chip)
        self._count_trig = addressof(self._regs) + 4 * _AL1_COUNT_TRIG
        self._fcs = ADC_BASE + _FCS
        self._st = array("i", [0, 0, 0, 0])
        self.overruns = 0
        self._start()

    def _mux(self, k):
        s = self._select
        s[0].value(k & 1)
        s[1].value(k >> 1)

    def _start(self):
        m = self._mem32
        a = self._a
        b = self._b
        adc = ADC_BASE
        m[adc + _CS] = 1  # stop converting, ADC on
        # pause A before the aborts, so that it cannot chain to B (which would start it)
        a.ctrl = a.pack_ctrl(enable=False)
        a.active(0)
        b.active(0)
        while not m[adc + _FCS] & FCS_EMPTY:
            m[adc + _FIFO]
        m[adc + _FCS] = FCS_RUN | FCS_CLEAR
        m[adc + _DIV] = self._div
        b.config(
            read=self._reload,
            write=self._count_trig,
            count=1,
            ctrl=b.pack_ctrl(size=2, inc_read=False, inc_write=False),
        )
        a.config(
            read=adc + _FIFO,
            write=self._ring,
            count=COUNT,
            ctrl=a.pack_ctrl(
                size=1,
                inc_read=False,
                inc_write=True,
                ring_size=RING_BITS,
                ring_sel=True,
                treq_sel=DREQ_ADC,
                chain_to=b.channel,
            ),
            trigger=True,
        )
        st = self._st
        st[_R] = st[_CNT] = st[_SB] = st[_SS] = 0
        m[adc + _CS] = CS_RUN  # AINSEL 0: the first of a frame is the mains

    @micropython.viper
    def read_block(self, buf, n: int, process) -> int:
        # The board's read (hal.py), in machine code: wait until the DMA (its count left)
        # has written n frames past st[_R], then copy them from the ring, the mains samples
        # into buf, the slow inputs into their sums, and hand them to process; again until
        # it returns 1. A loop that fell more than the ring behind resumes at the oldest
        # frame the DMA cannot overwrite while this copies, and says how many it skipped.
        # Python only for that, and once a slot of slow readings is summed (_slow). Returns
        # time.ticks_ms() at the last block.
        st = ptr32(self._st)
        dma = ptr32(self._regs)
        ring = ptr16(self._ring)
        out = ptr16(buf)
        while True:
            r = int(st[_R])
            lost = -1
            while lost < 0:
                lost = ((((0 - int(dma[_TRANS_COUNT])) & _COUNT_MASK) >> 2) - r) & _POS_MASK
                lost -= n  # frames there beyond these
            lost -= FRAMES - 2 * n
            if lost > 0:
                r = (r + lost) & _POS_MASK
            else:
                lost = 0
            cnt = int(st[_CNT])
            sb = int(st[_SB])
            ss = int(st[_SS])
            for i in range(n):
                j = ((r + i) & (FRAMES - 1)) << 2
                out[i] = ring[j] & 0xFFF
                if SETTLE <= cnt < SETTLE + SLOW_N:
                    sb += ring[j + 1] & 0xFFF
                    ss += ring[j + 2] & 0xFFF
                cnt += 1
            st[_R] = (r + n) & _POS_MASK
            st[_CNT] = cnt
            st[_SB] = sb
            st[_SS] = ss
            if lost != 0 or cnt >= SETTLE + SLOW_N:
                self._slow(lost, cnt)
            now = int(self.ticks_ms())
            if int(process(buf, n, now)):
                return now

    def _slow(self, lost, cnt):
        # Samples skipped (an overrun, counted); once SLOW_N frames are summed, their
        # averages kept and the multiplexer moved on. A FIFO that overflowed lost a
        # conversion and with it the frame's order: start again (counted as an overrun).
        # The board is told what was lost (on_lost), before these samples go to the monitor.
        if lost:
            self.overruns += 1
        if cnt >= SETTLE + SLOW_N:
            st = self._st
            k = self._k
            self.slow[0] = st[_SB] // SLOW_N
            self.slow[1 + k] = st[_SS] // SLOW_N
            k = k + 1 if k < 2 else 0
            self._k = k
            self._mux(k)
            st[_CNT] = st[_SB] = st[_SS] = 0
            if self._mem32[self._fcs] & FCS_OVER:
                self.overruns += 1
                self._start()
                lost += FRAMES
        if lost:
            self.on_lost(lost)

    def drop(self):
        # Forget what is waiting (the loop looked away on purpose: hal skip()).
        # (the count left runs down from 2^28, so it is a small int on the chip)
        self._st[_R] = (-self._regs[_TRANS_COUNT] & _COUNT_MASK) >> 2
