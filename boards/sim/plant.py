# The plant around the controller: transfer relay, battery with inverter, load, and the
# measurements the firmware never sees (load envelope, ITIC, timeline). Times are integer
# microseconds of simulated time.
import math

UTILITY = 0
INVERTER = 1
TRANSIT = 2
SOURCE_NAMES = ("mains", "battery", "none")


class ChangeoverRelay:
    # De-energised: utility side. A command moves the common contact; it carries nothing
    # until it lands operate_us later, so both sides are never closed together.
    def __init__(self, operate_ms):
        self.operate_us = int(operate_ms * 1000)
        self.pos = UTILITY
        self.energised = False
        self.operations = 0
        self.land_at = -1  # when the moving contact lands (us); -1 at rest
        self._target = UTILITY
        self.stuck = False  # a fault: the contact stays where it is

    def command(self, t_us, energised):
        if energised == self.energised:
            return
        self.energised = energised
        self.operations += 1
        if not self.stuck:
            self._move(t_us)

    def _move(self, t_us):
        self._target = INVERTER if self.energised else UTILITY
        self.pos = TRANSIT
        self.land_at = t_us + self.operate_us

    def free(self, t_us):
        # The fault is gone: the contact follows its coil again.
        self.stuck = False
        if self.pos != (INVERTER if self.energised else UTILITY) and self.land_at < 0:
            self._move(t_us)

    def land(self):
        self.pos = self._target
        self.land_at = -1


class Contactor:
    # One source contactor of the ATS. It changes state operate_us after the command; until
    # then it stays as it was (a closing contact is still open, an opening one still closed).
    def __init__(self, operate_ms, closed):
        self.operate_us = int(operate_ms * 1000)
        self.closed = closed
        self._target = closed
        self._coil = closed
        self.land_at = -1  # when the moving contact lands (us); -1 at rest
        self.stuck = False  # a fault: welded shut, or a coil that does nothing

    def command(self, t_us, closed):
        self._coil = closed
        if closed == self._target or self.stuck:
            return
        self._target = closed
        self.land_at = t_us + self.operate_us

    def free(self, t_us):
        self.stuck = False
        self.command(t_us, self._coil)

    def closing(self):
        return self._target and not self.closed

    def land(self):
        self.closed = self._target
        self.land_at = -1


def capacity_factor(temp_c):
    # A lead-acid battery's capacity against temperature, about 0.8 %/C from 25 C: 80 % at
    # 0 C, 68 % at -15 C, a little more in the warm (IEEE 485's correction factors).
    f = 1.0 + 0.008 * (temp_c - 25.0)
    return 0.5 if f < 0.5 else (1.1 if f > 1.1 else f)


class Battery:
    # Lead-acid bank behind an inverter. Open-circuit voltage follows the state of charge,
    # the terminal voltage sags with the current through the internal resistance, high
    # currents drain more than their share (Peukert), and a weak battery (health) has less
    # capacity and more resistance; so does a cold one (capacity_factor). The inverter cuts
    # out at 1.75 V per cell.
    EFFICIENCY = 0.9
    PEUKERT = 1.15

    def __init__(self, b):
        self.cells = max(1, int(round(b["nominal_v"] / 2.0)))
        health = b["health_pct"] / 100.0
        self.capacity_ah = b["capacity_ah"] * health
        self.rated_ah = b["capacity_ah"]
        self.r_ohm = 0.02 * (self.cells / 24.0) * (100.0 / b["capacity_ah"]) * (2.0 - health)
        self.soc = b["initial_soc_pct"] / 100.0
        self.current = 0.0
        self.depleted = self.soc <= 0.0
        self.voltage = self._ocv()
        self.temp_factor = 1.0  # capacity at the room's temperature (set by the board)

    def _ocv(self):
        return self.cells * (1.93 + 0.22 * self.soc)

    def step(self, dt_s, discharge_w, charging):
        ocv = self._ocv()
        if discharge_w > 0 and not self.depleted:
            p = discharge_w / self.EFFICIENCY
            disc = ocv * ocv - 4 * self.r_ohm * p
            if disc <= 0:
                self.depleted = True
                self.current = 0.0
            else:
                i = (ocv - math.sqrt(disc)) / (2 * self.r_ohm)
                i20 = self.rated_ah / 20.0
                eff_i = i * (i / i20) ** (self.PEUKERT - 1) if i > i20 else i
                self.soc -= eff_i * dt_s / 3600.0 / (self.capacity_ah * self.temp_factor)
                self.current = i
                if self.soc <= 0.0:
                    self.soc = 0.0
                    self.depleted = True
        elif charging and self.soc < 1.0:
            i = 0.1 * self.rated_ah
            if self.soc > 0.8:
                i *= max(0.05, (1.0 - self.soc) / 0.2)
            self.soc = min(1.0, self.soc + 0.85 * i * dt_s / 3600.0 / self.capacity_ah)
            self.current = -i
        else:
            self.current = 0.0
        if self.depleted and charging and self.soc >= 0.1:
            self.depleted = False
        self.voltage = self._ocv() - self.current * self.r_ohm
        if not self.depleted and self.voltage < 1.75 * self.cells and discharge_w > 0:
            self.depleted = True


# ITIC (CBEMA) tolerance: (below?, level %, longest tolerated stretch in us).
ITIC_RULES = (
    (True, 70, 20000),
    (True, 80, 500000),
    (True, 90, 10000000),
    (False, 120, 500000),
    (False, 110, 10000000),
    (False, 140, 3000),
    (False, 200, 1000),
)


class Envelope:
    # Follows the load envelope (piecewise constant) and measures what the load lived through.
    def __init__(self):
        self.level = 100.0
        self._since = [None] * len(ITIC_RULES)
        self._t_low = None  # start of the present stretch below 50 %
        self.max_interruption_us = 0
        self.violations = []  # (start_us, end_us) of time outside the ITIC region

    def update(self, t_us, level):
        if level == self.level:
            return
        self.level = level
        for n, (below, lim, _) in enumerate(ITIC_RULES):
            inside = level < lim if below else level > lim
            if inside and self._since[n] is None:
                self._since[n] = t_us
            elif not inside and self._since[n] is not None:
                self._close(n, t_us)
        if level < 50:
            if self._t_low is None:
                self._t_low = t_us
        elif self._t_low is not None:
            self.max_interruption_us = max(self.max_interruption_us, t_us - self._t_low)
            self._t_low = None

    def _close(self, n, t_us):
        start = self._since[n]
        self._since[n] = None
        limit = ITIC_RULES[n][2]
        if t_us - start > limit:
            self.violations.append((start + limit, t_us))

    def finish(self, t_us):
        for n in range(len(ITIC_RULES)):
            if self._since[n] is not None:
                self._close(n, t_us)
        if self._t_low is not None:
            self.max_interruption_us = max(self.max_interruption_us, t_us - self._t_low)
            self._t_low = None

    def violation_count(self):
        # Overlapping violations of several rules are one excursion.
        spans = sorted(self.violations)
        count = 0
        end = None
        for s, e in spans:
            if end is None or s > end:
                count += 1
                end = e
            else:
                end = max(end, e)
        return count
