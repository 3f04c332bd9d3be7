# The digital inputs beyond relay feedback: remote start, the emergency stop chain, the
# low fuel switch (scenario "inputs" on the simulated board).
from boards.sim import scenario
from boards.sim.runner import Simulation
from helpers import events_named, mains, simulate

GEN = {"present": True}


def _outputs(sim, out):
    return [(t / 1e6, on) for t, o, on in sim.board.outputs if o == out]


def test_remote_start_runs_the_generator_on_load_in_auto_and_hands_back():
    rep, sim = simulate(
        150,
        mains(),
        generator=GEN,
        inputs=[
            {"at_s": 10, "name": "remote_start"},
            {"at_s": 60, "name": "remote_start", "on": False},
        ],
    )
    m = rep["metrics"]
    (start,) = events_named(rep, "generator_start")
    (on_gen,) = events_named(rep, "load_to_generator")
    back = [e for e in events_named(rep, "load_to_mains")]
    assert 10000 <= start["t_ms"] < 13500  # after the 3 s start delay
    assert on_gen["t_ms"] < 35000 and back and back[-1]["t_ms"] > 60000
    assert m["itic_violations"] == 0 and m["max_load_interruption_ms"] < 20
    assert m["alarms"] == [] and m["source_conflicts"] == 0
    assert sim.board.source() == "mains" and sim.board.gen.state == "stopped"


def test_remote_start_is_ignored_outside_auto():
    rep, _ = simulate(
        60,
        mains(),
        generator=GEN,
        console=[{"at_s": 1, "line": "mode off"}],
        inputs=[{"at_s": 10, "name": "remote_start"}],
    )
    assert events_named(rep, "generator_start") == []


def test_the_emergency_stop_stops_the_engine_at_once_and_holds_it_until_released_and_acked():
    sim = Simulation(
        scenario.check(
            {
                "duration_s": 200,
                "generator": GEN,
                "config": {"io.estop": True},
                "mains": mains(events=[{"at_s": 10, "kind": "outage", "duration_s": 300}]),
                "inputs": [
                    {"at_s": 40, "name": "emergency_stop"},
                    {"at_s": 70, "name": "emergency_stop", "on": False},
                ],
            }
        )
    )
    sim.run_until(39)
    assert sim.board.source() == "generator"
    sim.run_until(40.2)
    # within a pass of the loop: with the load settled on a running set it looks at the
    # plant every 50 ms (the chain should also cut the fuel solenoid in hardware)
    fuel = _outputs(sim, 3)  # OUT_GEN_RUN
    assert fuel[-1][1] is False and 40 <= fuel[-1][0] < 40.1
    assert sim.board.source() == "battery"  # off the stopping generator
    ctrl = sim.controller
    assert ctrl.alarms.is_active(18)  # emergency_stop
    sim.run_until(50)
    assert ctrl.command("ack all").startswith("OK acknowledged emergency_stop")
    sim.run_until(51)
    assert ctrl.alarms.is_active(18)  # still pressed: back at once
    sim.run_until(69)
    assert events_named({"timeline": sim.board.timeline}, "generator_crank")[-1]["t_ms"] < 40000
    sim.run_until(75)
    assert ctrl.command("ack emergency_stop").startswith("OK")
    sim.run_until(120)
    assert sim.board.source() == "generator"  # started again, on load
    rep = sim.run()
    assert rep["metrics"]["starter_while_running"] == 0


def test_an_emergency_stop_pressed_while_the_board_is_down_stops_the_engine_at_boot():
    # The loop hangs with the load on the generator; the chain opens before the watchdog
    # resets the board. The restarted controller reads its inputs before its first step:
    # the adopted engine's fuel is cut in the boot's own millisecond.
    rep, sim = simulate(
        60,
        mains(events=[{"at_s": 10, "kind": "outage", "duration_s": 300}]),
        generator=GEN,
        config={"io.estop": True},
        inputs=[{"at_s": 41, "name": "emergency_stop"}],
        resets=[{"at_s": 40, "down_s": 600, "kind": "hang"}],
    )
    boot = events_named(rep, "boot")[-1]["t_ms"]
    assert boot > 41000
    (alarm,) = events_named(rep, "alarm")
    assert alarm["alarm"] == "emergency_stop" and alarm["t_ms"] == boot
    fuel = _outputs(sim, 3)  # OUT_GEN_RUN
    assert fuel[-1] == (boot / 1000, False)
    assert rep["metrics"]["itic_violations"] == 0 and sim.board.gen.state == "stopped"


def test_an_unwired_emergency_stop_input_is_ignored_unless_configured():
    rep, sim = simulate(
        80,
        mains(events=[{"at_s": 10, "kind": "outage", "duration_s": 300}]),
        generator=GEN,
        inputs=[{"at_s": 40, "name": "emergency_stop"}],
    )
    assert rep["metrics"]["alarms"] == [] and sim.board.source() == "generator"


def test_low_fuel_is_raised_after_five_steady_seconds_and_cleared_the_same_way():
    rep, sim = simulate(
        60,
        mains(),
        generator=GEN,
        inputs=[
            {"at_s": 5, "name": "low_fuel"},
            {"at_s": 7, "name": "low_fuel", "on": False},
            {"at_s": 20, "name": "low_fuel"},
            {"at_s": 40, "name": "low_fuel", "on": False},
        ],
    )
    raised = [e["t_ms"] for e in events_named(rep, "alarm") if e["alarm"] == "low_fuel"]
    cleared = [e["t_ms"] for e in events_named(rep, "alarm_cleared") if e["alarm"] == "low_fuel"]
    assert len(raised) == 1 and 25000 <= raised[0] < 25100
    assert len(cleared) == 1 and 45000 <= cleared[0] < 45100
