# The simulated board: the HAL the firmware expects (see firmware/hal.py), driving the plant
# in simulated time. Reading a block is what moves time forward: the board generates the
# block's mains samples, then lets relays, contactors, engine, battery and load catch up
# to the block's end.
#
#   mains --K_MAINS (NC)--+
#                         +-- utility side --[UPS changeover]-- load
#   generator --K_GEN-----+                   inverter side --- battery
#
# Like gpiozero's MockPin, every output change is recorded with its time, so tests assert on
# sequences and timings rather than on the firmware's internals.
import heapq
from array import array

from boards.sim import cpu, plant
from boards.sim.scenario import GAP_KINDS
from boards.sim.generator import SimGenerator
from boards.sim.mains import Mains
from firmware import hal

TICKS_PERIOD = 1 << 30
TICKS_MAX = TICKS_PERIOD - 1
TICKS_HALF = TICKS_PERIOD >> 1

SAMPLE_RATE_HZ = 4000
BLOCK_LEN = 4  # 1 ms blocks: the block period adds to every reaction time
RING_SAMPLES = 256  # the boards' sample ring: 64 ms at 4 kHz (boards/*/sampler.py)
_BATTERY_TICK_US = 100000
_TRACE_EVERY_US = 10000000

_ENGINE_EVENTS = {"running": "engine_running", "stopped": "engine_stopped"}


class MemFS:
    # The board's flash as a dict: it outlives a controller restart, like the real one.
    def __init__(self):
        self.files = {}
        self.writes = 0

    def read(self, name, tail=0):
        data = self.files.get(name)
        return data[-tail:] if tail and data is not None else data

    def write(self, name, data):
        self.files[name] = bytes(data)
        self.writes += 1

    def size(self, name):
        return len(self.files.get(name, b""))

    def append(self, name, data):
        self.files[name] = self.files.get(name, b"") + bytes(data)
        self.writes += 1

    def rename(self, name, new):
        self.files[new] = self.files.pop(name, b"")

    def remove(self, name):
        self.files.pop(name, None)


class BlockReads:
    # hal.py's read_block for a board whose _read(buf, n) reads one block: a block at a
    # time until process() has something to act on.
    def read_block(self, buf, n, process):
        now = self._read(buf, n)
        while not process(buf, n, now):
            now = self._read(buf, n)
        return now


