# Battery low comes battery.shutdown_lead_s (180 s) before the inverter cuts out, for any
# bank, any wear (the controller is told the rating, never the health), any load and any
# room: a sample of tools/lead_sweep.py's range here, the whole sweep in `make bench`.
# Each case runs the whole discharge, with no generator, until the cut-out.
import pytest

from tools.lead_sweep import GRACE_S, LEAD_S, lead

# (Ah, health %, load % of the rating, room C, temperature sensor, rating W or None: 2 W/Wh)
CASES = [
    (20, 50, 100, 25, False, None),  # worn: gone in 150 s, measured only after 14 s
    (20, 60, 70, 25, False, 3000),  # the rating's estimate fell to the lead at 15 s
    (40, 60, 4000 / 30, 25, False, 3000),  # 4 kW on a 3 kW UPS: 179 s at first
    (400, 40, 20, 25, False, 3000),  # 600 W: too small a step for the resistance at first
    (7, 40, 70, 0, True, None),
    (12, 85, 100, 0, False, None),
    (65, 45, 90, 40, False, None),
    (200, 70, 60, 10, True, None),
]


@pytest.mark.parametrize("case", CASES)
def test_battery_low_comes_the_lead_before_the_cut_out(case):
    _, rating, on_batt, got, ok = lead(case)
    assert on_batt is not None, "the battery never ran flat"
    assert ok, "on battery %.1f s, battery low %s s before the cut-out" % (on_batt, got)
    assert got >= min(LEAD_S, on_batt - GRACE_S)


def test_a_good_bank_is_not_given_up_early():
    # a new bank at half load lasts about 25 minutes: the servers go at the lead, not at
    # the transfer, whatever caution the unknown wear asked for at first
    _, _, on_batt, got, ok = lead((40, 100, 50, 25, False, None))
    assert ok and on_batt > 1200 and LEAD_S <= got <= LEAD_S * 1.3
