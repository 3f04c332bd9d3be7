# Faults of the relays the controller drives and of its own sensors, on the simulated
# board (scenario "faults"): each raises its own alarm and takes the safe path.
import json

import pytest

from boards.sim import scenario
from boards.sim.runner import Simulation
from helpers import events_named, mains, simulate

from firmware.supervisor import STRIDE_MS

GEN = {"present": True}
OUTAGE = mains(events=[{"at_s": 10, "kind": "outage", "duration_s": 60}])


def _stuck(part, at_s=5, **kw):
    return [dict({"at_s": at_s, "kind": "contact_stuck", "part": part}, **kw)]


def _contact_faults(rep):
    return [(e["part"], e["how"]) for e in events_named(rep, "contact_fault")]


def test_a_welded_mains_contactor_keeps_the_generator_off_the_grid():
    # The mains contactor will not open: the generator starts and gets ready, but its
    # contactor is never closed onto a bus that still has the mains on it. The load rides
    # on the battery and goes back to mains when it returns.
    rep, sim = simulate(120, OUTAGE, generator=GEN, faults=_stuck("mains_contactor"))
    m = rep["metrics"]
    assert _contact_faults(rep) == [("mains_contactor", "did_not_open")]
    assert m["alarms"] == ["mains_contactor_fault"]
    assert m["source_conflicts"] == 0 and m["transfers_to_generator"] == 0
    assert not any(out == 2 and on for _, out, on in sim.board.outputs)  # OUT_GEN_CLOSE
    assert events_named(rep, "generator_ready")
    assert m["itic_violations"] == 0 and not m["battery_depleted"]
    assert sim.board.source() == "mains" and sim.board.gen.state == "stopped"
    # raised at the first step after the operate time and the grace from the command to
    # open: with the ATS's dead time under way, up to a stride later
    opened = min(t for t, out, on in sim.board.outputs if out == 1 and on) / 1000.0
    (fault,) = events_named(rep, "contact_fault")
    assert 10 + 50 <= fault["t_ms"] - opened <= 10 + 50 + STRIDE_MS + 2
    # the alarm latches; acknowledged, it stays away while the contactor agrees
    assert sim.controller.alarms.is_active(14)
    assert sim.controller.command("ack all").startswith("OK acknowledged mains_contactor_fault")


def test_a_generator_contactor_that_does_not_close_leaves_the_load_on_battery():
    rep, sim = simulate(120, OUTAGE, generator=GEN, faults=_stuck("generator_contactor"))
    m = rep["metrics"]
    assert _contact_faults(rep) == [("generator_contactor", "did_not_close")]
    assert m["alarms"] == ["generator_contactor_fault"]
    # the load never went to the utility side while the bus was dead
    assert m["transfers_to_generator"] == 0 and m["itic_violations"] == 0
    assert m["max_load_interruption_ms"] < 20
    # back on mains when it returned: the generator contactor let go, mains closed again
    assert sim.board.source() == "mains" and sim.board.k_mains.closed
    assert sim.board.gen.state == "stopped"


