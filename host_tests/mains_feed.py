# A mains monitor fed samples made here, exactly: sines and square waves at any frequency,
# level and bias, steady readings, single-sample spikes. Blocks of 4 samples, the board's
# clock in ms derived from the sample count; every change of the monitor's verdict is
# logged with its time, so tests can pin a timer to the cycle.
import math
import random
from array import array

from firmware import mains_monitor as mm
from firmware.config import Config

BLOCK = 4


def diff(a, b):
    return a - b


class Feed:
    def __init__(self, fs=4000, settings=None):
        cfg = Config()
        if settings:
            cfg.update(settings)
        self.cfg = cfg
        self.fs = fs
        self.mon = mm.MainsMonitor(cfg, fs, diff)
        self.peak = self.mon.nominal_peak
        self.k = 0  # samples fed
        self.phase = 0.0  # cycles, continuous across calls
        self.buf = array("H", [0] * BLOCK)
        self.fill = 0
        self.log = []  # (t_ms, what, value) at each change
        self._last = {}
        self.trips = []  # (t_ms, index in its block) of every fast trip
        self.rng = random.Random(1)

    def t(self):
        return self.k * 1000 // self.fs

    def _push(self, raw):
        self.buf[self.fill] = 0 if raw < 0 else (4095 if raw > 4095 else raw)
        self.fill += 1
        self.k += 1
        if self.fill == BLOCK:
            self.fill = 0
            mon = self.mon
            before = mon.state
            mon.process(self.buf, BLOCK, self.t())
            if before == mm.ARMED and mon.state == mm.TRIPPED and mon.faults & mm.FAST:
                self.trips.append((self.t(), mon.trip_sample))
            for what, value in (
                ("state", mon.state),
                ("faults", mon.faults),
                ("sensor", mon.sensor),
                ("absent", mon.absent()),
                ("present", mon.present()),
            ):
                if self._last.get(what) != value:
                    self._last[what] = value
                    self.log.append((self.t(), what, value))

    def wave(
        self,
        ms=None,
        cycles=None,
        hz=50.0,
        pct=100.0,
        bias=2048,
        square=False,
        spikes=(),
        notch=(),
        noise=0,
        amp=None,
    ):
        # A sine (or a square wave of the same peak) of `pct` % of the nominal peak, its
        # phase carried on from the previous call, plus uniform noise of +-`noise` counts
        # (seeded). spikes, notch: sample numbers (from the start of this call) replaced by a
        # full-scale reading, by the bias (a dropout). amp: the peak in counts, not `pct`.
        n = round(ms * self.fs / 1000) if ms is not None else round(cycles * self.fs / hz)
        if amp is None:
            amp = self.peak * pct / 100.0
        step = hz / self.fs
        for i in range(n):
            p = self.phase % 1.0
            if square:
                x = amp if p < 0.5 - 1e-9 or p > 1 - 1e-9 else -amp
            else:
                x = amp * math.sin(2 * math.pi * p)
            raw = bias + int(round(x))
            if noise:
                raw += self.rng.randint(-noise, noise)
            if i in spikes:
                raw = 4095
            elif i in notch:
                raw = bias
            self._push(raw)
            self.phase += step
        return self

    def steady(self, ms, raw):
        for _ in range(round(ms * self.fs / 1000)):
            self._push(raw)
        return self

    def samples(self, values):
        for raw in values:
            self._push(raw)
        return self

    def when(self, what, value, after=0):
        # the first time (ms) `what` took `value` at or after `after`
        for t, w, v in self.log:
            if w == what and v == value and t >= after:
                return t
        return None

    def changes(self, what, after=0):
        return [(t, v) for t, w, v in self.log if w == what and t >= after]
