# The controller: one pass of the control loop per sample block.
#
#   board.read_block -> MainsMonitor.process -> Supervisor.step -> board outputs
#
# Everything on this path is preallocated; slow work (console, telemetry, persistence)
# runs between blocks: the board's loop calls service() when blocks() says it is due. It
# reads the console and serves the network every SERIAL_MS while they are in use (every
# POLL_MS otherwise), writes new events to the log every POLL_MS and does the rest at most
# once a second (counters, the exercise schedule, saving the persistent record).
#
# Stride: the monitor sees every sample, but the supervisor is stepped (and the watchdog
# fed) only as often as it asks (Supervisor.stride_ms): when the next of its timers ends,
# and at least every STRIDE_MS to look at the readings; every block while the mains
# reading is in doubt or a step has just changed something. A change in the monitor's
# verdict, a sensor problem or an operator's command steps it in that very block. The
# monitor counts the samples down to whatever is due next (MainsMonitor.wake_after), so
# on steady mains, where a board spends nearly all its life, a block is the board's read
# and one call from it into the monitor's machine code (blocks(), hal.py's read_block).
#
# Idle watch: while there is no mains at all and nothing needs the samples' millisecond
# (Supervisor.quiet: the load settled on battery, the dead time too, or on the generator,
# the engine at rest, warming up or ready), the controller stops reading mains samples:
# it lets the board skip ahead (Supervisor.idle_gap_ms: 50 ms with the generator running,
# so its limits are still checked, 950 ms otherwise, and to the end of the dead time or
# the warm-up), and every _WATCH_GAP_MS it looks at the mains again for one window
# (25 ms). Mains coming back is noticed within a second, long before any return delay
# ends, and the CPU is free.
import gc
from array import array

from firmware import clock, eventlog, events, generator, settings_file
from firmware import store as record
from firmware.alarms import Alarms
from firmware.battery import BatteryMonitor
from firmware.commands import Commands
from firmware.console import Console
from firmware.counters import Counters
from firmware.environment import Environment
from firmware.eventlog import EventLog
from firmware.mains_monitor import MainsMonitor
from firmware.pin import PinGuard
from firmware.store import Store
from firmware.supervisor import STRIDE_MS, Supervisor
from micropython import const

_WATCH_GAP_MS = const(950)
SERVICE_MS = 1000
# The console line and the network, every SERIAL_MS while in use: MQTT on (at 25 ms its
# bursts took 4 KB more heap at their peak, over the 32 KB budget now and then), a byte in
# or a reply going out within TALK_MS; else every POLL_MS (a line's reply within 100 ms).
SERIAL_MS = 10
TALK_MS = 1000
POLL_MS = 100  # the clock's second, the event log
_GC_FREE = const(24 * 1024)  # collect the heap's garbage below this much free,
_GC_STEP = const(2048)  # once this much more is taken since the last collection


def _one(buf, n, now):
    # read_block's process for a single block (step())
    return 1


