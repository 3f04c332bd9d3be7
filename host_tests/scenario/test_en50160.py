# Mains that EN 50160 calls normal must never move the load: voltage within +-10 % with
# rapid changes up to 9.5 %, frequency within +-1 % (slow changes), THD up to 8 % within the
# individual harmonic limits, flicker, noise and single-sample spikes. Hypothesis draws the
# supply; each example runs 15 simulated minutes, so a test run covers three hours.
import math

import pytest
from hypothesis import given, settings, strategies as st

from helpers import events_named, mains, simulate

MINUTES = 15


@st.composite
def harmonics(draw):
    h = {"3": draw(st.floats(0, 5)), "5": draw(st.floats(0, 6)), "7": draw(st.floats(0, 5))}
    thd = math.sqrt(sum(v * v for v in h.values()))
    if thd > 8:
        h = {k: v * 8 / thd for k, v in h.items()}
    return h


@st.composite
def supply(draw, freq):
    volts = 230 if freq == 50 else 120
    duration = MINUTES * 60
    base = draw(st.floats(0.9, 1.1))
    events = []
    t = draw(st.floats(2, 60))
    for _ in range(draw(st.integers(0, 8))):
        lo, hi = max(0.9, base - 0.095), min(1.1, base + 0.095)
        level = draw(st.floats(lo, hi))
        dur = draw(st.floats(0.05, 120))
        if t + dur > duration - 1:
            break
        factor = level / base
        ev = {"at_s": t, "duration_s": dur, "phase_deg": draw(st.sampled_from(range(0, 360, 15)))}
        if factor < 1:
            ev.update(kind="dip", residual_pct=factor * 100)
        else:
            ev.update(kind="swell", level_pct=max(100.0, factor * 100))
        events.append(ev)
        t += dur + draw(st.floats(1, 120))
    t = draw(st.floats(2, 200))
    for _ in range(draw(st.integers(0, 3))):
        dur = draw(st.floats(10, 200))
        if t + dur > duration - 1:
            break
        events.append(
            {
                "at_s": t,
                "kind": "frequency",
                "duration_s": dur,
                "frequency_hz": freq * (1 + draw(st.floats(-0.01, 0.01))),
                "ramp_s": draw(st.floats(2, 20)),
            }
        )
        t += dur + draw(st.floats(30, 200))
    return mains(
        volts,
        freq * (1 + draw(st.floats(-0.005, 0.005))),
        voltage_pct=base * 100,
        harmonics=draw(harmonics()),
        noise_pct=draw(st.floats(0, 2)),
        flicker_pct=draw(st.floats(0, 1)),
        flicker_hz=draw(st.floats(0.5, 25)),
        spikes_per_s=draw(st.floats(0, 20)),
        spike_pct=draw(st.floats(0, 100)),
        events=events,
    )


def _check(m, seed):
    rep, sim = simulate(MINUTES * 60, m, seed=seed)
    assert events_named(rep, "mains_lost") == [], (m, rep["timeline"][:6])
    assert rep["metrics"]["transfers_to_battery"] == 0
    assert sim.controller.monitor.ok()


@pytest.mark.parametrize("freq", [50, 60])
@settings(max_examples=6)
@given(data=st.data(), seed=st.integers(1, 10**6))
def test_normal_mains_never_moves_the_load(freq, data, seed):
    _check(data.draw(supply(freq)), seed)


@pytest.mark.parametrize("freq", [50, 60])
def test_rapid_changes_of_9_5_pct_at_every_phase_with_noise_and_spikes_never_move_the_load(freq):
    # The worst EN 50160 allows, over and over: 98 steps down and 98 up by 9.5 %, starting
    # at phases spread over the cycle, on 2 % noise, 8 % THD, flicker and full-scale
    # single-sample spikes. This supply set the phase-locked loop's gains (pulled halfway
    # to each crossing it moved the load once in 600 s for these seeds, 3 times in 12 runs
    # of other seeds) and kept mains.fast_trip_pct at 15 when that was its default (at 13
    # it moved the load 5 times in 12 runs, at 12 in 11 of 12); the default is 25 now.
    volts = 230 if freq == 50 else 120
    events = []
    for k in range(98):
        ph = (k * 37) % 360
        if k % 2:
            events.append(
                {
                    "at_s": 2.0 + 6 * k,
                    "kind": "dip",
                    "residual_pct": 90.5,
                    "duration_s": 3.0,
                    "phase_deg": ph,
                }
            )
        else:
            events.append(
                {
                    "at_s": 2.0 + 6 * k,
                    "kind": "swell",
                    "level_pct": 109.5,
                    "duration_s": 3.0,
                    "phase_deg": ph,
                }
            )
    rep, _ = simulate(
        600,
        mains(
            volts,
            freq,
            harmonics={"3": 5, "5": 6, "7": 1.5},
            noise_pct=2,
            flicker_pct=1,
            flicker_hz=8.8,
            spikes_per_s=20,
            spike_pct=100,
            events=events,
        ),
        seed=freq,
    )
    m = rep["metrics"]
    assert m["transfers_to_battery"] == 0, events_named(rep, "mains_lost")
    assert m["itic_violations"] == 0
