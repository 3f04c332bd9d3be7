# The generator sequencer on its own, on a recording board (like gpiozero's MockPin): every
# timer to the millisecond, every limit both sides, every output and event. The engine's
# readings are given by the test (per mille of nominal voltage and frequency).
import pytest

from fakes import MASK, RecordingBoard
from firmware import alarms, events, generator, hal
from firmware.alarms import Alarms
from firmware.config import Config
from firmware.events import EventRing
from firmware.generator import (
    COOLDOWN,
    CRANK,
    FAILED,
    IDLE,
    PREHEAT,
    READY,
    REST,
    RUNNING,
    START_DELAY,
    STOPPING,
)

STILL = (0, 0)
ON = (1000, 1000)  # at nominal voltage and frequency


def _engine(board):
    # (run, start, preheat) as driven
    s = board.state
    return (
        s.get(hal.OUT_GEN_RUN, False),
        s.get(hal.OUT_GEN_START, False),
        s.get(hal.OUT_GEN_PREHEAT, False),
    )


def _gen(**settings):
    cfg = Config()
    cfg.update(settings)
    board = RecordingBoard()
    log = EventRing()
    g = generator.Generator(cfg, board, log, Alarms(log))
    return g, board


def _log(g):
    return [
        (code, arg)
        for _, code, arg in g._log.recent(64)
        if code
        in (
            events.EV_GEN_START,
            events.EV_GEN_CRANK,
            events.EV_GEN_READY,
            events.EV_GEN_STOP,
            events.EV_GEN_FAIL_TO_START,
        )
    ]


def _alarm(g, code):
    return g._alarms.is_active(code)


def _run(g, t0, t1, want, reading, hurry=False, skip=False, step=1):
    # Steps from t0 up to t1 (not included); returns t1.
    t = t0
    while t < t1:
        g.step(t & MASK, want, hurry, reading[0], reading[1], skip)
        t += step
    return t1


def _started(**settings):
    # Cranked at t=0 (no start delay), fired at 1000: RUNNING from 1000.
    g, board = _gen(**dict({"gen.start_delay_s": 0}, **settings))
    _run(g, 0, 1000, True, STILL)
    assert g.state == CRANK
    g.step(1000, True, False, *ON)
    assert g.state == RUNNING
    return g, board


def test_the_start_delay_is_served_to_the_millisecond_and_a_short_outage_starts_nothing():
    g, board = _gen()
    _run(g, 0, 3000, True, STILL)
    assert g.state == START_DELAY and _engine(board) == (False, False, False)
    assert not g.committed()
    g.step(3000, generator.WHY_BATTERY, False, *STILL)
    assert g.state == CRANK and _engine(board) == (True, True, False)
    assert g.committed()
    # the log says why, as wanted at the moment the sequence began
    assert _log(g) == [(events.EV_GEN_START, generator.WHY_BATTERY), (events.EV_GEN_CRANK, 1)]
    assert g.starts == 1 and g.attempt == 1
    # mains came back during the delay
    g, board = _gen()
    _run(g, 0, 2000, True, STILL)
    g.step(2000, False, False, *STILL)
    assert g.state == IDLE and _log(g) == [] and g.quiet()
    _run(g, 2001, 10000, False, STILL, step=100)
    assert g.state == IDLE


@pytest.mark.parametrize(
    "hurry, skip, delay_s", [(True, False, 3), (False, True, 3), (False, False, 0)]
)
def test_a_hurried_start_a_flapping_mains_or_no_delay_cranks_at_once(hurry, skip, delay_s):
    g, board = _gen(**{"gen.start_delay_s": delay_s})
    g.step(0, True, hurry, 0, 0, skip)
    assert g.state == CRANK and _engine(board) == (True, True, False)
    # and in the delay, a hurry or a flapping mains ends it
    if delay_s:
        g, board = _gen(**{"gen.start_delay_s": delay_s})
        g.step(0, True, False, *STILL)
        g.step(500, True, hurry, 0, 0, skip)
        assert g.state == CRANK


