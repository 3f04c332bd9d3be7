# Maintenance counters and the persistent record they live in: counted right, kept across
# restarts, due warnings raised and reset, damaged records recognised, flash writes bounded.
import os

from hypothesis import given, strategies as st

from boards.sim import scenario
from boards.sim.runner import Simulation
from conftest import run_micropython
from firmware import alarms, store
from firmware.alarms import Alarms
from firmware.events import EventRing
from firmware.files import DirFS
from helpers import events_named, mains, simulate

GEN = {"present": True}
OUTAGE = mains(events=[{"at_s": 5, "kind": "outage", "duration_s": 60}])


def _counters(sim):
    return dict(sim.controller.store.values)


def test_an_outage_is_counted_and_the_counts_survive_a_restart():
    # counts reach the flash within store.SOON_S
    rep, sim = simulate(
        150,
        OUTAGE,
        generator={"present": True, "failed_attempts": 1},
        resets=[{"at_s": 145, "down_s": 1}],
    )
    v = _counters(sim)
    assert v["cranks"] == 2 and v["starts"] == 1
    # load to battery, to generator, to battery, to mains: four changeover operations;
    # each contactor opened and closed once
    assert v["xfer_ops"] == rep["metrics"]["relay_operations"] == 4
    assert v["mains_ops"] == 2 and v["gen_ops"] == 2
    (ready,) = events_named(rep, "engine_running")
    (stop,) = events_named(rep, "generator_stop")
    assert abs(v["engine_s"] - (stop["t_ms"] - ready["t_ms"]) / 1000) <= 2
    assert v["battery_since"] == sim.board._start_rtc
    assert rep["metrics"]["controller_resets"] == 1


def test_service_due_warnings_come_once_and_clear_when_the_service_is_recorded():
    lines = [
        {"at_s": 100, "line": "counters reset relays"},
        {"at_s": 101, "line": "alarms"},
        {"at_s": 102, "line": "counters reset engine"},
        {"at_s": 103, "line": "counters reset battery"},
        {"at_s": 104, "line": "counters"},
    ]
    rep, sim = simulate(
        130,
        OUTAGE,
        generator=GEN,
        console=lines,
        config={"maint.relay_ops": 3, "maint.battery_d": 1},
        start_time="2026-01-01T00:00:00",
        resets=[{"at_s": 120, "down_s": 0}],
    )
    raised = [e["alarm"] for e in events_named(rep, "alarm")]
    assert raised.count("relay_service_due") == 1
    replies = [e["reply"] for e in events_named(rep, "console")]
    assert replies[0] == "OK relays counter reset"
    assert replies[1] == "OK alarms: none"
    assert "(0 since inspection)" in replies[4] and "battery age 0 d" in replies[4]
    # the reset is kept: no new warning after the restart
    assert [e["alarm"] for e in events_named(rep, "alarm")].count("relay_service_due") == 1
    assert sim.controller.store.values["relay_svc"] == 8


def _rebooted_with(record, **top):
    # A board whose flash holds `record` (as an earlier life left it), restarted.
    sim = Simulation(scenario.check(dict({"duration_s": 3}, **top)))
    sim.board.fs.write(store.NAME, record)
    sim.restart(0)
    return sim.run(), sim


def test_battery_age_warning_from_the_clock():
    top = {"start_time": "2026-01-01T00:00:00", "config": {"maint.battery_d": 1}}
    rep, sim = simulate(3, mains(), **top)
    assert "battery_replacement_due" not in rep["metrics"]["alarms"]
    # a battery fitted two days before
    fitted = sim.board.time_s() - 2 * 86400
    rep, _ = _rebooted_with(store.encode(dict(store.DEFAULTS, v=1, battery_since=fitted)), **top)
    assert "battery_replacement_due" in rep["metrics"]["alarms"]


def test_a_damaged_record_boots_with_defaults_and_a_warning():
    rep, sim = _rebooted_with(b'{"v": 1, "engine_s": 99} 0x00000000\n')
    assert "stored_state_lost" in rep["metrics"]["alarms"]
    assert sim.controller.store.values["engine_s"] == 0
    # and the record is good again once written
    assert store.decode(sim.board.fs.read(store.NAME))["engine_s"] == 0


@given(
    st.dictionaries(st.sampled_from(sorted(store.DEFAULTS)), st.integers(0, 2**40)),
    st.binary(max_size=8),
    st.integers(0, 200),
    st.integers(0, 255),
)
def test_any_damage_to_a_record_is_recognised(values, junk, pos, byte):
    good = store.encode(dict(values, v=store.VERSION))
    assert store.decode(good) == dict(values, v=store.VERSION)
    for bad in (good[:pos], good + junk, good[:pos] + bytes([byte]) + good[pos + 1 :]):
        got = store.decode(bad)
        assert got is None or got == store.decode(good)
    assert store.decode(junk) is None


def test_dirfs_replaces_files_whole(tmp_path):
    fs = DirFS(str(tmp_path))
    assert fs.read("state.json") is None
    fs.write("state.json", b"one")
    fs.write("state.json", b"two")
    assert fs.read("state.json") == b"two"
    assert sorted(os.listdir(tmp_path)) == ["state.json"]


def test_dirfs_and_record_under_micropython(tmp_path):
    code = (
        "import sys; sys.path.insert(0, '.')\n"
        "from firmware.files import DirFS\nfrom firmware import store\n"
        "fs = DirFS(%r)\nfs.write('state.json', store.encode({'v': 1, 'starts': 7}))\n"
        "print(store.decode(fs.read('state.json'))['starts'], fs.read('nothing'))\n"
        % str(tmp_path)
    )
    out = run_micropython(["-c", code], timeout=60)
    assert out.stdout.split() == ["7", "None"], out.stderr
    assert store.decode((tmp_path / "state.json").read_bytes()) == {"v": 1, "starts": 7}


def test_a_refusing_filesystem_raises_a_warning_and_is_retried_later():
    class Full:
        def read(self, name):
            return None

        def write(self, name, data):
            raise OSError(28, "no space")

    log = EventRing()
    a = Alarms(log)
    s = store.Store(Full(), a)
    s.changed()
    assert s.service(0, lambda x, y: x - y) is False
    assert a.is_active(alarms.AL_STATE_LOST)
    s.changed()
    assert s.service(1000, lambda x, y: x - y) is False and s.writes == 0


def test_flash_writes_stay_within_the_documented_bound():
    # steady state: one write when the battery's fitting date is first recorded, one
    # append of the boot record to the event log, then none
    rep, sim = simulate(300, mains(), generator=GEN)
    assert rep["metrics"]["flash_writes"] == 2
    assert sim.controller.eventlog.writes == 1 and sim.controller.store.writes == 1
    # half an hour on the generator: the state once per store.SOON_S while the engine
    # runs (engine time), the event log once per burst of events
    rep, sim = simulate(
        1900, mains(events=[{"at_s": 5, "kind": "outage", "duration_s": 1800}]), generator=GEN
    )
    c = sim.controller
    assert c.store.writes <= 1900 // store.SOON_S + 3
    # the outage's events come in bursts (a failure and its transfer, a start and its
    # crank): fewer appends than events
    assert 0 < c.eventlog.writes < c.log.count, (c.eventlog.writes, c.log.count)
    print(
        "flash writes through a 30 min outage: state %d, event log %d (%d events)"
        % (c.store.writes, c.eventlog.writes, c.log.count)
    )
    assert abs(sim.controller.store.values["engine_s"] - 1800) <= 30
