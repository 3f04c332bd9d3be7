# Stand-ins for the RP2040's hardware where the boards' own sampling code meets it, for the
# MicroPython unix port and CPython alike (tools/read_cost.py; the samplers' test in the
# VM, host_tests/unit/test_board_drivers.py): machine.mem32 with the ADC's FIFO empty, and
# rp2.DMA channels whose count a caller moves as the DMA would.
from array import array

from boards.rp2040.sampler import ADC_BASE


class Mem:
    # machine.mem32: the ADC's FIFO is empty, the rest reads as written
    def __init__(self):
        self.d = {}

    def __getitem__(self, a):
        return 1 << 8 if a == ADC_BASE + 8 else self.d.get(a, 0)

    def __setitem__(self, a, v):
        self.d[a] = v


class DMA:
    n = 0

    def __init__(self):
        self.channel = DMA.n
        DMA.n += 1
        self.registers = array("I", [0] * 16)

    def pack_ctrl(self, **kw):
        return 0

    def config(self, read=None, write=None, count=None, ctrl=None, trigger=False):
        if count is not None:
            self.registers[2] = count

    def active(self, v=None):
        return True


class Rp2:
    DMA = DMA


class Pin:
    def value(self, v):
        pass


class Adc:
    def read_u16(self):
        return 0
