# The simulated mains: a sample-accurate waveform in ADC counts.
#
# The wave is the fundamental plus harmonics (a one-cycle table), scaled by the present
# level (events, steady voltage offset, flicker), plus white noise and single-sample
# spikes. Events that name phase_deg start at the first sample at or after that point of
# the fundamental following at_s; events may overlap: amplitude events multiply, the latest
# frequency event wins. Frequency changes keep the phase continuous.
import heapq
import math
from array import array

from boards.sim.rng import Rng

# Integer tables and a fixed-point phase keep the generator fast on both interpreters and
# small enough for the unix port's default heap: the wave table holds counts x 256 for
# one cycle, the phase is a 32-bit fraction of a cycle, levels are x 65536.
_TABLE_BITS = 12
_TABLE = 1 << _TABLE_BITS
_PHASE_SHIFT = 32 - _TABLE_BITS
_PHASE_ONE = 1 << 32
_NOISE = 8191  # prime, so the noise sequence never lines up with the cycle
_ADC_NOISE = 0.6 * 256  # counts x 256

# EN 50160 individual limits, used to spread thd_pct when no harmonics are given.
_DEFAULT_HARMONICS = {3: 5.0, 5: 6.0, 7: 5.0}

AMPLITUDE_KINDS = ("dip", "swell", "outage")


def _factor(ev):
    kind = ev["kind"]
    if kind == "dip":
        return ev["residual_pct"] / 100.0
    if kind == "swell":
        return ev["level_pct"] / 100.0
    return 0.0