def test_glow_plugs_before_each_crank():
    g, board = _gen(**{"gen.start_delay_s": 0, "gen.preheat_s": 2, "gen.attempts": 2})
    g.step(0, generator.WHY_MANUAL, False, *STILL)
    assert g.state == PREHEAT and _engine(board) == (False, False, True)
    assert _log(g) == [(events.EV_GEN_START, generator.WHY_MANUAL)]
    _run(g, 1, 2000, True, STILL)
    assert g.state == PREHEAT
    g.step(2000, True, False, *STILL)
    assert g.state == CRANK and _engine(board) == (True, True, False)
    # a failed crank, the rest, and the glow plugs again
    _run(g, 2001, 7000, True, STILL)
    g.step(7000, True, False, *STILL)
    assert g.state == REST and _engine(board) == (False, False, False)
    _run(g, 7001, 12000, True, STILL)
    assert g.state == REST
    g.step(12000, True, False, *STILL)
    assert g.state == PREHEAT and _engine(board) == (False, False, True)
    # the outage ends while heating: everything off
    g.step(12001, False, False, *STILL)
    assert g.state == STOPPING and _engine(board) == (False, False, False)
    g.step(12002, False, False, *STILL)
    assert g.state == IDLE


def test_failed_cranks_rest_on_a_still_engine_then_fail_to_start_latched():
    g, board = _gen(**{"gen.start_delay_s": 0, "gen.attempts": 3})
    g.step(0, True, False, *STILL)
    t = 0
    for attempt in (1, 2, 3):
        assert g.state == CRANK and g.attempt == attempt
        _run(g, t + 1, t + 5000, True, STILL)
        assert g.state == CRANK
        g.step(t + 5000, True, False, *STILL)
        t += 5000
        if attempt < 3:
            assert g.state == REST and _engine(board) == (False, False, False)
            # the engine still turning at the end of the rest: wait for it
            _run(g, t + 1, t + 5000, True, STILL)
            g.step(t + 5000, True, False, 100, 0)
            assert g.state == REST
            g.step(t + 5001, True, False, 0, 100)
            assert g.state == REST
            g.step(t + 5002, True, False, 99, 99)
            t += 5002
    assert g.state == FAILED and _engine(board) == (False, False, False)
    assert _log(g)[-1] == (events.EV_GEN_FAIL_TO_START, 3)
    assert _alarm(g, alarms.AL_GEN_FAIL_TO_START) and g.tripped()
    assert g.starts == 3 and g.fired == 0 and g.quiet()
    _run(g, t + 1, t + 60000, True, STILL, step=100)
    assert g.state == FAILED
    # the operator's reset: stopped, then idle once still
    g.reset(t + 60000)
    assert g.state == STOPPING
    g.step(t + 60001, False, False, *STILL)
    assert g.state == IDLE


def test_reset_leaves_anything_but_a_failure_alone():
    g, board = _started()
    g.reset(1001)
    assert g.state == RUNNING and _engine(board)[0]


def test_reset_turns_nothing_on():
    g, board = _gen(**{"gen.start_delay_s": 0, "gen.attempts": 1})
    _run(g, 0, 5001, True, STILL)
    assert g.state == FAILED
    g.reset(6000)
    assert _engine(board) == (False, False, False)
    g.step(6001, True, False, *STILL)
    assert g.state == IDLE
    g.step(6002, True, False, *STILL)  # wanted again: a new sequence
    assert g.state == CRANK and g.attempt == 1


def test_the_starter_is_never_engaged_on_a_turning_engine():
    g, board = _gen(**{"gen.start_delay_s": 0, "gen.preheat_s": 1})
    g.step(0, True, False, *STILL)
    g.step(1000, True, False, 150, 0)  # still coasting when the plugs are done
    assert g.state == REST and _engine(board) == (False, False, False)
    g.step(1001, True, False, 150, 0)
    assert g.state == REST
    _run(g, 1002, 6001, True, STILL)
    assert g.state == PREHEAT and g.attempt == 0
    _run(g, 6001, 7001, True, STILL)
    assert g.state == CRANK and g.attempt == 1


