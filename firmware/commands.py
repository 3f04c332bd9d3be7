# Operator commands, one line in, one reply out (one line; `log` and `config show` answer
# with several). The serial console and the simulator's scenario console both feed lines
# here. Every bad line gets one "ERR ..." line saying what is wrong and what is allowed;
# nothing raises.
#
# Access: with console.pin set, commands that change anything need `unlock PIN` first;
# the console locks again after console.lock_s without such a command (reading does not
# keep it open), or on `lock`. Setting the PIN from an open console leaves it open, so
# that `config save` can keep it. Over MQTT (per_line) nothing stays open: a command that
# changes anything carries the PIN itself, `pin PIN COMMAND`, since any publisher could
# send the next message. Wrong PINs are counted for every channel together and survive a
# restart (pin.py). The PIN is never shown, nor what was typed for it: redact() is what
# logs record.
#
# This runs between control blocks, never inside one, so it may allocate.
import json

from firmware import VERSION, alarms, ats, clock, counters, events, generator, settings_file
from firmware import hal, mains_monitor, supervisor, transfer
from firmware.config import SCHEMA, SECRET, Config, row as config_row

HELP = (
    "commands: help, status [json], mode [auto|manual|off|test], drill, gen start|stop "
    "(manual mode), selftest battery, exercise, counters [reset engine|relays|battery], "
    "clock [set YYYY-MM-DD HH:MM:SS], "
    "alarms, ack NAME|all, log [json] [N], config show|get KEY|set KEY VALUE|save|reset, "
    "version, unlock PIN, lock, maint"
)
_MAX_LINE = 120
_UNWATCHED = " (mains sensor out and no output sensor: a mains failure would not be seen)"
_UNSET = " (clock not set: no exercise, log times from 2000; clock set YYYY-MM-DD HH:MM:SS)"


def redact(line):
    # The line as logs may keep it: no PIN.
    words = line.split()
    low = [w.lower() for w in words]
    if low[:1] == ["unlock"] and len(words) > 1:
        return "unlock ****"
    if low[:1] == ["pin"] and len(words) > 1:
        return " ".join(["pin", "****"] + words[2:])
    if low[:2] == ["config", "set"] and len(words) > 3 and low[2] in SECRET:
        return "config set %s ****" % low[2]
    return line


def _changes(cmd, args):
    # Does this command change the controller's state or settings?
    if cmd in ("drill", "gen", "selftest", "ack", "maint"):
        return True
    if cmd in ("mode", "counters", "clock"):
        return bool(args)
    if cmd == "config":
        return bool(args) and args[0].lower() in ("set", "save", "reset")
    return False


def _alarm_text(code, latched=False):
    row = alarms.TABLE.get(code)
    if row is None:
        return "alarm_%d" % code
    return "%s (%s%s)" % (row[0], alarms.CLASS_NAMES[row[1]], ", latched" if latched else "")


def arg_text(code, arg):
    # An event's argument as the log shows it: a name where it stands for one.
    if code == events.EV_ALARM or code == events.EV_ALARM_CLEARED:
        return _alarm_text(arg)
    if code == events.EV_GEN_START and 0 < arg < len(generator.WHY_NAMES):
        return generator.WHY_NAMES[arg]
    if code == events.EV_MODE and 0 <= arg < len(supervisor.MODE_NAMES):
        return supervisor.MODE_NAMES[arg]
    if code == events.EV_CLOCK_SET:
        return "%+d s" % arg
    return "%d" % arg


MAX_REPLY = 1500  # bytes of a reply over MQTT (the client's queue holds 2 KB)


def _log_lines(records, as_json):
    for seq, code, arg, at in records:
        name = events.NAMES.get(code, "event_%d" % code)
        if as_json:
            yield json.dumps(
                {
                    "seq": seq,
                    "time": clock.stamp(at),
                    "event": name,
                    "arg": arg,
                    "text": arg_text(code, arg),
                }
            )
        else:
            yield "%s %s %s" % (clock.stamp(at), name, arg_text(code, arg))