class Controller:
    def __init__(self, board, cfg=None, listener=None):
        # cfg None: the configuration saved on the board (settings_file), or the defaults.
        # listener(code, arg) sees every event from boot on (the simulator's timeline).
        self.board = board
        self.log = events.EventRing()
        self.log.listener = listener
        self.alarms = Alarms(self.log)
        now = board.ticks_ms()
        self.log.add(now, events.EV_BOOT, 0)
        made = []  # the monitor a saved configuration was tried with

        def monitor(c):
            made.append(MainsMonitor(c, board.sample_rate_hz, board.ticks_diff, board.block_len))

        if cfg is None:
            # a saved calibration the monitor cannot use is not loaded (config.bak, or
            # the defaults, and config_lost): the one it was tried with is kept
            cfg = settings_file.load(board.fs, self.alarms, now, monitor)
        if not made:
            monitor(cfg)
        self.monitor = made[-1]
        self.cfg = cfg
        board.configure(cfg)
        self.battery = BatteryMonitor(self.cfg, board.ticks_diff)
        self.env = Environment(self.cfg, self.alarms)
        self.supervisor = Supervisor(
            self.cfg, board, self.log, self.alarms, self.monitor, self.battery
        )
        self.transfer = self.supervisor.transfer
        self.gen = self.supervisor.gen
        self.commands = Commands(self)
        self.console = Console(self, board.serial_write)
        self._serial = bytearray(64)
        self.store = Store(board.fs, self.alarms)
        self.store.load(now)
        self.pin = PinGuard(self.store, board.ticks_diff)
        self.counters = Counters(self.cfg, self.store, self.alarms, self.log, board.ticks_diff)
        self.eventlog = EventLog(board.fs, self.cfg.get("log.max_records"))
        self.telemetry = None
        self.sntp = None
        self._telemetry(self.cfg, now)
        self._clock_source(self.cfg, now)
        self.alarms.restore(self.store.values["latched"])
        self.supervisor.recover(now)
        self._resume_cooldown(now)
        self._t_service = board.ticks_add(now, -SERVICE_MS)
        self._buf = array("H", [0] * board.block_len)
        self._mains_lost = False
        self.maintenance = False  # `maint`: the board's loop ends and it restarts
        self._idle = False
        self._away_ms = 0
        self._faults = 0  # the monitor's verdict when the supervisor last saw it
        self._good = False  # and whether it found mains there
        self._due = True  # the supervisor steps in the next block
        self._t_sup = now  # when it is due by its stride, and the slow work
        self._t_svc = now
        self._svc_ms = SERIAL_MS  # the slow work's pace, and when it last had to be quick
        self._t_talk = now
        self._n = board.block_len  # samples the next read takes (MainsMonitor.need)
        self._per_ms = board.sample_rate_hz // 1000
        # Where the board clock's second began, in ticks: the log stamps its events from
        # it to the second (time_s() alone is floored, and so is an event's age).
        self._rtc_s = board.time_s()
        self._rtc_ticks = now
        self._t_poll = now
        # bound once: on the steady path a method looked up per call costs more than the
        # work it does
        self._read = board.read_block
        self._process = self.monitor.process
        # The heap collected when the firmware chooses (service()), not wherever an
        # allocation finds it full; CPython has no mem_free, and collects by itself.
        self._mem_free = getattr(gc, "mem_free", None)
        self._collect = gc.collect
        self._freed = 0  # free after the last collection, ours or not
        self.collections = 0
        board.on_gap = self.monitor.gap  # samples lost (hal.py): the monitor coasts

    def _resume_cooldown(self, now):
        # A set still running at boot, with no outage to serve, was cooling down: it goes
        # on for what the persistent record says was left (cool_until, on the board clock).
        until = self.store.values["cool_until"]
        rtc = self.board.time_s()
        if (
            until
            and rtc >= clock.VALID_FROM_S
            and self.gen.running()
            and not self.supervisor.outage
        ):
            self.gen.resume_cooldown(now, until - rtc if until > rtc else 0)

    def _note_cooldown(self, now, rtc):
        # Once a second: the end of a cooldown under way, kept for a restart (one write
        # when it starts, one when it ends).
        gen = self.gen
        v = self.store.values
        cooling = gen.state == generator.COOLDOWN and rtc >= clock.VALID_FROM_S
        if cooling and not v["cool_until"]:
            v["cool_until"] = rtc + gen.cooldown_left_s(now)
            self.store.changed(record.NOW)
        elif v["cool_until"] and not cooling:
            v["cool_until"] = 0
            self.store.changed(record.NOW)

    def collect_events(self, now):
        # The RAM ring's new events into the event log on flash (written when due).
        self.eventlog.collect(self.log, self._rtc_ticks, self._rtc_s, self.board.ticks_diff)

    def _follow_clock(self, now):
        # Between blocks, every POLL_MS: where the clock's second began. The second it
        # reads began after the last poll (or within the last second) and not after now;
        # where it began is reckoned on from the last edge, as ticks and the clock keep the
        # same pace over minutes, and moved only as far as that window says. So it is
        # found to the ms once a poll falls just after an edge, whatever the polls' grid,
        # and then kept.
        board = self.board
        s = board.time_s()
        if s != self._rtc_s:
            at = now
            if 0 < s - self._rtc_s < 100000:
                at = board.ticks_add(self._rtc_ticks, (s - self._rtc_s) * 1000)
                ahead = board.ticks_diff(at, now)
                back = min(board.ticks_diff(now, self._t_poll), 1000)
                if ahead > 0:
                    at = now
                elif ahead <= -back:
                    at = board.ticks_add(now, 1 - back)
            self._rtc_s = s
            self._rtc_ticks = at
        self._t_poll = now

    def set_clock(self, secs, now):
        # `clock set` (or the network's time): the events so far keep the old clock's
        # stamps; the step goes into the log.
        board = self.board
        self.collect_events(now)
        step = secs - board.time_s()
        board.set_time(secs)
        self._rtc_s = secs
        self._rtc_ticks = now
        self.log.add(now, events.EV_CLOCK_SET, max(-0x7FFFFFFF, min(0x7FFFFFFF, step)))

    def apply(self, values):
        # config set, config reset: {key: value} checked, applied to every machine at
        # once. Returns None, or why not.
        cfg = self.cfg
        before = dict(cfg.items())
        try:
            cfg.update(values)
        except ValueError as e:
            return str(e)
        mains = [
            k
            for k in values
            if (k.startswith("mains.") or k.startswith("adc.")) and cfg.get(k) != before[k]
        ]
        if mains:
            if not (self.monitor.ok() and not self.transfer.on_battery()):
                cfg.update(before)
                return "%s: mains settings change only with the load on good mains" % mains[0]
            try:
                self.monitor.configure(cfg, self.board.sample_rate_hz)
            except ValueError as e:
                cfg.update(before)
                self.monitor.configure(cfg, self.board.sample_rate_hz)
                return str(e)
        try:
            self._configure(cfg)
        except Exception as e:
            # a machine that cannot take them (no heap for MQTT's code, say): all of the
            # settings as they were, none of the new, nothing half applied
            cfg.update(before)
            self._configure(cfg)
            return "settings not applied: %s" % (str(e) or type(e).__name__)
        return None

    def _configure(self, cfg):
        self.board.configure(cfg)
        self.battery.configure(cfg)
        self.env.configure(cfg)
        self.supervisor.configure(cfg)
        self.counters.configure(cfg)
        self.eventlog.max_records = cfg.get("log.max_records")
        self._telemetry(cfg, self.board.ticks_ms())
        self._clock_source(cfg, self.board.ticks_ms())

    def _clock_source(self, cfg, now):
        # NTP (clock.ntp_server): its code only once a server is set.
        if self.sntp is None:
            if not cfg.get("clock.ntp_server"):
                return
            from firmware.sntp import Sntp

            self.sntp = Sntp(self.board.udp_open, self.board.ticks_diff)
        self.sntp.configure(cfg, now)

    def _telemetry(self, cfg, now):
        # MQTT (mqtt.*): its code and buffers, and the board's network, only once it is
        # enabled; a board without telemetry keeps that heap.
        if self.telemetry is None:
            if not cfg.get("mqtt.enabled"):
                return
            from firmware.telemetry import Telemetry

            self.telemetry = Telemetry(self, self.board.tcp_open)
        self.telemetry.configure(cfg, now)

    def command(self, line, commands=None, stream=False):
        # An operator's line (console, scenario; MQTT with its own Commands and lock): one
        # reply, a string (or with stream a source of lines, for the serial console).
        # Between blocks only.
        reply = (commands or self.commands).execute(line, self.board.ticks_ms(), stream)
        self._wake()  # a command may change what must be timed
        return reply

    def _wake(self):
        # The supervisor stepped in the next block, and back from the idle watch to
        # reading every block.
        self._due = True
        self.monitor.wake_after(0)
        if self._idle:
            self._idle = False
            self.monitor.resume()

    def service(self):
        # Slow work between blocks: the serial console every SERIAL_MS, the rest once a
        # second; the board's loop calls it when blocks() (or step()) says it is due.
        # False once the loop should end (maintenance).
        board = self.board
        now = board.ticks_ms()
        n = board.serial_read(self._serial)
        if n:
            self.console.feed(memoryview(self._serial)[:n], now)
        if self.console.pump() or n or self.telemetry:
            self._t_talk = now
            if self._svc_ms > SERIAL_MS:  # quick from the next block on
                self._svc_ms = SERIAL_MS
                self._t_svc = now
                self.monitor.wake_after(0)
        elif board.ticks_diff(now, self._t_talk) >= TALK_MS:
            self._svc_ms = POLL_MS
        if self.telemetry is not None:
            self.telemetry.service(now)
        if self.sntp is not None:
            secs = self.sntp.service(now, self._rtc_s)
            if secs >= 0 and not -2 < secs - self._rtc_s < 2:  # the clock just polled
                self.set_clock(secs, now)
        # the rest (timers of seconds, the log's hold of a second) every POLL_MS, but not
        # while the UPS relay is in flight: a flash write can hold the CPU for ms
        if board.ticks_diff(now, self._t_poll) < POLL_MS or self.transfer.moving():
            return not self.maintenance
        self._follow_clock(now)
        log = self.eventlog
        if self.log.count != log.seen or log.pending:
            # every event on flash within a second (eventlog.HOLD_MS); while the idle watch
            # skips ahead, each call here is up to a second apart: no hold then
            self.collect_events(now)
            log.service(now, board.ticks_diff, 0 if self._idle else eventlog.HOLD_MS)
        if board.ticks_diff(now, self._t_service) < SERVICE_MS:
            return not self.maintenance
        self._t_service = now
        self.pin.tick(now)  # timers of seconds: a PIN's lockout, the console's idle time
        self.commands.tick(now)
        # A collection holds the CPU for ms: only with no contactor moving and no run of
        # deviating samples under way (the samples wait in the board's ring meanwhile),
        # and on a heap that is nearly all live data, not again until there is garbage.
        # Looked at once a second: mem_free() walks the heap's whole table (340k host
        # instructions on a 256 KB heap).
        free = self._mem_free
        if free is not None:
            left = free()
            if left > self._freed:
                self._freed = left
            if (
                left < _GC_FREE
                and self._freed - left >= _GC_STEP
                and self.supervisor.ats.settled()
                and self._n == board.block_len
            ):
                self._collect()
                self.collections += 1
                self._freed = free()
        rtc = board.time_s()
        sup = self.supervisor
        store = self.store
        self.counters.update(now, rtc, sup.gen, sup.ats, sup.transfer)
        self.env.update(now, board.temperature_c10())
        self.battery.temp_pm = self.env.capacity_pm()
        self.battery.worst_temp_pm = self.env.worst_capacity_pm()
        self._note_cooldown(now, rtc)
        save = sup.exercise.plan(now, rtc, store.values, sup.can_exercise())
        if save:
            store.changed(save)
            self._wake()  # an exercise started: its timing matters
        latched = self.alarms.latched()
        if latched != store.values["latched"]:
            store.values["latched"] = latched
            store.changed(record.NOW)
        store.service(now, board.ticks_diff)
        return not self.maintenance

    def step(self):
        # One block (the simulations and tests drive the loop a block at a time). True when
        # service() is due after it (the board's loop calls it then, between blocks).
        if self._idle:
            return self._idle_step()  # each of these steps stands for 1-950 ms
        buf = self._buf
        n = self._n
        now = self._read(buf, n, _one)
        if self._process(buf, n, now):
            return self._act(now)
        return False

    def blocks(self):
        # Blocks until one needs more than the monitor (the board's loop, boards/mcu.py):
        # step() as often as it takes, without the calls and lookups of a step per block.
        # The monitor counts the samples down to whatever is due, and the board's read
        # hands it each block until it says so, so on steady mains a block is the board's
        # machine code and one call from there into the monitor's.
        if self._idle:
            return self._idle_step()
        return self._act(self._read(self._buf, self._n, self._process))

    def _act(self, now):
        # The monitor's verdict, its sensor or its `need` changed, or something is due: the
        # supervisor (every stride, at once on a change) and the slow work (every SERIAL_MS).
        mon = self.monitor
        self._n = mon.need  # a whole block, or what could complete a trip
        board = self.board
        diff = board.ticks_diff
        faults = mon.faults
        good = mon.good_now  # mains there or not: what a start delay waits on
        t = diff(self._t_sup, now)  # ms until the supervisor is due, and the slow work
        t2 = diff(self._t_svc, now)
        if self._due or faults != self._faults or good != self._good or mon.sensor or t <= 0:
            self._due = False
            self._faults = faults
            self._good = good
            if faults:
                if not self._mains_lost:
                    self._mains_lost = True
                    self.log.add(now, events.EV_MAINS_LOST, faults)
            elif self._mains_lost and mon.ok():
                self._mains_lost = False
                self.log.add(now, events.EV_MAINS_RESTORED, 0)
            sup = self.supervisor
            sup.step(now)
            stride = sup.stride_ms(now)
            if stride >= STRIDE_MS:
                # the readings' pace, not a timer: on the slow work's grid (or one that
                # holds it: every other step with it), so that one wake serves both
                g = self._svc_ms
                stride -= (stride - t2) % (g if g < STRIDE_MS else STRIDE_MS)
            t = stride
            self._t_sup = board.ticks_add(now, stride)
            board.feed_watchdog()
            if mon.absent() and sup.quiet():
                self._idle = True
                self._away_ms = 0
        slow = t2 <= 0
        if slow:
            t2 = self._svc_ms
            self._t_svc = board.ticks_add(now, t2)
        mon.wake_after(0 if self._due else (t if t < t2 else t2) * self._per_ms)
        return slow

    def _idle_step(self):
        board = self.board
        sup = self.supervisor
        gap = sup.idle_gap_ms(board.ticks_ms())
        board.skip(gap)
        self._away_ms += gap
        sup.step(board.ticks_ms())
        board.feed_watchdog()
        if self._away_ms >= _WATCH_GAP_MS or not sup.quiet():
            self._wake()
        return True