def test_the_outage_ending_during_a_crank_or_a_rest_stops_everything():
    for at, state in ((1000, CRANK), (6000, REST)):
        g, board = _gen(**{"gen.start_delay_s": 0})
        _run(g, 0, at, True, STILL)
        assert g.state == state
        g.step(at, False, False, *STILL)
        assert g.state == STOPPING and _engine(board) == (False, False, False)
        g.step(at + 1, False, False, *STILL)
        assert g.state == IDLE


@pytest.mark.parametrize(
    "reading, fires", [((300, 0), True), ((0, 300), True), ((299, 299), False)]
)
def test_cranking_ends_at_the_crank_disconnect_speed(reading, fires):
    g, board = _gen(**{"gen.start_delay_s": 0})
    g.step(0, True, False, *STILL)
    g.step(800, True, False, *reading)
    assert (g.state == RUNNING) == fires
    assert _engine(board) == ((True, False, False) if fires else (True, True, False))
    assert g.fired == (1 if fires else 0)


def test_an_engine_firing_just_as_the_outage_ends_cools_down():
    g, board = _gen(**{"gen.start_delay_s": 0})
    g.step(0, True, False, *STILL)
    g.step(800, False, False, *ON)
    assert g.state == COOLDOWN and g.fired == 1 and _engine(board) == (True, False, False)
    _run(g, 801, 10800, False, ON)
    assert g.state == COOLDOWN
    g.step(10800, False, False, *ON)
    assert g.state == STOPPING
    # started again: fired counts every start
    _run(g, 10801, 11000, False, STILL)
    g.step(11000, True, False, *STILL)
    g.step(11500, True, False, *ON)
    assert g.fired == 2 and g.starts == 2


def test_warm_up_then_ready_and_a_hurry_skips_it():
    g, board = _started()
    _run(g, 1001, 6000, True, ON)
    assert g.state == RUNNING and not g.ready() and g.running()
    g.step(6000, True, False, *ON)
    assert g.state == READY and g.ready() and g.quiet()
    assert _log(g)[-1] == (events.EV_GEN_READY, 0)
    # hurried: ready as soon as it is within limits
    g, board = _started()
    g.step(1001, True, True, 800, 1000)
    assert g.state == RUNNING
    g.step(1002, True, True, *ON)
    assert g.state == READY
    # warm but not within limits: not ready
    g, board = _started()
    _run(g, 1001, 6001, True, (1000, 900))
    assert g.state == RUNNING


def test_ready_drops_back_to_running_when_the_readings_leave_the_limits():
    g, board = _started(**{"gen.safety_on_s": 30})
    _run(g, 1001, 6001, True, ON)
    assert g.state == READY
    g.step(6001, True, False, 849, 1000)
    assert g.state == RUNNING
    _run(g, 6002, 6010, True, ON)
    assert g.state == READY


@pytest.mark.parametrize(
    "reading, within",
    [
        ((850, 1000), True),
        ((849, 1000), False),
        ((1100, 1000), True),
        ((1101, 1000), False),
        ((1000, 950), True),
        ((1000, 949), False),
        ((1000, 1050), True),
        ((1000, 1051), False),
    ],
)
def test_limits_are_enforced_after_safety_on_and_qualified(reading, within):
    g, board = _started()
    _run(g, 1001, 11000, True, ON, step=10)
    assert g.state == READY
    # out of limits before safety_on ended (10 s after firing) would not count; from here
    # it does, for limit_qual_ms (500)
    _run(g, 11000, 11500, True, reading)
    assert g.state in (READY, RUNNING)
    g.step(11500, True, False, *reading)
    if within:
        assert g.state == READY and not _alarm(g, alarms.AL_GEN_OUT_OF_LIMITS)
    else:
        assert g.state == COOLDOWN and _alarm(g, alarms.AL_GEN_OUT_OF_LIMITS)
        assert g.tripped()
        # tripped: wanted again, it still cools down and stops
        _run(g, 11501, 21500, True, reading, step=10)
        assert g.state == COOLDOWN
        g.step(21501, True, False, *reading)
        assert g.state == STOPPING


