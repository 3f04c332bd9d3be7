# The real Network UPS Tools against a virtual board: Debian's nutdrv_qx (protocol megatec)
# reads the board's console, upsd serves it, upsc reads ups.status, upsmon runs its
# shutdown command on low battery, upscmd starts a battery test. The board runs at twice
# the wall clock, NUT's driver polls it every wall second and every state the tests look
# for lasts 10 s or more of the board's time: each scenario takes about 40 s.
import time

import pytest

from rigs import Nut, VirtualBoard

SPEED = 2


@pytest.fixture
def rig(tmp_path):
    made = []

    def make(scenario, upsmon=False):
        board = VirtualBoard(tmp_path, scenario, speed=SPEED)
        made.append(board)
        nut = Nut(tmp_path, board.link, upsmon)
        made.append(nut)
        # the board reports mains once it has learned the waveform
        nut._wait(lambda: nut.var("input.voltage") not in (None, "0.0"), "mains reading", 15)
        return board, nut

    yield make
    for thing in reversed(made):
        thing.close()


def test_on_line_on_battery_low_battery_shutdown_and_back(rig):
    # no generator; a battery at 23.5 %, so battery low comes 22 s into the outage (the
    # runtime it is sure of stays above the lead until then); test commands are refused
    # (nut.allow_control off). The outage comes 30 s in, long after NUT is up even on a
    # loaded host.
    board, nut = rig(
        {
            "name": "nut-low-battery",
            "duration_s": 130,
            "generator": {"present": False},
            "battery": {"capacity_ah": 60, "initial_soc_pct": 23.5},
            "load": {"watts": 1500},
            "config": {"battery.shutdown_lead_s": 225, "transfer.return_delay_s": 5},
            "mains": {"events": [{"at_s": 30, "kind": "outage", "duration_s": 50}]},
        },
        upsmon=True,
    )
    assert nut.status() == {"OL"}
    # a measurement of the wave at whatever moment upsd polled: 230 V within a tenth
    assert abs(float(nut.var("input.voltage")) - 230.0) <= 0.15
    assert nut.var("input.frequency") == "50.0"
    assert 46.0 <= float(nut.var("battery.voltage")) <= 48.0  # a nearly flat 48 V bank
    assert nut.var("device.mfr") == "UPS-GEN-CTRL"
    # refused: no test in progress follows
    assert nut.command("test.battery.start.quick").returncode == 0
    with pytest.raises(AssertionError):
        nut.watch(lambda st: "CAL" in st or "OB" in st, timeout=4)
    seen = nut.watch(lambda st: {"OB", "LB"} <= st, timeout=70)
    assert any(st >= {"OB"} and "LB" not in st for st in seen), seen  # OB before LB
    # upsmon ran its shutdown command on low battery
    nut._wait(lambda: nut.flag.exists(), "upsmon's shutdown command", timeout=15)
    assert nut.var("input.voltage") == "0.0"
    # mains is back at 80 s: on line again (upsmon's forced-shutdown flag stays)
    nut.watch(lambda st: "OL" in st and "OB" not in st and "LB" not in st, timeout=40)


def test_generator_carries_the_load_on_line_and_nut_starts_a_battery_test(rig):
    board, nut = rig(
        {
            "name": "nut-generator",
            "duration_s": 120,
            "generator": {"present": True},
            "config": {"nut.allow_control": True, "transfer.return_delay_s": 5},
            "mains": {"events": [{"at_s": 35, "kind": "outage", "duration_s": 30}]},
        }
    )
    assert nut.status() == {"OL"}
    # upscmd test.battery.start.quick: a 10 s battery test on the board (Megatec "T"),
    # once mains has been good for the return delay since boot (a test needs the load on
    # good mains, and a freshly booted board has not yet seen it for long enough): asked
    # until the board takes it, however long the host took to start it
    deadline = time.monotonic() + 30
    while True:
        assert nut.command("test.battery.start.quick").returncode == 0
        try:
            nut.watch(lambda st: "CAL" in st, timeout=3)
            break
        except AssertionError:
            assert time.monotonic() < deadline, "the board never started the battery test"
    nut.watch(lambda st: st == {"OL"}, timeout=30)
    # the outage at 35 s: on battery, then on line again once the generator carries the
    # load, while mains is still out (it returns at 65 s)
    nut.watch(lambda st: "OB" in st, timeout=60)
    nut.watch(lambda st: st == {"OL"}, timeout=30)
    assert nut.var("input.voltage") == "0.0"  # mains still out: the generator feeds it
    assert nut.var("output.voltage").startswith("2")
    # mains back: a planned move through the battery, then on line from mains
    nut.watch(lambda st: nut.var("input.voltage") != "0.0" and st == {"OL"}, timeout=40)
    # load.off and load.on (Megatec S00R0000 and C): the board switches its output
    assert nut.command("load.off").returncode == 0
    nut.watch(lambda st: "FSD" in st, timeout=10)
    nut._wait(lambda: nut.var("ups.load") == "0", "ups.load 0", 10)
    assert nut.command("load.on").returncode == 0
    nut.watch(lambda st: st == {"OL"}, timeout=10)
