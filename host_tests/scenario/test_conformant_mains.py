# Conformant mains from boot on must never move the load (EN 50160: voltage within
# +-10 % with steps, frequency within +-1 % with slow changes, THD up to 8 %, noise up to
# 1 %, flicker), and a dip must be caught within 3 ms wherever on the wave it begins.
# A sample of seeds here; `make bench` sweeps a thousand seeds a frequency and every
# degree of the cycle (tools/mains_sweep.py).
import pytest

from conftest import run_micropython
from helpers import events_named, simulate

LIMIT_SAMPLES = 12  # 3 ms at 4 kHz


@pytest.mark.parametrize("freq", [50, 60])
def test_a_sample_of_conformant_supplies_never_fails_from_boot_on(freq):
    p = run_micropython(["tools/mains_sweep.py", str(freq), "1", "25", "60"], timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.splitlines()[-1] == "seeds 25 faulted 0", p.stdout


@pytest.mark.parametrize("freq, volts, seed", [(60, 120, 2391), (50, 230, 7), (60, 120, 8)])
def test_the_whole_controller_on_conformant_mains_never_moves_the_load(freq, volts, seed):
    # seed 2391 at 60 Hz / 120 V once moved the load 426 ms after boot: the reference was
    # learned while the phase was still being pulled in
    rep, sim = simulate(
        60,
        {
            "nominal_v": volts,
            "frequency_hz": freq,
            "thd_pct": 8,
            "noise_pct": 1,
            "flicker_pct": 0.5,
        },
        seed=seed,
    )
    assert events_named(rep, "mains_lost") == []
    assert rep["metrics"]["transfers_to_battery"] == 0 and sim.controller.monitor.ok()


@pytest.mark.parametrize(
    "freq, residual, seeds, lo, hi",
    [(50, 40, 12, 144, 160), (50, 40, 4, 325, 345), (60, 40, 4, 140, 170), (50, 0, 4, 150, 170)],
)
def test_a_dip_is_caught_within_3_ms_at_every_degree_where_it_was_slowest(
    freq, residual, seeds, lo, hi
):
    # 40 % dips that begin just before a zero crossing took up to 3.75 ms when only a
    # deviation of 15 % of the peak counted (14 samples at 146-150 deg with seed 12 here;
    # tools/mains_sweep.py latency)
    p = run_micropython(
        [
            "tools/mains_sweep.py",
            "latency",
            str(freq),
            str(residual),
            str(seeds),
            "1",
            str(lo),
            str(hi),
        ],
        timeout=600,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    words = p.stdout.split()
    got = dict(zip(words[3::2], words[4::2]))
    assert int(got["missed"]) == 0 and int(got["cases"]) == seeds * (hi - lo)
    assert 3 <= int(got["worst_samples"]) <= LIMIT_SAMPLES, p.stdout
