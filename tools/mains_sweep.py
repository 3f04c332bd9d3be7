# Conformant mains from boot on, seed after seed: does the mains monitor ever call it lost?
#
#   micropython tools/mains_sweep.py FREQ FIRST COUNT [SECONDS] [KEY=VALUE ...]
#   python3 tools/mains_sweep.py FREQ FIRST COUNT [SECONDS] [KEY=VALUE ...]
#   micropython tools/mains_sweep.py latency FREQ RESIDUAL SEEDS [STEP [FROM TO]]
#
# Each seed draws an EN 50160 supply (boards/sim/mains.py): 230 V / 50 Hz or 120 V / 60 Hz,
# a steady level within +-10 %, THD up to 8 % within the individual limits, noise up to
# 1 %, flicker up to 1 % at 0.5-25 Hz, slow frequency changes within +-1 % and voltage
# steps of up to 5 % that stay within +-10 %. The monitor starts fresh, as at boot, and
# learns, arms and watches for SECONDS (60 by default). Only the monitor runs: a false
# transfer begins with it, and without the rest of the controller the sweep is fast
# enough for thousands of seeds. KEY=VALUE: a setting as on the console, e.g.
# mains.fast_trip_pct=16 to see how much margin the default leaves. Prints one line per
# seed that faulted (seed, time, fault bits, the supply), then `seeds N faulted K`.
#
# latency: how soon the monitor calls a dip lost (see latency() below), at every phase from
# FROM to TO degrees in STEP steps (0-360 in 1 degree steps by default), SEEDS seeds each,
# on 8 % THD and 1 % noise; the worst case and where it was.
import sys

try:
    from boards.sim import scenario
except ImportError:
    here = __file__ if "/" in __file__ else "./" + __file__
    sys.path.insert(0, here[: here.rindex("/")] + "/..")
    from boards.sim import scenario

from array import array

from boards.sim.mains import Mains
from boards.sim.rng import Rng
from firmware import mains_monitor as mm
from firmware.config import Config

BLOCK = 4
FS = 4000


def supply(seed, freq, seconds=60):
    # The scenario (checked) for one seed.
    r = Rng(seed * 7919 + freq)
    volts = 230 if freq == 50 else 120
    h3 = r.uniform() * 5.0
    h5 = r.uniform() * 6.0
    h7 = r.uniform() * 5.0
    thd = (h3 * h3 + h5 * h5 + h7 * h7) ** 0.5
    if thd > 8.0:
        h3, h5, h7 = h3 * 8 / thd, h5 * 8 / thd, h7 * 8 / thd
    base = 90.0 + r.uniform() * 20.0
    events = []
    t = 1.0 + r.uniform() * 10
    while t < seconds - 5:
        level = max(90.0, min(110.0, base + (r.uniform() - 0.5) * 10.0))
        dur = 0.5 + r.uniform() * 8
        ph = int(r.uniform() * 360)
        if level < base:
            events.append(
                {
                    "at_s": t,
                    "kind": "dip",
                    "residual_pct": level * 100.0 / base,
                    "duration_s": dur,
                    "phase_deg": ph,
                }
            )
        else:
            events.append(
                {
                    "at_s": t,
                    "kind": "swell",
                    "level_pct": level * 100.0 / base,
                    "duration_s": dur,
                    "phase_deg": ph,
                }
            )
        t += dur + 1.0 + r.uniform() * 10
    t = 2.0 + r.uniform() * 20
    while t < seconds - 5:
        dur = 3.0 + r.uniform() * 20
        events.append(
            {
                "at_s": t,
                "kind": "frequency",
                "duration_s": dur,
                "frequency_hz": freq * (0.99 + r.uniform() * 0.02),
                "ramp_s": 1.0 + r.uniform() * 5,
            }
        )
        t += dur + 5 + r.uniform() * 20
    return scenario.check(
        {
            "name": "sweep",
            "duration_s": seconds,
            "seed": seed,
            "mains": {
                "nominal_v": volts,
                "frequency_hz": freq * (0.995 + r.uniform() * 0.01),
                "voltage_pct": base,
                "noise_pct": r.uniform(),
                "harmonics": {"3": h3, "5": h5, "7": h7},
                "flicker_pct": r.uniform(),
                "flicker_hz": 0.5 + r.uniform() * 24.5,
                "events": events,
            },
        }
    )


def _diff(a, b):
    return a - b


