# Modes and operator commands, typed through the scenario console: AUTO, MANUAL, OFF and
# TEST (the drill), and the one-line errors for bad input.
import pytest

from helpers import events_named, mains, simulate

GEN = {"present": True}


def _console(*lines):
    return [{"at_s": t, "line": line} for t, line in lines]


def _replies(rep):
    return [(e["line"], e["reply"]) for e in events_named(rep, "console")]


def test_a_drill_moves_the_load_for_real_reports_and_returns_to_auto():
    rep, _ = simulate(
        200,
        mains(),
        generator=GEN,
        config={"drill.duration_s": 60},
        console=_console((10, "drill")),
    )
    m = rep["metrics"]
    assert _replies(rep) == [("drill", "OK mode test")]
    assert [e["mode"] for e in events_named(rep, "mode")] == ["test", "auto"]
    end = events_named(rep, "drill_end")
    assert len(end) == 1 and end[0]["result"] == "pass"
    assert 5 < end[0]["time_to_ready_s"] < 15
    assert end[0]["t_ms"] == pytest.approx(70000, abs=2)
    assert end[0]["transfers"] == 2 and end[0]["min_soc_pct"] > 95
    assert [e["reason"] for e in events_named(rep, "generator_start")] == ["drill"]
    names = [e["event"] for e in rep["timeline"]]
    i = names.index("drill_start")
    assert names[i:].index("load_to_battery") < names[i:].index("load_to_generator")
    assert names[-3:] == ["load_to_mains", "generator_stop", "engine_stopped"]
    assert m["itic_violations"] == 0 and m["source_conflicts"] == 0


def test_no_drill_while_a_shutdown_alarm_is_latched_until_acknowledged():
    rep, _ = simulate(
        260,
        mains(events=[{"at_s": 5, "kind": "outage", "duration_s": 40}]),
        generator={"present": True, "fails_to_start": True},
        config={"drill.duration_s": 60},
        console=_console((100, "drill"), (110, "ack all"), (120, "drill")),
    )
    replies = _replies(rep)
    assert replies[0] == (
        "drill",
        "ERR mode test: a shutdown alarm is latched; acknowledge it first",
    )
    assert replies[1] == ("ack all", "OK acknowledged generator_fail_to_start")
    assert replies[2] == ("drill", "OK mode test")
    end = events_named(rep, "drill_end")
    assert len(end) == 1 and end[0]["result"] == "fail" and end[0]["time_to_ready_s"] is None
    # one start before the acknowledgement (the outage), one in the drill
    assert len(events_named(rep, "generator_start")) == 2


def test_manual_mode_runs_the_generator_only_on_command():
    rep, _ = simulate(
        120,
        mains(events=[{"at_s": 60, "kind": "outage", "duration_s": 30}]),
        generator=GEN,
        console=_console((5, "gen start"), (6, "mode manual"), (7, "gen start"), (40, "gen stop")),
    )
    replies = _replies(rep)
    assert replies[0] == ("gen start", "ERR gen start: only in manual mode (mode is auto)")
    assert replies[1:] == [
        ("mode manual", "OK mode manual"),
        ("gen start", "OK gen start"),
        ("gen stop", "OK gen stop"),
    ]
    starts = events_named(rep, "generator_start")
    assert len(starts) == 1 and 7000 <= starts[0]["t_ms"] < 7100  # no start delay
    assert events_named(rep, "generator_stop")[0]["t_ms"] > 40000
    # the outage in manual mode starts nothing: the battery carries the load
    assert rep["metrics"]["transfers_to_generator"] == 0
    assert rep["metrics"]["itic_violations"] == 0


def test_off_mode_never_starts_the_generator():
    rep, _ = simulate(
        90,
        mains(events=[{"at_s": 20, "kind": "outage", "duration_s": 40}]),
        generator=GEN,
        console=_console((5, "mode off")),
    )
    assert events_named(rep, "generator_start") == []
    assert events_named(rep, "load_to_battery") and events_named(rep, "load_to_mains")


@pytest.mark.parametrize(
    "line, reply",
    [
        ("reboot now", "ERR unknown command 'reboot'"),
        ("mode turbo", "ERR mode: 'turbo' is not a mode; allowed: auto, manual, off, test"),
        ("gen launch", "ERR gen: allowed: gen start, gen stop"),
        ("ack nothing", "ERR ack: no active alarm 'nothing'; active: none"),
        ("drill 30", "ERR drill takes no arguments"),
        ("x" * 200, "ERR line too long (200 characters); allowed 120"),
        ("__init__", "ERR unknown command '__init__'"),
        ("", ""),
        ("mode", "OK mode auto"),
        ("alarms", "OK alarms: none"),
    ],
)
def test_every_line_gets_one_reply_and_bad_ones_say_what_is_allowed(line, reply):
    rep, sim = simulate(3, mains(), generator=GEN, console=_console((2, line)))
    got = _replies(rep)[0][1]
    assert got.startswith(reply)
    assert "\n" not in got
    assert sim.controller.supervisor.mode == 0  # nothing changed


