# Supervisor: decides, every block, which source should carry the load and drives the
# three machines that make it so: the generator sequencer, the ATS (mains or generator
# on the utility side) and the UPS transfer relay (utility side or battery).
#
# In AUTO:
# - a mains fault starts an outage: the generator is wanted (after its start delay, or at
#   once when the battery's runtime is too short to wait) until mains has been good for
#   the return delay and carries the load again;
# - the utility side is switched (ATS) only while the load sits on battery, so a move
#   between mains and generator costs the load two relay operate times, never the dead
#   time;
# - battery low is raised when the runtime falls to shutdown_lead_s while on battery, so
#   the servers can shut down cleanly; then mains need not wait out its return delay. It
#   stays raised until the load is off the battery: a flat battery that has cut out draws
#   no current and would otherwise look as if it had all the time in the world;
# MANUAL: the generator runs only when the operator says so (gen start / gen stop); the
# load still goes to battery on a fault and to a running generator. OFF: the generator is
# never started. TEST: a drill, a mains failure simulated for drill.duration_s with real
# transfers, then back to AUTO with a report in the event log; refused while a shutdown
# alarm is latched, and ended (failed) when one latches during the drill.
#
# - flapping mains (flap_count failures within flap_window_s, however short each) starts
#   the generator and puts the load on it; mains then has to be good for flap_clear_s
#   instead of the return delay;
# - a generator exercise (exercise.py) runs the engine in AUTO while nothing else needs
#   it; on load, the load moves to the generator once it is ready and back to mains at the
#   end, through the battery like any other move. A mains failure, a mode change, battery
#   low or a generator alarm interrupts it, and the outage logic carries on from there;
# - the remote start contact (hal.IN_REMOTE_START), in AUTO, runs the generator and puts
#   the load on it while closed, like an exercise on load; the emergency stop chain
#   (io.estop) stops the engine at once and latches emergency_stop; the low fuel switch
#   raises low_fuel;
# - with shed.enabled, non-critical loads are dropped (OUT_SHED) after shed.delay_s on
#   battery, or at once when the runtime falls to shed.runtime_s, and come back when the
#   load is on mains or generator again.
from micropython import const

from firmware import alarms, ats, contacts, events, hal
from firmware.ats import Ats
from firmware.battery import NO_RUNTIME_LIMIT
from firmware.contacts import Contacts
from firmware.exercise import Exercise
from firmware.generator import (
    IDLE as GEN_IDLE,
    WHY_BATTERY,
    WHY_DRILL,
    WHY_EXERCISE,
    WHY_FLAPPING,
    WHY_MANUAL,
    WHY_OUTAGE,
    WHY_REMOTE,
    Generator,
)
from firmware.selftest import BatteryTest
from firmware.shutdown import Shutdown
from firmware.transfer import ON_UTILITY, Recent, Transfer

AUTO = const(0)
MANUAL = const(1)
OFF = const(2)
TEST = const(3)
MODE_NAMES = ("auto", "manual", "off", "test")

# A drill makes the supervisor see a mains failure that is not there (the monitor's own
# fault bits are 1..16).
_DRILL = const(32)
# With the mains reading unusable (a sensor fault), the load on mains losing its power, as
# the board's output power sensor sees it, counts as a mains failure.
_WITNESS = const(64)
_FUEL_DEBOUNCE_MS = const(5000)
STRIDE_MS = const(50)  # the longest step stride (stride_ms) with anything under way,
REST_MS = const(250)  # and with the load on mains and the engine at rest
_INPUT_MS = const(5)  # the digital inputs are read this often