def test_no_limit_is_enforced_during_safety_on_and_a_short_excursion_is_forgiven():
    g, board = _started()
    _run(g, 1001, 11000, True, (700, 900), step=10)
    assert g.state == RUNNING and not _alarm(g, alarms.AL_GEN_OUT_OF_LIMITS)
    g, board = _started()
    _run(g, 1001, 12000, True, ON, step=10)
    for t in range(12000, 20000, 600):
        _run(g, t, t + 499, True, (700, 1000))
        _run(g, t + 499, t + 600, True, ON)
    assert g.state == READY and not _alarm(g, alarms.AL_GEN_OUT_OF_LIMITS)


def test_overspeed_shuts_down_after_100_ms_even_in_cooldown():
    for want in (True, False):
        g, board = _started()
        _run(g, 1001, 11000, True, ON, step=10)
        g.step(11000, want, False, *ON)
        _run(g, 11001, 11101, want, (1000, 1100))
        assert g.state in (RUNNING, COOLDOWN)  # above f_high as well: not ready
        g.step(11101, want, False, 1000, 1100)
        assert g.state == FAILED and _engine(board) == (False, False, False)
        assert _alarm(g, alarms.AL_GEN_OVERSPEED) and g.tripped()
        assert _log(g)[-1] == (events.EV_GEN_STOP, 1)
    # confirmed at the very step the outage ends, on a set within its frequency limit: the
    # shutdown stands, no cooldown
    g, board = _started(**{"gen.f_high_pct": 115})
    _run(g, 1001, 11000, True, ON, step=10)
    _run(g, 11000, 11100, True, (1000, 1100))
    assert g.state == READY
    g.step(11100, False, False, 1000, 1100)
    assert g.state == FAILED
    g.step(11101, False, False, 1000, 1100)
    assert g.state == FAILED and _engine(board) == (False, False, False)
    # a spike shorter than that, or one during safety_on, is not overspeed
    g, board = _started()
    _run(g, 1001, 11000, True, (1000, 1200), step=10)
    for t in range(11000, 15000, 200):
        _run(g, t, t + 99, True, (1000, 1099))
        _run(g, t + 99, t + 199, True, (1000, 1100))
        _run(g, t + 199, t + 200, True, ON)
    assert g.state == READY and not _alarm(g, alarms.AL_GEN_OVERSPEED)


def test_cooldown_then_stop_and_wanted_again_during_it():
    g, board = _started()
    _run(g, 1001, 6001, True, ON)
    g.step(7000, False, False, *ON)
    assert g.state == COOLDOWN and _engine(board) == (True, False, False)
    assert g.cooldown_left_s(7000) == 10 and g.cooldown_left_s(12500) == 4
    assert g.cooldown_left_s(20000) == 0
    _run(g, 7001, 17000, False, ON)
    assert g.state == COOLDOWN
    g.step(17000, False, False, *ON)
    assert g.state == STOPPING and _engine(board) == (False, False, False)
    assert _log(g)[-1] == (events.EV_GEN_STOP, 0)
    # wanted again in the middle of a cooldown: back to running, warm already
    g, board = _started()
    _run(g, 1001, 6001, True, ON)
    g.step(7000, False, False, *ON)
    g.step(9000, True, False, *ON)
    assert g.state == RUNNING
    g.step(9001, True, False, *ON)
    assert g.state == READY


