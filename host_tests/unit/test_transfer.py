# The transfer state machine, on a recording board (like gpiozero's MockPin) and end to end.

from boards.sim.replay import contacts_at_rest
from fakes import MASK, RecordingBoard
from firmware import alarms, contacts, events, hal, transfer
from firmware.alarms import Alarms
from firmware.config import Config
from firmware.contacts import Contacts
from firmware.events import EventRing
from firmware.mains_monitor import UV
from helpers import events_named, mains, simulate


def _machine(**settings):
    cfg = Config()
    cfg.update(settings)
    board = RecordingBoard()
    log = EventRing()
    alarm_set = Alarms(log)
    return transfer.Transfer(
        cfg, board, log, alarm_set, Contacts(cfg, board, log, alarm_set)
    ), board


def _run(sm, t0, t1, ready, faults, step=1, want=True):
    t = t0
    while t < t1:
        sm.step(t & MASK, ready, faults, want, 1)
        t += step
    return t


def test_recent_counts_the_latest_times_within_a_window_and_forgets_the_oldest():
    # The chatter limit's and flapping's count: the times added last, newest first, that
    # lie less than the window before now; the ring keeps its last `size`.
    r = transfer.Recent(3, RecordingBoard().ticks_diff)
    assert r.within(1000, 5000) == 0
    for t in (900, 950, 990):
        r.add(t)
    assert r.within(1000, 11) == 1  # 990; the count stops at the first older one
    assert r.within(1000, 100) == 2  # 900 lies exactly 100 ms back: not within
    assert r.within(1000, 101) == 3
    r.add(999)  # the ring holds three: 900 is gone
    assert r.within(1000, 5000) == 3
    for t in (MASK - 5, MASK, 3):  # across the clock's wrap
        r.add(t)
    assert r.within(10, 20) == 3 and r.within(10, 15) == 2


def test_fault_moves_to_battery_at_once_and_waits_out_the_relay():
    sm, board = _machine(**{"relay.operate_ms": 10})
    sm.step(100, True, 0, True, 1)
    sm.step(101, False, UV, True, 1)
    assert board.outputs == [(hal.OUT_XFER, True)]
    assert sm.state == transfer.TO_BATTERY
    _run(sm, 102, 111, False, UV)
    assert sm.state == transfer.TO_BATTERY
    sm.step(111, False, UV, True, 1)
    assert sm.state == transfer.ON_BATTERY


def test_back_to_utility_only_when_ready_wanted_and_without_fault():
    sm, board = _machine()
    sm.step(0, False, UV, True, 1)
    t = _run(sm, 1, 100, False, UV)
    t = _run(sm, t, t + 100, True, UV)  # ready but still a fault
    t = _run(sm, t, t + 100, True, 0, want=False)  # ready but not wanted
    assert board.outputs == [(hal.OUT_XFER, True)]
    sm.step(t, True, 0, True, 1)
    assert board.outputs[-1] == (hal.OUT_XFER, False)
    assert sm.state == transfer.TO_UTILITY


def test_fault_during_the_return_goes_straight_back_to_battery():
    sm, board = _machine()
    sm.step(0, False, UV, True, 1)
    t = _run(sm, 1, 20, False, UV)
    t = _run(sm, t, t + 2, True, 0)
    assert sm.state == transfer.TO_UTILITY
    sm.step(t, False, UV, True, 1)
    assert board.outputs == [(hal.OUT_XFER, True), (hal.OUT_XFER, False), (hal.OUT_XFER, True)]
    assert sm.state == transfer.TO_BATTERY


def test_not_wanted_moves_the_load_without_counting_as_chatter():
    sm, board = _machine(**{"transfer.max_per_min": 2})
    t = 0
    for _ in range(5):
        t = _run(sm, t, t + 50, True, 0, want=False)
        t = _run(sm, t, t + 50, True, 0)
    assert sm.state in (transfer.ON_UTILITY, transfer.TO_UTILITY)
    assert not sm._alarms.is_active(alarms.AL_TRANSFER_CHATTER)
    assert board.outputs.count((hal.OUT_XFER, True)) == 5