class Mains:
    def __init__(self, sc, fs, counts_per_volt, on_change):
        m = sc["mains"]
        self.fs = fs
        self.nominal_hz = float(m["frequency_hz"])
        self._peak = m["nominal_v"] * math.sqrt(2) * counts_per_volt
        self._base = m["voltage_pct"] / 100.0
        self._on_change = on_change  # on_change(k, event, started)
        rng = Rng(sc["seed"])
        self._rng = rng
        harmonics = m["harmonics"]
        if harmonics is None:
            harmonics = {}
            if m["thd_pct"] > 0:
                norm = math.sqrt(sum(v * v for v in _DEFAULT_HARMONICS.values()))
                for h, v in _DEFAULT_HARMONICS.items():
                    harmonics[h] = v * m["thd_pct"] / norm
        self.harmonics = harmonics
        tab = []
        phases = {}
        for h in sorted(harmonics):
            phases[h] = rng.uniform() * 2 * math.pi
        for i in range(_TABLE):
            a = 2 * math.pi * i / _TABLE
            v = math.sin(a)
            for h in sorted(harmonics):
                v += harmonics[h] / 100.0 * math.sin(h * a + phases[h])
            tab.append(int(self._peak * v * 256))
        self._tab = array("i", tab)
        sigma = m["noise_pct"] / 100.0 * m["nominal_v"] * counts_per_volt * 256
        noise = [int(sigma * rng.gauss()) for _ in range(_NOISE if sigma > 0 else 1)]
        # The ADC's own noise (0.6 count RMS, a quiet 12-bit converter), from a generator
        # of its own so the mains' random draws stay as they were: a real input never
        # reads the same count for long, even with no mains at all.
        adc = Rng(sc["seed"] ^ 0x5A5A5A5)
        self._noise = array(
            "i", [noise[i % len(noise)] + int(_ADC_NOISE * adc.gauss()) for i in range(_NOISE)]
        )
        self._ni = 0
        self._flicker = m["flicker_pct"] / 100.0
        self._flicker_w = 2 * math.pi * m["flicker_hz"]
        self._spike_rate = m["spikes_per_s"]
        self._spike = int(m["spike_pct"] / 100.0 * self._peak * 256)
        self._next_spike = self._draw_spike(0)
        self.phase = rng.next32()  # fraction of a cycle, x 2^32
        self.freq = self.nominal_hz
        self._dph = self._phase_step(self.freq)
        self._ramp = None  # (k_end, f_end, df_per_sample) while ramping
        # Pending changes, a heap of (k, order, seq, action, event): the sample index k is
        # exact; a heap, so that 100,000 events take linear time, not quadratic.
        pending = []
        for n, ev in enumerate(m["events"]):
            k = int(math.ceil(ev["at_s"] * fs - 1e-9))
            pending.append((k, n, n, "arm", ev))
        heapq.heapify(pending)
        self._pending = pending
        self._seq = len(pending)
        self._active = []
        self._freq_events = []
        self.level = self._base  # amplitude factor from events and offset
        self._lvl = int(self.level * 65536)
        self.k = 0
        self._next_k = pending[0][0] if pending else -1

    def _draw_spike(self, k):
        if self._spike_rate <= 0:
            return -1
        u = self._rng.uniform()
        gap = -math.log(1.0 - u) * self.fs / self._spike_rate
        if gap > 1e15:  # a rate so low that no spike ever comes
            return -1
        return k + 2 + int(gap)  # a spike is one sample: never two in a row

    def _phase_step(self, freq):
        return int(freq * _PHASE_ONE / self.fs)

    def level_pct(self):
        return self.level * 100.0

    def inject(self, ev):
        # A checked event (see scenario.check) that starts at the next sample, or at its
        # phase_deg after that: for tests that drive the supply step by step.
        self._schedule(self.k, "arm", ev)

    def _schedule(self, k, action, ev):
        p = self._pending
        heapq.heappush(p, (k, -1, self._seq, action, ev))
        self._seq += 1
        self._next_k = p[0][0]

    def _recompute(self, ramp=0, frequency=True):
        # ramp: seconds to reach the new frequency (a frequency event's ramp_s, both when
        # it starts and when it ends). An amplitude event leaves the frequency alone (a
        # ramp under way goes on).
        lvl = self._base
        for ev in self._active:
            lvl *= _factor(ev)
        self.level = lvl
        self._lvl = int(lvl * 65536)
        if not frequency:
            return
        if self._freq_events:
            target = float(self._freq_events[-1]["frequency_hz"])
        else:
            target = self.nominal_hz
        if ramp > 0 and target != self.freq:
            n = max(1, int(ramp * self.fs))
            self._ramp = (self.k + n, target, (target - self.freq) / n)
        else:
            self._ramp = None
            self.freq = target
            self._dph = self._phase_step(target)

    def _apply(self, k):
        while self._pending and self._pending[0][0] <= k:
            _, _, _, action, ev = heapq.heappop(self._pending)
            kind = ev["kind"]
            if action == "arm":
                if kind in AMPLITUDE_KINDS and ev["phase_deg"] is not None:
                    # wait for the point on the wave; phase advances freq/fs per sample
                    # (self.phase is that of sample k-1; sample k-1+m is at phase + m*f/fs)
                    dphi = (ev["phase_deg"] / 360.0 - self.phase / _PHASE_ONE) % 1.0
                    wait = max(1, int(math.ceil(dphi * self.fs / self.freq - 1e-9))) - 1
                    if wait > 0:
                        self._schedule(k + wait, "start", ev)
                        continue
                action = "start"
            if action == "start":
                if kind == "frequency":
                    self._freq_events.append(ev)
                else:
                    self._active.append(ev)
                end = k + max(1, int(round(ev["duration_s"] * self.fs)))
                self._schedule(end, "end", ev)
                self._recompute(ev.get("ramp_s", 0), kind == "frequency")
                self._on_change(k, ev, True)
            else:
                if kind == "frequency":
                    self._freq_events.remove(ev)
                else:
                    self._active.remove(ev)
                self._recompute(ev.get("ramp_s", 0), kind == "frequency")
                self._on_change(k, ev, False)
        self._next_k = self._pending[0][0] if self._pending else -1

    def fill(self, buf, n, t_s):
        # Generate the next n samples (the first is sample self.k) into buf, in ADC counts
        # around a mid-rail bias of 2048.
        lvl = self._lvl
        if self._flicker:
            lvl = int(lvl * (1.0 + self._flicker * math.sin(self._flicker_w * t_s)))
        k = self.k
        ph = self.phase
        dph = self._dph
        tab = self._tab
        noise = self._noise
        nn = len(noise)
        ni = self._ni
        next_k = self._next_k
        spike_k = self._next_spike
        for j in range(n):
            if k == next_k:
                self.k = k
                self.phase = ph
                self._apply(k)
                next_k = self._next_k
                lvl = self._lvl
                dph = self._dph
            if self._ramp is not None:
                self._ramp_step(k)
                dph = self._dph
            ph = (ph + dph) & 0xFFFFFFFF
            v = ((lvl * tab[ph >> _PHASE_SHIFT]) >> 16) + noise[ni] + 524416  # 2048.5 x 256
            ni += 1
            if ni == nn:
                ni = 0
            if k == spike_k:
                v += self._spike if self._rng.next32() & 1 else -self._spike
                spike_k = self._draw_spike(k)
            r = v >> 8
            buf[j] = 0 if r < 0 else (4095 if r > 4095 else r)
            k += 1
        self.k = k
        self.phase = ph
        self._ni = ni
        self._next_spike = spike_k

    def advance(self, n, scratch):
        # Let n samples pass unread (the firmware skipped them): apply the changes due in
        # that span at their exact samples, keep the phase continuous. A frequency ramp
        # changes the step every sample, so then the samples are generated and dropped.
        end = self.k + n
        while self.k < end:
            if self._ramp is not None:
                m = min(len(scratch), end - self.k)
                self.fill(scratch, m, 0.0)
                continue
            stop = end if self._next_k < 0 or self._next_k >= end else self._next_k
            m = stop - self.k
            self.phase = (self.phase + m * self._dph) & 0xFFFFFFFF
            self._ni = (self._ni + m) % len(self._noise)
            self.k = stop
            if stop == self._next_k:
                self._apply(stop)
        if 0 <= self._next_spike < end:
            self._next_spike = self._draw_spike(end)

    def _ramp_step(self, k):
        k_end, target, df = self._ramp
        if k >= k_end:
            self.freq = target
            self._ramp = None
        else:
            self.freq += df
        self._dph = self._phase_step(self.freq)
