# What the real boards (boards/esp32, boards/rp2040) share: outputs and inputs with their
# polarity, calibrated analog readings, the generator's frequency from a zero-cross input,
# the console on a serial stream, the real-time clock. Nothing here imports machine: the
# boards pass their Pin and ADC objects in, so the host tests drive these with fakes
# (host_tests/unit/test_board_drivers.py), as gpiozero's MockPin does.
#
# Everything a block calls (outputs, inputs, readings) works on preallocated state and
# small ints, so the control loop still allocates nothing on a board.
import os
import time
from array import array

from firmware import clock
from firmware.files import DirFS
from firmware.hal import NO_READING

N_OUTPUTS = 8  # hal.OUT_*
N_INPUTS = 6  # hal.IN_*


class Outputs:
    # The relay and engine outputs. The latch holds what the firmware asked for (bit k set:
    # OUT_k energised); the pin gets it through the polarity. The first configure() reads
    # the latch back from the pins, which the board has kept as they were through a
    # watchdog reset where it can, so Supervisor.recover sees what was driven before; a
    # later polarity change drives every pin anew, keeping each output where it logically
    # is. drive(pin, level) is the board's way of setting a pin (the ESP32 releases and
    # re-applies its pad hold around it).
    def __init__(self, pins, drive):
        self._pins = pins
        self._drive = drive
        self._low = None  # polarity not known until configure()
        self.bits = 0

    def configure(self, active_low):
        flip = 1 if active_low else 0
        if self._low is None:
            for out in range(N_OUTPUTS):
                self.bits |= ((1 if self._pins[out].value() else 0) ^ flip) << out
        elif active_low != self._low:
            for out in range(N_OUTPUTS):
                self._drive(self._pins[out], (self.bits >> out & 1) ^ flip)
        self._low = active_low

    def set(self, out, on):
        v = 1 if on else 0
        if self.bits >> out & 1 != v:
            self.bits ^= 1 << out
            self._drive(self._pins[out], v ^ (1 if self._low else 0))


class Inputs:
    # The contacts on the digital inputs (hal.IN_*), bit k set when IN_k's is closed.
    def __init__(self, pins, active_low=True):
        self._pins = pins
        self.active_low = active_low

    def bits(self):
        closed = 0 if self.active_low else 1
        b = 0
        for k in range(N_INPUTS):
            if self._pins[k].value() == closed:
                b |= 1 << k
        return b


class Wifi:
    # The Wi-Fi station (ESP32, Pico W) from wifi.ssid / wifi.password: joined in the
    # background (connect() returns at once on both ports), never waited for; asked again
    # every RETRY_MS while it is down, as a port does not always rejoin by itself. Set up
    # at boot only: switching the radio on can hold the CPU for a moment, which the
    # control loop must not see, so a change takes effect at the next start.
    RETRY_MS = 30000

    def __init__(self, network, ticks_ms, ticks_diff):
        self._network = network  # None on a board without Wi-Fi (the plain Pico)
        self._ms = ticks_ms
        self._diff = ticks_diff
        self._wlan = None
        self._ssid = self._password = ""
        self._t = 0

    def start(self, ssid, password):
        if self._ssid or not ssid:
            return  # once, at boot
        self._ssid = ssid
        self._password = password
        if self._network is not None:
            self._wlan = self._network.WLAN(self._network.STA_IF)
            self._wlan.active(True)
            self._join()

    def _join(self):
        self._t = self._ms()
        w = self._wlan
        if w is None:
            return
        try:
            w.connect(self._ssid, self._password)
        except OSError:
            pass  # busy or refused: asked again after RETRY_MS

    def check(self):
        # Why the network cannot be used now: "" when it can (joined, or no Wi-Fi set up,
        # which leaves any other link to the board's own setup).
        if not self._ssid:
            return ""
        w = self._wlan
        if w is None:
            return "no Wi-Fi on this board"
        if w.isconnected():
            return ""
        if self._diff(self._ms(), self._t) >= self.RETRY_MS:
            self._join()
        return "Wi-Fi not connected to " + self._ssid


