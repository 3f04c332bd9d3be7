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
# - flapping mains (flap_count failures within flap_window_s, however short each) starts
#   the generator and puts the load on it; mains then has to be good for flap_clear_s
#   instead of the return delay.
try:
    from micropython import const
except ImportError:
    def const(x):
        return x

from firmware import alarms, ats, events
from firmware.ats import Ats
from firmware.battery import NO_RUNTIME_LIMIT
from firmware.generator import Generator
from firmware.recent import Recent
from firmware.transfer import ON_UTILITY, Transfer

AUTO = const(0)
MANUAL = const(1)
OFF = const(2)
TEST = const(3)
MODE_NAMES = ("auto", "manual", "off", "test")


class Supervisor:
    def __init__(self, cfg, board, log, alarm_set, monitor, battery):
        self._board = board
        self._diff = board.ticks_diff
        self._log = log
        self._alarms = alarm_set
        self.monitor = monitor
        self.battery = battery
        self.gen = Generator(cfg, board, log, alarm_set)
        self.ats = Ats(cfg, board)
        self.transfer = Transfer(cfg, board, log, alarm_set)
        self.mode = AUTO
        self.configure(cfg)
        self.outage = False
        self.hurry = False
        self.low = False
        self.flapping = False
        self._faulted = False
        self._fails = Recent(20, board.ticks_diff)   # recent mains failures
        self._good = False
        self._t_good = 0

    def configure(self, cfg):
        self._return_ms = cfg.get("transfer.return_delay_s") * 1000
        # 10 % more than asked, for the error of the runtime estimate
        self._lead = cfg.get("battery.shutdown_lead_s") * 11 // 10
        self._margin = cfg.get("battery.start_margin_s")
        self._nom_v = cfg.get("mains.nominal_v")
        self._nom_f = cfg.get("mains.frequency_hz")
        self._flap_n = cfg.get("gen.flap_count")
        self._flap_window = cfg.get("gen.flap_window_s") * 1000
        self._flap_clear = cfg.get("gen.flap_clear_s") * 1000
        gen = self.gen
        gen.configure(cfg)
        self.ats.configure(cfg)
        self.transfer.configure(cfg)
        switch_s = (cfg.get("ats.dead_time_ms") + 3 * cfg.get("relay.operate_ms")) // 1000 + 1
        # Worst case from a start signal to the load on the generator, with the start delay
        # and warm-up that hurrying skips.
        self.start_to_load_s = gen.start_to_ready_s + switch_s
        self.worst_s = gen.delay_s + gen.warmup_s + self.start_to_load_s

    def step(self, now):
        board = self._board
        mon = self.monitor
        faults = mon.faults
        ok = mon.ok()
        bat = self.battery
        bat.update(now, board.battery_mv(), board.battery_ma())
        xfer = self.transfer
        on_batt = xfer.on_battery()
        runtime = bat.runtime_s if on_batt else NO_RUNTIME_LIMIT
        self._battery_low(now, on_batt, runtime)
        if ok:
            if not self._good:
                self._good = True
                self._t_good = now
        else:
            self._good = False
        if faults:
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
        gen = self.gen
        self.hurry = on_batt and runtime <= self.worst_s + self._margin
        if self.mode == AUTO:
            if faults or self.hurry or self.flapping:
                self.outage = True
            elif self.outage and stable and bus == ats.MAINS and xfer.state == ON_UTILITY:
                self.outage = False
        # A start delay runs only while mains stays failed; once cranking has begun the
        # engine is wanted until the outage is over.
        want_gen = (self.outage and self.mode == AUTO and not gen.tripped()
                    and (not mon.present() or self.hurry or self.flapping or gen.committed()))
        gen.step(now, want_gen, self.hurry,
                 board.gen_volts_x10() * 100 // self._nom_v,
                 board.gen_hz_x100() * 10 // self._nom_f, self.flapping)
        if stable:
            target = ats.MAINS
        elif gen.running() and not gen.tripped() and (not ok or self.flapping):
            target = ats.GEN              # switch over during warm-up, the load is on battery
        elif gen.running() and not gen.tripped():
            target = switch.target        # mains back but not yet stable: stay as we are
        else:
            target = ats.MAINS            # the normally-closed side
        if switch.state == ats.AT and not xfer.settled_on_battery():
            switch.step(now, switch.position)   # never switch under load
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
        xfer.step(now, ready, util_faults, bus != ats.NONE and bus == target, bus)

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

    def _battery_low(self, now, on_batt, runtime):
        if on_batt and runtime <= self._lead:
            if not self.low:
                self.low = True
                self._log.add(now, events.EV_BATTERY_LOW, runtime)
                self._alarms.raise_(now, alarms.AL_BATTERY_LOW)
        elif self.low and not on_batt:
            self.low = False
            self._log.add(now, events.EV_BATTERY_OK, 0)
            self._alarms.clear(now, alarms.AL_BATTERY_LOW)

    def quiet(self):
        # Nothing here is timed to the millisecond: the controller may skip mains samples.
        xfer = self.transfer
        settled = xfer.settled_on_battery() or (
            xfer.state == ON_UTILITY and self.ats.closed() == ats.GEN)
        return settled and self.ats.settled() and self.gen.quiet()

    def idle_gap_ms(self):
        # How long the controller may look away from the mains: a running generator is
        # checked every 50 ms (its limit qualification is 500 ms), otherwise once a second.
        return 50 if self.gen.running() else 950
