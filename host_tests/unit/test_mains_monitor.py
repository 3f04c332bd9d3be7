# The mains monitor on its own and on the simulated board: integer bounds, qualification
# times, hysteresis, readings, and a clock that wraps.
from array import array

import pytest
from hypothesis import given, strategies as st

from boards.sim.board import SimBoard
from firmware import mains_monitor as mm
from firmware.config import Config
from helpers import events_named, mains, one_block, simulate
from mains_feed import Feed

SMALL = 1 << 30  # a MicroPython small int on a 32-bit board is below 2^30 in magnitude


def test_accumulator_bounds_fit_a_32_bit_small_int():
    longest_window = mm.MAX_RATE_HZ // 40
    largest_x = max(mm.BIAS_MAX, 4095 - mm.BIAS_MIN)
    assert largest_x <= 3072
    assert longest_window * largest_x * largest_x < SMALL
    assert 8 * largest_x * 2 * 255 < SMALL  # interpolation product
    assert longest_window * 4095 * 256 < SMALL  # raw sum in q8 for the bias


def _ints(mon):
    return [mon._get(k) for k in range(len(mon._v))]


@given(
    st.lists(st.lists(st.integers(0, 4095), min_size=4, max_size=4), min_size=1, max_size=400),
    st.sampled_from([0, 4095, 2048, None]),
)
def test_any_adc_input_keeps_every_value_a_small_int(blocks, stuck):
    cfg = Config()
    mon = mm.MainsMonitor(cfg, 4000, lambda a, b: a - b)
    buf = array("H", [0] * 4)
    t = 0
    for _ in range(3):
        for blk in blocks:
            for j in range(4):
                buf[j] = blk[j] if stuck is None else stuck
            t += 1
            mon.process(buf, 4, t)
            for v in _ints(mon):
                assert -SMALL < v < SMALL
            # as stored for the viper loop (the signed words plus _W0): never negative,
            # never past a signed word
            for w in mon._v:
                assert 0 <= w < 1 << 31


def _first_loss(rep):
    lost = events_named(rep, "mains_lost")
    assert lost, rep["timeline"]
    return lost[0]


# fast_trip_pct 30 keeps the fast detector out of the way, to see the slow ones.
SLOW_ONLY = {"mains.fast_trip_pct": 30}


@pytest.mark.parametrize(
    "kind, level, reason, qual_key",
    [
        ("dip", 80, "undervoltage", "mains.uv_qual_ms"),
        ("swell", 117, "overvoltage", "mains.ov_qual_ms"),
    ],
)
def test_voltage_faults_trip_after_their_qualification_time(kind, level, reason, qual_key):
    ev = {"at_s": 2, "kind": kind, "duration_s": 3, "phase_deg": 0}
    ev["residual_pct" if kind == "dip" else "level_pct"] = level
    rep, _ = simulate(6, mains(events=[ev]), config=SLOW_ONLY)
    lost = _first_loss(rep)
    assert lost["reasons"] == [reason]
    start = events_named(rep, "disturbance")[0]["t_ms"]
    qual = Config().get(qual_key)
    # qualification time, then at most two cycles for the window that sees it
    assert qual <= lost["t_ms"] - start <= qual + 45


def test_qualification_is_configurable():
    ev = {"at_s": 2, "kind": "dip", "residual_pct": 80, "duration_s": 3}
    cfg = dict(SLOW_ONLY, **{"mains.uv_qual_ms": 1000})
    rep, _ = simulate(6, mains(events=[ev]), config=cfg)
    delay = _first_loss(rep)["t_ms"] - events_named(rep, "disturbance")[0]["t_ms"]
    assert 1000 <= delay <= 1045


def test_a_dip_shorter_than_the_qualification_time_does_not_trip():
    ev = {"at_s": 2, "kind": "dip", "residual_pct": 80, "duration_s": 0.15}
    rep, _ = simulate(4, mains(events=[ev]), config=SLOW_ONLY)
    assert events_named(rep, "mains_lost") == []
    assert rep["metrics"]["transfers_to_battery"] == 0