class Supervisor:
    def __init__(self, cfg, board, log, alarm_set, monitor, battery):
        self._board = board
        self._diff = board.ticks_diff
        self._log = log
        self._alarms = alarm_set
        self.monitor = monitor
        self.battery = battery
        self.gen = Generator(cfg, board, log, alarm_set)
        self.contacts = Contacts(cfg, board, log, alarm_set)
        self.ats = Ats(cfg, board, self.contacts)
        self.transfer = Transfer(cfg, board, log, alarm_set, self.contacts)
        self.selftest = BatteryTest(cfg, log, alarm_set, battery, board.ticks_diff)
        self.exercise = Exercise(cfg, log, board.ticks_diff)
        self.shutdown = Shutdown(board, log)
        self.mode = AUTO
        self.configure(cfg)
        self.outage = False
        self.hurry = False
        self.low = False
        self.flapping = False
        self._faulted = False
        self._fails = Recent(20, board.ticks_diff)  # recent mains failures
        self._good = False
        self._t_good = 0
        self.manual_run = False
        self.shed = False
        self._was_on_batt = False
        self._t_on_batt = 0
        self._t_drill = 0
        self._drill_ready_ms = -1
        self._drill_xfers = 0
        self._drill_soc = 1000
        self._drill_on_gen = False
        self._drill_alarms = 0
        self._ex_load = False
        self._witness = False  # the output power sensor has seen the load powered
        self.remote = False  # the remote start contact is closed
        self._fuel_raw = False
        self._fuel_low = False
        self._t_fuel = 0
        self._t_inputs = 0
        self._changed = False  # the last step changed a state or logged an event

    def configure(self, cfg):
        self._return_ms = cfg.get("transfer.return_delay_s") * 1000
        # 10 % more than asked, for the error of the runtime estimate
        self._lead_s = cfg.get("battery.shutdown_lead_s")
        self._lead = self._lead_s * 11 // 10
        self._margin = cfg.get("battery.start_margin_s")
        self._nom_v = cfg.get("mains.nominal_v")
        self._nom_f = cfg.get("mains.frequency_hz")
        self._flap_n = cfg.get("gen.flap_count")
        self._flap_window = cfg.get("gen.flap_window_s") * 1000
        self._flap_clear = cfg.get("gen.flap_clear_s") * 1000
        self._drill_ms = cfg.get("drill.duration_s") * 1000
        self._shed_enabled = cfg.get("shed.enabled")
        self._shed_delay = cfg.get("shed.delay_s") * 1000
        self._shed_runtime = cfg.get("shed.runtime_s")
        self._estop = cfg.get("io.estop")
        gen = self.gen
        gen.configure(cfg)
        self.contacts.configure(cfg)
        self.ats.configure(cfg)
        self.transfer.configure(cfg)
        self.selftest.configure(cfg)
        self.exercise.configure(cfg)
        self.switch_s = (cfg.get("ats.dead_time_ms") + 3 * cfg.get("relay.operate_ms")) // 1000 + 1
        # Worst case from a start signal to the load on the generator, with the start delay
        # and warm-up that hurrying skips.
        self.start_to_load_s = gen.start_to_ready_s + self.switch_s
        self.worst_s = gen.delay_s + gen.warmup_s + self.start_to_load_s

    def recover(self, now):
        # At boot, before the first step: a watchdog reset leaves the outputs as they
        # were, so pick up from them rather than from the defaults. If the load is off
        # mains (on battery or on the generator) an outage is assumed to go on until mains
        # has been good for the return delay; a running set is adopted, never cranked (with
        # the load on mains it cools down and stops).
        b = self._board
        o = b.output_bits()
        self.transfer.recover(now, o >> hal.OUT_XFER & 1)
        self.ats.recover(now, o >> hal.OUT_MAINS_OPEN & 1, o >> hal.OUT_GEN_CLOSE & 1)
        self.gen.recover(
            now,
            o >> hal.OUT_GEN_RUN & 1,
            o >> hal.OUT_GEN_START & 1 or o >> hal.OUT_GEN_PREHEAT & 1,
            b.gen_volts_x10() * 100 // self._nom_v,
            b.gen_hz_x100() * 10 // self._nom_f,
        )
        self.shutdown.recover(now, o >> hal.OUT_LOAD_OFF & 1)
        self.shed = o >> hal.OUT_SHED & 1 == 1
        # The inputs are read before the first step: an emergency stop pressed while the
        # board was down stops an adopted engine at boot, not a few blocks later.
        self._read_inputs(now)
        if self.transfer.on_battery() or self.ats.closed() != ats.MAINS:
            self.outage = True
            self._log.add(now, events.EV_RECOVERED, 1)

    def set_mode(self, now, mode):
        # Returns None, or why the mode cannot be entered.
        if mode == TEST:
            if not self.gen.present:
                return "no generator is fitted"
            if self._alarms.latched_shutdown():
                return "a shutdown alarm is latched; acknowledge it first"
        if self.mode == TEST and mode != TEST:
            self._drill_end(now, False)
        if mode == TEST and self.mode != TEST:
            self._drill_begin(now)
        if mode != MANUAL:
            self.manual_run = False
        if mode != self.mode:
            self.mode = mode
            self._log.add(now, events.EV_MODE, mode)
        return None

    def start_selftest(self, now, duration_s=0):
        # selftest battery. Returns None, or why not.
        if self.selftest.state != 0:
            return "a self-test is already running"
        if self.mode != AUTO:
            return "only in auto mode (mode is %s)" % MODE_NAMES[self.mode]
        if not (
            self.monitor.ok()
            and self.transfer.state == ON_UTILITY
            and self.ats.closed() == ats.MAINS
            and not self.outage
        ):
            return "only with the load on good mains"
        if self.low:
            return "battery low"
        self.selftest.start(now, duration_s)
        return None

    def can_exercise(self):
        # An exercise may start (or resume) now.
        gen = self.gen
        return (
            self.mode == AUTO
            and gen.present
            and gen.state == GEN_IDLE
            and not gen.tripped()
            and not self._alarms.latched_shutdown()
            and not self.outage
            and not self.low
            and self.monitor.ok()
            and self.transfer.state == ON_UTILITY
            and self.ats.closed() == ats.MAINS
            and self.selftest.state == 0
        )

    def gen_command(self, run):
        # gen start / gen stop. Returns None, or why not.
        if self.mode != MANUAL:
            return "only in manual mode (mode is %s)" % MODE_NAMES[self.mode]
        if run and self.gen.tripped():
            return "a generator alarm is latched; acknowledge it first"
        self.manual_run = run
        return None

    def _drill_begin(self, now):
        self._t_drill = now
        self._drill_ready_ms = -1
        self._drill_xfers = self.transfer.transfers
        self._drill_soc = self.battery.soc_pm
        self._drill_on_gen = False
        self._drill_alarms = self._alarms.active
        self._log.add(now, events.EV_DRILL_START, self._drill_ms // 1000)

    def _drill_watch(self, now):
        if self.battery.soc_pm < self._drill_soc:
            self._drill_soc = self.battery.soc_pm
        if self._drill_ready_ms < 0 and self.gen.ready():
            self._drill_ready_ms = self._diff(now, self._t_drill)
        if self.ats.closed() == ats.GEN and self.transfer.state == ON_UTILITY:
            self._drill_on_gen = True
        # A shutdown alarm (the generator failed to start, overspeed) ends the drill at
        # once: mains is there, and the battery is not to be spent on a drill.
        aborted = self._alarms.latched_shutdown()
        if aborted or self._diff(now, self._t_drill) >= self._drill_ms:
            self._drill_end(now, not aborted)
            self.mode = AUTO
            self._log.add(now, events.EV_MODE, AUTO)

    def _drill_end(self, now, completed):
        # Pass: it ran its course, the generator carried the load, no new alarm.
        new_alarms = self._alarms.active & ~self._drill_alarms
        passed = completed and self._drill_on_gen and not new_alarms
        log = self._log
        log.add(now, events.EV_DRILL_READY_MS, self._drill_ready_ms)
        log.add(now, events.EV_DRILL_TRANSFERS, self.transfer.transfers - self._drill_xfers)
        log.add(now, events.EV_DRILL_MIN_SOC, self._drill_soc)
        log.add(now, events.EV_DRILL_END, 1 if passed else 0)

    def step(self, now):
        board = self._board
        mon = self.monitor
        faults = mon.faults
        # what the step changes: then the next one comes at once (stride_ms)
        logged = self._log.count
        was_xfer = self.transfer.state
        was_ats = self.ats.state
        was_gen = self.gen.state
        ok = mon.ok()
        present = mon.present()
        if self.mode == TEST:
            self._drill_watch(now)  # may end the drill and return to AUTO
        if self.mode == TEST:
            faults |= _DRILL
            ok = False
            present = False
        bat = self.battery
        xfer = self.transfer
        on_batt = xfer.on_battery()
        settled = xfer.settled_on_battery()  # (nothing here moves the relay before xfer.step)
        v_mv = board.battery_mv()
        i_ma = board.battery_ma()
        bat.update(now, v_mv, i_ma, on_batt)
        if bat.sensor_fault:
            # raise_ does nothing while it stands; after an ack it comes back at once
            self._alarms.raise_(now, alarms.AL_BATTERY_SENSOR)
        if bat.watch(now, v_mv, i_ma, settled and self.shutdown.state == 0):
            # the load is dead on a battery that gave out: battery low at once (runtime 0)
            # and the generator at once, without its start delay or warm-up (hurry)
            self._alarms.raise_(now, alarms.AL_BATTERY_DEAD)
        runtime = bat.runtime_s if on_batt else NO_RUNTIME_LIMIT
        # battery low and the hurry count on what even a worn bank would give (battery.py)
        sure = bat.sure_s if on_batt else NO_RUNTIME_LIMIT
        self._battery_low(now, on_batt, sure)
        # non-critical loads come back only once the load has landed on the utility side
        self._load_shed(now, xfer.state != ON_UTILITY, runtime)
        if ok:
            if not self._good:
                self._good = True
                self._t_good = now
        else:
            self._good = False
        if mon.faults:  # real failures only, not a drill
            if not self._faulted:
                self._faulted = True
                self._mains_failed(now)
        else:
            self._faulted = False
        # mains may take the load: good for the return delay (longer after flapping), or
        # good now when the battery cannot wait any longer
        hold = self._flap_clear if self.flapping else self._return_ms
        stable = ok and (self.low or self._diff(now, self._t_good) >= hold)
        if stable and self.flapping:
            self.flapping = False
        switch = self.ats
        bus = switch.closed()
        if mon.sensor:
            faults |= self._sensor_fault(now, bus == ats.MAINS and xfer.state == ON_UTILITY)
        gen = self.gen
        # a battery that cannot be measured is not waited on: the generator starts at once
        # nor is one that gave out, in this outage or (until acknowledged) an earlier one
        self.hurry = on_batt and (
            sure <= self.worst_s + self._margin
            or bat.sensor_fault
            or self._alarms.is_active(alarms.AL_BATTERY_DEAD)
        )
        automatic = self.mode == AUTO or self.mode == TEST
        if self._diff(now, self._t_inputs) >= _INPUT_MS:
            self._read_inputs(now)
        tripped = gen.tripped()
        ex = self.exercise
        if ex.running():
            ex.step(
                now,
                self.mode == AUTO
                and not mon.faults
                and not self.low
                and not tripped
                and not self._alarms.latched_shutdown(),
                gen.ready(),
            )
        exercising = ex.running()
        remote = self.remote and self.mode == AUTO and not tripped
        on_load = exercising and ex.on_load or remote
        # After an exercise on load or a remote start the engine runs on until the load
        # is off it.
        if on_load:
            self._ex_load = True
        elif self._ex_load and self.ats.position != ats.GEN:
            self._ex_load = False
        if automatic:
            if faults or self.hurry or self.flapping:
                self.outage = True
            elif self.outage and stable and bus == ats.MAINS and xfer.state == ON_UTILITY:
                self.outage = False
        else:
            self.outage = False
        want_gen = 0  # or why it is wanted (generator.WHY_*)
        if automatic:
            # A start delay runs only while mains stays failed; once cranking has begun
            # the engine is wanted until the outage is over.
            if (
                self.outage
                and not tripped
                and (not present or self.hurry or self.flapping or gen.committed())
            ):
                want_gen = (
                    WHY_DRILL
                    if self.mode == TEST
                    else WHY_BATTERY
                    if self.hurry
                    else WHY_FLAPPING
                    if self.flapping
                    else WHY_OUTAGE
                )
            elif remote:
                want_gen = WHY_REMOTE
            elif exercising or self._ex_load and not tripped:
                want_gen = WHY_EXERCISE
        elif self.mode == MANUAL and self.manual_run and not tripped:
            want_gen = WHY_MANUAL
        gen.step(
            now,
            want_gen,
            self.hurry and automatic,
            board.gen_volts_x10() * 100 // self._nom_v,
            board.gen_hz_x100() * 10 // self._nom_f,
            self.flapping or self.mode == MANUAL,
        )
        tripped = gen.tripped()  # the sequencer may just have latched one
        if tripped:
            # The engine stopped on a fault: the operator's run order ends with it, so
            # that acknowledging the alarm cannot crank it again (only a new gen start).
            self.manual_run = False
        if on_load and gen.ready():
            target = ats.GEN
        elif stable:
            target = ats.MAINS
        elif (
            gen.running()
            and not tripped
            and (not ok or self.flapping)
            and (self.outage or self.mode == MANUAL)
        ):
            # switch over during warm-up, the load is on battery (not for mains merely
            # being learned after a restart with the engine still cooling down)
            target = ats.GEN
        elif gen.running() and not tripped:
            target = switch.target  # mains back but not yet stable: stay as we are
        else:
            target = ats.MAINS  # the normally-closed side
        if switch.state == ats.AT and not (settled or self._dead_and_stuck(bus)):
            switch.step(now, switch.position)  # never switch under load
        else:
            switch.step(now, target)
        bus = switch.closed()
        if bus == ats.MAINS:
            ready = stable
            util_faults = faults
        elif bus == ats.GEN:
            ready = gen.ready()
            util_faults = 0 if ready else 1
        else:
            ready = False
            util_faults = 0
        test = self.selftest
        test.step(now, settled, faults != 0 or self.low)
        want = bus != ats.NONE and bus == target and not test.wants_battery()
        xfer.step(now, ready, util_faults, want, bus)
        if self.shutdown.state != 0:
            self.shutdown.step(now, ready and bus == target)
        self.contacts.step(now)
        self._changed = (
            self._log.count != logged
            or xfer.state != was_xfer
            or switch.state != was_ats
            or gen.state != was_gen
        )

    def _read_inputs(self, now):
        # Every _INPUT_MS: the emergency stop chain (it stops the engine at once, and again
        # after an acknowledgement while it is still open), the remote start contact, the
        # low fuel switch (_FUEL_DEBOUNCE_MS steady: fuel sloshes).
        self._t_inputs = now
        i = self._board.input_bits()
        if self._estop and not i >> hal.IN_ESTOP & 1:
            self.gen.emergency_stop(now)
        self.remote = i >> hal.IN_REMOTE_START & 1 == 1
        low = i >> hal.IN_LOW_FUEL & 1 == 1
        if low != self._fuel_raw:
            self._fuel_raw = low
            self._t_fuel = now
        elif low != self._fuel_low and self._diff(now, self._t_fuel) >= _FUEL_DEBOUNCE_MS:
            self._fuel_low = low
            if low:
                self._alarms.raise_(now, alarms.AL_LOW_FUEL)
            else:
                self._alarms.clear(now, alarms.AL_LOW_FUEL)

    def _sensor_fault(self, now, on_mains):
        # The mains reading is not used (mains_monitor.sensor): it neither fails mains nor
        # finds it good. The load stays where it is, unless it sits on mains and the output
        # power sensor, having seen it powered, sees it lose power: that is a failure.
        # Without an output sensor (NO_READING) nothing witnesses a real outage: the load
        # stays on mains unwatched, and `status` warns of it (commands.py).
        a = self._alarms
        if not a.is_active(alarms.AL_MAINS_SENSOR):
            a.raise_(now, alarms.AL_MAINS_SENSOR)
            self._log.add(now, events.EV_MAINS_SENSOR, self.monitor.sensor)
            self._witness = False
        if not on_mains:
            return 0
        if self._board.output_w() > 0:
            self._witness = True
            return 0
        return _WITNESS if self._witness else 0

    def _dead_and_stuck(self, bus):
        # The transfer relay would not leave the utility side, and that side is dead: the
        # load has nothing to lose there, so the ATS may bring the other source to it.
        if self.contacts.faults[contacts.XFER] != contacts.DID_NOT_CLOSE:
            return False
        if bus == ats.MAINS:
            return self.monitor.faults != 0
        return bus == ats.GEN and not self.gen.ready()

    def _mains_failed(self, now):
        # Count failures in the flap window; enough of them, however short, start the
        # generator.
        self._fails.add(now)
        if self._flap_n == 0 or self.flapping or not self.gen.present:
            return
        n = self._fails.within(now, self._flap_window)
        if n >= self._flap_n:
            self.flapping = True
            self._log.add(now, events.EV_MAINS_FLAPPING, n)

    def _load_shed(self, now, on_batt, runtime):
        if on_batt and not self._was_on_batt:
            self._t_on_batt = now
        self._was_on_batt = on_batt
        # Once dropped they stay dropped until the load is off the battery: shedding
        # lengthens the runtime past shed.runtime_s (the loads would come back and go
        # again every second), and a restart finds them dropped with no time on battery.
        want = (
            self._shed_enabled
            and on_batt
            and (
                self.shed
                or runtime <= self._shed_runtime
                or self._diff(now, self._t_on_batt) >= self._shed_delay
            )
        )
        if want != self.shed:
            self.shed = want
            self._board.set_output(hal.OUT_SHED, want)
            self._log.add(now, events.EV_SHED, 1 if want else 0)

    def _gen_takes_over_s(self, now):
        # Seconds until a running generator has the load (ready, then the ATS and the
        # relay), or -1 when none is on its way to it: not running, tripped, not wanted
        # on load, its contactor failing.
        gen = self.gen
        if (
            gen.tripped()
            or self._alarms.is_active(alarms.AL_GEN_CONTACTOR_FAULT)
            or not (self.outage or self.mode == MANUAL)
        ):
            return -1
        left = gen.to_ready_ms(now, self.hurry)
        return -1 if left < 0 else (left + 999) // 1000 + self.switch_s

    def _battery_low(self, now, on_batt, runtime):
        if on_batt and runtime <= self._lead and not self.low:
            # Held back while a running generator will have the load before the battery
            # is down to the lead itself, even if it failed at the last moment: raised the
            # moment that stops being true (a trip, a contactor that would not close, the
            # battery falling faster), so no lead is missed. Else NUT would shut the
            # servers down seconds before the generator takes over.
            takes = self._gen_takes_over_s(now)
            if (
                takes >= 0
                and runtime - takes >= self._lead_s
                and not self._alarms.is_active(alarms.AL_BATTERY_DEAD)
            ):
                return
        if on_batt and runtime <= self._lead:
            if not self.low:
                self.low = True
                self._log.add(now, events.EV_BATTERY_LOW, runtime)
                self._alarms.raise_(now, alarms.AL_BATTERY_LOW)
        elif self.low and not on_batt:
            self.low = False
            self._log.add(now, events.EV_BATTERY_OK, 0)
            self._alarms.clear(now, alarms.AL_BATTERY_LOW)

    def stride_ms(self, now):
        # How long the controller may leave this machine alone while the monitor's verdict
        # stays as it is (a change steps it at once): one block while the mains reading is
        # in doubt (the output power witness) or after a step that changed something (what
        # one machine did can decide another's move: settle at once); else to the next
        # timer that ends (each machine's wait_ms: a relay's operate time, a start delay, a
        # contact's grace...; here the return delay, the shed delay, a drill's end, the low
        # fuel switch's debounce), at most STRIDE_MS, the pace at which the readings (the
        # generator's, the battery's, the inputs, the contacts) are looked at; REST_MS with
        # the load on mains, the engine at rest and no shutdown under way, where none of
        # them moves the load.
        if self.monitor.sensor or self._changed:
            return 1
        xfer = self.transfer
        settled = self.ats.settled()
        rest = (
            settled
            and self.gen.state == GEN_IDLE
            and not self.outage
            and xfer.state == ON_UTILITY
            and not self.shutdown.state
        )
        w = xfer.wait_ms(now, REST_MS if rest else STRIDE_MS)
        if not settled:
            w = self.ats.wait_ms(now, w)
        w = self.gen.wait_ms(now, w)
        diff = self._diff
        if self._good and not self.low and not rest:
            t = (self._flap_clear if self.flapping else self._return_ms) - diff(now, self._t_good)
            if 0 < t < w:
                w = t
        if self._shed_enabled and self._was_on_batt and not self.shed:
            t = self._shed_delay - diff(now, self._t_on_batt)
            if 0 < t < w:
                w = t
        if self.mode == TEST:
            t = self._drill_ms - diff(now, self._t_drill)
            if 0 < t < w:
                w = t
        if self._fuel_raw != self._fuel_low:
            t = _FUEL_DEBOUNCE_MS - diff(now, self._t_fuel)
            if 0 < t < w:
                w = t
        return w

    def quiet(self):
        # Nothing here needs the mains samples' millisecond: the load settled on battery
        # (also while both source contactors stand open through the dead time) or on the
        # generator, and the engine at rest, warming up or ready; what is timed ends when
        # idle_gap_ms says. Not after a step that changed something: the next comes at once.
        xfer = self.transfer
        a = self.ats
        return (
            not self._changed
            and (xfer.settled_on_battery() or xfer.state == ON_UTILITY and a.closed() == ats.GEN)
            and a.state != ats.CLOSING  # (after a step it is settled or opening)
            and self.gen.quiet()
        )

    def idle_gap_ms(self, now):
        # How long the controller may look away from the mains: a running generator is
        # checked every 50 ms (its limit qualification is 500 ms), otherwise once a second;
        # and until the dead time or the warm-up ends.
        gap = 50 if self.gen.running() else 950
        if not self.ats.settled():
            gap = self.ats.wait_ms(now, gap)
        return self.gen.wait_ms(now, gap)
