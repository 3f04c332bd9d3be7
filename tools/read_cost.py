# What the board's read of a block costs on each chip's sampler, to be counted from outside
# in the MicroPython unix port (make bench, `board_read`):
#
#   valgrind --tool=callgrind --dump-before=mp_builtin_callable micropython tools/read_cost.py
#
# The boards' own read path (boards/mcu.py's read_block and the samplers under it) on
# stand-ins for the hardware: the RP2040's DMA registers and ring written as the DMA would,
# the ESP32's interrupt handler called as the timer would; and the replay board's read,
# which the phase bench counts in their place. Each is run N blocks with the stand-in's
# work alone, then N blocks of that work read in one call, as the board's loop reads them,
# between callable() marks: the difference is the read. Prints "stretch NAME BLOCKS" per
# stretch, in order.
import sys
from array import array

sys.path.insert(0, ".")

from boards import mcu  # noqa: E402
from boards.esp32.sampler import TimerSampler  # noqa: E402
from boards.rp2040 import sampler as rp  # noqa: E402
from tools.stand_ins import Adc, Mem, Pin, Rp2  # noqa: E402

N = 1000
names = []


def mark(name):
    callable(0)
    names.append(name)


def board():
    # the boards' HAL, without the rest of a board (boards/mcu.py), told of no gap
    b = mcu.McuBoard()
    b.on_gap = lambda lost: None
    return b


def run(name, read, work, drop=None):
    # N blocks in one read (hal.py): the stand-in's work for the next block is done in the
    # process the read calls after each; then the same process called N times without it.
    left = [0]
    buf = array("H", [0] * 4)

    def process(buf, n, now):
        left[0] -= 1
        if left[0] <= 0:
            return 1
        work()
        return 0

    def blocks(with_read):
        left[0] = N
        work()
        if with_read:
            read(buf, 4, process)
        else:
            while not process(buf, 4, 0):
                pass

    blocks(True)  # past the first slow readings and the first-call caches
    mark("-")
    blocks(False)
    mark(name + "_loop")
    if drop is not None:
        drop()  # the reads start where the stand-in is: nothing lost
    blocks(True)
    mark(name + "_read")


def rp2040():
    import time

    b = board()
    s = rp.DmaSampler(
        Rp2, Mem(), lambda o: 0x20001000, 4000, [Pin(), Pin()], Adc(), Adc(), time, b._lost
    )
    b.read_block = s.read_block  # as the boards' _parts sets it
    regs = s._regs

    def dma():
        # four frames, as the DMA writes them: the count left falls by a frame's 4
        regs[2] -= 16

    run("rp2040", b.read_block, dma, s.drop)


class Clock:
    # the time module, but for ticks_us on the samples' clock: each conversion the handler
    # makes is a sample period on (the unix port's own clock, slowed by callgrind, would
    # find a gap at every read). A Python method where the board's is C: about 0.6k of the
    # count is that.
    def __init__(self):
        import time

        self.us = 0
        self.ticks_ms = time.ticks_ms
        self.ticks_add = time.ticks_add
        self.ticks_diff = time.ticks_diff

    def ticks_us(self):
        return self.us


def esp32():
    clock = Clock()

    def mains():
        clock.us += 250
        return 0x8000

    b = board()
    s = TimerSampler(mains, [lambda: 0x8000] * 4, lambda: 0, lambda st: None, clock, b._lost)
    b.read_block = s.read_block
    isr = s.isr

    def interrupts():
        isr(None)
        isr(None)
        isr(None)
        isr(None)

    run("esp32", b.read_block, interrupts, s.drop)


def replay():
    # the replay board's read, which the phase bench counts (tools/phase_cost.py)
    from boards.sim.replay import ReplayBoard

    b = ReplayBoard({"seed": 1, "mains": {"events": []}}, 3 * N / 1000 + 0.1)
    run("replay", b.read_block, lambda: None)


callable(0)
rp2040()
esp32()
replay()
for name in names:
    print("stretch %s %d" % (name, N))
