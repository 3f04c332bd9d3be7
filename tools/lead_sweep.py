# Does battery low come battery.shutdown_lead_s before the battery is flat, whatever the bank?
#
#   python3 tools/lead_sweep.py [--jobs N] [--rating W] CAPACITY_AH,... HEALTH_PCT,...
#                               LOAD_PCT,... TEMP_C,... [SENSOR,...]
#   python3 tools/lead_sweep.py [--jobs N] [--rating W] random SEED COUNT
#
# Each case: a 48 V bank of CAPACITY_AH, charged, at HEALTH_PCT of its rating (the
# controller is told the rating, never the health), a load of LOAD_PCT of the UPS's rating,
# the battery room at TEMP_C (with SENSOR 1 a temperature sensor tells the controller),
# and an outage with no generator that lasts until the inverter cuts out. The UPS's rating
# is 2 W per Wh of the bank (about 10 minutes at full load on a new bank at 25 C) unless --rating
# gives it. `random` draws COUNT cases from the whole range (7-400 Ah, 40-100 %, 10-100 %,
# 0-40 C, sensor or not).
#
# A case passes when battery low was up shutdown_lead_s before the cut-out, or, when the
# whole time on battery was shorter than that, within GRACE_S of the transfer. Prints one
# line per case (`FAIL` first when it did not pass), then `cases N failed K`, the case
# with the least lead to spare (worst_s, negative when it came late) and how much sooner
# than needed battery low came (early_median_s, early_max_s).
import sys

try:
    from boards.sim import scenario
except ImportError:
    sys.path.insert(0, __file__[: __file__.rindex("/")] + "/..")
    from boards.sim import scenario

import itertools
import random
from concurrent.futures import ProcessPoolExecutor

from boards.sim.runner import Simulation

LEAD_S = 180  # battery.shutdown_lead_s's default
GRACE_S = 2.5  # the first readings on battery, and the estimate's once-a-second
OUTAGE_AT_S = 5
W_PER_WH = 2


def lead(case):
    cap, health, load_pct, temp, sensor, rating = case
    if rating is None:
        rating = int(W_PER_WH * 48 * cap)
    longest = 400000
    sc = scenario.check(
        {
            "name": "lead",
            "duration_s": longest,
            "generator": {"present": False},
            "battery": {"capacity_ah": cap, "health_pct": health},
            "load": {"watts": rating * load_pct / 100.0},
            "config": {"ups.rating_w": rating, "env.sensor": sensor},
            "room": {"temperature_c": temp, "sensor": sensor},
            "mains": {
                "events": [
                    {
                        "at_s": OUTAGE_AT_S,
                        "kind": "outage",
                        "duration_s": longest - 2 * OUTAGE_AT_S,
                    }
                ]
            },
        }
    )
    sim = Simulation(sc)
    t = 0
    timeline = sim.board.timeline
    while t < longest:
        t += 600
        sim.run_until(t)
        if any(e["event"] == "battery_depleted" for e in timeline):
            break
    at = {}
    for e in timeline:
        if e["event"] in ("load_to_battery", "battery_low", "battery_depleted"):
            at.setdefault(e["event"], e["t_ms"] / 1000.0)
    on_batt = at["load_to_battery"]
    flat = at.get("battery_depleted")
    low = at.get("battery_low")
    if flat is None:
        return case, rating, None, None, False
    got = None if low is None else flat - low
    ok = low is not None and low <= max(on_batt + GRACE_S, flat - LEAD_S)
    return case, rating, flat - on_batt, got, ok


def _floats(text):
    return [float(x) for x in text.split(",")]


def main(argv):
    jobs = 2
    rating = None
    while argv and argv[0].startswith("--"):
        if argv[0] == "--jobs":
            jobs = int(argv[1])
        elif argv[0] == "--rating":
            rating = int(argv[1])
        else:
            raise SystemExit("lead_sweep: unknown option %s" % argv[0])
        argv = argv[2:]
    if argv and argv[0] == "random":
        rng = random.Random(int(argv[1]))
        cases = [
            (
                rng.choice((7, 12, 20, 26, 40, 65, 100, 200, 400)),
                rng.randint(40, 100),
                rng.randint(10, 100),
                rng.randint(0, 40),
                rng.random() < 0.5,
                rating,
            )
            for _ in range(int(argv[2]))
        ]
    elif len(argv) in (4, 5):
        sensors = [bool(int(x)) for x in argv[4].split(",")] if len(argv) == 5 else [False]
        cases = [
            c + (rating,)
            for c in itertools.product(
                _floats(argv[0]), _floats(argv[1]), _floats(argv[2]), _floats(argv[3]), sensors
            )
        ]
    else:
        raise SystemExit(__doc__ if __doc__ else "lead_sweep: see the comment at the top")
    failed = 0
    worst = None
    early = []
    with ProcessPoolExecutor(jobs) as pool:
        for case, w, on_batt, got, ok in pool.map(lead, cases):
            if not ok:
                failed += 1
            if on_batt is not None:
                # how much sooner than needed (negative: later) battery low came
                over = (got if got is not None else 0) - min(on_batt, LEAD_S)
                early.append(over)
                if worst is None or over < worst[0]:
                    worst = (over, case)
            print(
                "%s%s Ah %s %% load %s %% %s C sensor %d rating %d W: on battery %s s, "
                "lead %s s"
                % (
                    "" if ok else "FAIL ",
                    case[0],
                    case[1],
                    case[2],
                    case[3],
                    case[4],
                    w,
                    _s(on_batt),
                    _s(got),
                ),
                flush=True,
            )
    early.sort()
    print(
        "cases %d failed %d worst_s %s at %s early_median_s %s early_max_s %s"
        % (
            len(cases),
            failed,
            _s(worst and worst[0]),
            "/".join(str(x) for x in worst[1][:5]) if worst else "-",
            _s(early[len(early) // 2] if early else None),
            _s(early[-1] if early else None),
        )
    )
    return 1 if failed else 0


def _s(v):
    return "-" if v is None else "%.1f" % v


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