def test_a_drill_needs_a_generator():
    rep, sim = simulate(3, mains(), console=_console((2, "drill")))
    assert _replies(rep) == [("drill", "ERR mode test: no generator is fitted")]
    assert sim.controller.supervisor.mode == 0 and events_named(rep, "drill_start") == []


def test_changing_modes_outside_a_drill_reports_no_drill():
    rep, _ = simulate(
        10,
        mains(),
        generator=GEN,
        console=_console((2, "mode off"), (4, "mode manual"), (6, "mode auto")),
    )
    assert [e["mode"] for e in events_named(rep, "mode")] == ["off", "manual", "auto"]
    assert events_named(rep, "drill_end") == []


def test_a_shutdown_alarm_during_a_drill_ends_it_at_once():
    rep, _ = simulate(
        200,
        mains(),
        generator={"present": True, "fails_to_start": True},
        config={"drill.duration_s": 150},
        console=_console((10, "drill")),
    )
    failed = events_named(rep, "generator_fail_to_start")
    end = events_named(rep, "drill_end")
    assert len(failed) == 1 and len(end) == 1 and end[0]["result"] == "fail"
    # the same step that latched the alarm, long before the drill's 150 s
    assert 0 <= end[0]["t_ms"] - failed[0]["t_ms"] <= 50 and end[0]["t_ms"] < 100000
    assert [e["mode"] for e in events_named(rep, "mode")] == ["test", "auto"]


def test_an_acknowledge_never_starts_the_engine_in_manual():
    # Manual run, then an electrical trip (70 % voltage for 5 s): cooldown and stop. The
    # acknowledge clears the alarm and nothing else; only a new `gen start` cranks again.
    rep, _ = simulate(
        150,
        mains(),
        generator={
            "present": True,
            "events": [{"at_s": 40, "kind": "voltage", "level_pct": 70, "duration_s": 5}],
        },
        console=_console(
            (2, "mode manual"),
            (3, "gen start"),
            (90, "alarms"),
            (91, "log 30"),
            (95, "gen start"),
            (100, "ack all"),
            (120, "gen start"),
        ),
    )
    replies = _replies(rep)
    assert replies.pop(4) == (
        "gen start",
        "ERR gen start: a generator alarm is latched; acknowledge it first",
    )
    # alarms and the log name the alarm, its class and why the engine started
    assert replies[2] == (
        "alarms",
        "OK alarms: generator_out_of_limits (electrical_trip, latched)",
    )
    log = replies[3][1].split("\n")
    assert any(line.endswith(" generator_start manual") for line in log), log
    assert any(
        line.endswith(" alarm generator_out_of_limits (electrical_trip)") for line in log
    ), log
    assert replies[4] == ("ack all", "OK acknowledged generator_out_of_limits")
    assert replies[5] == ("gen start", "OK gen start")
    starts = [e["t_ms"] for e in events_named(rep, "generator_start")]
    assert len(starts) == 2 and starts[0] < 4000 and starts[1] >= 120000, starts
    assert all(e["reason"] == "manual" for e in events_named(rep, "generator_start"))


def test_after_an_acknowledge_in_auto_the_engine_starts_again_only_for_the_outage():
    # An outage, the engine trips on load (70 % voltage); acknowledged while mains is
    # still out, it starts again, and the log says why. Acknowledged once mains is back,
    # nothing starts.
    def run(ack_at):
        rep, _ = simulate(
            260,
            mains(events=[{"at_s": 10, "kind": "outage", "duration_s": 110}]),
            generator={
                "present": True,
                "events": [{"at_s": 50, "kind": "voltage", "level_pct": 70, "duration_s": 5}],
            },
            battery={"capacity_ah": 200},
            console=_console((ack_at, "ack all")),
        )
        assert _replies(rep) == [("ack all", "OK acknowledged generator_out_of_limits")]
        return [(e["t_ms"], e["reason"]) for e in events_named(rep, "generator_start")]

    during = run(90)
    assert len(during) == 2 and during[1][0] >= 90000 and during[1][1] == "outage", during
    after = run(200)
    assert len(after) == 1, after