def test_stopping_waits_for_a_still_engine_and_alarms_once_when_it_does_not_stop():
    g, board = _started()
    g.step(2000, False, False, *ON)
    _run(g, 2001, 12001, False, ON)
    assert g.state == STOPPING
    _run(g, 12001, 42000, False, (200, 200))
    assert not _alarm(g, alarms.AL_GEN_FAIL_TO_STOP)
    g.step(42000, False, False, 200, 200)
    assert _alarm(g, alarms.AL_GEN_FAIL_TO_STOP)
    raised = g._log.count
    _run(g, 42002, 43000, False, (200, 200))
    assert g._log.count == raised  # raised once, not every step
    g._alarms.ack(42500, alarms.AL_GEN_FAIL_TO_STOP)  # the operator saw it
    _run(g, 42501, 43000, False, (200, 200))
    assert not _alarm(g, alarms.AL_GEN_FAIL_TO_STOP)  # not raised again for this stop
    g.step(43000, False, False, 99, 100)
    assert g.state == STOPPING  # still turning at 10 %
    g.step(43001, False, False, 100, 99)
    assert g.state == STOPPING
    g.step(43002, False, False, 99, 99)
    assert g.state == IDLE and not _alarm(g, alarms.AL_GEN_FAIL_TO_STOP)
    # and the next stop that fails alarms again
    g.step(50000, True, False, *STILL)
    _run(g, 53000, 54000, True, ON)
    g.step(60000, False, False, *ON)
    _run(g, 60001, 70001, False, ON)
    _run(g, 70001, 100002, False, (200, 200), step=10)
    assert _alarm(g, alarms.AL_GEN_FAIL_TO_STOP)
    # it stops at last: the alarm clears, stamped with the time it did
    g.step(100500, False, False, *STILL)
    assert g.state == IDLE and not _alarm(g, alarms.AL_GEN_FAIL_TO_STOP)
    assert g._log.recent(1)[0] == (100500, events.EV_ALARM_CLEARED, alarms.AL_GEN_FAIL_TO_STOP)


def test_a_set_found_running_when_wanted_is_fuelled_again_not_cranked():
    for state_first in (False, True):
        g, board = _gen()
        if state_first:
            g.step(0, True, False, *STILL)
            assert g.state == START_DELAY
        g.step(10, True, False, 300, 0)
        assert g.state == RUNNING and _engine(board)[:2] == (True, False)
        assert g.starts == 0
        _run(g, 11, 6011, True, ON)
        assert g.state == READY
    g, board = _gen()
    g.step(0, True, False, 0, 300)  # the frequency alone says it turns
    assert g.state == RUNNING
    # not wanted: left alone
    g, board = _gen()
    g.step(0, False, False, *ON)
    assert g.state == IDLE and _engine(board) == (False, False, False)


def test_after_a_reset_the_engine_is_adopted_or_stopped_from_what_the_board_held():
    g, board = _gen()
    g.recover(0, True, False, *ON)
    assert g.state == READY and g.v_pm == 1000
    g, board = _gen()
    g.recover(0, True, False, 300, 900)  # turning, not yet within limits
    assert g.state == RUNNING
    for reading in ((300, 0), (0, 300)):  # either reading alone says it turns
        g, board = _gen()
        g.recover(0, True, False, *reading)
        assert g.state == RUNNING
    g, board = _gen()
    board.state = {hal.OUT_GEN_RUN: True, hal.OUT_GEN_START: True, hal.OUT_GEN_PREHEAT: True}
    g.recover(0, True, True, *ON)  # reset just as it fired: keep it, starter off
    assert g.state == READY and _engine(board) == (True, False, False)
    g.step(1, True, False, *ON)
    assert g.state == READY
    g, board = _gen()
    board.state = {hal.OUT_GEN_RUN: True, hal.OUT_GEN_START: True, hal.OUT_GEN_PREHEAT: True}
    g.recover(0, True, True, *STILL)  # reset mid-crank: starter and plugs off
    assert g.state == STOPPING and _engine(board) == (False, False, False)
    g.step(1, False, False, *STILL)
    assert g.state == IDLE
    g, board = _gen()
    board.state = {hal.OUT_GEN_START: True, hal.OUT_GEN_PREHEAT: True}
    g.recover(0, False, True, *ON)
    assert _engine(board) == (False, False, False) and g.state == STOPPING
    g, board = _gen()
    g.recover(0, False, False, *STILL)
    assert g.state == IDLE
    g, board = _gen(**{"gen.present": False})
    board.state = {hal.OUT_GEN_START: True}
    g.recover(0, True, True, *ON)
    assert g.state == IDLE and _engine(board)[1] and g.v_pm == 1000