def test_too_many_transfers_in_a_minute_hold_the_load_on_battery():
    sm, board = _machine(**{"transfer.max_per_min": 3, "transfer.lockout_s": 30})
    t = 1000
    for _ in range(3):
        sm.step(t, False, UV, True, 1)
        t = _run(sm, t + 1, t + 50, False, UV)
        t = _run(sm, t, t + 1100, True, 0)
    assert sm.state == transfer.HELD
    assert sm._alarms.is_active(alarms.AL_TRANSFER_CHATTER)
    assert board.outputs.count((hal.OUT_XFER, False)) == 2
    # the utility has been ready for 1.1 s already; the lockout counts from there
    t = _run(sm, t, t + 28000, True, 0, step=10)
    assert sm.state == transfer.HELD
    t = _run(sm, t, t + 1000, True, 0, step=10)
    assert sm.state in (transfer.TO_UTILITY, transfer.ON_UTILITY)
    assert not sm._alarms.is_active(alarms.AL_TRANSFER_CHATTER)


def test_the_clock_wrapping_changes_nothing():
    results = []
    for start in (0, MASK - 500):
        sm, board = _machine()
        sm.step(start & MASK, False, UV, True, 1)
        t = _run(sm, start + 1, start + 20, False, UV)
        _run(sm, t, t + 1001, True, 0)
        results.append((board.outputs, sm.state))
    assert results[0] == results[1]
    assert results[0][1] == transfer.ON_UTILITY


def test_return_delay_is_served_before_the_load_goes_back():
    ev = {"at_s": 2, "kind": "outage", "duration_s": 1, "phase_deg": 0}
    rep, _ = simulate(12, mains(events=[ev]), config={"transfer.return_delay_s": 5})
    restored = events_named(rep, "mains_restored")[0]["t_ms"]
    back = events_named(rep, "load_to_mains")[0]["t_ms"]
    assert 5000 <= back - restored <= 5000 + 20


def test_flapping_mains_ends_held_with_an_alarm_then_returns_when_stable():
    dips = [
        {"at_s": 2 + 3 * n, "kind": "dip", "residual_pct": 0, "duration_s": 0.02, "phase_deg": 90}
        for n in range(6)
    ]
    rep, sim = simulate(90, mains(events=dips), config={"transfer.return_delay_s": 1})
    m = rep["metrics"]
    assert m["alarms"] == ["transfer_chatter"]
    # the 4th transfer in a minute is the last one: the load stays on battery after it
    assert m["transfers_to_battery"] == 4
    raised = [e for e in events_named(rep, "alarm") if e["alarm"] == "transfer_chatter"]
    cleared = [e for e in events_named(rep, "alarm_cleared") if e["alarm"] == "transfer_chatter"]
    assert len(raised) == 1 and len(cleared) == 1
    last_dip_end = events_named(rep, "disturbance_end")[-1]["t_ms"]
    back = events_named(rep, "load_to_mains")[-1]["t_ms"]
    # mains must be good for the 60 s lockout after the last dip before the load goes back
    assert back >= last_dip_end + 60000
    assert back > cleared[0]["t_ms"]
    assert m["itic_violations"] == 0


def _log(sm):
    return [(code, arg) for _, code, arg in sm._log.recent(64)]


