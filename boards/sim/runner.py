# Run one scenario: the unchanged firmware on the simulated board, in simulated time.
import sys

from boards.sim.board import SimBoard
from boards.sim.scenario import ScenarioError
from firmware import alarms, ats, events, generator, mains_monitor, settings_file, supervisor
from firmware.commands import redact
from firmware.config import Config
from firmware.controller import Controller

BOOT_S = 0.5  # from a watchdog reset to the firmware's first block

_FAULT_NAMES = (
    (mains_monitor.FAST, "fast"),
    (mains_monitor.UV, "undervoltage"),
    (mains_monitor.OV, "overvoltage"),
    (mains_monitor.UF, "underfrequency"),
    (mains_monitor.OF, "overfrequency"),
)
# a contact fault's argument (contacts.py): the part << 4 | how it failed
_CONTACT_PARTS = ("transfer_relay", "mains_contactor", "generator_contactor")  # XFER, MAINS, GEN
_CONTACT_KINDS = ("", "did_not_open", "did_not_close")


def interpreter():
    return "micropython" if sys.implementation.name == "micropython" else "cpython"


def fault_names(bits):
    return [name for bit, name in _FAULT_NAMES if bits & bit]


def make_config(sc):
    # The installer sets the site's nominal mains, whether a generator is fitted, the
    # battery's rating (not its health: that is what the controller must find out) and
    # the output sensor the simulated plant has; the scenario's config may override any
    # of it.
    m = sc["mains"]
    values = {
        "mains.nominal_v": int(round(m["nominal_v"])),
        "mains.frequency_hz": 60 if m["frequency_hz"] >= 55 else 50,
        "gen.present": sc["generator"]["present"],
        "battery.nominal_v": int(round(sc["battery"]["nominal_v"])),
        "battery.capacity_ah": max(1, min(1000, int(round(sc["battery"]["capacity_ah"])))),
        "io.output_sensor": True,
    }
    for key in sc["config"]:
        values[key] = sc["config"][key]
    cfg = Config()
    try:
        cfg.update(values)
    except ValueError as e:
        raise ScenarioError("config: %s" % e)
    return cfg