@pytest.mark.parametrize(
    "part, window",
    [
        ("transfer_relay", (12, 18)),  # until the generator is ready
        ("mains_contactor", (25, 35)),  # for as long as the fault stands
        ("generator_contactor", (25, 35)),
    ],
)
def test_a_part_that_never_reports_is_not_looked_at_every_ms(part, window):
    # Past the operate time the machine waiting on a part looks every ms through the
    # contacts' grace; then the fault stands and the part is looked at again at the
    # stride's pace. A step every ms for as long as a welded or dead contact lasts is three
    # times what an RP2040 can give.
    data = {
        "name": "stuck",
        "duration_s": 40,
        "seed": 1,
        "mains": OUTAGE,
        "generator": GEN,
        "faults": _stuck(part),
    }
    sim = Simulation(scenario.check(data))
    start, end = window
    sim.run_until(start)
    before = sim.board.watchdog_feeds  # one with each supervisor step
    sim.run_until(end)
    assert any(sim.controller.supervisor.contacts.faults)  # the part did fail to report
    assert sim.board.watchdog_feeds - before <= (end - start) * (1000 // STRIDE_MS + 5)


def test_a_transfer_relay_stuck_on_utility_lets_the_generator_restore_the_load():
    # The relay does not move to the inverter: the load is dead on the utility side, so the
    # ATS brings the generator to it there, without waiting for the relay.
    rep, sim = simulate(120, OUTAGE, generator=GEN, faults=_stuck("transfer_relay"))
    m = rep["metrics"]
    assert ("transfer_relay", "did_not_close") in _contact_faults(rep)
    assert "transfer_relay_fault" in m["alarms"]
    assert m["transfers_to_battery"] == 0 and m["transfers_to_generator"] == 1
    assert m["source_conflicts"] == 0
    (on_gen,) = events_named(rep, "load_to_generator")
    assert on_gen["t_ms"] < 10000 + 3000 + 15000  # start delay, crank, warm-up, dead time
    # mains back: the relay cannot carry the load across, so it stays on the verified
    # generator rather than suffer the dead time
    assert events_named(rep, "load_to_mains") == [] and sim.board.source() == "generator"


def test_a_transfer_relay_stuck_on_the_inverter_still_warns_of_the_flat_battery():
    # Mains returns but the relay will not come back: the firmware counts the load as on
    # battery, so battery low is raised before the battery runs flat.
    rep, sim = simulate(
        3600,
        mains(events=[{"at_s": 10, "kind": "outage", "duration_s": 20}]),
        battery={"capacity_ah": 20, "initial_soc_pct": 30},
        # the bank and the room known: no caution at the transfer
        config={"battery.min_health_pct": 100, "env.sensor": True},
        room={"sensor": True},
        faults=_stuck("transfer_relay", at_s=15),
        stop_after="battery_depleted",
    )
    m = rep["metrics"]
    assert _contact_faults(rep) == [("transfer_relay", "did_not_open")]
    (low,) = events_named(rep, "battery_low")
    assert m["battery_depleted"] and m["lb_lead_s"] >= 180
    assert low["t_ms"] > 30000


def _adc(kind, at_s=5, duration_s=None, **kw):
    f = dict({"at_s": at_s, "kind": kind}, **kw)
    if duration_s is not None:
        f["duration_s"] = duration_s
    return [f]


def _sensor_faults(rep):
    return [(round(e["t_ms"]), e["how"]) for e in events_named(rep, "mains_sensor_fault")]


def test_an_open_or_saturated_mains_sensor_never_moves_the_load():
    # The reading drops to 0 (sensor unplugged) or sticks at the top of the range with
    # mains fine: recognised within the cycle under way and two 25 ms windows, alarmed,
    # and the load stays on mains.
    for kind, how in (("adc_open", "open"), ("adc_saturated", "saturated")):
        sim = Simulation(
            scenario.check(
                {"duration_s": 60, "generator": GEN, "faults": _adc(kind, duration_s=10)}
            )
        )
        sim.run_until(7)
        ctrl = sim.controller
        line = ctrl.command("status")
        assert ", mains unknown (sensor %s)," % how in line, line
        assert '"mains_sensor": "%s"' % how in ctrl.command("status json")
        rep = sim.run()
        m = rep["metrics"]
        ((t, seen),) = _sensor_faults(rep)
        assert seen == how and 5000 < t <= 5075, (kind, t)
        assert m["alarms"] == ["mains_sensor_fault"]
        assert m["transfers_to_battery"] == 0 and m["generator_start_attempts"] == 0
        assert m["max_load_interruption_ms"] == 0
        # the sensor back: mains re-learned and good again; the alarm waits for an ack
        assert ctrl.monitor.ok() and ctrl.monitor.sensor == 0
        assert '"mains_sensor": "ok"' in ctrl.command("status json")
        assert ctrl.alarms.is_active(16)


def test_with_the_sensor_open_the_output_power_sensor_catches_a_real_outage():
    # Sensor open at 5 s, mains fails at 10 s: the load losing power is the witness. The
    # generator then carries it, and without a usable reading it stays there when mains
    # comes back.
    rep, sim = simulate(120, OUTAGE, generator=GEN, faults=_adc("adc_open"))
    m = rep["metrics"]
    assert m["itic_violations"] == 0 and m["max_load_interruption_ms"] < 20
    assert m["transfers_to_battery"] == 1 and m["transfers_to_generator"] == 1
    (to_batt,) = events_named(rep, "load_to_battery")
    assert 10000 < to_batt["t_ms"] < 10015
    assert events_named(rep, "load_to_mains") == [] and sim.board.source() == "generator"


def test_without_an_output_sensor_the_board_says_what_it_cannot_see():
    # io.output_sensor off (the real boards until one is wired): no reading rather than
    # 0 W; with the mains sensor open, nothing witnesses the outage at 10 s, the load
    # stays on mains and status says that a failure would not be seen. NUT's load is the
    # battery's power less the inverter's losses while on battery, 0 elsewhere.
    blind = {"io.output_sensor": False}
    sim = Simulation(
        scenario.check(
            {
                "duration_s": 30,
                "generator": GEN,
                "mains": OUTAGE,
                "load": {"watts": 1500},
                "config": blind,
                "faults": _adc("adc_open"),
            }
        )
    )
    sim.run_until(8)
    ctrl = sim.controller
    assert json.loads(ctrl.command("status json"))["output_w"] is None
    assert "a mains failure would not be seen" in ctrl.command("status")
    assert ctrl.console.megatec.q1().split()[3] == "000"
    rep = sim.run()
    assert rep["metrics"]["transfers_to_battery"] == 0 and sim.board.source() == "mains"
    # a real outage with the mains sensor working: on battery, the load reckoned from it
    sim = Simulation(
        scenario.check(
            {
                "duration_s": 30,
                "generator": {"present": False},
                "mains": OUTAGE,
                "load": {"watts": 1500},
                "config": blind,
            }
        )
    )
    sim.run_until(15)
    assert sim.board.source() == "battery"
    assert 45 <= int(sim.controller.console.megatec.q1().split()[3]) <= 55  # 1.5 of 3 kW
    # the same with the sensor: its reading, and status without the warning
    sim = Simulation(
        scenario.check(
            {
                "duration_s": 30,
                "generator": GEN,
                "mains": OUTAGE,
                "load": {"watts": 1500},
                "faults": _adc("adc_open"),
            }
        )
    )
    sim.run_until(8)
    assert json.loads(sim.controller.command("status json"))["output_w"] == 1500
    assert "would not be seen" not in sim.controller.command("status")
    assert sim.controller.console.megatec.q1().split()[3] == "050"


def test_the_output_power_witness_watches_mains_only_not_the_generator():
    # Remote start: the load on the generator with mains good. The mains sensor opens at
    # 30 s, and at 40 s the generator's voltage sags to 20 % for 0.3 s: the output power
    # sensor sees the load unpowered, but that is the generator's failing (the load goes
    # to the battery, then back to the set), not a mains failure. After the remote start
    # and the sensor fault end, the load returns to mains, and the engine's cooldown
    # begins as the load leaves it.
    gen = dict(GEN, events=[{"at_s": 40, "kind": "voltage", "level_pct": 20, "duration_s": 0.3}])
    sim = Simulation(
        scenario.check(
            {
                "duration_s": 150,
                "mains": mains(),
                "generator": gen,
                "inputs": [
                    {"at_s": 10, "name": "remote_start"},
                    {"at_s": 50, "name": "remote_start", "on": False},
                ],
                "faults": _adc("adc_open", at_s=30, duration_s=40),
            }
        )
    )
    sim.run_until(41)
    tl = {"timeline": sim.board.timeline}
    assert [e["t_ms"] for e in events_named(tl, "load_to_battery")][-1] == 40008
    assert sim.board.source() == "generator" and not sim.controller.supervisor.outage
    rep = sim.run()
    (back,) = events_named(rep, "transfer_to_mains")
    (stop,) = events_named(rep, "generator_stop")
    # gen.cooldown_s from the moment the generator's contactor let the load go, the ATS
    # landing on mains; the relay follows it there within a few ms
    assert 10000 - 20 <= stop["t_ms"] - back["t_ms"] <= 10000
    assert rep["metrics"]["alarms"] == ["mains_sensor_fault"]


def test_a_stuck_or_noisy_sensor_sends_the_load_to_battery_then_the_generator_not_back():
    # A reading frozen mid-wave, or buried in noise, looks like a disturbance for its
    # first milliseconds: the load goes to the battery, which needs no reading. Once the
    # sensor is recognised, the reading is not used: the generator takes the load, and it
    # goes back to mains only when the sensor shows good mains again (fault over at 60 s).
    for kind, how, kw in (("adc_stuck", "stuck", {}), ("adc_noisy", "noisy", {"level_pct": 60})):
        rep, sim = simulate(150, mains(), generator=GEN, faults=_adc(kind, duration_s=55, **kw))
        m = rep["metrics"]
        ((t, seen),) = _sensor_faults(rep)
        assert seen == how and 5000 < t <= 5200, (kind, t)
        assert m["itic_violations"] == 0 and m["max_load_interruption_ms"] < 20, kind
        assert m["transfers_to_generator"] == 1, kind
        (back,) = events_named(rep, "load_to_mains")
        assert back["t_ms"] > 60000 + 10000, kind  # re-learned, then the return delay
        assert sim.board.source() == "mains" and sim.board.gen.state == "stopped"
        assert m["alarms"] == ["mains_sensor_fault"], (kind, m["alarms"])


def test_a_battery_sensor_out_of_range_hurries_the_generator_and_reckons_runtime_blind():
    # The battery reading drops to 0 V at 5 s; mains fails at 10 s. Without a reading the
    # runtime is reckoned from the last good charge at the UPS's full rating (3000 W), the
    # generator starts without its start delay, and nothing is taken from the bad reading.
    rep, sim = simulate(
        120, OUTAGE, generator=GEN, faults=[{"at_s": 5, "kind": "battery_sensor", "value_mv": 0}]
    )
    m = rep["metrics"]
    assert m["alarms"] == ["battery_sensor_fault"]
    (start,) = events_named(rep, "generator_start")
    assert 10000 < start["t_ms"] < 10100  # no 3 s start delay
    assert m["itic_violations"] == 0 and m["transfers_to_generator"] == 1
    bat = sim.controller.battery
    assert bat.sensor_fault and sim.controller.alarms.is_active(17)


def test_blind_runtime_raises_battery_low_before_a_real_battery_would_be_flat():
    # No generator; 1500 W on a 100 Ah bank whose sensor reads 200 V (out of range): the
    # blind reckoning at 3000 W says low long before the battery is flat.
    rep, _ = simulate(
        12000,
        mains(events=[{"at_s": 10, "kind": "outage", "duration_s": 12000}]),
        faults=[{"at_s": 5, "kind": "battery_sensor", "value_mv": 200000}],
        stop_after="battery_depleted",
    )
    m = rep["metrics"]
    (low,) = events_named(rep, "battery_low")
    assert m["battery_depleted"] and m["lb_lead_s"] > 600
    assert "battery_sensor_fault" in m["alarms"]
