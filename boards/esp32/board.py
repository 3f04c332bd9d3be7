# The ESP32 DevKitC: the HAL (firmware/hal.py, boards/mcu.py: McuBoard) on the chip's ADC1,
# GPIOs, hardware timer, watchdog, RTC and USB serial line. Pin map: pins.py; wiring:
# docs/wiring.md.
#
# Mains sampling: hardware timer 0 fires at sample_rate_hz with a hard interrupt whose
# viper handler reads the mains input on ADC1 into a ring (boards/esp32/sampler.py:
# TimerSampler); the loop reads the slow inputs, one a block. The interrupt keeps the
# sample clock exact through everything the loop does between blocks. (The ESP32's
# ADC is non-linear within about 100 mV of either end at 11 dB attenuation: the sensor's
# mid-rail bias keeps the mains wave well inside.)
#
# Outputs hold through a watchdog reset: every output pad is held (Pin hold=True) and
# released only for the moment it is changed, so the firmware that boots finds the
# relays as they were (Supervisor.recover). A power cut drops them all, as on any board.
import time

import machine

from boards import mcu
from boards.esp32 import pins
from boards.esp32.sampler import TimerSampler


def _drive(pin, level):
    pin.init(hold=False)
    pin.value(level)
    pin.init(hold=True)


class Board(mcu.McuBoard):
    def __init__(self, fs_root="/data", serial=None):
        Pin = machine.Pin
        ADC = machine.ADC
        # Outputs: read back as held through a reset (Pin(n) alone does not touch the
        # pad), then made outputs at that same level, held.
        out = [Pin(pins.OUTPUTS[k]) for k in range(mcu.N_OUTPUTS)]
        for p in out:
            # hold= is the ESP32 port's own (a pad latched through resets); the generic
            # machine stubs do not list it
            p.init(Pin.OUT, value=p.value(), hold=True)  # pyright: ignore[reportCallIssue]
        self._adc = ADC(Pin(pins.MAINS_ADC), atten=ADC.ATTN_11DB)
        self._slow = [
            ADC(Pin(n), atten=ADC.ATTN_11DB)
            for n in (pins.BATTERY_ADC, pins.CURRENT_ADC, pins.GEN_ADC, pins.OUTPUT_ADC)
        ]
        sampler = TimerSampler(
            self._adc.read_u16,
            [a.read_u16 for a in self._slow],
            machine.disable_irq,
            machine.enable_irq,
            time,
            self._lost,
        )
        self._parts(machine, pins, fs_root, out, _drive, sampler, serial)
        self._timer = machine.Timer(0)
        self._timer.init(
            mode=machine.Timer.PERIODIC, freq=self.sample_rate_hz, callback=sampler.isr, hard=True
        )
        sampler.drop()  # its clock starts with the timer