class RoomSensor:
    # A DS18B20 on a 1-Wire bus, through the onewire and ds18x20 modules built into the
    # ESP32 and RP2 firmware images. Read once a second: each call collects the conversion
    # the call before started (750 ms or more ago) and starts the next, so nothing waits for
    # a conversion; the bus transactions take a few ms, between blocks (the sampling ring
    # holds 64 ms). Any failure (no device, CRC error) reads NO_READING and the bus is
    # searched again next time.
    CONVERT_MS = 750

    def __init__(self, pin, ticks_ms, ticks_diff):
        import ds18x20
        import onewire

        self._ds = ds18x20.DS18X20(onewire.OneWire(pin))
        self._ms = ticks_ms
        self._diff = ticks_diff
        self._rom = None
        self._t = None  # when the conversion under way began

    def read_c10(self):
        now = self._ms()
        value = NO_READING
        try:
            if self._rom is None:
                roms = self._ds.scan()
                if not roms:
                    return NO_READING
                self._rom = roms[0]
                self._t = None
            if self._t is not None and self._diff(now, self._t) >= self.CONVERT_MS:
                c = self._ds.read_temp(self._rom)
                # 85.0 is what the chip holds after a power-on reset, before any conversion
                if c is not None and -55 <= c <= 125 and c != 85.0:
                    value = int(round(c * 10))
            self._ds.convert_temp()
            self._t = now
        except Exception:  # the driver raises plain Exception on a CRC error
            self._rom = None
            self._t = None
        return value


class EdgeFrequency:
    # The generator's frequency from a zero-cross detector (an optocoupler on its output)
    # on a digital input: the pin's interrupt counts rising edges and keeps the times of
    # the first and the last; every WINDOW_US hz_x100() turns them into a frequency (the
    # periods between those edges) and starts the next window. No edge for a whole window:
    # 0, a still engine. Between windows it returns the last reading.
    WINDOW_US = 200000

    def __init__(self, ticks_us, ticks_diff):
        self._us = ticks_us
        self._diff = ticks_diff
        self._n = array("i", [0, 0, 0])  # edges, first edge time, last edge time
        self._t0 = ticks_us()
        self._hz = 0

    def edge(self, _pin=None):
        # The interrupt handler: no allocation, no floats.
        n = self._n
        t = self._us()
        if n[0] == 0:
            n[1] = t
        n[2] = t
        n[0] += 1

    def hz_x100(self):
        now = self._us()
        if self._diff(now, self._t0) < self.WINDOW_US:
            return self._hz
        self._t0 = now
        n = self._n
        edges = n[0]
        if edges >= 2:
            span = self._diff(n[2], n[1])
            # (edges - 1) periods in span us; x100 Hz, kept below 2^30
            self._hz = (edges - 1) * 1000000 // (span // 100) if span >= 100 else 0
        else:
            self._hz = 0
        n[0] = 0
        return self._hz


class StreamSerial:
    # The console on a byte stream (sys.stdin.buffer / sys.stdout.buffer on a board's USB
    # serial line, a pseudo-terminal on the virtual board). Reading never waits: a
    # select.poll with a zero timeout, then only the bytes that are there. A terminal that
    # does not read is not waited for either: write takes nothing then, and the console
    # keeps its bytes (firmware/console.py).
    OUT_MAX = 4096

    def __init__(self, inp, out, poll_factory, pollin, pollout):
        self._in = inp
        self._out = out
        self._poll_in = poll_factory()
        self._poll_in.register(inp, pollin)
        self._poll_out = poll_factory()
        self._poll_out.register(out, pollout)

    def read(self, buf):
        n = 0
        while n < len(buf) and self._poll_in.poll(0):
            b = self._in.read(1)
            if not b:
                break
            buf[n] = b[0]
            n += 1
        return n

    def write(self, data):
        # How many bytes it took: none while the far end does not read (the console keeps
        # them), at most OUT_MAX at a time.
        if not self._poll_out.poll(0):
            return 0
        data = data[: self.OUT_MAX]
        self._out.write(data)
        if hasattr(self._out, "flush"):
            self._out.flush()
        return len(data)