def watch(sc, seconds, settings=None):
    # (ms, fault bits) of the first fault the monitor declared, or None.
    m = sc["mains"]
    cfg = Config()
    cfg.update(
        {
            "mains.nominal_v": int(m["nominal_v"]),
            "mains.frequency_hz": 60 if m["frequency_hz"] >= 55 else 50,
        }
    )
    if settings:
        cfg.update(settings)
    mon = mm.MainsMonitor(cfg, FS, _diff, BLOCK)
    mains = Mains(sc, FS, 1000.0 / cfg.get("adc.mains_mv_per_count"), _ignore)
    return _run(mains, mon, seconds * FS // BLOCK)


def _ignore(k, ev, started):
    pass


def _run(mains, mon, blocks):
    buf = array("H", [0] * BLOCK)
    fill = mains.fill
    process = mon.process
    for b in range(blocks):
        fill(buf, BLOCK, b * BLOCK / FS)
        if process(buf, BLOCK, b) and mon.faults:  # 1 whenever the verdict changes
            return b, mon.faults
    return None


class _Start:
    # the sample at which a mains event began (Mains calls back with it)
    def __init__(self):
        self.k = -1

    def __call__(self, k, ev, started):
        if started and self.k < 0:
            self.k = k


def latency(freq, residual, phase, seed, settings=None):
    # Samples from the first one a dip (residual 0: an interruption) affects, starting at
    # `phase` 1 s in, to the one that completes the trip, read as the board's loop reads
    # them (whole blocks, or what could complete a run: MainsMonitor.need), counted to
    # the end of the read that trips: then the transfer is commanded. None if missed.
    volts = 230 if freq == 50 else 120
    sc = scenario.check(
        {
            "name": "latency",
            "duration_s": 1.3,
            "seed": seed,
            "mains": {
                "nominal_v": volts,
                "frequency_hz": freq,
                "thd_pct": 8,
                "noise_pct": 1,
                "events": [
                    {
                        "at_s": 1.0,
                        "kind": "dip",
                        "residual_pct": residual,
                        "duration_s": 0.25,
                        "phase_deg": phase,
                    }
                ],
            },
        }
    )
    cfg = Config()
    cfg.update({"mains.nominal_v": volts, "mains.frequency_hz": freq})
    if settings:
        cfg.update(settings)
    mon = mm.MainsMonitor(cfg, FS, _diff, BLOCK)
    start = _Start()
    mains = Mains(sc, FS, 1000.0 / cfg.get("adc.mains_mv_per_count"), start)
    buf = array("H", [0] * BLOCK)
    k = 0
    while k < FS * 13 // 10:
        n = mon.need
        mains.fill(buf, n, k / FS)
        k += n
        if mon.process(buf, n, k * 1000 // FS) and mon.faults:
            return k - start.k if start.k >= 0 else -1
    return None


def main(argv):
    if argv[:1] == ["latency"]:
        return main_latency(argv[1:])
    settings = {}
    for a in argv[3:]:
        if "=" in a:
            key, value = a.split("=", 1)
            settings[key] = value
    argv = [a for a in argv if "=" not in a]
    if len(argv) not in (3, 4):
        sys.stderr.write("usage: mains_sweep.py FREQ FIRST COUNT [SECONDS] [KEY=VALUE ...]\n")
        return 2
    freq, first, count = int(argv[0]), int(argv[1]), int(argv[2])
    seconds = int(argv[3]) if len(argv) > 3 else 60
    faulted = 0
    for seed in range(first, first + count):
        sc = supply(seed, freq, seconds)
        got = watch(sc, seconds, settings)
        if got is not None:
            faulted += 1
            m = sc["mains"]
            print(
                "seed %d at %d ms faults %d: %.1f V %.3f Hz noise %.2f %% harmonics %s"
                % (
                    seed,
                    got[0],
                    got[1],
                    m["nominal_v"] * m["voltage_pct"] / 100,
                    m["frequency_hz"],
                    m["noise_pct"],
                    m["harmonics"],
                )
            )
    print("seeds %d faulted %d" % (count, faulted))
    return 0


def main_latency(argv):
    # latency FREQ RESIDUAL SEEDS [STEP_DEG [FROM_DEG TO_DEG]]: every phase in steps, each
    # with SEEDS seeds; prints `latency FREQ RESIDUAL worst_samples W at PHASE seed S
    # median M missed K cases N`
    freq, residual, seeds = int(argv[0]), int(argv[1]), int(argv[2])
    step = int(argv[3]) if len(argv) > 3 else 1
    lo, hi = (int(argv[4]), int(argv[5])) if len(argv) > 5 else (0, 360)
    got = []
    worst = (-1, 0, 0)
    missed = 0
    for phase in range(lo, hi, step):
        for seed in range(1, seeds + 1):
            n = latency(freq, residual, phase, seed)
            if n is None or n < 0:
                missed += 1
                continue
            got.append(n)
            if n > worst[0]:
                worst = (n, phase, seed)
    got.sort()
    print(
        "latency %d %d worst_samples %d at %d seed %d median %d missed %d cases %d"
        % (
            freq,
            residual,
            worst[0],
            worst[1],
            worst[2],
            got[len(got) // 2] if got else -1,
            missed,
            len(got) + missed,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