def test_a_cooldown_under_way_resumes_for_what_it_had_left():
    g, board = _gen(**{"gen.cooldown_s": 100})
    g.recover(0, True, False, *ON)
    g.resume_cooldown(0, 40)
    assert g.state == COOLDOWN and g.cooldown_left_s(0) == 40
    _run(g, 1, 40000, False, ON, step=10)
    assert g.state == COOLDOWN
    g.step(40000, False, False, *ON)
    assert g.state == STOPPING
    # no longer than the setting, and a full one after that
    g, board = _gen(**{"gen.cooldown_s": 100})
    g.recover(0, True, False, 300, 900)
    g.resume_cooldown(0, 500)
    assert g.state == COOLDOWN and g.cooldown_left_s(0) == 100
    g.step(50000, True, False, *ON)
    g.step(60000, False, False, *ON)
    assert g.cooldown_left_s(60000) == 100
    # nothing left: it stops at once; and the next cooldown is a full one
    g, board = _gen(**{"gen.cooldown_s": 100})
    g.recover(0, True, False, *ON)
    g.resume_cooldown(0, 0)
    assert g.cooldown_left_s(0) == 0
    g.step(1, False, False, *ON)
    assert g.state == STOPPING
    g.step(2, False, False, *STILL)
    assert g.state == IDLE
    g.step(3, True, False, *ON)  # (turning at speed when wanted: fuelled)
    _run(g, 4, 6003, True, ON)
    assert g.state == READY
    g.step(7000, False, False, *ON)
    assert g.cooldown_left_s(7000) == 100
    _run(g, 7001, 107000, False, ON, step=100)
    assert g.state == COOLDOWN
    # a set that is not running has nothing to resume
    g, board = _gen()
    g.resume_cooldown(0, 40)
    assert g.state == IDLE


def test_emergency_stop_cuts_fuel_and_starter_at_once_and_latches():
    g, board = _started()
    g.emergency_stop(1500)
    assert g.state == FAILED and _engine(board) == (False, False, False)
    assert _alarm(g, alarms.AL_EMERGENCY_STOP) and g.tripped()
    assert _log(g)[-1] == (events.EV_GEN_STOP, 1)
    g.step(1501, True, False, *ON)
    assert g.state == FAILED and _engine(board) == (False, False, False)
    g, board = _gen(**{"gen.start_delay_s": 0})
    g.step(0, True, False, *STILL)
    g.emergency_stop(10)  # mid-crank: not running, no stop event
    assert g.state == FAILED and _engine(board) == (False, False, False)
    assert _log(g)[-1] == (events.EV_GEN_CRANK, 1)
    n = g._log.count
    g.emergency_stop(20)  # already failed: nothing more moves
    assert g.state == FAILED and g._log.count in (n, n + 1)


def test_no_generator_installed_does_nothing():
    g, board = _gen(**{"gen.present": False})
    _run(g, 0, 10000, True, STILL, hurry=True, step=10)
    assert g.state == IDLE and board.state == {} and g.v_pm == 0


def test_the_longest_time_to_ready_counts_every_attempt():
    g, _ = _gen(
        **{
            "gen.attempts": 3,
            "gen.preheat_s": 2,
            "gen.crank_s": 5,
            "gen.crank_rest_s": 7,
            "gen.warmup_s": 20,
            "gen.start_delay_s": 4,
        }
    )
    assert g.start_to_ready_s == 3 * (2 + 5) + 2 * 7 + generator.SETTLE_S
    assert g.warmup_s == 20 and g.delay_s == 4
    assert all(type(x) is int for x in (g.start_to_ready_s, g.warmup_s, g.delay_s))


