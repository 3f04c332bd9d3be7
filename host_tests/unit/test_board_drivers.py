# The real boards' drivers on the host, with a fake `machine` module (pins with levels and
# pad holds, ADCs fed by the test, a timer whose interrupt the test fires): sample timing
# into the ring, overruns, outputs held through a reset and their polarity, inputs,
# calibration, the generator's frequency, the clock; then the whole controller on the
# ESP32 board through a mains failure.
import math
import sys
import types
from array import array

import pytest

from boards import mcu
from conftest import run_micropython
from firmware import clock, hal
from helpers import one_block


class FakePin:
    OUT = 1
    IN = 0
    PULL_UP = 2
    IRQ_RISING = 1
    levels = {}  # pad levels by pin number: what outlives a "reset"
    held = {}

    def __init__(self, n, mode=None, pull=None, value=None, hold=None):
        self.n = n
        self.levels.setdefault(n, 0)
        if mode is not None or value is not None or hold is not None:
            self.init(mode, pull, value=value, hold=hold)

    def init(self, mode=None, pull=None, value=None, hold=None):
        if value is not None:
            # a held pad does not move: the firmware must release it to change it
            assert value == self.levels[self.n] or not self.held.get(self.n), (
                "pin %d changed while its pad is held" % self.n
            )
            self.levels[self.n] = value
        if hold is not None:
            self.held[self.n] = hold

    def value(self, v=None):
        if v is None:
            return self.levels[self.n]
        assert (1 if v else 0) == self.levels[self.n] or not self.held.get(self.n), (
            "pin %d changed while its pad is held" % self.n
        )
        self.levels[self.n] = 1 if v else 0

    def irq(self, handler=None, trigger=None):
        FakePin.irq_handler = handler


class FakeADC:
    ATTN_11DB = 3
    sources = {}  # pin number -> () -> 16-bit reading

    def __init__(self, pin, atten=None):
        self.n = pin.n if isinstance(pin, FakePin) else pin  # ESP32: a Pin; RP2040: its number

    def read_u16(self):
        return self.sources.get(self.n, lambda: 32768)()


class FakeTimer:
    PERIODIC = 1
    last = None

    def __init__(self, n):
        FakeTimer.last = self

    def init(self, mode=None, freq=None, callback=None, hard=None):
        assert hard is True and freq == 4000
        self.callback = callback


class FakeRTC:
    def __init__(self):
        self.dt = (2026, 11, 29, 6, 10, 30, 15, 0)

    def datetime(self, dt=None):
        if dt is None:
            return self.dt
        self.dt = dt


class FakeWDT:
    def __init__(self, timeout):
        self.timeout = timeout
        self.feeds = 0

    def feed(self):
        self.feeds += 1


class FakeSerial:
    def __init__(self):
        self.inp = bytearray()
        self.out = bytearray()

    def read(self, buf):
        n = min(len(buf), len(self.inp))
        buf[:n] = self.inp[:n]
        del self.inp[:n]
        return n

    def write(self, data):
        self.out += data
        return len(data)


class FakeAdcDma:
    # The RP2040's ADC (free-running, round-robin, a FIFO four deep with DREQ) and its DMA
    # channels as the datasheet has them, at the register level the sampler uses through
    # machine.mem32 and rp2.DMA: each convert() is one conversion, moved by a channel paced
    # by the ADC's DREQ into its ring; a channel whose count runs out triggers its chain_to.
    BASE = 0x4004C000
    TEMP = 876  # what ADC4, the temperature sensor, reads
    addresses = {}  # id(object) -> its address, for uctypes.addressof

    def __init__(self):
        self.regs = {0x0: 0, 0x8: 0, 0x10: 0}
        self.fifo = []
        self.over = False
        self.ainsel = 0
        self.channels = []
        self.conversions = 0

    def __getitem__(self, addr):
        off = addr - self.BASE
        if off == 0xC:
            return self.fifo.pop(0) if self.fifo else 0
        if off == 0x8:
            return (
                self.regs[0x8]
                | (0 if self.fifo else 1 << 8)
                | (1 << 11 if self.over else 0)
                | len(self.fifo) << 16
            )
        return self.regs[off]

    def __setitem__(self, addr, v):
        off = addr - self.BASE
        if off == 0x8:
            if v & (1 << 11):
                self.over = False  # write 1 to clear
            v &= ~(3 << 10)
        if off == 0x0:
            self.ainsel = (v >> 12) & 7
        self.regs[off] = v

    def convert(self):
        cs = self.regs[0x0]
        if not cs & 8:
            return
        ch = self.ainsel
        v = self.TEMP if ch == 4 else FakeADC.sources.get(26 + ch, lambda: 32768)() >> 4
        if len(self.fifo) == 4:
            self.over = True  # the conversion is lost
        else:
            self.fifo.append(v)
        self.conversions += 1
        rr = (cs >> 16) & 0x1F
        nxt = (ch + 1) % 5
        while rr and not rr >> nxt & 1:
            nxt = (nxt + 1) % 5
        self.ainsel = nxt if rr else ch
        fcs = self.regs[0x8]
        for d in self.channels:  # DREQ stands while the FIFO holds one
            while fcs & 8 and self.fifo and d.busy and d.ctrl["treq_sel"] == 36:
                d.move(self.fifo.pop(0))