def rtc_seconds(dt):
    # machine.RTC().datetime(): (year, month, day, weekday, hours, minutes, seconds,
    # subseconds) -> seconds since 2000 (firmware/clock.py), whatever the port's epoch.
    return clock.seconds(dt[0], dt[1], dt[2], dt[4], dt[5], dt[6])


def rtc_tuple(secs):
    # The inverse, for setting the clock.
    y, mo, d, hh, mm, ss = clock.civil(secs)
    return (y, mo, d, clock.weekday(secs), hh, mm, ss, 0)


class McuBoard:
    # The HAL (firmware/hal.py) on a microcontroller, from the parts its subclass builds
    # (boards/esp32/board.py, boards/rp2040/board.py): outputs, inputs, the sampler and what
    # fires its interrupt, the generator's frequency, the RTC, the console, the watchdog
    # class. time's ticks functions are MicroPython's.
    sample_rate_hz = 4000
    block_len = 4
    watchdog_ms = 2000
    samples_lost = 0
    # The slow inputs' raw 12-bit averages (the sampler's slow[]) to the units the HAL
    # speaks, with the factors from the configuration (adc.*), these until it is read.
    # Products stay below 2^30: 4095 x 200000 uV.
    battery_uv = 14650
    current_ma = 98
    current_zero = 2048
    gen_mv = 73
    output_fitted = False
    output_ma_per = 25
    nominal_v = 230

    def _parts(self, machine, pins, fs_root, out, drive, sampler, serial):
        # What both boards build alike: the flash folder, inputs with pull-ups, the
        # generator's zero-cross interrupt, the console on the USB serial line.
        Pin = machine.Pin
        # the HAL's clock is MicroPython's own: bound here, each is one call into C rather
        # than a Python method around one (the supervisor reads the clock dozens of times
        # a step)
        self.ticks_ms = time.ticks_ms
        self.ticks_add = time.ticks_add
        self.ticks_diff = time.ticks_diff
        try:
            os.mkdir(fs_root)
        except OSError:
            pass  # it is there already
        self.fs = DirFS(fs_root)
        self._outputs = Outputs(out, drive)
        self._inputs = Inputs([Pin(pins.INPUTS[k], Pin.IN, Pin.PULL_UP) for k in range(N_INPUTS)])
        self.input_bits = self._inputs.bits  # the HAL's, the driver's own: one call
        # the HAL's read_block is the sampler's own (boards/*/sampler.py: machine code that
        # waits for each block, tells _lost what it could not keep and hands the block to
        # the monitor, until the monitor has something to act on)
        self._sampler = sampler
        self.read_block = sampler.read_block
        self._freq = EdgeFrequency(time.ticks_us, time.ticks_diff)
        Pin(pins.GEN_ZC, Pin.IN).irq(handler=self._freq.edge, trigger=Pin.IRQ_RISING)
        self._rtc = machine.RTC()
        if serial is None:
            import select
            import sys

            serial = StreamSerial(
                sys.stdin.buffer, sys.stdout.buffer, select.poll, select.POLLIN, select.POLLOUT
            )
        self._serial = serial
        self._wdt_class = machine.WDT
        self._wdt = None
        self._room_pin = Pin(pins.ROOM_1WIRE)
        self._room = None
        try:
            import network
        except ImportError:
            network = None  # a board without a radio
        self._wifi = Wifi(network, time.ticks_ms, time.ticks_diff)

    def configure(self, cfg):
        self._wifi.start(cfg.get("wifi.ssid"), cfg.get("wifi.password"))
        if cfg.get("env.sensor") and self._room is None:
            self._room = RoomSensor(self._room_pin, time.ticks_ms, time.ticks_diff)
        self.calibrate(cfg)
        self._outputs.configure(cfg.get("io.outputs_active_low"))
        self._inputs.active_low = cfg.get("io.inputs_active_low")

    def calibrate(self, cfg):
        self.battery_uv = cfg.get("adc.battery_uv_per_count")
        self.current_ma = cfg.get("adc.current_ma_per_count")
        self.current_zero = cfg.get("adc.current_zero")
        self.gen_mv = cfg.get("adc.gen_mv_per_count")
        self.output_fitted = cfg.get("io.output_sensor")
        self.output_ma_per = cfg.get("adc.output_ma_per_count")
        self.nominal_v = cfg.get("mains.nominal_v")

    def _lost(self, lost):
        # samples the sampler could not keep, told before the block that follows them
        self.samples_lost += lost
        self.on_gap(lost)

    def on_gap(self, lost):
        pass  # until the firmware sets its own (hal.py)

    def skip(self, ms):
        time.sleep_ms(ms)
        self._sampler.drop()

    def set_output(self, out, on):
        self._outputs.set(out, on)

    def output_bits(self):
        return self._outputs.bits

    def start_watchdog(self):
        # Once the firmware is up: from here on only the control loop keeps the board alive.
        self._wdt = self._wdt_class(timeout=self.watchdog_ms)

    def feed_watchdog(self):
        if self._wdt is not None:
            self._wdt.feed()

    def gen_volts_x10(self):
        return self._sampler.slow[2] * self.gen_mv // 100

    def gen_hz_x100(self):
        return self._freq.hz_x100()

    def battery_mv(self):
        return self._sampler.slow[0] * self.battery_uv // 1000

    def battery_ma(self):
        # discharge positive: the sensor reads above its zero while the bank discharges
        return (self._sampler.slow[1] - self.current_zero) * self.current_ma

    def output_w(self):
        # Apparent power at the nominal voltage: the transducer gives the RMS current;
        # the voltage of the source in use differs by a few per cent at most while the
        # load is on it. In 0.1 A first: below 2^30 at 4095 counts x 10 A and 480 V.
        if not self.output_fitted:
            return NO_READING
        return self._sampler.slow[3] * self.output_ma_per // 100 * self.nominal_v // 10

    def serial_read(self, buf):
        return self._serial.read(buf)

    def serial_write(self, data):
        return self._serial.write(data)

    def temperature_c10(self):
        return NO_READING if self._room is None else self._room.read_c10()

    def tcp_open(self, host, port):
        # Needs the board's network up (Wi-Fi from wifi.ssid); until then the connection
        # fails and the MQTT client backs off and tries again.
        why = self._wifi.check()
        if why:
            raise OSError(why)
        from boards.net import tcp_open

        return tcp_open(host, port)

    def udp_open(self, host, port):
        why = self._wifi.check()
        if why:
            raise OSError(why)
        from boards.net import udp_open

        return udp_open(host, port)

    def time_s(self):
        return rtc_seconds(self._rtc.datetime())

    def set_time(self, secs):
        self._rtc.datetime(rtc_tuple(secs))


MAINT_FLAG = "maint"


def run(board, reset):
    # The firmware's loop on a board (boards/*/main.py). The console is the USB serial
    # line: Ctrl-C is an ordinary byte there (kbd_intr(-1)), so a stray one never stops the
    # controller. The watchdog starts once the controller is up; from then on only the
    # control loop feeds it, and it cannot be stopped. So `maint` on the console leaves a
    # flag on the flash and resets the board (reset(): machine.reset); the next boot finds
    # the flag, removes it and returns to the REPL without starting the controller or the
    # watchdog, for mpremote (tools/rack.py deploy). The reset after that starts it again.
    import micropython

    from firmware.controller import Controller

    if board.fs.read(MAINT_FLAG) is not None:
        board.fs.remove(MAINT_FLAG)
        print("maintenance: the controller is not running; reset to start it")
        return
    ctrl = Controller(board)
    board.start_watchdog()
    micropython.kbd_intr(-1)
    blocks = ctrl.blocks
    service = ctrl.service
    while True:
        if blocks() and not service():
            break
    micropython.kbd_intr(3)
    board.fs.write(MAINT_FLAG, b"1")
    reset()
