# The Raspberry Pi Pico (RP2040): the HAL (firmware/hal.py, boards/mcu.py: McuBoard) on the
# chip's ADC with DMA, GPIOs, watchdog, RTC and USB serial line. Pin map: pins.py; wiring:
# docs/wiring.md.
#
# Mains sampling costs the CPU nothing per sample: the ADC converts on its own clock and
# DMA fills the ring (boards/rp2040/sampler.py: DmaSampler), round-robin over the mains,
# the battery voltage and the 74HC4051's common, whose three slow signals (battery
# current, generator voltage, output current) the sampler switches in turn.
#
# Unlike the ESP32, the RP2040 cannot hold its pads through a watchdog reset: every output
# drops, as after a power cut, and the firmware boots as after one (the load falls back to
# the utility side, the engine's fuel is off; Supervisor.recover and the generator's
# restart rules take it from there).
import time

import machine
import rp2
import uctypes

from boards import mcu
from boards.rp2040 import pins
from boards.rp2040.sampler import DmaSampler


def _drive(pin, level):
    pin.value(level)


class Board(mcu.McuBoard):
    def __init__(self, fs_root="/data", serial=None):
        Pin = machine.Pin
        ADC = machine.ADC
        out = [Pin(pins.OUTPUTS[k]) for k in range(mcu.N_OUTPUTS)]
        for p in out:
            p.init(Pin.OUT, value=p.value())
        # the ADC objects put the three pads in analog mode; from here on the sampler drives
        # the ADC's registers itself
        ADC(pins.MAINS_ADC)
        sampler = DmaSampler(
            rp2,
            machine.mem32,
            uctypes.addressof,
            self.sample_rate_hz,
            [Pin(n, Pin.OUT, value=0) for n in pins.SHARED_SELECT],
            ADC(pins.BATTERY_ADC),
            ADC(pins.SHARED_ADC),
            time,
            self._lost,
        )
        self._parts(machine, pins, fs_root, out, _drive, sampler, serial)
