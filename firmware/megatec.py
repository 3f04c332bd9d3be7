# Megatec "Q1" protocol, as NUT's nutdrv_qx driver (protocol = megatec) speaks it, on the
# same serial line as the operator console.
#
#   Q1  -> (MMM.M NNN.N PPP.P QQQ RR.R S.SS TT.T b7b6b5b4b3b2b1b0\r   (47 bytes)
#          input V, input fault V, output V, load %, input Hz, battery V, temperature,
#          b7 utility fail (load on battery), b6 battery low, b5 boost/buck (0),
#          b4 UPS failed, b3 standby type (1), b2 test in progress, b1 shutdown active,
#          b0 beeper (0)
#   F   -> #VVV.V CCC BB.BB FF.F\r   ratings: voltage, current, battery voltage, frequency
#   I   -> #company(15) model(10) version(10)\r
#   T, T<nn>, TL, CT -> battery self-test (10 s, nn minutes, until battery low), cancel
#   S<n>     -> switch the load off in n minutes (.2 .. .9 tenths, 00 .. 99), back on when
#               power is back (shutdown.py)
#   S<n>R<m> -> the same, back on after m minutes of power (R0000: stays off until C)
#   C        -> cancel a shutdown (the load back on)
#   Q        -> beeper toggle: there is no beeper, refused
#   With nut.allow_control off every command is refused.
#
# Commands have no reply; a refused one is logged. Field widths are fixed: nutdrv_qx
# reads them by position. Readings for people: this allocates, and runs between blocks.
from firmware import VERSION, alarms, ats, hal, shutdown, transfer

COMPANY = "UPS-GEN-CTRL"
MODEL = "ATS-UPS"

_QUERIES = ("Q1", "F", "I")


def is_megatec(line):
    # Exactly one of the protocol's commands (upper case, as NUT sends them).
    if line in _QUERIES or line in ("T", "TL", "CT", "C", "Q"):
        return True
    if len(line) == 3 and line[0] == "T" and line[1:].isdigit():
        return True
    return shutdown_args(line) is not None


def _load_w(b, on_batt):
    # The output sensor's reading; without one (io.output_sensor off), on battery what the
    # bank gives less the inverter's losses (about a tenth), and otherwise 0: the load on
    # mains or the generator is not measured (the docs and `status` say so).
    w = b.output_w()
    if w != hal.NO_READING:
        return w
    if not on_batt:
        return 0
    ma = b.battery_ma()
    # (mV / 10) x (mA / 100) is mW: below 2^30 at 480 V and 500 A
    w = b.battery_mv() // 10 * (ma // 100) // 1000 * 9 // 10
    return w if w > 0 else 0


def shutdown_args(line):
    # S<n> / S<n>R<m> -> (delay in s, minutes of power before the load comes back, -1
    # for at once); None when line is not such a command.
    if not line.startswith("S") or len(line) < 2:
        return None
    body, restore = line[1:], -1
    if "R" in body:
        body, rest = body.split("R", 1)
        if len(rest) != 4 or not rest.isdigit():
            return None
        restore = int(rest)
    if len(body) != 2:
        return None
    if body[0] == ".":
        return (int(body[1]) * 6, restore) if body[1].isdigit() else None
    return (int(body) * 60, restore) if body.isdigit() else None


def _num(value, width, decimals):
    # Right-aligned, zero-padded, clamped to what the width can show.
    if value < 0:
        value = 0
    top = 10 ** (width - decimals - (1 if decimals else 0)) - 10**-decimals
    if value > top:
        value = top
    return "%0*.*f" % (width, decimals, value)


class Megatec:
    def __init__(self, ctrl):
        self.ctrl = ctrl
        self.refused = 0

    def reply(self, line, now):
        # The answer for one command (without the CR), or None for no answer.
        if line == "Q1":
            return self.q1()
        if line == "F":
            return self.ratings()
        if line == "I":
            return "#%-15s %-10s %-10s" % (COMPANY[:15], MODEL[:10], VERSION[:10])
        self.command(line, now)
        return None

    def q1(self):
        c = self.ctrl
        b = c.board
        cfg = c.cfg
        sup = c.supervisor
        xfer = c.transfer
        mon = c.monitor
        present = mon.present()
        v_in = mon.voltage(cfg) if present else 0.0
        f_in = mon.frequency() if present else 0.0
        on_batt = xfer.on_battery()
        if sup.shutdown.state == shutdown.OFF:
            v_out = 0.0
        elif on_batt:
            v_out = float(cfg.get("mains.nominal_v")) if b.battery_mv() > 0 else 0.0
        elif sup.ats.closed() == ats.GEN:
            v_out = b.gen_volts_x10() / 10.0
        else:
            v_out = v_in
        load = _load_w(b, on_batt) * 100 // cfg.get("ups.rating_w")
        bits = "%d%d0%d1%d%d0" % (
            1 if on_batt else 0,
            1 if sup.low else 0,
            1 if self._failed() else 0,
            1 if (sup.selftest.state != 0 or sup.mode == 3) else 0,
            1 if sup.shutdown.active() else 0,
        )
        return "(%s %s %s %s %s %s %s %s" % (
            _num(v_in, 5, 1),
            _num(v_in, 5, 1),
            _num(v_out, 5, 1),
            _num(load, 3, 0),
            _num(f_in, 4, 1),
            _battery(b.battery_mv()),
            _num(self._room(), 4, 1),
            bits,
        )

    def _room(self):
        t = self.ctrl.env.temp_c10
        return 0.0 if t == hal.NO_READING else t / 10.0

    def ratings(self):
        cfg = self.ctrl.cfg
        nom_v = cfg.get("mains.nominal_v")
        amps = cfg.get("ups.rating_w") // nom_v
        batt = cfg.get("battery.nominal_v")
        return "#%s %s %s %s" % (
            _num(nom_v, 5, 1),
            _num(amps, 3, 0),
            _num(batt, 5, 2 if batt < 100 else 1),
            _num(cfg.get("mains.frequency_hz"), 4, 1),
        )

    def _failed(self):
        a = self.ctrl.alarms
        return (
            a.latched_shutdown()
            or a.is_active(alarms.AL_BATTERY_FAILED)
            or a.is_active(alarms.AL_BATTERY_DEAD)
            or a.is_active(alarms.AL_XFER_RELAY_FAULT)
            or a.is_active(alarms.AL_MAINS_CONTACTOR_FAULT)
            or a.is_active(alarms.AL_GEN_CONTACTOR_FAULT)
            or a.is_active(alarms.AL_MAINS_SENSOR)
            or self.ctrl.transfer.state == transfer.HELD
        )

    def command(self, line, now):
        c = self.ctrl
        sup = c.supervisor
        if not c.cfg.get("nut.allow_control") or line == "Q":
            self.refused += 1
            return
        if line == "CT":
            sup.selftest.cancel(now)
            return
        if line == "C":
            sup.shutdown.cancel(now)
            return
        if line[0] == "S":
            # is_command() let only a valid S command this far
            sup.shutdown.request(now, *shutdown_args(line))  # pyright: ignore[reportOptionalIterable]
            return
        if line == "T":
            secs = 10
        elif line == "TL":
            secs = 5940  # until battery low ends it
        else:
            secs = int(line[1:]) * 60
        if secs == 0:
            secs = 10
        if sup.start_selftest(now, secs) is not None:
            self.refused += 1


def _battery(mv):
    v = mv / 1000.0
    if v < 10:
        return _num(v, 4, 2)
    if v < 100:
        return _num(v, 4, 1)
    return _num(v, 4, 0)
