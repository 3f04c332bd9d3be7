# IEC 61000-4-11 voltage dips and short interruptions, at every test phase angle, on 50 Hz
# 230 V and 60 Hz 120 V mains with 8 ms relays: the load must stay inside ITIC every time.
import pytest

from helpers import events_named, mains, simulate

# (residual %, duration in cycles at 50 Hz, at 60 Hz)
LEVELS = [(0, 0.5, 0.5), (0, 1, 1), (40, 10, 12), (70, 25, 30), (80, 250, 300), (0, 250, 300)]
PHASES = list(range(0, 360, 45))
SUPPLIES = [(50, 230), (60, 120)]


def _cases():
    for f, v in SUPPLIES:
        for residual, c50, c60 in LEVELS:
            for ph in PHASES:
                yield pytest.param(
                    f,
                    v,
                    residual,
                    c50 if f == 50 else c60,
                    ph,
                    id="%dHz-%d%%-%gc-%ddeg" % (f, residual, c50 if f == 50 else c60, ph),
                )


@pytest.mark.parametrize("freq, volts, residual, cycles, phase", list(_cases()))
def test_dip_leaves_the_load_inside_itic(freq, volts, residual, cycles, phase):
    dur = cycles / float(freq)
    rep, sim = simulate(
        1.0 + dur + 4.0,
        mains(
            volts,
            freq,
            thd_pct=3,
            noise_pct=0.5,
            events=[
                {
                    "at_s": 1.0,
                    "kind": "dip",
                    "residual_pct": residual,
                    "duration_s": dur,
                    "phase_deg": phase,
                }
            ],
        ),
        seed=phase + freq + residual,
        config={"transfer.return_delay_s": 2},
        relays={"operate_ms": 8},
    )
    m = rep["metrics"]
    assert m["itic_violations"] == 0, rep["timeline"]
    assert not m["load_dropped"]
    assert m["max_load_interruption_ms"] < 20
    # one transfer to battery and back to mains afterwards: a dip below 75 % (the fast
    # detector's level, mains.fast_trip_pct 25) caught within ms by the fast detector; a
    # sag above it, which the load rides through for 0.5 s (ITIC), by the under-voltage
    # detector once it has lasted mains.uv_qual_ms (200 ms)
    assert m["transfers_to_battery"] == 1
    lost = events_named(rep, "mains_lost")
    assert len(m["detection_latency_ms"]) == 1
    if residual < 75:
        assert lost and "fast" in lost[0]["reasons"]
    else:
        assert lost and lost[0]["reasons"] == ["undervoltage"]
        assert 200 <= m["detection_latency_ms"][0] <= 200 + 2 * 1000 / freq
    if residual in (0, 40):
        assert m["detection_latency_ms"][0] <= 3.0  # the goal (docs/benchmarks.md)
    loads = [e["event"] for e in rep["timeline"] if e["event"].startswith("load_to_")]
    assert loads == ["load_to_battery", "load_to_mains"]
    # never closed onto mains before the dip was over
    back = events_named(rep, "load_to_mains")[0]["t_ms"]
    end = events_named(rep, "disturbance_end")[0]["t_ms"]
    assert back > end + 2000


def test_moderate_sags_go_through_their_qualification_time_deep_ones_do_not():
    # A step to 194 V (84 %) is an under-voltage: it moves the load after uv_qual_ms, not
    # in 5 ms. A motor start that sags to 82 % for 1.5 s rides through once uv_qual_ms
    # allows it, with the fast detector as it is; a dip to 70 % is still caught in ms.
    def run(residual, dur, config=None):
        rep, _ = simulate(
            8,
            mains(
                230,
                50,
                thd_pct=3,
                noise_pct=0.5,
                events=[
                    {
                        "at_s": 2.0,
                        "kind": "dip",
                        "residual_pct": residual,
                        "duration_s": dur,
                        "phase_deg": 90,
                    }
                ],
            ),
            config=dict({"transfer.return_delay_s": 2}, **(config or {})),
        )
        return rep

    rep = run(194 / 2.3, 4)
    assert events_named(rep, "mains_lost")[0]["reasons"] == ["undervoltage"]
    assert 200 <= rep["metrics"]["detection_latency_ms"][0] <= 240
    rep = run(82, 1.5, {"mains.uv_qual_ms": 2000})
    assert rep["metrics"]["transfers_to_battery"] == 0 and rep["metrics"]["itic_violations"] == 0
    rep = run(70, 1.5, {"mains.uv_qual_ms": 2000})
    assert events_named(rep, "mains_lost")[0]["reasons"] == ["fast"]
    assert rep["metrics"]["detection_latency_ms"][0] <= 5