def joined(lines, limit):
    # The lines as one reply of at most limit bytes (0: no limit); what did not fit is
    # counted in a last line, never dropped silently.
    out = []
    size = 0
    cut = 0
    for line in lines:
        if cut or limit and size + len(line) + 1 > limit - 80:  # room for the last
            cut += 1
            continue
        out.append(line)
        size += len(line) + 1
    if cut:
        out.append("... %d more lines cut (%d bytes a reply at most here)" % (cut, limit))
    return "\n".join(out)


class Commands:
    def __init__(self, ctrl, per_line=False):
        self.ctrl = ctrl
        self.per_line = per_line  # MQTT: the PIN comes with each command
        self._unlocked = False
        self._idle_ms = 0  # since the last command that changed anything
        self._t_tick = None
        self._line = ""  # the line being executed, as typed

    def tick(self, now):
        # Every few ms between blocks: the idle time, counted in steps that never wrap.
        if self._t_tick is not None and self._unlocked:
            dt = self.ctrl.board.ticks_diff(now, self._t_tick)
            if dt > 0:
                self._idle_ms += dt
                if self._idle_ms >= self.ctrl.cfg.get("console.lock_s") * 1000:
                    self._unlocked = False
        self._t_tick = now

    def locked(self, now):
        if not self.ctrl.cfg.get("console.pin"):
            return False
        return not self._unlocked

    def _open(self):
        self._unlocked = True
        self._idle_ms = 0

    def execute(self, line, now, stream=False):
        # One reply. A long one (`log`, `config show`) is a source of lines: with stream,
        # returned as it is, for the serial console to send a line at a time as the line
        # takes them; else joined (over MQTT cut at MAX_REPLY bytes, with a last line that
        # says how much was).
        try:
            reply = self._execute(line, now)
            if isinstance(reply, str) or stream:
                return reply
            return joined(reply, MAX_REPLY if self.per_line else 0)
        except Exception as e:  # a bug here must never reach the control loop
            return "ERR internal error: %s" % e

    def _execute(self, line, now):
        if not isinstance(line, str):
            return "ERR not text"
        if len(line) > _MAX_LINE:
            return "ERR line too long (%d characters); allowed %d" % (len(line), _MAX_LINE)
        words = line.split()
        if not words:
            return ""
        cmd, args = words[0].lower(), words[1:]
        if cmd == "pin" and self.per_line:
            return self._with_pin(line, args, now)
        handler = getattr(self, "_cmd_" + cmd, None)
        if handler is None or not cmd.isalpha():
            return "ERR unknown command %r; %s" % (redact(words[0]), HELP)
        changes = _changes(cmd, args)
        if changes and self.locked(now):
            if self.per_line:
                return "ERR %s: needs the PIN: pin PIN %s" % (cmd, cmd)
            return "ERR %s: the console is locked; unlock PIN first" % cmd
        if changes:
            self._idle_ms = 0
        self._line = line
        return handler(args, now)

    def _with_pin(self, line, args, now):
        # MQTT: `pin PIN COMMAND`, the command run as if unlocked, for this line only, as
        # it was typed (a Wi-Fi name keeps its spaces).
        pin = self.ctrl.cfg.get("console.pin")
        if len(args) < 2:
            return "ERR pin: allowed: pin PIN COMMAND"
        if pin:
            err = self.ctrl.pin.check(args[0], pin)
            if err:
                return "ERR pin: " + err
        self._unlocked = True
        try:
            return self._execute(line.split(None, 2)[2], now)
        finally:
            self._unlocked = False

    def _cmd_help(self, args, now):
        return HELP

    def source(self):
        c = self.ctrl
        if c.transfer.on_battery():
            return "battery"
        return {ats.MAINS: "mains", ats.GEN: "generator"}.get(c.supervisor.ats.closed(), "none")

    def _active_list(self):
        a = self.ctrl.alarms
        return [name for code, name in sorted(alarms.NAMES.items()) if a.is_active(code)]

    def status_json(self):
        c = self.ctrl
        b = c.board
        mon = c.monitor
        present = mon.present()
        runtime = c.battery.runtime_s
        output = b.output_w()
        tel = c.telemetry
        return json.dumps(
            {
                "version": VERSION,
                "mode": supervisor.MODE_NAMES[c.supervisor.mode],
                "source": self.source(),
                "mains_ok": mon.ok(),
                "mains_sensor": mains_monitor.SENSOR_NAMES[mon.sensor] or "ok",
                "mains_v": round(mon.voltage(c.cfg), 1) if present else 0.0,
                "mains_hz": round(mon.frequency(), 2) if present else 0.0,
                "samples_lost": mon.samples_lost,
                "battery_v": b.battery_mv() / 1000.0,
                "soc_pct": c.battery.soc_pm / 10.0,
                "runtime_s": None if runtime >= 999999 else runtime,
                "battery_low": c.supervisor.low,
                "generator": generator.NAMES[c.gen.state],
                "room_c": None if c.env.temp_c10 == hal.NO_READING else c.env.temp_c10 / 10.0,
                "output_w": None if output == hal.NO_READING else output,
                "clock": clock.stamp(b.time_s()),
                "clock_set": self._clock_set(),
                "alarms": self._active_list(),
                # NUT's T, S and C on the serial line run without the PIN (nut.allow_control)
                "nut_control": c.cfg.get("nut.allow_control"),
                "mqtt": tel.counts() if tel is not None and tel.enabled else None,
            }
        )

    def _cmd_status(self, args, now):
        if args and (len(args) > 1 or args[0].lower() != "json"):
            return "ERR status: allowed: status, status json"
        if args:
            return self.status_json()
        c = self.ctrl
        sup = c.supervisor
        return (
            "OK mode %s, load %s, mains %s, generator %s, battery %d %%, runtime %s, alarms %s"
            % (
                supervisor.MODE_NAMES[sup.mode],
                transfer.NAMES[c.transfer.state],
                self._mains(),
                generator.NAMES[c.gen.state],
                c.battery.soc_pm // 10,
                "-" if c.battery.runtime_s >= 999999 else "%d s" % c.battery.runtime_s,
                self._active() or "none",
            )
            + self._unwatched()
            + self._clock_warning()
        )

    def _clock_set(self):
        return self.ctrl.board.time_s() >= clock.VALID_FROM_S

    def _unwatched(self):
        c = self.ctrl
        if (
            c.monitor.sensor
            and c.supervisor.ats.closed() == ats.MAINS
            and c.board.output_w() == hal.NO_READING
        ):
            return _UNWATCHED
        return ""

    def _clock_warning(self):
        return "" if self._clock_set() else _UNSET

    def _cmd_clock(self, args, now):
        # clock: the board's clock; clock set DATE TIME: set it (logged, with the step).
        b = self.ctrl.board
        if not args:
            return "OK clock %s%s" % (clock.stamp(b.time_s()), self._clock_warning())
        if args[0].lower() != "set" or len(args) != 3:
            return "ERR clock: allowed: clock, clock set YYYY-MM-DD HH:MM:SS"
        try:
            secs = clock.parse(args[1] + " " + args[2])
        except ValueError as e:
            return "ERR clock set: %s" % e
        if secs < clock.VALID_FROM_S:
            return "ERR clock set: before 2020; allowed 2020-01-01 00:00:00..2099-12-31 23:59:59"
        self.ctrl.set_clock(secs, now)
        return "OK clock %s" % clock.stamp(secs)

    def _mains(self):
        mon = self.ctrl.monitor
        if mon.sensor:
            return "unknown (sensor %s)" % mains_monitor.SENSOR_NAMES[mon.sensor]
        return "ok" if mon.ok() else "failed"

    def _cmd_mode(self, args, now):
        sup = self.ctrl.supervisor
        if not args:
            return "OK mode %s" % supervisor.MODE_NAMES[sup.mode]
        name = args[0].lower()
        if len(args) > 1 or name not in supervisor.MODE_NAMES:
            return "ERR mode: %r is not a mode; allowed: %s" % (
                " ".join(args),
                ", ".join(supervisor.MODE_NAMES),
            )
        why = sup.set_mode(now, supervisor.MODE_NAMES.index(name))
        if why:
            return "ERR mode %s: %s" % (name, why)
        return "OK mode %s" % name

    def _cmd_drill(self, args, now):
        if args:
            return "ERR drill takes no arguments; its length is drill.duration_s"
        return self._cmd_mode(["test"], now)

    def _cmd_gen(self, args, now):
        if len(args) != 1 or args[0].lower() not in ("start", "stop"):
            return "ERR gen: allowed: gen start, gen stop"
        why = self.ctrl.supervisor.gen_command(args[0].lower() == "start")
        if why:
            return "ERR gen %s: %s" % (args[0].lower(), why)
        return "OK gen %s" % args[0].lower()

    def _cmd_selftest(self, args, now):
        if len(args) != 1 or args[0].lower() != "battery":
            return "ERR selftest: allowed: selftest battery"
        why = self.ctrl.supervisor.start_selftest(now)
        if why:
            return "ERR selftest battery: %s" % why
        return "OK battery self-test started"

    def _cmd_exercise(self, args, now):
        if args:
            return "ERR exercise takes no arguments; its schedule is in the exercise.* settings"
        c = self.ctrl
        ex = c.supervisor.exercise
        if ex.running():
            return "OK exercise running"
        return "OK exercise %s" % ex.next_text(c.board.time_s(), c.store.values)

    def _cmd_counters(self, args, now):
        c = self.ctrl
        if not args:
            return "OK " + c.counters.text(c.board.time_s())
        if len(args) != 2 or args[0].lower() != "reset" or args[1].lower() not in counters.RESETS:
            return "ERR counters: allowed: counters, counters reset %s" % "|".join(counters.RESETS)
        what = args[1].lower()
        why = c.counters.reset(now, c.board.time_s(), what)
        if why:
            return "ERR counters reset %s: %s" % (what, why)
        return "OK %s counter reset" % what

    def _active(self):
        return ", ".join(self._active_list())

    def _cmd_alarms(self, args, now):
        # each with its class, and whether it waits for `ack`
        a = self.ctrl.alarms
        latched = a.latched()
        shown = [
            _alarm_text(code, latched & (1 << code))
            for code in sorted(alarms.TABLE)
            if a.is_active(code)
        ]
        return "OK alarms: %s" % (", ".join(shown) or "none")

    def _cmd_ack(self, args, now):
        a = self.ctrl.alarms
        if len(args) != 1:
            return "ERR ack: allowed: ack NAME, ack all"
        name = args[0].lower()
        codes = [
            c for c, n in alarms.NAMES.items() if (name == "all" or n == name) and a.is_active(c)
        ]
        if not codes:
            return "ERR ack: no active alarm %r; active: %s" % (name, self._active() or "none")
        for code in codes:
            a.ack(now, code)
        self.ctrl.gen.reset(now)
        return "OK acknowledged %s" % ", ".join(alarms.NAMES[c] for c in sorted(codes))

    def _cmd_maint(self, args, now):
        # Maintenance: the board restarts into its REPL without the controller (for a
        # firmware update, tools/rack.py deploy). boards/mcu.py: run() does it once this
        # reply has gone out.
        if self.per_line:
            return "ERR maint: only on the serial console"
        if args:
            return "ERR maint takes no argument"
        c = self.ctrl
        sup = c.supervisor
        if not (
            c.monitor.ok()
            and c.transfer.state == transfer.ON_UTILITY
            and not sup.outage
            and sup.ats.closed() == ats.MAINS
            and c.gen.state == generator.IDLE
        ):
            # nothing would watch the supply while the board is in its REPL
            return "ERR maint: only with the load on good mains and the generator at rest"
        c.maintenance = True
        return (
            "OK maintenance: the board restarts into its REPL without the controller; "
            "outputs stay as they are where the board holds them; reset it to start again"
        )

    def _cmd_version(self, args, now):
        return "OK version %s" % VERSION

    def _cmd_log(self, args, now):
        # log [json] [N]: the newest N records of the event log on flash (default 10).
        c = self.ctrl
        top = c.eventlog.max_records * 2
        as_json = bool(args) and args[0].lower() == "json"
        rest = args[1:] if as_json else args
        if len(rest) > 1 or (rest and not (rest[0].isdigit() and 1 <= int(rest[0]) <= top)):
            return "ERR log: allowed: log [json] [N] with N 1..%d" % top
        n = int(rest[0]) if rest else 10
        c.collect_events(now)  # up to this moment
        records = c.eventlog.records(n)
        if not records:
            return "OK log empty"
        return _log_lines(records, as_json)

    def _cmd_config(self, args, now):
        c = self.ctrl
        cfg = c.cfg
        sub = args[0].lower() if args else ""
        if sub == "show" and len(args) == 1:
            return (("%s = %s %s" % (r[0], cfg.shown(r[0]), r[5])).rstrip() for r in SCHEMA)
        if sub == "get" and len(args) == 2:
            try:
                r = config_row(args[1].lower())
            except ValueError as e:
                return "ERR config get: %s" % e
            return "OK %s = %s (%s)" % (r[0], ("%s %s" % (cfg.shown(r[0]), r[5])).rstrip(), r[6])
        if sub == "set" and len(args) >= 3:
            # The value is the rest of the line, so that a Wi-Fi network's name may hold
            # spaces; in double quotes it is taken exactly as typed ("" for none).
            key = args[1].lower()
            value = self._line.split(None, 3)[3].strip()
            if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
                value = value[1:-1]
            why = c.apply({key: value})
            if why:
                return "ERR config set: %s" % why
            if key == "console.pin" and cfg.get(key) and not self.per_line:
                self._open()  # whoever set it may save it: open until the idle lock
            return "OK %s = %s (config save keeps it)" % (key, cfg.shown(key))
        if sub == "save" and len(args) == 1:
            try:
                settings_file.save(c.board.fs, cfg)
            except OSError as e:
                return "ERR config save: the filesystem refused (%s)" % e
            return "OK configuration saved"
        if sub == "reset" and len(args) == 1:
            why = c.apply(dict(Config().items()))
            if why:
                return "ERR config reset: %s" % why
            return "OK defaults in force (config save keeps them)"
        return (
            "ERR config: allowed: config show, config get KEY, config set KEY VALUE,"
            " config save, config reset"
        )

    def _cmd_unlock(self, args, now):
        c = self.ctrl
        pin = c.cfg.get("console.pin")
        if self.per_line:
            return (
                "ERR unlock: over MQTT a command that changes anything carries the PIN: "
                "pin PIN COMMAND"
            )
        if len(args) != 1:
            return "ERR unlock: allowed: unlock PIN"
        if not pin:
            return "OK no PIN is set"
        err = c.pin.check(args[0], pin)
        if err:
            return "ERR unlock: " + err
        self._open()
        return "OK unlocked for %d s without a command that changes anything" % c.cfg.get(
            "console.lock_s"
        )

    def _cmd_lock(self, args, now):
        if args:
            return "ERR lock takes no arguments"
        self._unlocked = False
        return "OK locked" if self.ctrl.cfg.get("console.pin") else "OK no PIN is set"