def test_every_move_is_logged_and_counted_and_each_state_answers_what_it_is():
    sm, board = _machine(**{"relay.operate_ms": 10})
    T = transfer

    def answers():
        return sm.on_battery(), sm.moving(), sm.settled_on_battery()

    assert sm.state == T.ON_UTILITY and answers() == (False, False, False)
    sm.step(0, False, UV, True, 1)  # a fault
    assert sm.state == T.TO_BATTERY and answers() == (True, True, False)
    _run(sm, 1, 11, False, UV)
    assert sm.state == T.ON_BATTERY and answers() == (True, False, True)
    sm.step(20, True, 0, True, 2)  # back, onto the generator
    assert sm.state == T.TO_UTILITY and answers() == (False, True, False)
    sm.step(29, True, 0, True, 2)
    assert sm.state == T.TO_UTILITY
    sm.step(30, True, 0, True, 2)  # exactly the operate time
    assert sm.state == T.ON_UTILITY and answers() == (False, False, False)
    sm.step(40, True, 0, False, 2)  # not wanted: a planned move
    assert sm.state == T.TO_BATTERY
    assert _log(sm) == [
        (events.EV_XFER_TO_BATTERY, 1),
        (events.EV_XFER_TO_UTILITY, 2),
        (events.EV_XFER_TO_BATTERY, 0),
    ]
    assert sm.transfers == 3
    assert [t for t, _, _ in sm._log.recent(3)] == [0, 20, 40]


def test_during_the_return_a_fault_counts_towards_the_limit_and_a_planned_move_does_not():
    for counted, expected in ((True, transfer.HELD), (False, transfer.ON_BATTERY)):
        sm, board = _machine(**{"transfer.max_per_min": 2, "relay.operate_ms": 10})
        sm.step(0, False, UV, True, 1)
        t = _run(sm, 1, 20, False, UV)
        sm.step(t, True, 0, True, 1)
        assert sm.state == transfer.TO_UTILITY
        if counted:
            sm.step(t + 1, False, UV, True, 1)
        else:
            sm.step(t + 1, True, 0, False, 1)
        assert sm.state == transfer.TO_BATTERY
        _run(sm, t + 2, t + 20, False, UV)
        assert sm.state == expected
        moves = [
            e for e in _log(sm) if e[0] in (events.EV_XFER_TO_BATTERY, events.EV_XFER_TO_UTILITY)
        ]
        assert moves[-1] == (events.EV_XFER_TO_BATTERY, 1 if counted else 0)


def test_held_returns_exactly_when_the_lockout_is_served():
    sm, board = _machine(
        **{"transfer.max_per_min": 1, "transfer.lockout_s": 10, "relay.operate_ms": 10}
    )
    sm.step(0, False, UV, True, 1)
    _run(sm, 1, 20, False, UV)
    assert sm.state == transfer.HELD
    sm.step(100, True, 0, True, 1)  # ready from here
    _run(sm, 101, 10100, True, 0, step=1000)
    sm.step(10099, True, 0, True, 1)
    assert sm.state == transfer.HELD
    sm.step(10100, True, 0, True, 1)
    assert sm.state == transfer.TO_UTILITY


def test_a_relay_that_never_left_the_utility_side_goes_back_only_when_it_may():
    sm, board = _machine(**{"relay.feedback": True, "relay.operate_ms": 10})
    board.stuck = False  # reports the utility side
    sm.step(0, False, UV, True, 1)
    t = _run(sm, 1, 30, False, UV)
    assert sm.state == transfer.TO_BATTERY
    for ready, faults, want in ((True, UV, True), (True, 0, False), (False, 0, True)):
        sm.step(t, ready, faults, want, 1)
        assert sm.state == transfer.TO_BATTERY
        t += 1
    sm.step(t, True, 0, True, 2)
    assert sm.state == transfer.TO_UTILITY
    assert _log(sm)[-1] == (events.EV_XFER_TO_UTILITY, 2)
    _run(sm, t + 1, t + 20, True, 0)
    assert sm.state == transfer.ON_UTILITY


