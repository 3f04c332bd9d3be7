# Mains monitor: turns blocks of raw ADC samples into a verdict on the mains.
#
# Two detectors run side by side on every sample:
#   fast   each sample is compared with a reference: the learned waveform of the
#          previous cycles at the same phase. The phase is a 16-bit accumulator stepped by
#          the measured period and reset at every rising zero crossing, so a frequency
#          drift never accumulates; the reference is a table of _SLOTS points per cycle,
#          read with linear interpolation and updated at the nearest point. A run of
#          `fast_trip_samples` samples that deviate by more than `fast_trip_pct` of the
#          nominal peak declares a loss within a few ms, at any phase, where a half-cycle
#          RMS needs 10-20 ms. Where the wave is low, near its zero crossings, a dip takes
#          little away, so there a deviation of 30 % of the learned wave counts, but never
#          less than `fast_floor_pct` of the nominal peak (timing and noise): a 40 % dip
#          that begins just before a crossing is caught soon after it rather than a
#          quarter cycle on. (A reference read one period back from a comb filter was
#          tried first: it amplifies any period error by 1/adaptation rate and false-trips
#          on a 0.5 Hz/s frequency ramp.)
#   slow   per cycle (rising zero crossing to rising zero crossing, with hysteresis) the
#          mean square and the period are measured; under/over-voltage and under/over-
#          frequency trip after their qualification time and clear at the restore levels.
#
#       LEARN --(learn_cycles good cycles)--> ARMED --(deviating run)--> TRIPPED
#         ^                                                                |
#         +------------------(3 good cycles in a row)---------------------+
#
# The hot loop is integer-only and allocates nothing. Every value stays a small int on a
# 32-bit board (31-bit signed, so below 2^30 in magnitude): the bias is held inside
# 1024..3072, so a centred sample is |x| <= 3072; reference values (q3) are blends of past
# samples, |r| <= 8 * 3072; the phase is 16 bits; squares accumulate over at most fs/40
# samples (the longest valid period, 40 Hz), and fs <= 4500 Hz keeps that window at 112
# samples: 112 * 3072^2 = 1.057e9 < 2^30. host_tests/unit/test_mains_monitor.py checks
# these bounds.
import sys
from array import array

import micropython
from micropython import const

if sys.implementation.name != "micropython":  # the viper casts, for CPython
    from firmware.cpython import ptr16, ptr32, uint

# Fault bits (public: the transfer logic and the event log use them).
FAST = const(1)
UV = const(2)
OV = const(4)
UF = const(8)  # under-frequency, or no usable zero crossings at all
OF = const(16)
_LIMITS = const(30)  # UV | OV | UF | OF: the slow detector's faults

LEARN = const(0)
ARMED = const(1)
TRIPPED = const(2)

# What is wrong with the sensor when its reading cannot be mains, good or bad (sensor).
SENSOR_STUCK = const(1)  # the same count for a whole window: a frozen ADC
SENSOR_OPEN = const(2)  # pulled to 0: the sensor unplugged, a broken wire, no supply
SENSOR_SATURATED = const(3)  # pinned at the top of the range
SENSOR_NOISY = const(4)  # crossings far too close together on a live signal
SENSOR_NAMES = ("", "stuck", "open", "saturated", "noisy")

