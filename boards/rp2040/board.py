# The Raspberry Pi Pico (RP2040): the HAL (firmware/hal.py, boards/mcu.py: McuBoard) on the
# chip's ADC, GPIOs, a PIO state machine as the sample clock, watchdog, RTC and USB serial
# line. Pin map: pins.py; wiring: README.
#
# Mains sampling: the RP2040's machine.Timer is a soft timer, too late too often for a
# sample clock, so a PIO state machine keeps the time: its program raises a PIO interrupt
# every 32 cycles at 32 x sample_rate_hz, and a hard interrupt handler reads the ADC into
# the ring (boards/mcu.py: MainsSampler), with one slow input in turn. The ADC's reading is
# a register poll of about 2 us, safe in a hard handler. The three slow signals on GP28 are
# switched by the 74HC4051 right after each is read, so the multiplexer (under a
# microsecond) and the ADC's input have settled long before the next read, a sample
# period later.
#
# Unlike the ESP32, the RP2040 cannot hold its pads through a watchdog reset: every output
# drops, as after a power cut, and the firmware boots as after one (the load falls back to
# the utility side, the engine's fuel is off; Supervisor.recover and the generator's
# restart rules take it from there).
import machine
import rp2

from boards import mcu
from boards.rp2040 import pins

PIO_CYCLES = 32     # cycles per sample of the clock program below


@rp2.asm_pio()
def _sample_clock():
    # PIO assembler: the names are provided by rp2.asm_pio, not by Python
    irq(rel(0)) [15]  # noqa: F821  # pyright: ignore[reportUndefinedVariable]
    nop() [15]  # noqa: F821  # pyright: ignore[reportUndefinedVariable]


def _drive(pin, level):
    pin.value(level)


class Board(mcu.McuBoard):
    def __init__(self, fs_root="/data", serial=None):
        Pin = machine.Pin
        ADC = machine.ADC
        out = [Pin(pins.OUTPUTS[k]) for k in range(mcu.N_OUTPUTS)]
        for p in out:
            p.init(Pin.OUT, value=p.value())
        self._adc = ADC(pins.MAINS_ADC)
        self._battery = ADC(pins.BATTERY_ADC)
        self._shared = ADC(pins.SHARED_ADC)
        self._select = [Pin(n, Pin.OUT, value=0) for n in pins.SHARED_SELECT]
        sampler = mcu.MainsSampler(self._adc.read_u16, self._read_slow)
        self._parts(machine, pins, fs_root, out, _drive, sampler, serial)
        self._sm = rp2.StateMachine(0, _sample_clock, freq=self.sample_rate_hz * PIO_CYCLES)
        self._sm.irq(handler=sampler.isr, hard=True)
        self._sm.active(1)

    def _read_slow(self, k):
        # 0 battery voltage; 1, 2, 3 the multiplexer's channels 0, 1, 2 (battery current,
        # generator voltage, output current), each selected when the one before is read
        if k == 0:
            return self._battery.read_u16()
        v = self._shared.read_u16()
        nxt = k if k < 3 else 0
        s = self._select
        s[0].value(nxt & 1)
        s[1].value(nxt >> 1)
        return v
