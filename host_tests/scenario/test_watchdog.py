# Watchdog resets: the firmware hangs, the board's watchdog resets it, the outputs hold
# through the reset, and the firmware picks up from them. Tried at moments that cover
# every state of an outage with a generator; all along, the load stays inside ITIC, the
# contactors are never closed together, a turning engine is never cranked, and the
# outage ends as it should: the load back on mains, the engine stopped.
import json

import pytest

from boards.sim import scenario
from boards.sim.runner import Simulation
from firmware import hal
from firmware.supervisor import REST_MS
from helpers import events_named, mains, simulate

GEN = {"present": True}
OUTAGE = mains(events=[{"at_s": 10, "kind": "outage", "duration_s": 100}])

# mains good, start delay, cranking, warm-up, on the generator, mains back (return delay),
# moving back through the battery, cooldown, stopping, stopped
MOMENTS = [5, 11, 13.5, 17, 30, 111, 120.6, 121.2, 125, 132.5, 140]


@pytest.mark.parametrize("at", MOMENTS)
def test_a_watchdog_reset_in_any_state_keeps_the_load_and_the_engine_safe(at):
    # the loop hangs for good; the board's watchdog (2 s) resets it, and it boots 0.5 s later
    rep, sim = simulate(
        200, OUTAGE, generator=GEN, resets=[{"at_s": at, "down_s": 600, "kind": "hang"}]
    )
    (hang,) = events_named(rep, "controller_hang")
    (reset,) = events_named(rep, "controller_reset")
    # the watchdog (2 s) counts from the last feed: a stride before the hang at most, or
    # REST_MS on mains with the engine at rest
    assert reset["kind"] == "watchdog" and 2000 - REST_MS <= reset["t_ms"] - hang["t_ms"] <= 2000
    m = rep["metrics"]
    assert m["itic_violations"] == 0 and m["max_load_interruption_ms"] < 20
    assert m["source_conflicts"] == 0 and m["starter_while_running"] == 0
    assert m["controller_resets"] == 1 and not m["battery_depleted"]
    assert sim.board.source() == "mains" and sim.board.gen.state == "stopped"
    assert rep["metrics"]["alarms"] == []
    # an engine that was running at the reset was not cranked again
    cranks = [e["t_ms"] / 1000 for e in events_named(rep, "generator_crank")]
    running = [e["t_ms"] / 1000 for e in events_named(rep, "engine_running")]
    if running and running[0] < at:
        assert all(t < at for t in cranks), (cranks, at)
    # on battery with mains still bad, the restarted board kept it there
    if 10 < at < 110:
        tl = [e["event"] for e in rep["timeline"] if e["t_ms"] >= at * 1000]
        assert "load_to_mains" not in tl[: tl.index("disturbance_end")]


def test_a_latched_alarm_survives_a_restart_and_nothing_is_cranked():
    rep, sim = simulate(
        150,
        mains(events=[{"at_s": 5, "kind": "outage", "duration_s": 200}]),
        generator={"present": True, "fails_to_start": True},
        resets=[{"at_s": 60, "down_s": 1}, {"at_s": 100, "down_s": 0.5, "kind": "watchdog"}],
    )
    (fail,) = events_named(rep, "generator_fail_to_start")
    assert fail["t_ms"] < 60000
    assert all(e["t_ms"] < 60000 for e in events_named(rep, "generator_crank"))
    assert sim.controller.alarms.is_active(2)  # generator_fail_to_start, still latched
    assert sim.controller.command("ack all").startswith("OK acknowledged generator_fail_to_start")


def test_a_watchdog_reset_with_the_load_switched_off_brings_it_back_with_power():
    # load.off (S00R0000) from NUT, then a reset: the output stays off through it, and
    # the restarted board, which no longer knows what was asked, switches it on again
    # once power is ready
    sim = Simulation(
        scenario.check(
            {
                "duration_s": 60,
                "config": {"nut.allow_control": True},
                "resets": [{"at_s": 20, "down_s": 1, "kind": "watchdog"}],
            }
        )
    )
    sim.run_until(5)
    sim.board.serial_in += b"S00R0000\r"
    sim.run_until(60)
    tl = [
        (e["t_ms"] / 1000, e["event"])
        for e in sim.board.timeline
        if e["event"] in ("load_off", "load_on", "boot")
    ]
    assert [name for _, name in tl] == ["boot", "load_off", "boot", "load_on"]
    # power is ready when mains has been good for the return delay (10 s) after the boot
    assert tl[1][0] < 6 and 31 <= tl[3][0] < 33