@pytest.mark.parametrize("target, reason", [(48.0, "underfrequency"), (52.0, "overfrequency")])
def test_frequency_faults_trip(target, reason):
    ev = {"at_s": 2, "kind": "frequency", "frequency_hz": target, "duration_s": 4, "ramp_s": 1}
    rep, _ = simulate(8, mains(events=[ev]), config=SLOW_ONLY)
    lost = _first_loss(rep)
    assert lost["reasons"] == [reason]
    # 3 % (48.5 / 51.5 Hz) is reached 0.75 s into the ramp, then 300 ms of qualification
    t = lost["t_ms"] - 2000
    assert 750 + 300 <= t <= 750 + 300 + 60


def test_restore_needs_the_restore_level_not_just_the_trip_level():
    # 80 % trips; 86.5 % is above the 85 % trip level but below the 88 % restore level
    evs = [
        {"at_s": 2, "kind": "dip", "residual_pct": 80, "duration_s": 2},
        {"at_s": 4, "kind": "dip", "residual_pct": 86.5, "duration_s": 4},
    ]
    rep, _ = simulate(12, mains(events=evs), config=SLOW_ONLY)
    restored = events_named(rep, "mains_restored")
    assert restored and restored[0]["t_ms"] > 8000
    assert len(events_named(rep, "mains_lost")) == 1


@pytest.mark.parametrize("pct", [86.5, 111.0])
def test_a_steady_supply_between_restore_and_trip_level_is_mains(pct):
    # 86.5 % and 111 % lie between a trip level (85, 113) and its restore level (88, 110).
    # With no fault standing that is mains: learned and armed at boot, and armed again
    # after a collapse; only a fault that stands needs the restore level to clear.
    evs = [{"at_s": 5, "kind": "dip", "residual_pct": 0, "duration_s": 0.1, "phase_deg": 90}]
    rep, sim = simulate(12, mains(voltage_pct=pct, events=evs))
    lost = events_named(rep, "mains_lost")
    assert [e["reasons"] for e in lost] == [["fast"]], rep["timeline"]
    assert 5000 <= lost[0]["t_ms"] <= 5004
    assert len(events_named(rep, "mains_restored")) == 1
    assert sim.controller.monitor.ok() and rep["metrics"]["transfers_to_battery"] == 1


def test_a_standing_fault_still_needs_the_restore_level():
    # 117 % for 1 s trips overvoltage; back at 111 % (inside the trip level, outside the
    # restore level) it stands; at 108 % it clears
    evs = [
        {"at_s": 3, "kind": "swell", "level_pct": 117 / 1.11, "duration_s": 1},
        {"at_s": 7, "kind": "dip", "residual_pct": 108 / 1.11, "duration_s": 5},
    ]
    rep, sim = simulate(12, mains(voltage_pct=111, events=evs), config=SLOW_ONLY)
    assert [e["reasons"] for e in events_named(rep, "mains_lost")] == [["overvoltage"]]
    restored = events_named(rep, "mains_restored")
    assert len(restored) == 1 and restored[0]["t_ms"] > 7000


@pytest.mark.parametrize("freq, volts, pct, hz", [(50, 230, 95, 50.3), (60, 120, 104, 59.6)])
def test_readings_follow_the_supply(freq, volts, pct, hz):
    rep, sim = simulate(2, mains(volts, hz, voltage_pct=pct, thd_pct=4, noise_pct=1))
    mon = sim.controller.monitor
    assert mon.ok()
    assert abs(mon.voltage(sim.cfg) - volts * pct / 100.0) < volts * 0.01
    assert abs(mon.frequency() - hz) < 0.05