class _Registers(array):
    # A channel's registers; reading the count left can stand for time passing while the
    # loop waits for the DMA (on_count: what happens meanwhile).
    on_count = None

    def __getitem__(self, i):
        hook = self.on_count
        if i == 2 and hook is not None:
            self.on_count = None  # the DMA's own reads of its count: not time
            try:
                hook()
            finally:
                self.on_count = hook
        return array.__getitem__(self, i)


class FakeDMA:
    engine = None

    def __init__(self):
        self.channel = len(self.engine.channels)
        self.engine.channels.append(self)
        self.registers = _Registers("I", [0] * 16)
        FakeAdcDma.addresses[id(self.registers)] = 0x50000000 + 0x40 * self.channel
        self.busy = False
        self.ctrl = self.pack_ctrl()
        self.read = self.write = None
        self.pos = 0

    def pack_ctrl(self, **kw):
        ctrl = dict(
            enable=True,
            size=2,
            inc_read=True,
            inc_write=True,
            ring_size=0,
            ring_sel=False,
            chain_to=self.channel,
            treq_sel=0x3F,
        )
        assert set(kw) <= set(ctrl), kw
        ctrl.update(kw)
        return ctrl

    def config(self, read=None, write=None, count=None, ctrl=None, trigger=False):
        if read is not None:
            self.read = read
        if write is not None:
            self.write = write
            self.pos = 0
        if count is not None:
            self.registers[2] = count
        if ctrl is not None:
            self.ctrl = ctrl
        if trigger:
            self.busy = self.ctrl["enable"]

    def active(self, on=None):
        if on is not None:
            self.busy = bool(on)
        return self.busy

    def move(self, value):
        # one transfer from the FIFO into the ring, which wraps at 2^ring_size bytes
        c = self.ctrl
        assert c["size"] == 1 and not c["inc_read"] and c["inc_write"] and c["ring_sel"]
        self.write[self.pos % ((1 << c["ring_size"]) // 2)] = value
        self.pos += 1
        self.registers[2] -= 1
        if self.registers[2] == 0:
            self.busy = False
            if c["chain_to"] != self.channel:
                self.engine.channels[c["chain_to"]].chained()

    def chained(self):
        # an unpaced single word: into another channel's AL1_TRANS_COUNT_TRIG
        assert self.ctrl["size"] == 2 and self.ctrl["treq_sel"] == 0x3F
        for d in self.engine.channels:
            if FakeAdcDma.addresses[id(d.registers)] + 0x1C == self.write:
                d.registers[2] = self.read[0]
                d.busy = d.ctrl["enable"]
                return
        raise AssertionError("chained to no channel's count trigger")


def _addressof(obj):
    return FakeAdcDma.addresses.get(id(obj), 0x20001234)


def _fake_machine(monkeypatch):
    engine = FakeAdcDma()
    FakeDMA.engine = engine
    irq = []  # the interrupt held off: by whom, while it is
    machine = types.SimpleNamespace(
        Pin=FakePin,
        ADC=FakeADC,
        Timer=FakeTimer,
        RTC=FakeRTC,
        WDT=FakeWDT,
        mem32=engine,
        disable_irq=lambda: irq.append(1) or 7,
        enable_irq=lambda state: irq.pop() and state == 7,
    )
    FakeTimer.irq_off = irq
    monkeypatch.setitem(sys.modules, "machine", machine)
    import micropython  # the CPython stand-in, with the board's kbd_intr

    monkeypatch.setitem(
        sys.modules,
        "micropython",
        types.SimpleNamespace(
            const=micropython.const,
            viper=micropython.viper,
            kbd_intr=lambda c: FakeTimer.kbd.append(c),
        ),
    )
    FakeTimer.kbd = []
    monkeypatch.setitem(sys.modules, "rp2", types.SimpleNamespace(DMA=FakeDMA))
    monkeypatch.setitem(sys.modules, "uctypes", types.SimpleNamespace(addressof=_addressof))
    monkeypatch.setattr(FakePin, "levels", {})
    monkeypatch.setattr(FakePin, "held", {})
    monkeypatch.setattr(FakeADC, "sources", {})
    # MicroPython's tick functions, on a clock the fake timer moves 250 us per interrupt
    import time

    mask = (1 << 30) - 1
    now = [0]
    monkeypatch.setattr(time, "ticks_us", lambda: now[0] & mask, raising=False)
    monkeypatch.setattr(time, "ticks_ms", lambda: (now[0] // 1000) & mask, raising=False)
    monkeypatch.setattr(time, "ticks_add", lambda t, d: (t + d) & mask, raising=False)
    monkeypatch.setattr(
        time, "ticks_diff", lambda a, b: ((a - b + (1 << 29)) & mask) - (1 << 29), raising=False
    )
    monkeypatch.setattr(
        time, "sleep_ms", lambda ms: now.__setitem__(0, now[0] + 1000 * ms), raising=False
    )
    FakeTimer.clock = now


@pytest.fixture
def esp32(monkeypatch, tmp_path):
    _fake_machine(monkeypatch)
    sys.modules.pop("boards.esp32.board", None)
    from boards.esp32 import board, pins

    def make():
        return board.Board(str(tmp_path / "data"), serial=FakeSerial())

    yield make, pins
    sys.modules.pop("boards.esp32.board", None)


@pytest.fixture
def rp2040(monkeypatch, tmp_path):
    _fake_machine(monkeypatch)
    sys.modules.pop("boards.rp2040.board", None)
    from boards.rp2040 import board, pins

    def make():
        return board.Board(str(tmp_path / "data"), serial=FakeSerial())

    yield make, pins
    sys.modules.pop("boards.rp2040.board", None)


def _at_rest(pins):
    # The contacts as wired at rest (pulled up, low when closed): the mains contactor's
    # auxiliary closed, the emergency stop chain closed, the rest open.
    for inp, n in pins.INPUTS.items():
        FakePin.levels[n] = 0 if inp in (hal.IN_MAINS_FB, hal.IN_ESTOP) else 1


def _sine(fs=4000, hz=50.0, peak=903, level=lambda k: 1.0):
    k = [0]

    def read():
        v = 2048 + level(k[0]) * peak * math.sin(2 * math.pi * hz * k[0] / fs)
        k[0] += 1
        return int(v) << 4

    return read, k


def test_the_esp32_interrupt_fills_the_ring_and_the_loop_reads_every_sample_in_order():
    from boards.esp32.sampler import TimerSampler

    seq = iter(range(100000))
    held = []  # each slow reading: was the interrupt off?
    off = []
    now = [0]  # ticks_us

    def slow(k):
        def read():
            held.append(bool(off))
            return (1000 + k) << 4

        return read

    clock = types.SimpleNamespace(
        ticks_ms=lambda: now[0] // 1000,
        ticks_us=lambda: now[0],
    )
    s = TimerSampler(
        lambda: next(seq) << 4,
        [slow(k) for k in range(4)],
        lambda: off.append(1) or 5,
        lambda state: off.pop() and state == 5,
        clock,
        print,
    )
    assert list(s.slow) == [1000, 1001, 1002, 1003]  # read once at boot
    held.clear()

    def fire(k, late_us=0):  # the timer: a sample every 250 us
        for _ in range(k):
            now[0] += 250
            s.isr(None)
        now[0] += late_us  # the loop gets to it this much later

    buf = [0] * 4
    got = []
    for block in range(500):
        fire(4, block % 7 * 40)  # and the interrupt as late (latency)
        now[0] -= block % 7 * 40
        assert _read(s, buf) == 0
        got += buf
    assert got == list(range(2000)) and s.overruns == 0 and s.gaps == 0
    # the loop read one slow input every other block, each with the interrupt held off,
    # and averages each over SLOW_N readings
    assert len(held) == 250 and all(held) and not off
    assert list(s.slow) == [1000, 1001, 1002, 1003]
    # a loop 300 samples late (more than the ring) resumes at the oldest sample the
    # interrupt cannot overwrite during the copy, says how many it lost, and counts it
    fire(300)
    assert _read(s, buf) == 300 - (s.RING - 4)
    assert buf == list(range(2048, 2052)) and s.overruns == 1
    # and reads on from there, none lost
    assert _read(s, buf) == 0 and buf == list(range(2052, 2056))
    while _waiting(s):
        _read(s, buf)
    assert buf == list(range(2296, 2300)) and s.overruns == 1 and s.gaps == 0
    # a flash erase in the loop holds the interrupt off for 45 ms: no sample was taken,
    # the clock says so, and the 180 periods are lost before the next samples
    now[0] += 45000
    fire(4)
    assert _read(s, buf) == 180 and s.gaps == 1
    assert buf == list(range(2300, 2304))
    fire(4)
    assert _read(s, buf) == 0 and s.gaps == 1  # and none after it
    # the count wraps at 2^30 without a hitch
    s._w[0] = s._st[0] = s._st[1] = (1 << 30) - 2
    fire(4)
    _read(s, buf)
    assert _waiting(s) == 0 and s.overruns == 1 and s.gaps == 1


def _dma_sampler(monkeypatch):
    _fake_machine(monkeypatch)
    import machine
    import rp2
    import uctypes
    from boards.rp2040 import sampler

    mains = [0]

    def next_mains():
        mains[0] += 1
        return (mains[0] & 0xFFF) << 4

    FakeADC.sources[26] = next_mains
    FakeADC.sources[27] = lambda: 3550 << 4

    def shared():  # the multiplexer's channel k reads 100 + k
        return (100 + FakePin.levels[22] + 2 * FakePin.levels[20]) << 4

    FakeADC.sources[28] = shared
    select = [FakePin(22, FakePin.OUT, value=0), FakePin(20, FakePin.OUT, value=0)]
    first = iter([11, 12, 13, 14])
    boot = types.SimpleNamespace(read_u16=lambda: next(first) << 4)
    clock = types.SimpleNamespace(ticks_ms=lambda: 1234)
    s = sampler.DmaSampler(
        rp2, machine.mem32, uctypes.addressof, 4000, select, boot, boot, clock, print
    )
    return s, machine.mem32, sampler


def _waiting(s):
    # samples the ESP32's interrupt has written that the loop has not read
    return (s._w[0] - s._st[0]) & ((1 << 30) - 1)


def _read(s, buf):
    # the board's read of a block: the samples lost before it, as the board is told
    lost = []
    s.on_lost = lost.append
    assert s.read_block(buf, len(buf), one_block) == s.ticks_ms()
    return sum(lost)


def _hand_over(s, buf, arrive, late):
    # hal.py's read_block with a process that takes three blocks: while the first is
    # processed `late` samples arrive (more than the ring holds), while the second the next
    # block. Returns what process and on_lost saw, in order, and the read's ms.
    seen = []
    s.on_lost = lambda n: seen.append(("lost", n))

    def process(b, n, now):
        seen.append((list(b[:n]), now))
        if len(seen) > 3:
            return 1
        arrive(late if len(seen) == 1 else 4)
        return 0

    arrive(4)
    return seen, s.read_block(buf, 4, process)


def _arriving(read_block, fire):
    # a board's read_block (hal.py) whose samples arrive as it waits: fire(n) makes n more
    # come, before the first block and while each is processed
    def read(buf, n, process):
        def then_fire(b, n, now):
            if process(b, n, now):
                return 1
            fire(n)
            return 0

        fire(n)
        return read_block(buf, n, then_fire)

    return read


def test_the_esp32_sampler_hands_each_block_to_the_monitor_until_it_has_something():
    from boards.esp32.sampler import TimerSampler

    seq = iter(range(100000))
    now = [0]
    clock = types.SimpleNamespace(ticks_ms=lambda: now[0] // 1000, ticks_us=lambda: now[0])
    s = TimerSampler(
        lambda: next(seq) << 4, [lambda: 0] * 4, lambda: 0, lambda st: None, clock, print
    )

    def fire(k):
        for _ in range(k):
            now[0] += 250
            s.isr(None)

    buf = [0] * 4
    seen, ms = _hand_over(s, buf, fire, 300)
    lost = 300 - (s.RING - 4)
    # one call: each block in turn, the loss told before the block after it
    assert seen == [
        ([0, 1, 2, 3], 1),
        ("lost", lost),
        ([4 + lost + k for k in range(4)], 76),
        ([8 + lost + k for k in range(4)], 77),
    ]
    assert ms == 77 and s.overruns == 1


def test_the_rp2040_sampler_hands_each_block_to_the_monitor_until_it_has_something(
    monkeypatch,
):
    s, engine, _ = _dma_sampler(monkeypatch)

    def run(frames):
        for _ in range(4 * frames):
            engine.convert()

    buf = array("H", [0] * 4)
    seen, ms = _hand_over(s, buf, run, 300)
    lost = 300 - (256 - 4)
    assert seen == [
        ([1, 2, 3, 4], 1234),
        ("lost", lost),
        ([5 + lost + k for k in range(4)], 1234),
        ([9 + lost + k for k in range(4)], 1234),
    ]
    assert ms == 1234 and s.overruns == 1


def _pending(s):
    # frames the DMA has written that the sampler has not read
    return (((-s._regs[2] & ((1 << 28) - 1)) >> 2) - s._st[0]) & ((1 << 26) - 1)


def test_the_rp2040_adc_and_dma_fill_the_ring_and_the_loop_reads_every_sample(monkeypatch):
    s, engine, sampler = _dma_sampler(monkeypatch)
    a, b = engine.channels
    # the ADC: 16 kHz (48 MHz / 3000), round-robin from ADC0 over 0, 1, 2 and 4, its FIFO
    # raising DREQ at one entry; the first reading of each slow input taken at boot
    assert engine.regs[0x10] == 2999 << 8
    assert engine.regs[0x0] == 0x1 | 0x2 | 0x8 | (0b10111 << 16)
    assert engine.regs[0x8] & 0x0F00000F == 0x1 | 0x8 | (1 << 24)
    assert list(s.slow) == [11, 12, 13, 14]
    assert (FakePin.levels[22], FakePin.levels[20]) == (0, 1)  # the last one read
    # A: halfwords from the FIFO into a 2 KB ring aligned to its size, wrapped by the DMA;
    # B: its count, written into A's count-and-trigger register
    assert a.busy and a.ctrl["ring_size"] == 11 and a.ctrl["treq_sel"] == 36
    assert a.read == FakeAdcDma.BASE + 0xC and a.ctrl["chain_to"] == b.channel
    start = (-0x20001234 & 2047) // 2  # halfwords into the raw buffer
    assert (0x20001234 + 2 * start) % 2048 == 0
    s._ring.obj[start] = 777
    assert s._ring[0] == 777 and len(s._ring) == 1024 and b.read[0] == 1 << 28 and not b.busy

    def run(frames):
        for _ in range(4 * frames):
            engine.convert()

    buf = array("H", [0] * 4)
    got = []
    for block in range(700):
        run(4)
        assert _read(s, buf) == 0
        got += buf
    assert got == [k & 0xFFF for k in range(1, 2801)] and s.overruns == 0
    # each slot of SLOW_N frames after SETTLE: the battery, and the multiplexer's inputs
    # in turn, each from frames taken with it selected
    assert list(s.slow) == [3550, 100, 101, 102]
    # A's count runs out (every 2^28 conversions, 4.7 hours): B starts it again at once,
    # and the count left still says where A writes. Forward to 16 frames before that.
    a.registers[2] = 1024 - a.pos % 1024
    s.drop()
    before = got[-1]
    got = []
    for block in range(8):
        run(4)
        assert _read(s, buf) == 0
        got += buf
    assert a.busy and a.registers[2] == (1 << 28) - 64
    assert got == [k & 0xFFF for k in range(before + 1, before + 33)]
    # a loop 300 frames late (more than the ring) resumes at the oldest frame the DMA
    # cannot overwrite during the copy, says how many it lost, and counts it
    last = got[-1]
    run(300)
    assert _read(s, buf) == 300 - (256 - 4) and s.overruns == 1
    assert list(buf) == [k & 0xFFF for k in range(last + 49, last + 53)]
    while _pending(s):  # and reads on from there, none lost
        assert _read(s, buf) == 0
    assert buf[-1] == (last + 300) & 0xFFF and s.overruns == 1
    # hal skip(): what waits is dropped
    run(10)
    s.drop()
    assert _pending(s) == 0
    # the DMA stalled long enough for the FIFO to overflow: a conversion, and with it the
    # frame's order, was lost; the next slot starts the capture again and says so
    a.busy = False
    run(2)
    a.busy = True
    overruns = s.overruns
    lost = 0
    for block in range(20):
        run(4)
        lost += _read(s, buf)
    assert s.overruns == overruns + 1 and lost >= 256 and not engine.over
    run(4)
    _read(s, buf)
    assert all(v == buf[0] + i for i, v in enumerate(buf))  # in order again


def test_outputs_read_back_held_levels_and_keep_their_logical_state_across_polarity():
    levels = {n: 1 for n in range(8)}  # active low: all off
    pins = [types.SimpleNamespace(value=(lambda n: lambda: levels[n])(n)) for n in range(8)]
    driven = []

    def drive(pin, level):
        n = pins.index(pin)
        levels[n] = level
        driven.append((n, level))

    levels[hal.OUT_XFER] = 0  # active low: 0 is energised
    levels[hal.OUT_GEN_RUN] = 1
    out = mcu.Outputs(pins, drive)
    out.configure(True)
    assert out.bits == 1 << hal.OUT_XFER  # high = off when active low
    assert driven == []  # reading back drives nothing
    out.configure(False)  # the polarity changes: outputs keep their meaning
    assert levels[hal.OUT_XFER] == 1 and levels[hal.OUT_SHED] == 0
    assert out.bits == 1 << hal.OUT_XFER
    driven.clear()
    out.set(hal.OUT_XFER, True)  # unchanged: no drive
    out.set(hal.OUT_SHED, True)
    out.set(hal.OUT_GEN_RUN, False)
    assert driven == [(hal.OUT_SHED, 1)]
    assert out.bits == 1 << hal.OUT_XFER | 1 << hal.OUT_SHED
    out.set(hal.OUT_XFER, False)
    assert driven[-1] == (hal.OUT_XFER, 0) and out.bits == 1 << hal.OUT_SHED


def test_inputs_calibration_frequency_and_clock():
    levels = [0, 1, 0, 1, 1, 0]  # one a hal.IN_*
    inp = mcu.Inputs(
        [types.SimpleNamespace(value=(lambda i: lambda: levels[i])(i)) for i in range(6)]
    )
    assert inp.bits() == 0b100101  # pulled low = closed
    inp.active_low = False
    assert inp.bits() == 0b011010

    from firmware.config import Config

    cal = mcu.McuBoard()
    cal._sampler = types.SimpleNamespace(slow=[3550, 2048 + 320, 3150, 400])
    cfg = Config()
    cfg.update(
        {
            "adc.battery_uv_per_count": 14650,
            "adc.current_ma_per_count": 98,
            "adc.current_zero": 2048,
            "adc.gen_mv_per_count": 73,
            "adc.output_ma_per_count": 25,
            "mains.nominal_v": 230,
        }
    )
    cal.calibrate(cfg)
    assert cal.battery_mv() == 52007  # 52.0 V
    assert cal.battery_ma() == 31360  # 31.4 A discharge
    assert cal.gen_volts_x10() == 2299  # 229.9 V
    assert cal.output_w() == hal.NO_READING  # no output sensor fitted
    cfg.set("io.output_sensor", True)
    cal.calibrate(cfg)
    assert cal.output_w() == 400 * 25 // 100 * 230 // 10
    cal._sampler.slow[1] = 2000
    assert cal.battery_ma() < 0  # charging
    cal._sampler.slow[0] = 4095
    assert cal.battery_mv() * 1000 < 2**30

    t = [0]
    f = mcu.EdgeFrequency(lambda: t[0], lambda a, b: a - b)
    for k in range(12):  # 50.0 Hz edges for 220 ms
        t[0] = 1000 + k * 20000
        f.edge()
    t[0] = 230000
    assert f.hz_x100() == 5000
    t[0] = 300000
    assert f.hz_x100() == 5000  # within the next window: the last reading
    t[0] = 431000  # a whole window without an edge: still
    assert f.hz_x100() == 0

    secs = clock.seconds(2026, 11, 29, 10, 30, 15)
    assert mcu.rtc_seconds((2026, 11, 29, 6, 10, 30, 15, 0)) == secs
    assert mcu.rtc_seconds(mcu.rtc_tuple(secs)) == secs


def test_esp32_board_holds_its_outputs_and_runs_the_controller_through_a_failure(esp32):
    make, pins = esp32
    from firmware.controller import Controller

    read, k = _sine(level=lambda k: 0.0 if 8000 <= k < 8400 else 1.0)  # 100 ms dip to 0
    FakeADC.sources[pins.MAINS_ADC] = read
    FakeADC.sources[pins.BATTERY_ADC] = lambda: 3550 << 4
    FakeADC.sources[pins.CURRENT_ADC] = lambda: 2048 << 4
    FakeADC.sources[pins.GEN_ADC] = lambda: 0
    FakeADC.sources[pins.OUTPUT_ADC] = lambda: 400 << 4
    board = make()
    _at_rest(pins)
    timer = FakeTimer.last
    read_block = board.read_block

    def fire(n):  # the timer fires while the loop waits
        while _waiting(board._sampler) < n:
            FakeTimer.clock[0] += 250
            timer.callback(timer)

    board.read_block = _arriving(read_block, fire)
    ctrl = Controller(board)
    board.start_watchdog()
    assert all(FakePin.held[n] for n in pins.OUTPUTS.values())
    while k[0] < 8000:
        ctrl.step()
    assert ctrl.monitor.ok() and not board.output_bits() >> hal.OUT_XFER & 1
    assert ctrl.alarms.active == 0  # the contacts agree with the outputs
    assert 51000 < board.battery_mv() < 53000
    assert board.output_w() == hal.NO_READING  # io.output_sensor off
    assert ctrl.apply({"io.output_sensor": True}) is None
    assert board.output_w() == 400 * 25 // 100 * 230 // 10  # 10 A at 230 V
    while k[0] < 8040:  # 10 ms into the dip
        ctrl.step()
    assert board.output_bits() >> hal.OUT_XFER & 1
    assert (
        FakePin.levels[pins.OUTPUTS[hal.OUT_XFER]] == 1
        and FakePin.held[pins.OUTPUTS[hal.OUT_XFER]]
    )
    # fed every block, or every REST_MS on steady mains (8040 samples = 2010 ms)
    from firmware.supervisor import REST_MS

    assert board._wdt.feeds >= 2010 // REST_MS
    # a watchdog reset now: the new board reads the relay back from the held pad
    board2 = make()
    ctrl2 = Controller(board2)
    assert board2.output_bits() >> hal.OUT_XFER & 1 and ctrl2.transfer.on_battery()
    assert ctrl2.supervisor.outage


def test_rp2040_board_samples_by_dma_and_shares_one_input_through_the_switch(rp2040):
    make, pins = rp2040
    from firmware.controller import Controller

    read, k = _sine()
    FakeADC.sources[pins.MAINS_ADC] = read
    FakeADC.sources[pins.BATTERY_ADC] = lambda: 3550 << 4
    # the multiplexer: battery current on channel 0, generator voltage on 1, output
    # current on 2 (S0, S1); channel 3 is not wired
    s0, s1 = pins.SHARED_SELECT

    def shared():
        channel = FakePin.levels[s0] + 2 * FakePin.levels[s1]
        return (2368, 3150, 1200, 0)[channel] << 4

    FakeADC.sources[pins.SHARED_ADC] = shared
    board = make()
    _at_rest(pins)
    engine = FakeDMA.engine

    def frame():  # the ADC converts while the loop waits
        FakeTimer.clock[0] += 250
        for _ in range(4):
            engine.convert()

    engine.channels[0].registers.on_count = frame
    ctrl = Controller(board)
    board.start_watchdog()
    while k[0] < 4000:
        ctrl.step()
    assert ctrl.monitor.ok() and ctrl.alarms.active == 0
    assert board.battery_mv() == 52007 and board.battery_ma() == 31360
    assert board.gen_volts_x10() == 2299
    # no output sensor configured: no reading, not 0 W; with one, 1200 counts of 25 mA at
    # the nominal 230 V
    assert board.output_w() == hal.NO_READING
    assert ctrl.apply({"io.output_sensor": True}) is None
    assert board.output_w() == 1200 * 25 // 100 * 230 // 10
    # the RP2040 drops its pads on a watchdog reset: the firmware boots as after a power cut
    board.set_output(hal.OUT_XFER, True)
    assert FakePin.levels[pins.OUTPUTS[hal.OUT_XFER]] == 1
    for n in pins.OUTPUTS.values():
        FakePin.levels[n] = 0
    board2 = make()
    Controller(board2)
    assert not board2.output_bits() >> hal.OUT_XFER & 1


def test_maint_restarts_the_board_into_its_repl_without_the_controller(esp32):
    # `maint` on the console (PIN-protected like every command that changes anything): the
    # loop ends, a flag is left on the flash and the board is reset; the boot after that
    # returns at once, without the controller and without the watchdog, the flag gone.
    make, pins = esp32
    from boards import mcu

    read, k = _sine()
    FakeADC.sources[pins.MAINS_ADC] = read
    board = make()
    _at_rest(pins)
    timer = FakeTimer.last
    read_block = board.read_block

    def fire(n):  # the timer fires while the loop waits
        while _waiting(board._sampler) < n:
            FakeTimer.clock[0] += 250
            timer.callback(timer)
            typed = {
                8000: b"config set console.pin 1234\rlock\r",
                10000: b"maint\r",
                11000: b"unlock 1234\r",
                12000: b"maint\r",
            }.get(k[0])
            if typed:
                board._serial.inp += typed
            assert k[0] < 20000, bytes(board._serial.out)  # the loop must have ended

    board.read_block = _arriving(read_block, fire)
    resets = []
    mcu.run(board, lambda: resets.append(k[0]))
    out = bytes(board._serial.out).decode()
    assert "ERR maint: the console is locked; unlock PIN first" in out, out
    assert out.count("OK maintenance: the board restarts into its REPL") == 1, out
    assert FakeTimer.kbd == [-1, 3]  # Ctrl-C is the REPL's again
    assert resets and 12000 <= resets[0] < 12100
    # the watchdog ran and was fed all along (12000 samples: 3 s)
    from firmware.supervisor import REST_MS

    assert board.fs.read(mcu.MAINT_FLAG) == b"1" and board._wdt.feeds >= 3000 // REST_MS
    board2 = make()
    mcu.run(board2, lambda: resets.append("again"))
    assert board2._wdt is None and board2.fs.read(mcu.MAINT_FLAG) is None
    assert resets == resets[:1]


class FakeDS18X20:
    # micropython-lib's ds18x20 as the drivers use it: scan, convert_temp, read_temp
    devices = []
    readings = []

    def __init__(self, bus):
        self.bus = bus
        self.conversions = 0

    def scan(self):
        return list(self.devices)

    def convert_temp(self):
        self.conversions += 1

    def read_temp(self, rom):
        r = self.readings.pop(0)
        if isinstance(r, Exception):
            raise r
        return r


def test_the_room_sensor_never_waits_for_a_conversion_and_survives_a_bad_bus(monkeypatch):
    from boards import mcu

    monkeypatch.setitem(sys.modules, "onewire", types.SimpleNamespace(OneWire=lambda pin: pin))
    monkeypatch.setitem(sys.modules, "ds18x20", types.SimpleNamespace(DS18X20=FakeDS18X20))
    now = [0]
    s = mcu.RoomSensor("pin", lambda: now[0], lambda a, b: a - b)
    FakeDS18X20.devices = []
    assert s.read_c10() == hal.NO_READING  # nothing on the bus
    FakeDS18X20.devices = [b"rom1"]
    FakeDS18X20.readings = [23.5, 85.0, Exception("CRC error"), 24.25]
    assert s.read_c10() == hal.NO_READING  # found: a conversion starts
    assert s._ds.conversions == 1
    now[0] = 500
    assert s.read_c10() == hal.NO_READING  # too soon to read it
    now[0] = 1300
    assert s.read_c10() == 235  # read, and the next one started
    now[0] = 2300
    assert s.read_c10() == hal.NO_READING  # 85.0: the power-on value
    now[0] = 3300
    assert s.read_c10() == hal.NO_READING and s._rom is None  # CRC error: search again
    now[0] = 4300
    assert s.read_c10() == hal.NO_READING  # found again, converting
    now[0] = 5300
    assert s.read_c10() == 242


class FakeWLAN:
    # A station that joins when the test says so; connect() returns at once, as on both ports.
    STA_IF = 0
    made = []

    def __init__(self, interface):
        assert interface == FakeWLAN.STA_IF
        self.on = False
        self.joins = []
        self.joined = False
        FakeWLAN.made.append(self)

    def active(self, on):
        self.on = on

    def connect(self, ssid, password):
        assert self.on
        self.joins.append((ssid, password))

    def isconnected(self):
        return self.joined


def _boot(make, settings):
    from firmware.config import Config

    board = make()
    cfg = Config()
    cfg.update(settings)
    board.configure(cfg)
    return board, cfg


def test_wifi_is_joined_at_boot_in_the_background_and_asked_again_while_down(esp32, monkeypatch):
    make, _ = esp32
    monkeypatch.setitem(sys.modules, "network", types.SimpleNamespace(WLAN=FakeWLAN, STA_IF=0))
    monkeypatch.setattr(FakeWLAN, "made", [])
    # nothing set: no radio switched on, and the connection is left to the socket
    board, _ = _boot(make, {})
    assert FakeWLAN.made == []
    board, cfg = _boot(make, {"wifi.ssid": "plantroom", "wifi.password": "s3cret-pass"})
    wlan = FakeWLAN.made[-1]
    assert wlan.on and wlan.joins == [("plantroom", "s3cret-pass")]
    # not yet joined: the MQTT client's connection fails at once, saying why
    with pytest.raises(OSError, match="Wi-Fi not connected to plantroom"):
        board.tcp_open("127.0.0.1", 1883)
    FakeTimer.clock[0] += 29_000_000
    with pytest.raises(OSError):
        board.tcp_open("127.0.0.1", 1883)
    assert len(wlan.joins) == 1
    FakeTimer.clock[0] += 1_000_000  # 30 s down: asked again
    with pytest.raises(OSError):
        board.tcp_open("127.0.0.1", 1883)
    assert len(wlan.joins) == 2
    # joined: the stream is opened (a refused port fails later, in the stream, not here)
    wlan.joined = True
    stream = board.tcp_open("127.0.0.1", 1)
    stream.close()
    # a change of network waits for the next start (the radio is not touched mid-run)
    cfg.update({"wifi.ssid": "office"})
    board.configure(cfg)
    assert len(FakeWLAN.made) == 1 and len(wlan.joins) == 2
    # and the passphrase is never shown
    assert cfg.shown("wifi.password") == "(set)"


def test_a_board_without_a_radio_says_so(esp32, monkeypatch):
    make, _ = esp32
    monkeypatch.setitem(sys.modules, "network", None)
    board, _ = _boot(make, {"wifi.ssid": "plantroom"})
    with pytest.raises(OSError, match="no Wi-Fi on this board"):
        board.tcp_open("127.0.0.1", 1883)


_SAMPLERS_IN_THE_VM = r"""
import sys
sys.path.insert(0, ".")
import micropython
from array import array
from boards.esp32.sampler import TimerSampler
from boards.rp2040 import sampler as rp

# the ESP32's interrupt handler and the loop's read, machine code under the heap lock
seq = [0]
def mains():
    seq[0] += 1
    return seq[0] << 4
import time
t = TimerSampler(mains, [lambda: 1 << 4] * 4, lambda: 0, lambda s: None, time, print)
isr = t.isr
buf = array("H", [0] * 4)
got = [0, 0]  # blocks, and those in order

def fire():
    for i in range(4):
        isr(None)

def check(b, n, now):  # the monitor's place: the next block arrives meanwhile
    k = got[0]
    got[1] += b[3] == 4 * k + 4
    got[0] = k + 1
    if k == 999:
        return 1
    fire()
    return 0

fire()
micropython.heap_lock()
t.read_block(buf, 4, check)  # the thousand blocks in one read, as the board's loop
micropython.heap_unlock()
print("esp32", got[1], t.overruns)

# the RP2040's: the DMA's count and ring written as the hardware would
from tools.stand_ins import DMA, Adc, Mem, Pin, Rp2
lost = []
s = rp.DmaSampler(
    Rp2, Mem(), lambda o: 0x20001000, 4000, [Pin(), Pin()], Adc(), Adc(), time, lost.append
)
regs = s._regs
ring = s._ring
pos = [0]
def convert(frames):
    for f in range(frames):
        p = pos[0]
        ring[(4 * p) & 1023] = p & 0xFFF
        ring[(4 * p + 1) & 1023] = 3000
        ring[(4 * p + 2) & 1023] = 1000
        ring[(4 * p + 3) & 1023] = 876
        regs[2] -= 4
        pos[0] = p + 1
got = [0, 0]

def check(b, n, now):
    k = got[0]
    got[1] += b[3] == (4 * k + 3) & 0xFFF
    got[0] = k + 1
    if k == 999:
        micropython.heap_lock()  # past the first slot's slow readings
    if k == 1999:
        return 1
    convert(4)
    return 0

convert(4)
s.read_block(buf, 4, check)
micropython.heap_unlock()
print("rp2040", got[1], s.overruns, len(lost), s.slow[0], s.slow[1])
"""


def test_the_samplers_read_every_sample_and_allocate_nothing_in_the_micropython_vm(tmp_path):
    script = tmp_path / "samplers.py"
    script.write_text(_SAMPLERS_IN_THE_VM)
    p = run_micropython([str(script)], timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.split() == ["esp32", "1000", "0", "rp2040", "2000", "0", "0", "3000", "1000"]


def test_the_boards_read_bench_runs_every_board_s_read_in_the_micropython_vm():
    # make bench counts each board's read of a block on this run (tools/read_cost.py)
    p = run_micropython(["tools/read_cost.py"], timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert [line.split()[1:] for line in p.stdout.splitlines()] == [
        [name, "1000"]
        for name in (
            "-",
            "rp2040_loop",
            "rp2040_read",
            "-",
            "esp32_loop",
            "esp32_read",
            "-",
            "replay_loop",
            "replay_read",
        )
    ]