def test_a_hang_longer_than_the_watchdog_resets_the_controller_with_its_outputs_held():
    # The loop stops 30 s into an outage, with the load on the generator. The board's
    # watchdog (1.5 s) bites, the firmware boots 0.5 s later and carries on from the held
    # outputs: the load never leaves the generator.
    rep, sim = simulate(
        140,
        OUTAGE,
        generator=GEN,
        watchdog_ms=1500,
        resets=[{"at_s": 30, "down_s": 60, "kind": "hang"}],
    )
    (hang,) = events_named(rep, "controller_hang")
    (reset,) = events_named(rep, "controller_reset")
    assert reset["kind"] == "watchdog"
    # it bit 1.5 s after the last feed, which came within a block of the hang
    assert 1500 <= reset["t_ms"] - hang["t_ms"] <= 1502, (hang, reset)
    boots = [e["t_ms"] for e in events_named(rep, "boot")]
    assert len(boots) == 2 and boots[1] - reset["t_ms"] == 500
    m = rep["metrics"]
    assert m["controller_resets"] == 1 and m["itic_violations"] == 0
    assert m["transfers_to_generator"] == 1 and m["source_conflicts"] == 0
    assert m["starter_while_running"] == 0 and m["alarms"] == []
    moved = [
        e
        for e in rep["timeline"]
        if e["event"].startswith("load_to_") and 30000 < e["t_ms"] < 110000
    ]
    assert moved == []
    assert sim.board.source() == "mains" and sim.board.gen.state == "stopped"


def test_a_stall_shorter_than_the_watchdog_is_only_a_late_loop():
    rep, sim = simulate(
        40,
        OUTAGE,
        generator=GEN,
        watchdog_ms=2000,
        resets=[{"at_s": 5, "down_s": 1.2, "kind": "hang"}],
    )
    assert events_named(rep, "controller_reset") == []
    assert len(events_named(rep, "boot")) == 1
    # the hang began on steady mains, up to REST_MS after the last feed
    assert 1200 <= rep["metrics"]["max_feed_gap_ms"] <= 1202 + REST_MS
    assert rep["metrics"]["controller_resets"] == 0


def test_the_loop_feeds_the_watchdog_well_inside_its_timeout_through_an_outage():
    # the idle watch on battery looks away from the mains for 950 ms at a time, and
    # feeds the watchdog each time; with an engine running, every 50 ms, and on mains
    # with the engine at rest every REST_MS
    rep, _ = simulate(140, OUTAGE)
    assert 900 <= rep["metrics"]["max_feed_gap_ms"] <= 1000
    rep, _ = simulate(140, OUTAGE, generator=GEN)
    assert REST_MS - 10 <= rep["metrics"]["max_feed_gap_ms"] <= REST_MS + 2


def test_on_steady_mains_the_supervisor_is_stepped_every_rest_ms():
    # The load on good mains, the engine at rest: a block is the monitor and a countdown,
    # and the supervisor is stepped (the watchdog fed with it) once every REST_MS.
    sim = Simulation(scenario.check({"duration_s": 30, "generator": GEN}))
    sim.run_until(10)
    b = sim.board
    feeds, blocks = b.watchdog_feeds, b.blocks_read
    sim.run_until(20)
    assert b.blocks_read - blocks == 10000
    assert b.watchdog_feeds - feeds == 10000 // REST_MS