def test_timeline_is_the_same_across_a_clock_wrap():
    evs = [
        {"at_s": 1.5, "kind": "outage", "duration_s": 1, "phase_deg": 45},
        {"at_s": 6, "kind": "dip", "residual_pct": 80, "duration_s": 1},
    ]
    plain, _ = simulate(10, mains(events=evs), config={"transfer.return_delay_s": 2})
    wrapped, _ = simulate(
        10,
        mains(events=evs),
        config={"transfer.return_delay_s": 2},
        start_ticks_ms=(1 << 30) - 3000,
    )
    assert plain["timeline"] == wrapped["timeline"]
    assert len(events_named(plain, "load_to_mains")) == 2


def test_board_clock_wraps_at_2_30():
    from boards.sim import scenario

    sc = scenario.check({"start_ticks_ms": (1 << 30) - 2})
    board = SimBoard(sc, 360)
    buf = array("H", [0] * 4)
    seen = []
    for _ in range(4):
        seen.append(board.read_block(buf, 4, one_block))
        assert board.ticks_ms() == seen[-1]  # a read returns the clock at its end
    assert seen == [(1 << 30) - 1, 0, 1, 2]
    assert board.read_block(buf, 2, one_block) == 2 and board.read_block(buf, 2, one_block) == 3
    assert board.ticks_diff(0, (1 << 30) - 1) == 1
    assert board.ticks_add((1 << 30) - 1, 2) == 1


@pytest.mark.parametrize("phase_deg", range(0, 360, 15))
def test_mains_back_is_never_taken_for_absent_whatever_the_phase_a_watch_window_opens_at(
    phase_deg,
):
    # The idle watch looks at the mains for one window after a gap (resume()). A window cut
    # short by the first rising crossing holds only part of a cycle, perhaps only a few
    # small samples before it: that crossing still shows mains, so the monitor must not
    # report it absent and let the controller look away again for another second.
    f = Feed()
    f.wave(ms=1000)
    assert f.mon.ok()
    f.wave(ms=200, pct=0)  # gone: tripped, then absent
    assert f.mon.absent()
    f.mon.resume()  # the controller looked away and back
    f.phase = phase_deg / 360.0
    for _ in range(25):  # one 25 ms watch window of mains that is back
        f.wave(ms=1)
        assert not f.mon.absent()


def test_settings_the_monitor_cannot_use_are_refused_saying_what_is_allowed():
    def diff(a, b):
        return a - b

    cfg = Config()
    for fs in (1000, 4000, mm.MAX_RATE_HZ):
        assert mm.MainsMonitor(cfg, fs, diff).fs == fs
    for fs in (999, mm.MAX_RATE_HZ + 1):
        with pytest.raises(ValueError) as e:
            mm.MainsMonitor(cfg, fs, diff)
        assert str(e.value) == "sample rate %d Hz not supported; allowed 1000..%d" % (
            fs,
            mm.MAX_RATE_HZ,
        )
    # a calibration that puts 230 V above 1900 counts at its peak (no room for swells
    # in a 12-bit ADC centred at 2048): the smallest accepted, and one below it
    ok = [mv for mv in range(50, 400) if int(230000 / mv * 1.41421356 + 0.5) <= 1900]
    cfg.update({"adc.mains_mv_per_count": ok[0]})
    assert mm.MainsMonitor(cfg, 4000, diff).nominal_peak == int(230000 / ok[0] * 1.41421356 + 0.5)
    cfg.update({"adc.mains_mv_per_count": ok[0] - 1})
    with pytest.raises(ValueError) as e:
        mm.MainsMonitor(cfg, 4000, diff)
    peak = int(230000 / (ok[0] - 1) * 1.41421356 + 0.5)
    assert str(e.value) == (
        "adc.mains_mv_per_count = %d puts the nominal peak at %d counts;"
        " allowed at most 1900 (raise the value)" % (ok[0] - 1, peak)
    )


