# Battery self-test through the command interpreter: a real short discharge with the
# resistance measured at the load step.
import pytest

from helpers import events_named, mains, simulate

from firmware.supervisor import STRIDE_MS


def _run(health=100, lines=(), events=(), duration=90, **kw):
    console = [{"at_s": t, "line": line} for t, line in lines]
    return simulate(
        duration, mains(events=list(events)), battery={"health_pct": health}, console=console, **kw
    )


@pytest.mark.parametrize(
    "health, result", [(100, "pass"), (80, "pass"), (40, "fail"), (20, "fail")]
)
def test_selftest_judges_the_battery_by_its_resistance(health, result):
    rep, sim = _run(health, [(5, "selftest battery"), (60, "alarms")])
    end = events_named(rep, "selftest_end")
    assert len(end) == 1 and end[0]["result"] == result
    # 20 mOhm rated; the simulated bank's resistance grows as its health falls
    assert end[0]["r_mohm"] == pytest.approx(20 * (2 - health / 100.0), abs=2)
    # the discharge is timed from the step that sees the load land on the battery (the
    # relay's 8 ms, its contact a few ms later), its end seen at the next step: within a
    # stride of its 30 s
    assert 5000 + 8 + 30000 <= end[0]["t_ms"] <= 5000 + 15 + 30000 + STRIDE_MS
    names = [e["event"] for e in rep["timeline"]]
    assert names.count("load_to_battery") == 1 and names.count("load_to_mains") == 1
    assert rep["metrics"]["itic_violations"] == 0
    alarms_reply = events_named(rep, "console")[1]["reply"]
    if result == "fail":
        assert alarms_reply == "OK alarms: battery_failed (warning, latched)"
    else:
        assert alarms_reply == "OK alarms: none"


def test_a_failed_selftest_alarm_stays_until_acknowledged():
    rep, _ = _run(30, [(5, "selftest battery"), (60, "ack battery_failed"), (61, "alarms")])
    replies = [e["reply"] for e in events_named(rep, "console")]
    assert replies[1] == "OK acknowledged battery_failed"
    assert replies[2] == "OK alarms: none"


def test_an_outage_during_the_selftest_interrupts_it_and_the_load_stays_on_battery():
    rep, _ = _run(
        100,
        [(5, "selftest battery")],
        events=[{"at_s": 15, "kind": "outage", "duration_s": 20}],
        duration=60,
    )
    end = events_named(rep, "selftest_end")
    assert len(end) == 1 and end[0]["result"] == "interrupted"
    assert 15000 < end[0]["t_ms"] < 15100
    names = [e["event"] for e in rep["timeline"]]
    # on battery from the test through the outage, back only after mains returns
    assert names.count("load_to_battery") == 1
    back = events_named(rep, "load_to_mains")[0]["t_ms"]
    assert back > 35000 + 10000
    assert rep["metrics"]["itic_violations"] == 0


@pytest.mark.parametrize(
    "lines, reply",
    [
        ([(5, "selftest")], "ERR selftest: allowed: selftest battery"),
        ([(5, "selftest generator")], "ERR selftest: allowed: selftest battery"),
        (
            [(5, "mode off"), (6, "selftest battery")],
            "ERR selftest battery: only in auto mode (mode is off)",
        ),
        ([(0.2, "selftest battery")], "ERR selftest battery: only with the load on good mains"),
        (
            [(5, "selftest battery"), (6, "selftest battery")],
            "ERR selftest battery: a self-test is already running",
        ),
    ],
)
def test_selftest_is_refused_with_a_reason(lines, reply):
    rep, _ = _run(100, lines, duration=10)
    assert events_named(rep, "console")[-1]["reply"] == reply
