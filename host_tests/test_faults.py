# Faults of the relays the controller drives and of its own sensors, on the simulated
# board (scenario "faults"): each raises its own alarm and takes the safe path.
from helpers import events_named, mains, simulate

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
    assert not any(out == 2 and on for _, out, on in sim.board.outputs)   # OUT_GEN_CLOSE
    assert events_named(rep, "generator_ready")
    assert m["itic_violations"] == 0 and not m["battery_depleted"]
    assert sim.board.source() == "mains" and sim.board.gen.state == "stopped"
    # raised within the operate time and the grace after the command to open
    opened = min(t for t, out, on in sim.board.outputs if out == 1 and on) / 1000.0
    fault, = events_named(rep, "contact_fault")
    assert 0 < fault["t_ms"] - opened <= 10 + 50 + 2
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


def test_a_transfer_relay_stuck_on_utility_lets_the_generator_restore_the_load():
    # The relay does not move to the inverter: the load is dead on the utility side, so the
    # ATS brings the generator to it there, without waiting for the relay.
    rep, sim = simulate(120, OUTAGE, generator=GEN, faults=_stuck("transfer_relay"))
    m = rep["metrics"]
    assert ("transfer_relay", "did_not_close") in _contact_faults(rep)
    assert "transfer_relay_fault" in m["alarms"]
    assert m["transfers_to_battery"] == 0 and m["transfers_to_generator"] == 1
    assert m["source_conflicts"] == 0
    on_gen, = events_named(rep, "load_to_generator")
    assert on_gen["t_ms"] < 10000 + 3000 + 15000        # start delay, crank, warm-up, dead time
    # mains back: the relay cannot carry the load across, so it stays on the verified
    # generator rather than suffer the dead time
    assert events_named(rep, "load_to_mains") == [] and sim.board.source() == "generator"


def test_a_transfer_relay_stuck_on_the_inverter_still_warns_of_the_flat_battery():
    # Mains returns but the relay will not come back: the firmware counts the load as on
    # battery, so battery low is raised before the battery runs flat.
    rep, sim = simulate(3600, mains(events=[{"at_s": 10, "kind": "outage", "duration_s": 20}]),
                        battery={"capacity_ah": 20, "initial_soc_pct": 30},
                        faults=_stuck("transfer_relay", at_s=15), stop_after="battery_depleted")
    m = rep["metrics"]
    assert _contact_faults(rep) == [("transfer_relay", "did_not_open")]
    low, = events_named(rep, "battery_low")
    assert m["battery_depleted"] and m["lb_lead_s"] >= 180
    assert low["t_ms"] > 30000
