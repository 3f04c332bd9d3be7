# The ESP32 DevKitC: the HAL (firmware/hal.py) on the chip's ADC1, GPIOs, hardware timer,
# watchdog, RTC and USB serial line. Pin map: pins.py; wiring table: README.
#
# Mains sampling: hardware timer 0 fires at sample_rate_hz with a hard interrupt, which
# reads ADC1 into a ring (boards/mcu.py: MainsSampler) together with one of the slow
# inputs in turn; read_block() waits for the next block in the ring. The interrupt keeps
# the sample clock exact through everything the loop does between blocks. (The ESP32's
# ADC is non-linear within about 100 mV of either end at 11 dB attenuation: the sensor's
# mid-rail bias keeps the mains wave well inside.)
#
# Outputs hold through a watchdog reset: every output pad is held (Pin hold=True) and
# released only for the moment it is changed, so the firmware that boots finds the
# relays as they were (Supervisor.recover). A power cut drops them all, as on any board.
import select
import sys
import time

import machine

from boards import mcu
from boards.esp32 import pins
from firmware.files import DirFS

SAMPLE_RATE_HZ = 4000
BLOCK_LEN = 4
WATCHDOG_MS = 2000


def _drive(pin, level):
    pin.init(hold=False)
    pin.value(level)
    pin.init(hold=True)


class Board:
    sample_rate_hz = SAMPLE_RATE_HZ
    block_len = BLOCK_LEN

    def __init__(self, fs_root="/data", serial=None):
        Pin = machine.Pin
        ADC = machine.ADC
        try:
            import os
            os.mkdir(fs_root)
        except OSError:
            pass                                # it is there already
        self.fs = DirFS(fs_root)
        # Outputs: read back as held through a reset (Pin(n) alone does not touch the
        # pad), then made outputs at that same level, held.
        out = [Pin(pins.OUTPUTS[k]) for k in range(mcu.N_OUTPUTS)]
        for p in out:
            # hold= is the ESP32 port's own (a pad latched through resets); the generic
            # machine stubs do not list it
            p.init(Pin.OUT, value=p.value(), hold=True)  # pyright: ignore[reportCallIssue]
        self._outputs = mcu.Outputs(out, _drive)
        self._inputs = mcu.Inputs([Pin(pins.INPUTS[k], Pin.IN, Pin.PULL_UP)
                                   for k in range(mcu.N_INPUTS)])
        self._cal = mcu.Calibration()
        self._adc = ADC(Pin(pins.MAINS_ADC), atten=ADC.ATTN_11DB)
        self._slow = [ADC(Pin(n), atten=ADC.ATTN_11DB)
                      for n in (pins.BATTERY_ADC, pins.CURRENT_ADC, pins.GEN_ADC)]
        self._sampler = mcu.MainsSampler(self._adc.read_u16, self._read_slow)
        self._freq = mcu.EdgeFrequency(time.ticks_us, time.ticks_diff)
        Pin(pins.GEN_ZC, Pin.IN).irq(handler=self._freq.edge, trigger=Pin.IRQ_RISING)
        self._rtc = machine.RTC()
        self._serial = serial or mcu.StreamSerial(sys.stdin.buffer, sys.stdout.buffer,
                                                  select.poll, select.POLLIN, select.POLLOUT)
        self._wdt = None
        self._timer = machine.Timer(0)
        self._timer.init(mode=machine.Timer.PERIODIC, freq=SAMPLE_RATE_HZ,
                         callback=self._sampler.isr, hard=True)

    def _read_slow(self, k):
        return self._slow[k].read_u16()

    # ---- the HAL ---------------------------------------------------------------------
    def configure(self, cfg):
        self._cal.configure(cfg)
        self._outputs.configure(cfg.get("io.outputs_active_low"))
        self._inputs.active_low = cfg.get("io.inputs_active_low")

    def ticks_ms(self):
        return time.ticks_ms()

    def ticks_add(self, t, delta):
        return time.ticks_add(t, delta)

    def ticks_diff(self, a, b):
        return time.ticks_diff(a, b)

    def read_block(self, buf):
        s = self._sampler
        n = BLOCK_LEN
        while s.available() < n:
            pass
        s.read(buf, n)

    def skip(self, ms):
        time.sleep_ms(ms)
        self._sampler.drop()

    def set_output(self, out, on):
        self._outputs.set(out, on)

    def output_state(self, out):
        return self._outputs.state(out)

    def read_input(self, inp):
        return self._inputs.read(inp)

    def start_watchdog(self):
        # Once the firmware is up: from here on only the control loop keeps the board alive.
        self._wdt = machine.WDT(timeout=WATCHDOG_MS)

    def feed_watchdog(self):
        if self._wdt is not None:
            self._wdt.feed()

    def gen_volts_x10(self):
        return self._cal.gen_volts_x10(self._sampler.slow[2])

    def gen_hz_x100(self):
        return self._freq.hz_x100()

    def battery_mv(self):
        return self._cal.battery_mv(self._sampler.slow[0])

    def battery_ma(self):
        return self._cal.battery_ma(self._sampler.slow[1])

    def output_w(self):
        return 0        # no output power sensor on this board

    def serial_read(self, buf):
        return self._serial.read(buf)

    def serial_write(self, data):
        self._serial.write(data)

    def time_s(self):
        return mcu.rtc_seconds(self._rtc.datetime())

    def set_time(self, secs):
        self._rtc.datetime(mcu.rtc_tuple(secs))