def test_a_relay_in_flight_is_looked_at_every_ms_only_through_the_contacts_grace():
    # One ms after the command, then at the end of the operate time, then every ms while
    # the report may still come (the contacts' grace); past it the relay that never
    # reported is a fault standing, looked at again at the most the caller allows.
    sm, board = _machine(**{"relay.feedback": True, "relay.operate_ms": 10})
    board.stuck = False  # never leaves the utility side
    assert sm.wait_ms(0, 50) == 50  # at rest
    sm.step(1000, False, UV, True, 1)
    grace = contacts.FEEDBACK_GRACE_MS
    assert [sm.wait_ms(1000 + d, 50) for d in (0, 1, 5, 8, 9)] == [1, 9, 5, 2, 1]
    assert all(sm.wait_ms(1000 + d, 50) == 1 for d in range(10, 10 + grace))
    assert [sm.wait_ms(1000 + 10 + grace + d, 50) for d in (0, 1, 1000)] == [50, 50, 50]
    assert sm.state == transfer.TO_BATTERY  # still in flight, as far as it knows


def test_a_welded_relay_reports_the_load_on_battery_while_on_utility():
    sm, board = _machine(**{"relay.feedback": True})
    board.stuck = True
    assert sm.state == transfer.ON_UTILITY and sm.on_battery() is True
    sm, board = _machine(**{"relay.feedback": False})
    board.stuck = True  # no feedback: not read
    assert sm.on_battery() is False


def test_recover_after_a_reset_from_the_relay_the_board_held():
    sm, board = _machine()
    sm.recover(5000, False)
    assert sm.state == transfer.ON_UTILITY
    sm.recover(5000, True)
    assert sm.state == transfer.ON_BATTERY and sm.settled_on_battery()
    sm.step(5001, True, 0, True, 1)
    assert sm.state == transfer.TO_UTILITY


class _FollowingBoard(RecordingBoard):
    # Every auxiliary contact follows its coil at once, as on the bench boards, unless a
    # test holds it (held: {IN_k: closed}).
    def __init__(self):
        super().__init__()
        self.held = {}

    def input_bits(self):
        i = contacts_at_rest(self.output_bits())
        for k, closed in self.held.items():
            i = i | 1 << k if closed else i & ~(1 << k)
        return i


def test_the_contacts_are_looked_at_again_whenever_an_output_or_an_input_moves():
    cfg = Config()
    cfg.update({"relay.feedback": True, "relay.operate_ms": 10})  # a fault after 60 ms
    board = _FollowingBoard()
    log = EventRing()
    alarm_set = Alarms(log)
    c = Contacts(cfg, board, log, alarm_set)
    t = [0]

    def run(ms):  # a step every 5 ms
        for _ in range(ms // 5):
            t[0] += 5
            c.step(t[0])

    def faults_logged():
        return [a for _, code, a in log.recent(log.count) if code == events.EV_CONTACT_FAULT]

    run(1000)
    assert c.faults == [0, 0, 0] and alarm_set.active == 0
    # the generator contactor's contact closes on its own, its coil off: welded
    board.held[hal.IN_GEN_FB] = True
    run(55)
    assert c.faults == [0, 0, 0]
    run(10)
    assert c.faults == [0, 0, contacts.DID_NOT_OPEN]
    assert alarm_set.is_active(alarms.AL_GEN_CONTACTOR_FAULT)
    run(1000)  # nothing moves: told once
    assert faults_logged() == [contacts.GEN * 16 + contacts.DID_NOT_OPEN]
    del board.held[hal.IN_GEN_FB]
    run(5)
    assert c.faults == [0, 0, 0]
    # an output that moves with its contact: nothing; the relay's coil dropping out with
    # no change of output: its contact opens, found as soon as the grace is over
    board.set_output(hal.OUT_XFER, True)
    run(500)
    board.held[hal.IN_XFER_FB] = False
    run(65)
    assert c.faults == [contacts.DID_NOT_CLOSE, 0, 0]
    assert faults_logged()[-1] == contacts.XFER * 16 + contacts.DID_NOT_CLOSE