class _EveryWindowInPython(mm.MainsMonitor):
    # The same monitor with every window's end in _window_end: process() never ends one
    # itself.
    def _window_end(self, sq, nw, raw_sum, g8):
        super()._window_end(sq, nw, raw_sum, g8)
        self._put(mm._FASTOK, 0)


def _state(mon):
    words = [mon._get(k) for k in range(len(mon._v)) if k != mm._FASTOK]
    return words + [
        mon.faults,
        mon.state,
        mon.sensor,
        mon.good_now,
        mon.need,
        mon._pending,
        mon._rejected,
        mon._absent_run,
        mon._learned,
        mon._good_run,
        list(mon._t),
    ]


@pytest.mark.parametrize("freq,seed", [(50, 1), (60, 2), (50, 3), (60, 4)])
def test_an_ordinary_cycle_ended_in_machine_code_leaves_what_python_would(freq, seed):
    # Supplies with harmonics, noise, flicker, slow swells and sags, frequency ramps, then a
    # dip, an interruption and a swell: block for block, both monitors hold the same words,
    # verdict and counters, and the fast path took most of the windows.
    from boards.sim import scenario
    from boards.sim.mains import Mains
    from tools import mains_sweep

    sc = mains_sweep.supply(seed, freq, seconds=25)
    more = scenario.check(
        {
            "mains": {
                "events": [
                    {
                        "at_s": 26.0,
                        "kind": "dip",
                        "residual_pct": 40,
                        "duration_s": 0.2,
                        "phase_deg": 77,
                    },
                    {"at_s": 27.0, "kind": "outage", "duration_s": 0.5},
                    {"at_s": 28.5, "kind": "swell", "level_pct": 125, "duration_s": 0.4},
                ]
            }
        }
    )
    sc["mains"]["events"] = sc["mains"]["events"] + more["mains"]["events"]
    cfg = Config()
    cfg.update({"mains.nominal_v": 230 if freq == 50 else 120, "mains.frequency_hz": freq})
    fast = mm.MainsMonitor(cfg, 4000, lambda a, b: a - b)
    slow = _EveryWindowInPython(cfg, 4000, lambda a, b: a - b)
    mains = Mains(sc, 4000, 1000.0 / cfg.get("adc.mains_mv_per_count"), lambda *a: None)
    ends = [0]
    window_end = fast._window_end

    def counted(*a):
        ends[0] += 1
        window_end(*a)

    fast._window_end = counted
    buf = array("H", [0] * 4)
    k = 0
    faults_seen = 0
    while k < 30 * 4000:
        n = fast.need
        assert slow.need == n
        mains.fill(buf, n, k / 4000)
        k += n
        assert fast.process(buf, n, k // 4) == slow.process(buf, n, k // 4)
        assert _state(fast) == _state(slow), k
        faults_seen |= fast.faults
    assert faults_seen & mm.FAST and faults_seen & mm.OV  # the events were seen
    assert ends[0] < 30 * freq // 4  # most cycles ended natively


_NATIVE_CHECK = """
import sys
sys.path.insert(0, '.')
from array import array
from boards.sim.mains import Mains
from firmware import mains_monitor as mm
from firmware.config import Config
from tools import mains_sweep


FASTOK = %d                  # the slot (a private const: no module attribute here)


class Slow(mm.MainsMonitor):
    def _window_end(self, sq, nw, raw_sum, g8):
        mm.MainsMonitor._window_end(self, sq, nw, raw_sum, g8)
        self._put(FASTOK, 0)


def state(m):
    return ([m._get(k) for k in range(len(m._v)) if k != FASTOK]
            + [m.faults, m.state, m.sensor, m.good_now, m.need, m._rejected, m._absent_run])


freq = %d
cfg = Config()
cfg.update({'mains.nominal_v': 230 if freq == 50 else 120, 'mains.frequency_hz': freq})
a = mm.MainsMonitor(cfg, 4000, lambda x, y: x - y)
b = Slow(cfg, 4000, lambda x, y: x - y)
mains = Mains(mains_sweep.supply(%d, freq, seconds=20), 4000, 1000.0 / 360, lambda *x: None)
buf = array('H', [0] * 4)
k = 0
while k < 20 * 4000:
    n = a.need
    mains.fill(buf, n, k / 4000)
    k += n
    if a.process(buf, n, k // 4) != b.process(buf, n, k // 4) or state(a) != state(b):
        print('differ at sample', k)
        raise SystemExit(1)
print('same', k)
"""


@pytest.mark.parametrize("freq,seed", [(50, 5), (60, 6)])
def test_the_machine_code_cycle_end_matches_python_in_micropython(freq, seed):
    from conftest import run_micropython

    p = run_micropython(["-c", _NATIVE_CHECK % (mm._FASTOK, freq, seed)], timeout=300)
    assert p.returncode == 0 and p.stdout.split() == ["same", "80000"], p.stdout + p.stderr


def _qualify_by_bit(mon, pending, faults, t, ms, period, now):
    # The slow limits one fault at a time, as a reference: bad from the first window, its
    # time noted; qualified once it has held that long; cleared when it no longer holds
    # and the reading is restored (UF and OF share a timer).
    checks = (
        (mm.UV, 0, ms < mon._uv_ms, ms >= mon._uv_ok_ms, mon._uv_qual),
        (mm.OV, 1, ms > mon._ov_ms, ms <= mon._ov_ok_ms, mon._ov_qual),
        (
            mm.UF,
            2,
            period == 0 or period > mon._p_uf,
            period != 0 and period <= mon._p_uf_ok,
            mon._f_qual,
        ),
        (
            mm.OF,
            2,
            period != 0 and period < mon._p_of,
            period == 0 or period >= mon._p_of_ok,
            mon._f_qual,
        ),
    )
    for bit, k, bad, restored, qual in checks:
        if bad:
            if not pending & bit:
                pending |= bit
                t[k] = now
            elif now - t[k] >= qual:
                faults |= bit
        else:
            pending &= ~bit
            if restored:
                faults &= ~bit
    return pending, faults


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["low", "uv", "ok", "ov", "high"]),
            st.sampled_from(["none", "uf", "ok", "of", "low_f", "high_f"]),
            st.integers(1, 50),  # windows in a row like this
            st.integers(1, 400),  # ms apart
        ),
        min_size=1,
        max_size=30,
    )
)
def test_the_slow_limits_qualify_and_clear_as_each_fault_s_own_rule_says(runs):
    cfg = Config()
    mon = mm.MainsMonitor(cfg, 4000, lambda a, b: a - b)
    levels = {
        "low": mon._uv_ms - 1,
        "uv": (mon._uv_ms + mon._uv_ok_ms) // 2,
        "ok": (mon._uv_ok_ms + mon._ov_ok_ms) // 2,
        "ov": (mon._ov_ok_ms + mon._ov_ms) // 2,
        "high": mon._ov_ms + 1,
    }
    periods = {
        "none": 0,
        "uf": mon._p_uf + 1,
        "low_f": (mon._p_uf_ok + mon._p_uf) // 2,
        "ok": (mon._p_of_ok + mon._p_uf_ok) // 2,
        "high_f": (mon._p_of + mon._p_of_ok) // 2,
        "of": mon._p_of - 1,
    }
    pending = faults = 0
    t = [0, 0, 0]
    now = 0
    for level, freq, count, dt in runs:
        ms, period = levels[level], periods[freq]
        for _ in range(count):
            now += dt
            mon._v[mm._NOW] = now
            mon._qualify(ms, period)
            pending, faults = _qualify_by_bit(mon, pending, faults, t, ms, period, now)
            assert (mon._pending, mon.faults & mm._LIMITS) == (pending, faults)