_LEARN_CYCLES = const(25)  # cycles of good mains before the fast detector is armed
_RESTORE_CYCLES = const(3)  # good cycles in a row after a trip before learning again
_COPY_CYCLES = const(1)  # first learning cycle copies the wave into the reference
_FAST_CYCLES = const(4)  # then adapt by 1/2 per cycle, then by 1/8
_LOCK_CYCLES = const(5)  # learning cycles that snap the phase to every crossing
_COAST_MAX_MS = const(100)  # a longer gap in the samples: the phase is learned anew
_REL_Q8 = const(77)  # 30 % of the learned wave: half of what a 40 % dip takes away
_DISARMED = const(0x3FFFFFFF)
_SLOTS = const(64)  # reference points per cycle: at most the samples per cycle
_SLOT_SHIFT = const(10)  # 16-bit phase -> slot
_FRAC_SHIFT = const(2)  # 16-bit phase -> slot position in 1/256
_GATE_Q8 = const(384)  # a period further than 1.5 samples from the tracked one is odd
_RAIL = const(16)  # a sample this close to either end of the 12-bit range
_TOP = const(4095 - 16)
_RAIL_MEAN = const(128)  # a window whose mean is this close to an end: pinned there
_SENSOR_WINDOWS = const(2)  # windows in a row that show a sensor fault
_NOISY_WINDOWS = const(6)
# The hot loop's state and its reference live in one array of machine words, where viper
# code reads or writes a value in an instruction or two (an attribute is a lookup in the
# runtime, and each array a buffer to fetch). A 32-bit load sign-extends on a 32-bit board
# but not on the 64-bit unix port, so the words that can be negative (the first _RAW slots
# and the reference) are stored plus _W0; the rest are never negative and stored as they
# are (each offset is an instruction or two more, on every use). Slots of _v:
_X1 = const(0)  # last two centred samples, last median
_X2 = const(1)
_MPREV = const(2)
_THR = const(3)  # the deviation that counts (-1: any; see _set_state)
_LO = const(4)  # the deviation that counts where the wave is low
_G8P = const(5)  # where the last window ended (-1: not on a crossing)
_RAW = const(6)  # from here on, never negative:
_PH = const(6)  # phase
_CNT = const(7)  # deviating samples in a row
_SQ = const(8)  # the window so far: sum of squares, raw sum, samples
_SUM = const(9)
_NW = const(10)
_ZC = const(11)  # armed for a rising crossing
_INC = const(12)  # and what changes only per window or with the state:
_SHIFT = const(13)
_BIAS = const(14)
_TRIP_N = const(15)
_HYST = const(16)
_MAX_WINDOW = const(17)
_BLOCK = const(18)
_NEED = const(19)
_NOW = const(20)  # the time of the block (ms): _qualify's
_PULL = const(21)  # the phase moves 1/2^_PULL of the way to a crossing
# The ordinary cycle's end, worked out in process() itself (a call into Python per cycle
# cost as much as the cycle's samples): what it reads and updates, and the limits it
# checks against. Anything else at a window's end goes to _window_end.
_MS = const(22)  # last window's mean square, counts^2
_PER = const(23)  # last window's period (q8 samples, 0 if none)
_BQ8 = const(24)  # the ADC bias, q8
_PQ8 = const(25)  # the tracked period, q8
_PAVG = const(26)  # the period people see, q12
_STEER = const(27)  # the last crossing may steer the phase
_FASTOK = const(28)  # armed, clean, nothing pending: ordinary cycles end here
_UVOK = const(29)  # the restore limits: mean square, and its span
_VSPAN = const(30)
_POFOK = const(31)  # period, and its span
_PSPAN = const(32)
# For the caller: process() returns 1 only when it has something to look at.
_ALERT = const(33)  # faults, sensor or state changed (Python sets it)
_WAKE = const(34)  # samples until the caller asked to be called back
_REF = const(35)  # and from here the reference, _SLOTS words (+ _W0)
_NV = const(_REF + _SLOTS)
_W0 = const(1 << 29)
MAX_RATE_HZ = const(4500)
BIAS_MIN = const(1024)
BIAS_MAX = const(3072)


def _pct_sq(base_sq, pct):
    # float on purpose: base_sq * pct^2 can pass 2^30 and this runs once, at configure time
    return int(base_sq * pct * pct / 10000.0)


