# Gaps in the mains samples, case after case, on the simulated board (the whole firmware):
#
#   micropython tools/gap_cases.py FREQ detect|quiet [SEED]
#   python3 tools/gap_cases.py FREQ detect|quiet [SEED]
#
# detect: a sample_gap or a stall of 1-50 ms on noisy mains (THD 8 %, noise 1 %), and an
#   interruption or a 40 % residual dip that starts inside the gap or within a cycle after
#   it, at phases spread over the cycle. One line per case: `case KIND GAP_MS RESIDUAL
#   LATENCY_US`, the latency counted from the end of the gap or from the dip's start,
#   whichever is later, to the firmware's transfer_to_battery (-1: never).
# quiet: the same mains with gaps and stalls of 0.25 ms to 2 s and nothing else wrong.
#   One line per case: `quiet KIND GAP_MS MAINS_LOST` (0: the load stayed on mains).
# Then `cases N worst_us W` (detect) or `cases N lost K` (quiet).
import sys

try:
    from boards.sim import scenario
except ImportError:
    here = __file__ if "/" in __file__ else "./" + __file__
    sys.path.insert(0, here[: here.rindex("/")] + "/..")
    from boards.sim import scenario

from boards.sim.rng import Rng
from boards.sim.runner import Simulation

GAPS_MS = (1, 5, 10, 12.5, 20, 33, 50)
QUIET_GAPS_MS = (0.25, 3, 17, 50, 64, 65, 99, 101, 250, 700, 2000)
T_GAP = 1.2  # armed by then (learning takes 25 cycles after boot)


def _mains(freq, events):
    return {
        "nominal_v": 230 if freq == 50 else 120,
        "frequency_hz": freq,
        "thd_pct": 8,
        "noise_pct": 1,
        "events": events,
    }


def detect_cases(freq, seed):
    r = Rng(seed)
    cycle = 1.0 / freq
    for kind in ("sample_gap", "stall"):
        for gap_ms in GAPS_MS:
            for residual in (0, 40):
                for k in range(4):
                    # where the dip starts: inside the gap, or within a cycle after it
                    at = T_GAP + r.uniform() * (gap_ms / 1000.0 + cycle)
                    ev = {
                        "at_s": at,
                        "kind": "dip",
                        "residual_pct": residual,
                        "duration_s": 0.2,
                        "phase_deg": (k * 90 + int(r.uniform() * 90)) % 360,
                    }
                    yield (
                        kind,
                        gap_ms,
                        residual,
                        scenario.check(
                            {
                                "name": "gap",
                                "duration_s": T_GAP + 0.3,
                                "seed": seed + k,
                                "mains": _mains(freq, [ev]),
                                "faults": [{"at_s": T_GAP, "kind": kind, "duration_ms": gap_ms}],
                            }
                        ),
                    )


def quiet_cases(freq, seed):
    for kind in ("sample_gap", "stall"):
        for gap_ms in QUIET_GAPS_MS:
            # three gaps in a row, a little over a cycle apart, then one more later
            faults = [
                {
                    "at_s": T_GAP + j * (gap_ms / 1000.0 + 0.027),
                    "kind": kind,
                    "duration_ms": gap_ms,
                }
                for j in range(3)
            ]
            faults.append(
                {
                    "at_s": T_GAP + 3 * (gap_ms / 1000.0 + 0.027) + 1.0,
                    "kind": kind,
                    "duration_ms": gap_ms,
                }
            )
            yield (
                kind,
                gap_ms,
                scenario.check(
                    {
                        "name": "quiet",
                        "duration_s": faults[-1]["at_s"] + gap_ms / 1000.0 + 1.0,
                        "seed": seed,
                        "mains": _mains(freq, []),
                        "faults": faults,
                    }
                ),
            )


def _first(timeline, name):
    for e in timeline:
        if e["event"] == name:
            return e["t_ms"]
    return None


def detect(sc):
    sim = Simulation(sc)
    sim.run_until(sc["duration_s"])
    tl = sim.board.timeline
    gap = sc["faults"][0]
    start = max(gap["at_s"] * 1000.0 + gap["duration_ms"], _first(tl, "disturbance"))
    moved = _first(tl, "transfer_to_battery")
    return -1 if moved is None else int(round((moved - start) * 1000))


def quiet(sc):
    sim = Simulation(sc)
    sim.run_until(sc["duration_s"])
    return sum(1 for e in sim.board.timeline if e["event"] == "mains_lost")


def main(argv):
    if len(argv) not in (2, 3) or argv[1] not in ("detect", "quiet"):
        sys.stderr.write("usage: gap_cases.py FREQ detect|quiet [SEED]\n")
        return 2
    freq = int(argv[0])
    seed = int(argv[2]) if len(argv) > 2 else 1
    n = 0
    if argv[1] == "detect":
        worst = 0
        for kind, gap_ms, residual, sc in detect_cases(freq, seed):
            lat = detect(sc)
            print("case %s %s %d %d" % (kind, gap_ms, residual, lat))
            worst = max(worst, lat) if lat >= 0 and worst >= 0 else -1
            n += 1
        print("cases %d worst_us %d" % (n, worst))
    else:
        lost = 0
        for kind, gap_ms, sc in quiet_cases(freq, seed):
            k = quiet(sc)
            print("quiet %s %s %d" % (kind, gap_ms, k))
            lost += k
            n += 1
        print("cases %d lost %d" % (n, lost))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
