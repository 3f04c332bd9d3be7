# Operator commands, one line in, one line out. The serial console and the simulator's
# scenario console both feed lines here. Every bad line gets one "ERR ..." line saying
# what is wrong and what is allowed; nothing raises.
#
# This runs between control blocks, never inside one, so it may allocate.
from firmware import alarms, counters, generator, supervisor, transfer

HELP = ("commands: help, status, mode [auto|manual|off|test], drill, gen start|stop "
        "(manual mode), selftest battery, exercise, counters [reset engine|relays|battery], "
        "alarms, ack NAME|all")
_MAX_LINE = 120


class Commands:
    def __init__(self, ctrl):
        self.ctrl = ctrl

    def execute(self, line, now):
        try:
            return self._execute(line, now)
        except Exception as e:   # a bug here must never reach the control loop
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
        handler = getattr(self, "_cmd_" + cmd, None)
        if handler is None or not cmd.isalpha():
            return "ERR unknown command %r; %s" % (words[0], HELP)
        return handler(args, now)

    def _cmd_help(self, args, now):
        return HELP

    def _cmd_status(self, args, now):
        c = self.ctrl
        sup = c.supervisor
        return "OK mode %s, load %s, mains %s, generator %s, battery %d %%, runtime %s, alarms %s" % (
            supervisor.MODE_NAMES[sup.mode], transfer.NAMES[c.transfer.state],
            "ok" if c.monitor.ok() else "failed", generator.NAMES[c.gen.state],
            c.battery.soc_pm // 10,
            "-" if c.battery.runtime_s >= 999999 else "%d s" % c.battery.runtime_s,
            self._active() or "none")

    def _cmd_mode(self, args, now):
        sup = self.ctrl.supervisor
        if not args:
            return "OK mode %s" % supervisor.MODE_NAMES[sup.mode]
        name = args[0].lower()
        if len(args) > 1 or name not in supervisor.MODE_NAMES:
            return "ERR mode: %r is not a mode; allowed: %s" % (
                " ".join(args), ", ".join(supervisor.MODE_NAMES))
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
        a = self.ctrl.alarms
        return ", ".join(name for code, name in sorted(alarms.NAMES.items()) if a.is_active(code))

    def _cmd_alarms(self, args, now):
        return "OK alarms: %s" % (self._active() or "none")

    def _cmd_ack(self, args, now):
        a = self.ctrl.alarms
        if len(args) != 1:
            return "ERR ack: allowed: ack NAME, ack all"
        name = args[0].lower()
        codes = [c for c, n in alarms.NAMES.items() if (name == "all" or n == name) and a.is_active(c)]
        if not codes:
            return "ERR ack: no active alarm %r; active: %s" % (name, self._active() or "none")
        for code in codes:
            a.ack(now, code)
        self.ctrl.gen.reset(now)
        return "OK acknowledged %s" % ", ".join(alarms.NAMES[c] for c in sorted(codes))