class MainsMonitor:
    def __init__(self, cfg, sample_rate_hz, ticks_diff, block_len=4):
        self._ticks_diff = ticks_diff
        self.block_len = block_len  # the board's block: the samples a read takes
        self.configure(cfg, sample_rate_hz)

    def configure(self, cfg, fs):
        # Everything derived from settings is computed here, once, outside the hot path.
        if fs < 1000 or fs > MAX_RATE_HZ:
            raise ValueError(
                "sample rate %d Hz not supported; allowed 1000..%d" % (fs, MAX_RATE_HZ)
            )
        self.fs = fs
        nominal_v = cfg.get("mains.nominal_v")
        f_nom = cfg.get("mains.frequency_hz")
        mv = cfg.get("adc.mains_mv_per_count")
        rms_counts = nominal_v * 1000 / mv
        self.nominal_peak = int(rms_counts * 1.41421356 + 0.5)
        if self.nominal_peak > 1900:
            raise ValueError(
                "adc.mains_mv_per_count = %d puts the nominal peak at %d counts;"
                " allowed at most 1900 (raise the value)" % (mv, self.nominal_peak)
            )
        ms_nom = rms_counts * rms_counts
        self._uv_ms = _pct_sq(ms_nom, cfg.get("mains.uv_pct"))
        self._uv_ok_ms = _pct_sq(ms_nom, cfg.get("mains.uv_restore_pct"))
        self._ov_ms = _pct_sq(ms_nom, cfg.get("mains.ov_pct"))
        self._ov_ok_ms = _pct_sq(ms_nom, cfg.get("mains.ov_restore_pct"))
        self._absent_ms = _pct_sq(ms_nom, 50)
        self._uv_qual = cfg.get("mains.uv_qual_ms")
        self._ov_qual = cfg.get("mains.ov_qual_ms")
        self._f_qual = cfg.get("mains.freq_qual_ms")
        # Periods in 1/256 sample; a longer period is a lower frequency.
        scale = fs * 256.0 / f_nom
        trip = cfg.get("mains.freq_trip_pct") / 100.0
        rest = cfg.get("mains.freq_restore_pct") / 100.0
        self._p_uf = int(scale / (1.0 - trip))
        self._p_of = int(scale / (1.0 + trip))
        self._p_uf_ok = int(scale / (1.0 - rest))
        self._p_of_ok = int(scale / (1.0 + rest))
        self._p_nom = int(scale)
        self._p_min = fs * 256 // 70
        self._p_max = fs * 256 // 40
        self._v = array("i", [0] * _REF + [_W0] * _SLOTS)
        self._put(_MAX_WINDOW, fs // 40)
        self._put(_UVOK, self._uv_ok_ms)
        self._put(_VSPAN, self._ov_ok_ms - self._uv_ok_ms)
        self._put(_POFOK, self._p_of_ok)
        self._put(_PSPAN, self._p_uf_ok - self._p_of_ok)
        self._thr = (self.nominal_peak * cfg.get("mains.fast_trip_pct") // 100) << 3
        self._lo = (self.nominal_peak * cfg.get("mains.fast_floor_pct") // 100) << 3
        self._put(_TRIP_N, cfg.get("mains.fast_trip_samples"))
        self._put(_HYST, self.nominal_peak // 10)
        self._put(_BLOCK, self.block_len)
        self.reset()

    def reset(self):
        for k in (
            _X1,
            _X2,
            _MPREV,
            _PH,
            _CNT,
            _SQ,
            _SUM,
            _NW,
            _ZC,
            _STEER,
            _SHIFT,
            _MS,
            _PER,
            _FASTOK,
            _WAKE,
        ):
            self._put(k, 0)
        self._put(_BQ8, 2048 << 8)
        self._put(_BIAS, 2048)
        self._put(_G8P, -1)
        self._put(_PAVG, self._p_nom << 4)
        self._put(_NEED, self.block_len)
        self._set_state(LEARN)  # and _ALERT
        self.faults = 0
        self._pending = 0  # fault bits whose condition holds, not yet qualified
        self._t = [0, 0, 0]  # since when UV, OV, a frequency fault has held
        self._learned = 0
        self._good_run = 0
        self._partial = False  # the window began after a gap: nothing to measure
        self.samples_lost = 0  # in gaps the board reported (gap())
        self.gaps = 0
        self._set_period(self._p_nom)
        self._locking(True)
        self.trip_sample = -1  # index in its block of the sample that tripped
        # How many samples the next read should take: a whole block, or, while a run of
        # deviating samples is under way, just what could complete it. A trip then waits
        # for no more samples than it needs: the worst latency is up to 0.75 ms shorter,
        # and on steady mains (no runs) the reads stay whole blocks.
        self.need = self.block_len
        self._rejected = 0  # odd periods in a row
        self._absent_run = 0  # windows in a row with no mains to speak of
        self.good_now = False  # the last window was mains (usable, _window_end)
        self.sensor = 0  # SENSOR_*: the reading is not mains at all
        self._odd_kind = 0  # the sensor fault the last windows showed
        self._odd_run = 0

    def _fresh_window(self):
        # After samples went unseen: a new window, no run under way, whole reads.
        for k in (_SQ, _SUM, _NW, _ZC, _CNT):
            self._put(k, 0)
        self._put(_NEED, self.block_len)
        self.need = self.block_len
        self._put(_G8P, -1)
        self._put(_FASTOK, 0)
        self._put(_ALERT, 1)

    def resume(self):
        # The board skipped samples: start a fresh window; the reference stays frozen. As
        # after a gap, the first window began anywhere in the cycle: it only marks where
        # the next one starts (a mean square over part of a cycle means nothing, and it
        # could qualify a limit whose pending time began before the skip).
        self._fresh_window()
        for k in (_X1, _X2, _MPREV):  # the median's samples are from before the skip
            self._put(k, 0)
        self._partial = True
        # It was absent before the gap: one more empty window (25 ms) confirms it, while
        # any mains in that window (half the nominal voltage) clears it.
        self._absent_run = 1

    def gap(self, lost):
        # The board lost `lost` samples before the ones it is about to hand over (a ring
        # overrun, a stall longer than the ring): the waveform went on meanwhile. Missing
        # samples are not a loss of mains: the phase coasts over the gap on the tracked
        # period, so the reference still lines up with the wave and a dip that began in the
        # gap is caught on the first samples after it. Over a long gap the period's small
        # error adds up to a visible phase error: then the phase and the reference are
        # learned anew (the slow limits keep watching meanwhile). The window under way is
        # dropped, and the one after the gap only marks where the next one starts.
        if lost <= 0:
            return
        self.samples_lost += lost
        self.gaps += 1
        if lost > _COAST_MAX_MS * self.fs // 1000:
            if self.state != TRIPPED:
                self._start_learning()
        else:
            self._put(_PH, (self._get(_PH) + lost * self._get(_INC)) & 0xFFFF)
        self._fresh_window()
        for k in (_X1, _X2, _MPREV):  # the median's samples are from before the gap
            self._put(k, 0)
        self._partial = True

    def absent(self):
        # Tripped, and two windows in a row (one after a resume) held neither a crossing nor
        # half the nominal voltage: nothing to watch closely until mains shows up again.
        return self.state == TRIPPED and self._absent_run >= 2

    def _locking(self, on):
        # While a fresh reference is learned, the phase is set to each crossing (from
        # wherever it was, it is in step after one cycle) and the period follows by a
        # half; after that they move by a quarter and an eighth, so that crossing jitter
        # cannot shake the reference. Moved only by the quarter from the first cycle on,
        # a phase that started half a cycle off was still settling while the reference
        # was learned, and the reference kept the trail: a false trip at arming now and
        # then (host_tests/scenario/test_en50160.py).
        self._lock = on
        self._v[_PULL] = 0 if on else 2

    def _set_period(self, p_q8):
        v = self._v
        v[_PQ8] = p_q8
        v[_INC] = (1 << 24) // p_q8  # phase step per sample, 2^16 per cycle

    def _set_state(self, state):
        # The deviation that counts: armed, the configured one; learning, none (everything
        # is learned); tripped, any (so the reference stays frozen).
        v = self._v
        self.state = state
        if state == ARMED:
            thr = self._thr
            lo = self._lo
        else:
            thr = lo = _DISARMED if state == LEARN else -1
        v[_THR] = thr + _W0
        v[_LO] = lo + _W0
        v[_FASTOK] = 0  # until a window's end has seen the new state
        v[_ALERT] = 1

    def _get(self, k):
        return self._v[k] - (_W0 if k < _RAW or k >= _REF else 0)

    def _put(self, k, x):
        self._v[k] = x + (_W0 if k < _RAW or k >= _REF else 0)

    def wake_after(self, samples):
        # process() returns 1 once this many more samples have gone through it. (A raw
        # word, stored in place: the controller calls this every time it is woken.)
        self._v[_WAKE] = samples

    def present(self):
        # The last cycle was mains (within the restore limits, or the trip limits with no
        # fault standing), even if the fast detector has not re-learned it yet. Never from
        # a sensor that is not working.
        return self.good_now and not self.sensor

    def ok(self):
        # Mains usable for the load: armed fast detector and no qualified fault.
        return self.state == ARMED and self.faults == 0

    @micropython.viper
    def process(self, buf, n: int, now_ms: int) -> int:
        # The hot path, compiled to machine code by MicroPython's viper emitter (plain
        # Python under CPython: the same lines, the casts do nothing there). The state is
        # read from _v into locals once per block and per window, and written back at the
        # end. Returns 1 when the caller has something to look at (the verdict, the sensor,
        # the state or `need` changed since it last returned 1, or wake_after() ran out),
        # else 0.
        b = ptr16(buf)
        v = ptr32(self._v)
        v[_NOW] = now_ms
        ph = int(v[_PH])
        cnt = int(v[_CNT])
        sq = int(v[_SQ])
        raw_sum = int(v[_SUM])
        nw = int(v[_NW])
        zc = int(v[_ZC])
        x1 = int(v[_X1]) - _W0
        x2 = int(v[_X2]) - _W0
        mprev = int(v[_MPREV]) - _W0
        inc = int(v[_INC])
        thr = int(v[_THR]) - _W0
        low = int(v[_LO]) - _W0
        shift = int(v[_SHIFT])
        bias = int(v[_BIAS])
        trip_n = int(v[_TRIP_N])
        hyst = int(v[_HYST])
        max_window = int(v[_MAX_WINDOW])
        for i in range(n):
            raw = int(b[i])
            x = raw - bias
            sq += x * x
            raw_sum += raw
            nw += 1
            ph = (ph + inc) & 0xFFFF
            s = ph >> _SLOT_SHIFT
            f = (ph >> _FRAC_SHIFT) & 255
            a = int(v[_REF + s]) - _W0
            r = a + (((int(v[_REF + ((s + 1) & (_SLOTS - 1))]) - _W0 - a) * f) >> 8)
            d = (x << 3) - r
            # the deviation that counts: _REL_Q8/256 of the learned wave, within
            # [fast_floor_pct, fast_trip_pct] of the nominal peak (see _set_state)
            t = ((r if r >= 0 else 0 - r) * _REL_Q8) >> 8
            if t > thr:
                t = thr
            if t < low:
                t = low
            if d > t or d < 0 - t:
                cnt += 1
                if cnt >= trip_n:
                    cnt = 0
                    # armed (thr > 0), and a run ending at either end of the ADC's range is
                    # the sensor, not the mains (no mains reaches the rails while it works)
                    if 0 < thr < _DISARMED and _RAIL < raw < _TOP:
                        self._trip(i)
                        thr = low = -1
            else:
                cnt = 0
                if f >= 128:
                    s = (s + 1) & (_SLOTS - 1)
                v[_REF + s] = int(v[_REF + s]) + (d >> shift)
            # Zero crossings are found on the median of the last three samples, so that a
            # single-sample spike can neither arm nor fire the crossing detector.
            if x1 > x:
                lo = x
                hi = x1
            else:
                lo = x1
                hi = x
            if x2 < lo:
                m = lo
            elif x2 > hi:
                m = hi
            else:
                m = x2
            x2 = x1
            x1 = x
            end = 0
            if m < 0 - hyst:
                zc = 1
            elif zc != 0 and m >= 0:
                zc = 0
                # The median lags one sample: the crossing lies 1 + g8/256 samples back.
                g8 = (m << 8) // (m - mprev)
                end = 1
                # The ordinary cycle of armed, clean mains ends here; what _window_end
                # would do for it, it does, and every other window goes there.
                ms = 0
                period = 0
                if int(v[_FASTOK]) != 0:
                    # (the window before it ended on a crossing too: a fast one never follows
                    # any other kind)
                    period = (nw << 8) - g8 + int(v[_G8P]) - _W0
                    ms = sq // nw
                    p_q8 = int(v[_PQ8])
                    dev = period - p_q8
                    # a whole, ordinary period within the gate and every restore limit (so
                    # inside every trip limit: _qualify would find nothing, and long enough
                    # for _sensor_check), a mean off the rails; each range checked as one
                    # unsigned comparison
                    if uint(dev + _GATE_Q8) > uint(2 * _GATE_Q8):
                        period = 0
                    elif uint(ms - int(v[_UVOK])) > uint(v[_VSPAN]):
                        period = 0
                    elif uint(period - int(v[_POFOK])) > uint(v[_PSPAN]):
                        period = 0
                    elif uint(raw_sum // nw - _RAIL_MEAN - 1) > uint(4093 - 2 * _RAIL_MEAN):
                        period = 0
                if period != 0:
                    v[_MS] = ms
                    bq8 = int(v[_BQ8])
                    bq8 += ((raw_sum << 8) // nw - bq8) >> 4
                    v[_BQ8] = bq8
                    bias = (bq8 + 128) >> 8
                    if bias < BIAS_MIN:
                        bias = BIAS_MIN
                    elif bias > BIAS_MAX:
                        bias = BIAS_MAX
                    v[_BIAS] = bias
                    v[_G8P] = g8 + _W0
                    v[_PER] = period
                    p_q8 += dev >> 3
                    v[_PQ8] = p_q8
                    inc = (1 << 24) // p_q8
                    v[_INC] = inc
                    pavg = int(v[_PAVG])
                    v[_PAVG] = pavg + (((period << 4) - pavg) >> 4)
                else:
                    self._window_end(sq, nw, raw_sum, g8)
                    inc = int(v[_INC])
                if int(v[_STEER]) != 0:
                    # Pull the phase a quarter of the way to the crossing (a phase-locked
                    # loop): a crossing moved by noise or a transient shifts the reference by
                    # a quarter as much. (Halfway, with the period following by a quarter,
                    # let 2 % noise misalign the reference by two samples now and then: a
                    # false trip every few hundred 9.5 % steps. test_en50160.py) All the
                    # way while a fresh reference is learned (_locking).
                    err = ((((256 + g8) * inc) >> 8) - ph + 0x8000) & 0xFFFF
                    ph = (ph + ((err - 0x8000) >> (int(v[_PULL])))) & 0xFFFF
            if end == 0 and nw >= max_window:
                # no crossing for longer than the longest valid period
                self._window_end(sq, nw, raw_sum, -1)
                end = 1
            if end:
                sq = 0
                raw_sum = 0
                nw = 0
                bias = int(v[_BIAS])
                shift = int(v[_SHIFT])
                thr = int(v[_THR]) - _W0
                low = int(v[_LO]) - _W0
            mprev = m
        v[_PH] = ph
        v[_CNT] = cnt
        v[_SQ] = sq
        v[_SUM] = raw_sum
        v[_NW] = nw
        v[_ZC] = zc
        v[_X1] = x1 + _W0
        v[_X2] = x2 + _W0
        v[_MPREV] = mprev + _W0
        need = int(v[_BLOCK])
        if cnt > 0 and thr > 0 and trip_n - cnt < need:
            need = trip_n - cnt  # armed, and a run has begun
        wake = int(v[_WAKE]) - n
        if need != int(v[_NEED]):  # stored only when it changes: rarely
            v[_NEED] = need
            self.need = need
            wake = 0
        if int(v[_ALERT]) != 0:
            v[_ALERT] = 0  # told once
            wake = 0
        if wake > 0:
            v[_WAKE] = wake
            return 0
        v[_WAKE] = 0
        return 1

    def _trip(self, i):
        self._set_state(TRIPPED)  # and _ALERT
        self.faults |= FAST
        self.trip_sample = i
        self._good_run = 0

    def _window_end(self, sq, nw, raw_sum, g8):
        # Once per cycle (g8 >= 0: the window ended on a rising crossing, g8/256 of a sample
        # before the current sample) or per capped window without a crossing (g8 = -1),
        # for every window that process() does not end itself: learning, tripped, after a
        # gap, limits pending or a sensor in doubt, an odd period or level. Then it tells
        # process() whether the next ordinary cycle may end there (_FASTOK) and the caller
        # whether anything it acts on changed (_ALERT).
        v = self._v
        if self._partial:
            # the first window after a gap: it began anywhere in the cycle, so its sums
            # mean nothing (its mean would pull the bias); it only marks the crossing
            # where the next window starts
            self._partial = False
            v[_STEER] = 0
            v[_G8P] = g8 + _W0
            return
        was_faults = self.faults  # (four words: a tuple would allocate)
        was_sensor = self.sensor
        was_state = self.state
        was_good = self.good_now
        ms = sq // nw
        v[_MS] = ms
        # The reading looks like mains (a crossing, a mean off the rails, not too short) and
        # the last window did too: no sensor check can find anything (_sensor_check).
        mean = raw_sum // nw
        if (
            g8 < 0
            or self._odd_kind
            or mean <= _RAIL_MEAN
            or mean >= 4095 - _RAIL_MEAN
            or (nw << 8) < self._p_min
        ):
            self._sensor_check(sq, nw, raw_sum, g8, ms)
        # The ADC bias is the mean of whole cycles; follow it slowly (drift, temperature).
        bias_q8 = v[_BQ8]
        bias_q8 += ((raw_sum << 8) // nw - bias_q8) >> 4
        v[_BQ8] = bias_q8
        bias = (bias_q8 + 128) >> 8
        v[_BIAS] = BIAS_MIN if bias < BIAS_MIN else (BIAS_MAX if bias > BIAS_MAX else bias)
        period = 0
        g8_prev = v[_G8P] - _W0
        if g8 >= 0 and g8_prev >= 0:
            period = (nw << 8) - g8 + g8_prev
            if period < self._p_min or period > self._p_max:
                period = 0
        v[_G8P] = g8 + _W0
        v[_PER] = period
        if g8 < 0 and ms < self._absent_ms:  # no crossing at all, little energy
            self._absent_run += 1
        else:
            self._absent_run = 0
        v[_STEER] = 0
        if period:
            p_q8 = v[_PQ8]
            dev = period - p_q8
            if -_GATE_Q8 <= dev <= _GATE_Q8:
                # Smooth the phase step (by 1/8) so that zero-crossing jitter does not
                # move the reference; by 1/2 while the phase is being locked.
                self._set_period(p_q8 + (dev >> (1 if self._lock else 3)))
                self._rejected = 0
                v[_STEER] = 1
            elif self._rejected >= 2:
                # Three odd periods in a row: the frequency really moved. Re-lock.
                self._set_period(period)
                self._rejected = 0
                v[_STEER] = 1
            else:
                # A crossing moved by a transient (spikes a sample apart get past the
                # median): it steers nothing and counts as an ordinary cycle.
                self._rejected += 1
                period = p_q8
            # The reading people see averages about 16 cycles (period in 1/4096 sample).
            p_avg = v[_PAVG]
            v[_PAVG] = p_avg + (((period << 4) - p_avg) >> 4)
        good = (
            self._uv_ok_ms <= ms <= self._ov_ok_ms
            and period != 0
            and self._p_of_ok <= period <= self._p_uf_ok
        )
        # The restore levels are for clearing a fault that stands (hysteresis). With none
        # standing, a cycle inside the trip levels is mains too: a steady supply between
        # a restore and a trip level (110-113 %: EN 50160's +-10 % and a hair) is learned,
        # armed, and armed again after a trip.
        usable = good or (
            not self.faults & _LIMITS
            and self._uv_ms <= ms <= self._ov_ms
            and period != 0
            and self._p_of <= period <= self._p_uf
        )
        self.good_now = usable
        if self.sensor:
            pass
        elif good:
            # Within every restore limit, so inside every trip limit too (the settings keep
            # each restore level inside its trip level): the four checks of _qualify would
            # find nothing bad and everything restored.
            self._pending = 0
            self.faults &= ~_LIMITS
        else:
            self._qualify(ms, period)
        state = self.state
        if state == TRIPPED:
            self._good_run = self._good_run + 1 if usable else 0
            if self._good_run >= _RESTORE_CYCLES:
                self._start_learning()
        elif state == ARMED:
            pass
        elif usable:
            self._learned += 1
            if self._learned >= _LEARN_CYCLES:
                self._set_state(ARMED)
                self.faults &= ~FAST
                self.sensor = 0
                v[_SHIFT] = 3
            elif self._learned >= _COPY_CYCLES + _FAST_CYCLES:
                v[_SHIFT] = 3
                if self._learned >= _LOCK_CYCLES:
                    self._locking(False)
            elif self._learned >= _COPY_CYCLES:
                v[_SHIFT] = 1
        else:
            self._start_learning()
        # (and the window just ended was ordinary too, good and steering, so with nothing
        # rejected and mains present: process() then need not store those)
        fast = (
            self.state == ARMED
            and not self._lock
            and not self.sensor
            and not self._odd_kind
            and not self._pending
            and not self.faults & _LIMITS
            and good
            and v[_STEER]
        )
        v[_FASTOK] = 1 if fast else 0
        if (
            self.faults != was_faults
            or self.sensor != was_sensor
            or self.state != was_state
            or self.good_now != was_good
        ):
            v[_ALERT] = 1

    def _sensor_check(self, sq, nw, raw_sum, g8, ms):
        # Per window: does the reading look like no mains could, good or bad? Then, after
        # _SENSOR_WINDOWS such windows in a row (_NOISY_WINDOWS for noise), the reading is
        # not used: no fault is qualified from it and it is never good, until the sensor has
        # shown mains again for long enough to re-learn it (ARMED).
        mean = raw_sum // nw
        kind = 0
        if mean <= _RAIL_MEAN:
            kind = SENSOR_OPEN
        elif mean >= 4095 - _RAIL_MEAN:
            kind = SENSOR_SATURATED
        elif g8 < 0:
            # every sample the same: the mean of the centred samples is a whole count and
            # their mean square is its square (products stay below 2^30 on a board)
            x = raw_sum - nw * self._v[_BIAS]
            m = x // nw
            if m * nw == x and sq == nw * m * m:
                kind = SENSOR_STUCK
        elif (nw << 8) < self._p_min and ms >= self._absent_ms:
            kind = SENSOR_NOISY
        if kind == 0 or kind != self._odd_kind:
            self._odd_run = 0
        self._odd_kind = kind
        if kind:
            self._odd_run += 1
            need = _NOISY_WINDOWS if kind == SENSOR_NOISY else _SENSOR_WINDOWS
            if self._odd_run >= need and self.sensor != kind:
                self.sensor = kind
                self._set_state(TRIPPED)
                self._good_run = 0
                self.faults = 0
                self._pending = 0

    def _start_learning(self):
        self._set_state(LEARN)
        self._learned = 0
        self._v[_SHIFT] = 0
        self._locking(True)

    def _qualify(self, ms, period):
        # The slow limits, as bit masks: what is bad in this window (pending from the first
        # such window on, its time noted), what is within its restore level; a fault
        # qualifies once its condition has held for its time since it began, and clears
        # when it no longer holds and the reading is restored. (UF and OF share a timer:
        # only one of them can hold.) While nothing moves, as through an outage, no clock.
        bad = UV if ms < self._uv_ms else (OV if ms > self._ov_ms else 0)
        if period == 0 or period > self._p_uf:
            bad |= UF
        elif period < self._p_of:
            bad |= OF
        ok = UV if ms >= self._uv_ok_ms else 0
        if ms <= self._ov_ok_ms:
            ok |= OV
        if period != 0 and period <= self._p_uf_ok:
            ok |= UF
        if period == 0 or period >= self._p_of_ok:
            ok |= OF
        was = self._pending
        self._pending = bad
        self.faults &= ~(ok & ~bad)
        fresh = bad & ~was
        wait = bad & was & ~self.faults
        if fresh | wait:
            now = self._v[_NOW]
            t = self._t
            if fresh & UV:
                t[0] = now
            if fresh & OV:
                t[1] = now
            if fresh & (UF | OF):
                t[2] = now
            diff = self._ticks_diff
            if wait & UV and diff(now, t[0]) >= self._uv_qual:
                self.faults |= UV
            if wait & OV and diff(now, t[1]) >= self._ov_qual:
                self.faults |= OV
            if wait & (UF | OF) and diff(now, t[2]) >= self._f_qual:
                self.faults |= wait & (UF | OF)

    # Readings for people (allocate floats: never called from the control path).
    def voltage(self, cfg):
        return (self._get(_MS) ** 0.5) * cfg.get("adc.mains_mv_per_count") / 1000

    def frequency(self):
        return self.fs * 4096 / self._get(_PAVG) if self._get(_PER) else 0.0