class Simulation:
    def __init__(self, sc, trace=False, board=None):
        # board: a SimBoard (or one derived from it) made for sc; by default a new one.
        self.sc = sc
        self.cfg = make_config(sc)
        if board is None:
            board = SimBoard(sc, self.cfg.get("adc.mains_mv_per_count"), trace)
        self.board = board
        self.alarms_seen = []
        self._report = {}  # parts of a drill or self-test report, until its end
        # (at_s, order, what, data): console lines and controller restarts, the next one
        # last (popped in constant time)
        self._due = sorted(
            [(e["at_s"], 1, "line", e["line"]) for e in sc["console"]]
            + [(e["at_s"], 0, "reset", (e["down_s"], e["kind"])) for e in sc["resets"]],
            key=lambda d: (d[0], d[1]),
        )
        self._due.reverse()
        self.resets = 0
        fs = board.fs
        if fs.size(settings_file.NAME) or fs.size(settings_file.BACKUP):
            # a board whose flash kept its configuration from an earlier run (vboard --fs):
            # it boots on it as a board does, config.bak and its alarm included
            self.controller = Controller(board, None, self._firmware_event)
            self.cfg = self.controller.cfg
            return
        try:
            self.controller = Controller(board, self.cfg, self._firmware_event)
        except ValueError as e:
            raise ScenarioError("config: %s" % e)
        # the installer saved this configuration: a restarted controller reads it back
        settings_file.save(fs, self.cfg)
        fs.writes = 0

    def restart(self, down_s, watchdog=False):
        # Power: the controller loses power for down_s and its outputs drop. Watchdog:
        # the firmware hangs for down_s until the board's watchdog resets it, and the
        # outputs hold their state through the reset (the boards latch their output
        # pins). Either way the plant carries on, then the same firmware boots again
        # with the board's flash as it was.
        board = self.board
        board.event(
            board.t_us, "controller_reset", down_s=down_s, kind="watchdog" if watchdog else "power"
        )
        self.resets += 1
        if not watchdog:
            board.release_outputs()
        board.advance(down_s * 1000000)
        self._boot()

    def hang(self, down_s):
        # The firmware's loop stops for down_s (a lock-up, a runaway loop). The board's
        # watchdog bites watchdog_ms after the last feed: the controller is reset with
        # its outputs held and boots BOOT_S later. A stall shorter than that is only a
        # late loop: the same controller carries on where it stopped.
        board = self.board
        board.event(board.t_us, "controller_hang", down_s=down_s)
        end = board.t_us + int(down_s * 1000000)
        bite = board.watchdog_due_us()
        if bite > end:
            board.advance(end - board.t_us)
            return
        board.advance(bite - board.t_us)
        board.event(board.t_us, "controller_reset", down_s=BOOT_S, kind="watchdog")
        self.resets += 1
        board.advance(BOOT_S * 1000000)
        self._boot()

    def _boot(self):
        self.controller = Controller(self.board, None, self._firmware_event)
        self.cfg = self.controller.cfg
        self.board.restarted()

    def _reset(self, down_s, kind):
        if kind == "hang":
            self.hang(down_s)
        else:
            self.restart(down_s, kind == "watchdog")

    def _firmware_event(self, code, arg):
        name = events.NAMES.get(code, "event_%d" % code)
        board = self.board
        if code == events.EV_MAINS_LOST:
            board.event(board.t_us, name, reasons=fault_names(arg))
        elif code == events.EV_XFER_TO_UTILITY:
            board.event(
                board.t_us, "transfer_to_generator" if arg == ats.GEN else "transfer_to_mains"
            )
        elif code == events.EV_XFER_TO_BATTERY:
            board.event(board.t_us, name, cause="fault" if arg else "planned")
        elif code == events.EV_GEN_START:
            board.event(board.t_us, name, reason=generator.WHY_NAMES[arg])
        elif code == events.EV_GEN_CRANK:
            board.event(board.t_us, name, attempt=arg)
        elif code == events.EV_BATTERY_LOW:
            board.event(board.t_us, name, runtime_s=arg)
        elif code == events.EV_MAINS_FLAPPING:
            board.event(board.t_us, name, failures=arg)
        elif code == events.EV_GEN_STOP and arg:
            board.event(board.t_us, name, protection=True)
        elif code == events.EV_EXERCISE_START:
            board.event(board.t_us, name, run_s=arg)
        elif code == events.EV_EXERCISE_END:
            board.event(board.t_us, name, result=("fail", "pass", "interrupted")[arg])
        elif code == events.EV_EXERCISE_SKIPPED:
            board.event(board.t_us, name, late_min=arg)
        elif code == events.EV_COUNTER_RESET:
            board.event(board.t_us, name, counter=("", "engine", "relays", "battery")[arg])
        elif code == events.EV_SHUTDOWN_PENDING:
            board.event(board.t_us, name, delay_s=arg)
        elif code == events.EV_CONTACT_FAULT:
            board.event(
                board.t_us, name, part=_CONTACT_PARTS[arg >> 4], how=_CONTACT_KINDS[arg & 15]
            )
        elif code == events.EV_MAINS_SENSOR:
            board.event(board.t_us, name, how=mains_monitor.SENSOR_NAMES[arg])
        elif code == events.EV_SHED:
            board.event(board.t_us, "load_shed" if arg else "load_restored")
        elif code == events.EV_MODE:
            board.event(board.t_us, name, mode=supervisor.MODE_NAMES[arg])
        elif code == events.EV_DRILL_START:
            board.event(board.t_us, name, duration_s=arg)
        elif code in (
            events.EV_DRILL_READY_MS,
            events.EV_DRILL_TRANSFERS,
            events.EV_DRILL_MIN_SOC,
            events.EV_SELFTEST_R,
            events.EV_SELFTEST_VMIN,
        ):
            self._report[code] = arg
        elif code == events.EV_SELFTEST_START:
            board.event(board.t_us, name, duration_s=arg)
        elif code == events.EV_SELFTEST_END:
            board.event(
                board.t_us,
                name,
                result=("fail", "pass", "interrupted")[arg],
                r_mohm=self._report.get(events.EV_SELFTEST_R, 0),
                v_min=self._report.get(events.EV_SELFTEST_VMIN, 0) / 1000.0,
            )
        elif code == events.EV_DRILL_END:
            ready = self._report.get(events.EV_DRILL_READY_MS, -1)
            board.event(
                board.t_us,
                name,
                result="pass" if arg else "fail",
                time_to_ready_s=None if ready < 0 else ready / 1000.0,
                transfers=self._report.get(events.EV_DRILL_TRANSFERS, 0),
                min_soc_pct=self._report.get(events.EV_DRILL_MIN_SOC, 0) / 10.0,
            )
        elif code == events.EV_ALARM or code == events.EV_ALARM_CLEARED:
            alarm = alarms.NAMES.get(arg, "alarm_%d" % arg)
            if code == events.EV_ALARM and alarm not in self.alarms_seen:
                self.alarms_seen.append(alarm)
            board.event(board.t_us, name, alarm=alarm)
        else:
            board.event(board.t_us, name)

    def run_until(self, t_s):
        end = int(t_s * 1000000)
        board = self.board
        while board.t_us < end:
            stop = end
            if self._due:
                due = int(self._due[-1][0] * 1000000)
                if due <= board.t_us:
                    _, _, what, data = self._due.pop()
                    if what == "line":
                        self._type(data)
                    else:
                        self._reset(*data)
                    continue
                stop = min(end, due)
            step = self.controller.step
            service = self.controller.service
            while board.t_us < stop:
                if step():
                    service()

    def _type(self, line):
        # The line goes in the timeline before what it causes; the reply is filled in after.
        board = self.board
        board.event(board.t_us, "console", line=redact(line))
        entry = board.timeline[-1]
        entry["reply"] = self.controller.command(line)

    def run(self):
        self.run_until(self.sc["duration_s"])
        self.board.finish()
        return self.report()

    def report(self):
        b = self.board
        env = b.envelope
        violations = env.violation_count()
        lb_lead = None
        low_t = None
        for e in b.timeline:
            if e["event"] == "battery_low":
                low_t = e["t_ms"]
            elif e["event"] == "battery_ok":
                low_t = None
            elif e["event"] == "battery_depleted":
                lb_lead = 0.0 if low_t is None else (e["t_ms"] - low_t) / 1000.0
                break
        metrics = {
            "max_load_interruption_ms": env.max_interruption_us / 1000.0,
            "itic_violations": violations,
            "load_dropped": violations > 0,
            "transfers_to_battery": b.transfers_to_battery,
            "transfers_to_generator": b.transfers_to_generator,
            "detection_latency_ms": [t / 1000.0 for t in b.detection_latency_us],
            "generator_start_attempts": b.gen.attempts,
            "min_battery_soc_pct": b.min_soc * 100.0,
            "battery_depleted": any(e["event"] == "battery_depleted" for e in b.timeline),
            "lb_lead_s": lb_lead,
            "alarms": list(self.alarms_seen),
            "relay_operations": b.relay.operations,
            "source_conflicts": b.source_conflicts,
            "starter_while_running": b.gen.starter_while_running,
            "controller_resets": self.resets,
            "watchdog_late_feeds": b.watchdog_late,
            "max_feed_gap_ms": b.max_feed_gap_us / 1000.0,
            "flash_writes": b.fs.writes,
            "ring_overruns": b.ring_overruns,
            "samples_lost": b.samples_lost,
            "max_loop_lag_ms": b.max_lag_us / 1000.0,
        }
        return {
            "scenario": self.sc["name"],
            "interpreter": interpreter(),
            "timeline": b.timeline,
            "metrics": metrics,
        }


def run(sc):
    return Simulation(sc).run()