def test_each_state_answers_what_it_is():
    g, _ = _gen()
    table = {
        IDLE: (False, False, True),
        START_DELAY: (False, False, False),
        PREHEAT: (True, False, False),
        CRANK: (True, False, False),
        REST: (True, False, False),
        RUNNING: (True, True, True),
        READY: (True, True, True),
        COOLDOWN: (True, True, False),
        STOPPING: (True, False, False),
        FAILED: (True, False, True),
    }
    for state, answers in table.items():
        g.state = state
        assert (g.committed(), g.running(), g.quiet()) == answers, generator.NAMES[state]


def test_the_clock_wrapping_changes_nothing():
    results = []
    for t0 in (0, MASK - 2500):
        g, board = _gen()
        _run(g, t0, t0 + 3000, True, STILL, step=10)
        _run(g, t0 + 3000, t0 + 3800, True, STILL, step=10)
        _run(g, t0 + 3800, t0 + 20000, True, ON, step=10)
        results.append((g.state, _log(g)))
    assert results[0] == results[1] and results[0][0] == READY


BIG = 1 << 24  # a `most` no timer here reaches


def test_each_timer_is_what_the_supervisor_may_wait_for():
    # wait_ms: what is left of the timer the state runs (at most `most`; `most` once it
    # has run out, the reading being due anyway), `most` where no timer runs.
    g, _ = _gen(**{"gen.preheat_s": 2, "gen.crank_s": 4, "gen.crank_rest_s": 6, "gen.warmup_s": 8})
    assert g.wait_ms(0, 50) == 50 and g.state == IDLE and not g.tripped()
    g.step(1000, True, False, *STILL)
    assert g.state == START_DELAY
    assert [g.wait_ms(1000 + d, BIG) for d in (0, 1, 2999, 3000)] == [3000, 2999, 1, BIG]
    assert g.wait_ms(1000, 50) == 50
    g.step(4000, True, False, *STILL)
    assert g.state == PREHEAT and g.wait_ms(4500, BIG) == 1500
    g.step(6000, True, False, *STILL)
    assert g.state == CRANK and g.wait_ms(6001, BIG) == 3999
    g.step(10000, True, False, *STILL)
    assert g.state == REST and g.wait_ms(10000, BIG) == 6000
    g.step(16000, True, False, *STILL)
    g.step(18000, True, False, *STILL)  # preheated again: cranking
    assert g.state == CRANK
    g.step(18500, True, False, *ON)  # fired: the warm-up runs from here
    assert g.state == RUNNING
    assert [g.wait_ms(t, BIG) for t in (19500, 26499, 26500)] == [7000, 1, BIG]
    assert g.to_ready_ms(19500, False) == 7000 and g.to_ready_ms(26499, False) == 1
    # in a hurry only the voltage's settling (SETTLE_S from firing) is waited for
    settled = 18500 + generator.SETTLE_S * 1000
    assert g.to_ready_ms(19500, True) == settled - 19500
    assert g.to_ready_ms(settled - 1, True) == 1 and g.to_ready_ms(settled + 1, True) == 0
    g.step(26500, True, False, *ON)
    assert g.state == READY and g.wait_ms(26500, 50) == 50 and g.to_ready_ms(26500, False) == 0
    g.step(27000, False, False, *ON)
    assert g.state == COOLDOWN and g.wait_ms(28000, BIG) == 9000
    assert g.to_ready_ms(28000, False) == -1
    g.step(37000, False, False, *ON)
    assert g.state == STOPPING and g.wait_ms(37000, BIG) == 30000
    g.step(67000, False, False, *ON)  # still turning: fail to stop, raised once
    assert g.state == STOPPING and g.wait_ms(67001, BIG) == BIG
    # a cooldown resumed after a restart runs for what it had left, none at all too
    for left_s, wait in ((20, 19500), (0, BIG)):
        g, _ = _started(**{"gen.cooldown_s": 60})
        g.resume_cooldown(2000, left_s)
        assert g.state == COOLDOWN and g.wait_ms(2500, BIG) == wait
    g.emergency_stop(3000)
    assert g.state == FAILED and g.wait_ms(3000, 50) == 50 and g.to_ready_ms(3000, False) == -1
    assert g.tripped()