class SimBoard(BlockReads):
    sample_rate_hz = SAMPLE_RATE_HZ
    block_len = BLOCK_LEN

    def __init__(self, sc, mains_mv_per_count, trace=False):
        self.sc = sc
        self.t_us = 0
        self._k = 0
        self._start_ms = sc["start_ticks_ms"]
        self._start_rtc = sc["start_time_s"]
        self.fs = MemFS()
        self._output_sensor = True  # until the firmware's configuration says
        self.serial_in = bytearray()  # bytes typed to the console, not yet read
        self.serial_out = bytearray()  # everything the console sent
        self.serial_rate = None  # bytes the terminal takes per write, None: all
        m = sc["mains"]
        self.mains = Mains(
            sc, self.sample_rate_hz, 1000.0 / mains_mv_per_count, self._mains_changed
        )
        operate = sc["relays"]["operate_ms"]
        self.relay = plant.ChangeoverRelay(operate)
        self.k_mains = plant.Contactor(operate, True)
        self.k_gen = plant.Contactor(operate, False)
        self.gen = SimGenerator(sc["generator"], m["nominal_v"], m["frequency_hz"])
        self.battery = plant.Battery(sc["battery"])
        self._room = sc["room"]
        self.load_w = sc["load"]["watts"]
        self.sheddable_w = min(self.load_w, sc["load"]["sheddable_watts"])
        self.shed = False
        self.load_off = False
        self.envelope = plant.Envelope()
        self.timeline = []
        self.outputs = []  # (t_us, output, on): every change the firmware made
        self._out_state = {}
        # The board's watchdog: a loop that does not feed it within watchdog_ms is reset.
        # The firmware's loop runs in simulated time, so a late feed is counted (a real
        # board would have reset there); a hang is played out by the runner.
        self.watchdog_ms = sc["watchdog_ms"]
        self.watchdog_feeds = 0
        self.blocks_read = 0
        self.watchdog_late = 0
        self.max_feed_gap_us = 0
        self._fed_us = 0
        # (t_s, mains %, load %, source, soc %, generator %) for plots; kept only when asked
        # for, since three hours of it fragment the unix port's default heap
        self.trace = [] if trace else None
        self.detection_latency_us = []
        self.transfers_to_battery = 0
        self.transfers_to_mains = 0
        self.transfers_to_generator = 0
        self.source_conflicts = 0
        self.min_soc = self.battery.soc
        self._changes = []
        self._deferred = []  # (t_us, out, on): outputs the late loop drives later
        self._loss_t = None  # start of the last disturbance met while on mains
        self._last_battery = 0
        self._last_gen = 0
        self._scratch = array("H", [0] * 256)
        self._next_trace = 0
        self._depleted_seen = self.battery.depleted
        # a heap of (t_us, started, seq, fault), ends before starts at the same time, else
        # in the scenario's order
        changes = (
            [(int(f["at_s"] * 1e6), True, f) for f in sc["faults"]]
            + [
                (int((f["at_s"] + f["duration_s"]) * 1e6), False, f)
                for f in sc["faults"]
                if "duration_s" in f
            ]
            + [(int(e["at_s"] * 1e6), e["on"], dict(e, kind="input")) for e in sc["inputs"]]
        )
        self._faults = [(t, on, n, f) for n, (t, on, f) in enumerate(changes)]
        heapq.heapify(self._faults)
        self.inputs = {"emergency_stop": False, "remote_start": False, "low_fuel": False}
        self._adc_fault = None
        self._adc_hold = 2048
        self._last_n = self.block_len  # samples in the last read
        self._adc_rand = sc["seed"] | 1
        self._battery_reading = None
        # Gaps in the samples: the firmware's handler (hal.py on_gap), the samples lost so
        # far, and after a stall the samples the ring kept, handed over before new ones.
        self.on_gap = None
        self.samples_lost = 0
        # What the loop costs on the chip (board.profile, cpu.py): the time it spends
        # beyond the samples' own is a lag, and past the ring the oldest samples are lost.
        self._cpu = cpu.costs(sc["board"]["profile"])
        self._spent_us = 0
        self.lag_us = 0
        self.max_lag_us = 0
        self.ring_overruns = 0
        self._backlog = None
        self._backlog_at = 0
        self._feeding = self.source()
        self.envelope.update(0, self._load_level())
        self._trace(0)

    # ---- the HAL -------------------------------------------------------------------
    def configure(self, cfg):
        # calibration and polarity are the plant's own here; the output sensor is fitted
        # to the plant, but the firmware is told of it only as an installer would
        self._output_sensor = cfg.get("io.output_sensor")

    def ticks_ms(self):
        return (self._start_ms + self.t_us // 1000) & TICKS_MAX

    def ticks_add(self, t, delta):
        return (t + delta) & TICKS_MAX

    def ticks_diff(self, a, b):
        return ((a - b + TICKS_HALF) & TICKS_MAX) - TICKS_HALF

    def _read(self, buf, n):
        if self._cpu is not None and self._backlog is None:
            self._charge(n)
        if self._faults and self._faults[0][0] <= self.t_us:
            if self._backlog is None:
                self._fault_changes(buf)
            if self._backlog is not None:
                return self._from_backlog(buf, n)
        self.mains.fill(buf, n, self.t_us / 1e6)
        if self._adc_fault is not None:
            self._adc_fault_fill(buf, n)
        self._last_n = n
        self._catch_up(n)
        self.blocks_read += 1
        return self.ticks_ms()

    def _charge(self, n):
        # The loop asks for n more samples, having spent _spent_us since it asked for the
        # last ones: late by what that took beyond their time. The ring keeps RING_SAMPLES;
        # a read loses what a board sampler's read would (the oldest, so that the ring cannot
        # overrun while it copies), and the monitor is told, as of any gap.
        period = 1000000 // self.sample_rate_hz
        lag = self.lag_us + self._spent_us - n * period
        self._spent_us = self._cpu[0] * n  # this block's work, charged next time
        lag = lag if lag > 0 else 0
        lost = lag // period + 2 * n - RING_SAMPLES
        if lost > 0:
            lag -= lost * period
            self.ring_overruns += 1
            self.samples_lost += lost
            self.mains.advance(lost, self._scratch)
            self._catch_up(lost)
            if self.on_gap is not None:
                self.on_gap(lost)
        self.lag_us = lag
        if lag > self.max_lag_us:
            self.max_lag_us = lag

    def skip(self, ms):
        # Let about ms of samples pass unread, in whole blocks; the plant carries on.
        self.lag_us = self._spent_us = 0  # the loop slept, then dropped the ring
        if self._backlog is not None:
            self._end_backlog()
        if self._faults and self._faults[0][0] <= self.t_us:
            self._fault_changes(None)
        n = max(1, ms * self.sample_rate_hz // (1000 * self.block_len)) * self.block_len
        self.mains.advance(n, self._scratch)
        self._catch_up(n)

    def set_output(self, out, on):
        on = bool(on)
        if self._out_state.get(out) == on:
            return
        self._out_state[out] = on
        late = self.lag_us + self._spent_us
        if late or self._deferred:
            # the loop runs lag_us behind the samples it has read, and has spent _spent_us
            # on this block's samples (the step that drives the pin is charged after it):
            # the pin moves then
            self._deferred.append((self.t_us + late, out, on))
        else:
            self._drive(self.t_us, out, on)

    def _drive(self, t, out, on):
        self.outputs.append((t, out, on))
        if out == hal.OUT_XFER:
            was = self.relay.energised
            self.relay.command(t, on)
            if on and not was and self._loss_t is not None:
                self.detection_latency_us.append(t - self._loss_t)
                self._loss_t = None
        elif out == hal.OUT_MAINS_OPEN:
            self.k_mains.command(t, not on)
        elif out == hal.OUT_GEN_CLOSE:
            self.k_gen.command(t, on)
        elif out == hal.OUT_GEN_RUN:
            self.gen.run = on
        elif out == hal.OUT_GEN_START:
            self.gen.set_start(on)
        elif out == hal.OUT_GEN_PREHEAT:
            self.gen.preheat = on
        elif out == hal.OUT_SHED:
            self._battery_tick(t)
            self.shed = on
        elif out == hal.OUT_LOAD_OFF:
            # The output contactor: the servers are switched off on purpose. The load
            # envelope goes on following the supply behind it (what the servers get
            # when they are switched back on), so this is not an interruption.
            self._battery_tick(t)
            self.load_off = on
            self.event(t, "load_off" if on else "load_on")
        self._source_changed(t)

    def feed_watchdog(self):
        # once a supervisor step
        if self._cpu is not None:
            self._spent_us += self._cpu[1]
        self.watchdog_feeds += 1
        gap = self.t_us - self._fed_us
        if gap > self.max_feed_gap_us:
            self.max_feed_gap_us = gap
            if gap > self.watchdog_ms * 1000:
                self.watchdog_late += 1
        self._fed_us = self.t_us

    def watchdog_due_us(self):
        # When the watchdog bites if nothing feeds it.
        return self._fed_us + self.watchdog_ms * 1000

    def restarted(self):
        # A new controller starts its loop: the boot time is not a late feed.
        self._fed_us = self.t_us

    def time_s(self):
        return self._start_rtc + self.t_us // 1000000

    def room_c(self):
        # The battery room at this moment: each event moves it to its temperature over its
        # ramp, from wherever the room was.
        t = self.t_us / 1e6
        temp = self._room["temperature_c"]
        for ev in self._room["events"]:
            if t < ev["at_s"]:
                break
            ramp = ev["ramp_s"]
            done = 1.0 if ramp <= 0 else min(1.0, (t - ev["at_s"]) / ramp)
            temp += (ev["temperature_c"] - temp) * done
        return temp

    def temperature_c10(self):
        if not self._room["sensor"]:
            return hal.NO_READING
        return int(round(self.room_c() * 10))

    def output_w(self):
        # An output power sensor: nothing while the load's supply is below half its level.
        if not self._output_sensor:
            return hal.NO_READING
        if self.source() == "none" or self.load_off or self._load_level() < 50:
            return 0
        return int(self.load_w - (self.sheddable_w if self.shed else 0))

    def serial_read(self, buf):
        # once a service() call
        if self._cpu is not None:
            self._spent_us += self._cpu[2]
        n = min(len(buf), len(self.serial_in))
        if n:
            buf[:n] = self.serial_in[:n]
            self.serial_in = self.serial_in[n:]
        return n

    def serial_write(self, data):
        # A terminal that reads serial_rate bytes per call at most (None: all of them)
        n = len(data) if self.serial_rate is None else min(len(data), self.serial_rate)
        self.serial_out += data[:n]
        return n

    def tcp_open(self, host, port):
        # The simulated board talks to real brokers (the host's network): telemetry tests
        # run against a real mosquitto.
        from boards.net import tcp_open

        return tcp_open(host, port)

    def udp_open(self, host, port):
        from boards.net import udp_open

        return udp_open(host, port)

    def set_time(self, rtc_s):
        # Someone sets the board clock (a console command, NTP): time_s() jumps.
        self._start_rtc = rtc_s - self.t_us // 1000000

    def output_bits(self):
        return sum(1 << out for out, on in self._out_state.items() if on)

    def input_bits(self):
        # The auxiliary contacts: where the relay and contactors really are; the emergency
        # stop chain opens when pressed.
        closed = (
            (hal.IN_XFER_FB, self.relay.pos == plant.INVERTER),
            (hal.IN_MAINS_FB, self.k_mains.closed),
            (hal.IN_GEN_FB, self.k_gen.closed),
            (hal.IN_ESTOP, not self.inputs["emergency_stop"]),
            (hal.IN_REMOTE_START, self.inputs["remote_start"]),
            (hal.IN_LOW_FUEL, self.inputs["low_fuel"]),
        )
        return sum(1 << inp for inp, on in closed if on)

    def advance(self, us):
        # The plant carries on for us while no firmware runs (a hang, a reset, a boot).
        end = self.t_us + int(us)
        while self.t_us < end:
            self.skip(min(1000, max(1, (end - self.t_us) // 1000)))

    def release_outputs(self):
        # The controller has lost power or reset: every output drops to de-energised, and
        # what its late loop had yet to drive never is.
        self._deferred = []
        self.lag_us = self._spent_us = 0
        for out in sorted(self._out_state):
            self.set_output(out, False)

    def gen_volts_x10(self):
        return int(self.gen.voltage() * 10)

    def gen_hz_x100(self):
        return int(self.gen.frequency() * 100)

    def battery_mv(self):
        if self._battery_reading is not None:
            return self._battery_reading
        return int(self.battery.voltage * 1000)

    def battery_ma(self):
        return int(self.battery.current * 1000)

    # ---- faults of the sensors and relays -------------------------------------------
    def _part(self, name):
        return {
            "transfer_relay": self.relay,
            "mains_contactor": self.k_mains,
            "generator_contactor": self.k_gen,
        }[name]

    def _fault_changes(self, buf):
        t = self.t_us
        while self._faults and self._faults[0][0] <= t and self._backlog is None:
            _, started, _, f = heapq.heappop(self._faults)
            kind = f["kind"]
            data = {"kind": kind}
            if kind in GAP_KINDS:
                self._sample_gap(t, f, buf is not None)
                continue
            if kind == "input":
                self.inputs[f["name"]] = started
                self.event(t, "input", input=f["name"], on=started)
                continue
            if kind == "contact_stuck":
                data["part"] = f["part"]
                part = self._part(f["part"])
                if started:
                    part.stuck = True
                else:
                    part.free(t)
            elif kind == "battery_sensor":
                self._battery_reading = f["value_mv"] if started else None
            elif started:
                self._adc_fault = f
                if buf is not None:
                    self._adc_hold = buf[self._last_n - 1]
            elif self._adc_fault is f:
                self._adc_fault = None
            self.event(t, "fault" if started else "fault_end", **data)

    def _sample_gap(self, t, f, reading):
        # A sample_gap: the samples of duration_ms are lost. A stall: the loop stops for
        # duration_ms while the samples go into the ring, which keeps the newest
        # RING_SAMPLES of them (a DMA ring overwrites the oldest); the loop then reads
        # those first. Either way the plant carries on to the end of the span. While the
        # loop looks away on purpose (skip) there is nothing to lose.
        total = max(1, int(round(f["duration_ms"] * self.sample_rate_hz / 1000.0)))
        kept = min(total, RING_SAMPLES) if f["kind"] == "stall" else 0
        lost = total - kept
        self.event(t, f["kind"], duration_ms=f["duration_ms"], lost=lost if reading else 0)
        if not reading:
            return
        if lost:
            self.mains.advance(lost, self._scratch)
        if kept:
            self._backlog = array("H", [0] * kept)
            self.mains.fill(self._backlog, kept, t / 1e6)
            self._backlog_at = 0
            heapq.heappush(self._faults, (-1, True, -1, None))  # the ring served first
        self._catch_up(total)
        if lost:
            self.samples_lost += lost
            if self.on_gap is not None:
                self.on_gap(lost)

    def _from_backlog(self, buf, n):
        # The samples the ring kept through a stall, oldest first; the clock is already at
        # the stall's end.
        k = self._backlog_at
        ring = self._backlog
        m = min(n, len(ring) - k)
        for j in range(m):
            buf[j] = ring[k + j]
        self._backlog_at = k + m
        if k + m >= len(ring):
            self._end_backlog()
        if m < n:
            # the ring ran out within the block: the rest are new samples
            scratch = self._scratch
            self.mains.fill(scratch, n - m, self.t_us / 1e6)
            for j in range(m, n):
                buf[j] = scratch[j - m]
            self._catch_up(n - m)
        self._last_n = n
        self.blocks_read += 1
        return self.ticks_ms()

    def _end_backlog(self):
        self._backlog = None
        heapq.heappop(self._faults)

    def _adc_fault_fill(self, buf, n):
        # What the ADC reads instead of the sensor: frozen at the last sample (stuck), a
        # few counts above 0 through the input's pull-down (open), the top of the range
        # (saturated), or the signal buried in noise of level_pct of the nominal peak.
        kind = self._adc_fault["kind"]
        r = self._adc_rand
        if kind == "adc_stuck":
            for j in range(n):
                buf[j] = self._adc_hold
            return
        if kind == "adc_noisy":
            amp = int(self.mains._peak * self._adc_fault["level_pct"] / 100.0)
        for j in range(n):
            r = (r * 1103515245 + 12345) & 0x7FFFFFFF
            if kind == "adc_open":
                buf[j] = (r >> 16) & 3
            elif kind == "adc_saturated":
                buf[j] = 4095 - ((r >> 16) & 3)
            else:
                v = buf[j] + ((r >> 8) % (2 * amp + 1)) - amp
                buf[j] = 0 if v < 0 else (4095 if v > 4095 else v)
        self._adc_rand = r

    # ---- the plant ---------------------------------------------------------------
    def _catch_up(self, n):
        # Bring relays, engine, battery and load to the end of the n samples just produced.
        self._k += n
        end = self._k * 1000000 // self.sample_rate_hz
        if self._deferred:
            d = self._deferred
            while d and d[0][0] <= end:
                t, out, on = d.pop(0)
                self._drive(t, out, on)
        # The two contactors are mechanically interlocked, as in any contactor ATS: when
        # both move at the same instant (their coils dropped together by a controller
        # restart), the opening one lands first.
        relay, k_mains, k_gen = self.relay, self.k_mains, self.k_gen
        # nearly always nothing is moving: three reads a block rather than a loop of calls
        if relay.land_at >= 0 or k_mains.land_at >= 0 or k_gen.land_at >= 0:
            for code, part in ((1, relay), (2, k_mains), (3, k_gen)):
                due = part.land_at
                if 0 <= due <= end:
                    if code > 1 and part.closing():
                        code += 2
                    self._changes.append((due, code, "land", part))
        if self._changes:
            self._changes.sort(key=lambda c: (c[0], c[1]))
            for t, _, what, obj in self._changes:
                self._apply(t, what, obj)
            self._changes = []
        self.t_us = end
        gen = self.gen
        if gen.present:
            if gen.advance(end / 1e6, (end - self._last_gen) / 1e6):
                name = _ENGINE_EVENTS.get(gen.state)
                if name == "engine_running" or (name == "engine_stopped" and gen.has_run):
                    self.event(end, name)
                if gen.state == "stopped":
                    gen.has_run = False
                self._trace(end)
            self._last_gen = end
            if self.k_gen.closed:
                self._source_changed(end)
        while self._last_battery + _BATTERY_TICK_US <= end:
            self._battery_tick(self._last_battery + _BATTERY_TICK_US)

    def _mains_changed(self, k, ev, started):
        t = k * 1000000 // self.sample_rate_hz
        self._changes.append((t, 0, "start" if started else "end", ev))

    def _apply(self, t, what, obj):
        if what == "land":
            self._battery_tick(t)
            obj.land()
            if self.k_mains.closed and self.k_gen.closed:
                self.source_conflicts += 1
                self.event(t, "source_conflict")
            self._source_changed(t)
            return
        ev = obj
        data = {"kind": ev["kind"]}
        for key in ("residual_pct", "level_pct", "frequency_hz", "phase_deg", "duration_s"):
            if key in ev and ev[key] is not None:
                data[key] = ev[key]
        if what == "start":
            self.event(t, "disturbance", **data)
            if self.source() == "mains" and not self.relay.energised:
                self._loss_t = t
        else:
            self.event(t, "disturbance_end", kind=ev["kind"])
        self._source_changed(t)

    def _utility(self):
        # (name, level %) of what the utility side of the UPS relay sees
        if self.k_mains.closed:
            return "mains", self.mains.level_pct()
        if self.k_gen.closed:
            return "generator", self.gen.level_pct()
        return "none", 0.0

    def _feed(self):
        # (name, level %) of what feeds the load
        pos = self.relay.pos
        if pos == plant.UTILITY:
            return self._utility()
        if pos == plant.INVERTER and not self.battery.depleted:
            return "battery", 100.0
        return "none", 0.0

    def _load_level(self):
        return self._feed()[1]

    def source(self):
        return self._feed()[0]

    def _source_changed(self, t):
        # (every block while the generator carries the load: its level moves)
        feeding, level = self._feed()
        self.envelope.update(t, level)
        if feeding != self._feeding:
            self._feeding = feeding
            if feeding == "battery":
                self.transfers_to_battery += 1
                self.event(t, "load_to_battery")
            elif feeding == "mains":
                self.transfers_to_mains += 1
                self.event(t, "load_to_mains")
            elif feeding == "generator":
                self.transfers_to_generator += 1
                self.event(t, "load_to_generator")
            self._trace(t)

    def _battery_tick(self, t):
        dt = (t - self._last_battery) / 1e6
        if dt <= 0:
            return
        self._last_battery = t
        on_inverter = self.relay.pos == plant.INVERTER
        charging = self.relay.pos == plant.UTILITY and self._utility()[1] > 50
        load = 0.0 if self.load_off else self.load_w - (self.sheddable_w if self.shed else 0.0)
        self.battery.temp_factor = plant.capacity_factor(self.room_c())
        self.battery.step(dt, load if on_inverter else 0.0, charging)
        if self.battery.soc < self.min_soc:
            self.min_soc = self.battery.soc
        if self.battery.depleted != self._depleted_seen:
            self._depleted_seen = self.battery.depleted
            self.event(t, "battery_depleted" if self.battery.depleted else "battery_recovered")
            self._source_changed(t)
        if t >= self._next_trace:
            self._trace(t)

    def _trace(self, t):
        if self.trace is None:
            return
        self.trace.append(
            (
                t / 1e6,
                self.mains.level_pct(),
                self.envelope.level,
                self.source(),
                self.battery.soc * 100.0,
                self.gen.level_pct(),
            )
        )
        self._next_trace = t + _TRACE_EVERY_US

    def event(self, t_us, name, **data):
        entry = {"t_ms": t_us / 1000.0, "event": name}
        entry.update(data)
        self.timeline.append(entry)

    def finish(self):
        self._battery_tick(self.t_us)
        self.envelope.finish(self.t_us)
        self._trace(self.t_us)
