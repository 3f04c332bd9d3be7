# The simulated engine and alternator. The starter turns the engine at crank speed; with
# fuel on it fires after time_to_fire_s of cranking, unless this attempt is one of the
# scenario's failed_attempts or the engine fails to start altogether. Once fired, speed
# (and with it voltage and frequency) ramps to rated over ramp_s; without fuel it runs
# down in RUNDOWN_S. Scenario events disturb a running set: "overspeed" multiplies the
# frequency, "voltage" the voltage, by level_pct for duration_s.

CRANK_SPEED = 0.15
RUNDOWN_S = 3.0

STOPPED = "stopped"
CRANKING = "cranking"
RUNNING = "running"
RUNDOWN = "rundown"


class SimGenerator:
    def __init__(self, g, nominal_v, nominal_hz):
        self.present = g["present"]
        self.failed_attempts = g["failed_attempts"]
        self.fails = g["fails_to_start"]
        self.fire_s = g["time_to_fire_s"]
        self.ramp_s = max(0.05, g["ramp_s"])
        self.events = sorted(g["events"], key=lambda e: e["at_s"])
        self.nominal_v = nominal_v
        self.nominal_hz = nominal_hz
        self.run = False
        self.start = False
        self.preheat = False
        self.state = STOPPED
        self.speed = 0.0
        self.attempts = 0  # starter engagements
        self.starter_while_running = 0
        self._crank_t = 0.0
        self.f_factor = 1.0
        self.v_factor = 1.0
        self.has_run = False  # fired since it last stood still

    def set_start(self, on):
        if on and not self.start:
            self.attempts += 1
            self._crank_t = 0.0
            if self.state == RUNNING or self.speed > CRANK_SPEED + 0.01:
                self.starter_while_running += 1
        self.start = on

    def _disturbance(self, t_s):
        f = v = 1.0
        for ev in self.events:
            if ev["at_s"] <= t_s < ev["at_s"] + ev["duration_s"]:
                if ev["kind"] == "overspeed":
                    f *= ev["level_pct"] / 100.0
                else:
                    v *= ev["level_pct"] / 100.0
        self.f_factor, self.v_factor = f, v

    def advance(self, t_s, dt):
        # Move the engine on by dt seconds, ending at t_s. Returns True when its state
        # (stopped / cranking / running / rundown) changed.
        if not self.present or dt <= 0:
            return False
        before = self.state
        self._disturbance(t_s)
        if self.state == RUNNING:
            if not self.run:
                self.state = RUNDOWN
            else:
                self.speed = min(1.0, self.speed + dt / self.ramp_s)
        if self.state != RUNNING:
            if self.start:
                if self.speed < CRANK_SPEED:
                    self.speed = CRANK_SPEED
                if self.state == STOPPED:
                    self.state = CRANKING
                fires = self.run and not self.fails and self.attempts > self.failed_attempts
                if fires:
                    self._crank_t += dt
                    if self._crank_t >= self.fire_s:
                        self.state = RUNNING
                        self.has_run = True
            elif self.state == RUNDOWN and self.run and self.speed > 0.3 and self.has_run:
                self.state = RUNNING
            else:
                self.speed = max(0.0, self.speed - dt / RUNDOWN_S)
                self.state = STOPPED if self.speed == 0.0 else RUNDOWN
        return self.state != before

    def voltage(self):
        if self.state != RUNNING and self.state != RUNDOWN:
            return 0.0
        return self.nominal_v * min(1.0, self.speed) * self.v_factor

    def frequency(self):
        return self.nominal_hz * self.speed * self.f_factor

    def level_pct(self):
        return 100.0 * self.voltage() / self.nominal_v