def test_a_reset_during_preheat_switches_the_glow_plugs_off_at_boot():
    # Mains comes back while the board is down in the middle of the glow plug time: the
    # restarted controller switches the plugs off at boot, and with mains good there is
    # nothing to start the engine for.
    rep, sim = simulate(
        60,
        mains(events=[{"at_s": 10, "kind": "outage", "duration_s": 5}]),
        generator=GEN,
        config={"gen.preheat_s": 10},
        resets=[{"at_s": 14, "down_s": 600, "kind": "hang"}],
    )
    boot = events_named(rep, "boot")[-1]["t_ms"] * 1000
    plugs = [(t, on) for t, out, on in sim.board.outputs if out == hal.OUT_GEN_PREHEAT]
    assert [on for _, on in plugs] == [True, False]  # on for the start before the hang
    assert plugs[0][0] < 14e6 and plugs[1][0] == boot
    assert events_named(rep, "generator_crank") == [] and sim.board.gen.state == "stopped"
    assert sim.board.source() == "mains"


def test_a_cooldown_resumes_after_a_reset_for_what_it_had_left():
    # Mains back at 110 s, the load back on mains at about 121 s, then 120 s of cooldown.
    # A watchdog reset 60 s into it: the engine still stops about 120 s after the cooldown
    # began, not 120 s after the reset. A power cut instead stops the engine at once
    # (its fuel dropped with the outputs) and leaves nothing to resume.
    cfg = {"gen.cooldown_s": 120}
    rep, sim = simulate(320, OUTAGE, generator=GEN, config=cfg)
    (stop_plain,) = events_named(rep, "generator_stop")
    rep, sim = simulate(
        320,
        OUTAGE,
        generator=GEN,
        config=cfg,
        resets=[{"at_s": 180, "down_s": 2, "kind": "watchdog"}],
    )
    (stop,) = events_named(rep, "generator_stop")
    assert abs(stop["t_ms"] - stop_plain["t_ms"]) <= 1500, (stop, stop_plain)
    assert rep["metrics"]["alarms"] == [] and sim.board.gen.state == "stopped"
    assert sim.controller.store.values["cool_until"] == 0
    # without the record (first boot of a board that never cooled down): the full time
    assert 235000 < stop_plain["t_ms"] < 245000


@pytest.mark.parametrize("at", [11, 13.5])
def test_without_relay_feedback_a_reset_on_battery_keeps_the_load_there(at):
    # No auxiliary contacts to read back: the relay output the board held is all the
    # restarted controller has to know the load is on battery.
    rep, sim = simulate(
        200,
        OUTAGE,
        generator=GEN,
        config={"relay.feedback": False},
        resets=[{"at_s": at, "down_s": 600, "kind": "hang"}],
    )
    m = rep["metrics"]
    assert m["controller_resets"] == 1
    assert m["itic_violations"] == 0 and m["max_load_interruption_ms"] < 20
    boot = events_named(rep, "boot")[-1]  # the restart
    (recovered,) = events_named(rep, "recovered_outage")
    assert recovered["t_ms"] == boot["t_ms"]
    # in the event log on flash, with its argument (1: an outage the outputs showed)
    logged = [json.loads(r) for r in sim.controller.command("log json 100").splitlines()]
    assert [r["arg"] for r in logged if r["event"] == "recovered_outage"] == [1]
    tl = [e["event"] for e in rep["timeline"] if e["t_ms"] >= at * 1000]
    assert "load_to_mains" not in tl[: tl.index("disturbance_end")]


def test_a_reset_while_loads_are_shed_keeps_them_shed_without_a_second_event():
    # The shed output holds through the reset; the restarted controller takes it as it
    # finds it: still shed on battery, no second load_shed, back when mains returns.
    rep, sim = simulate(
        80,
        mains(events=[{"at_s": 10, "kind": "outage", "duration_s": 40}]),
        load={"watts": 1500, "sheddable_watts": 500},
        config={"shed.enabled": True, "shed.delay_s": 10},
        resets=[{"at_s": 30, "down_s": 600, "kind": "hang"}],
    )
    assert len(events_named(rep, "controller_reset")) == 1
    assert len(events_named(rep, "load_shed")) == 1
    assert len(events_named(rep, "load_restored")) == 1
    shed = [(t, on) for t, out, on in sim.board.outputs if out == hal.OUT_SHED]
    assert [on for _, on in shed] == [True, False] and shed[1][0] > 50e6
