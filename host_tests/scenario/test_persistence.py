# What the board keeps on its flash, under damage: the configuration (config.json and its
# last good copy), the event log, the persistent record. Whatever the files hold, the
# controller boots, and uses what is intact.
from binascii import crc32

import pytest
from hypothesis import given, settings, strategies as st

from boards.sim import scenario
from boards.sim.runner import Simulation
from firmware import alarms, eventlog, events, settings_file, store
from firmware.config import SCHEMA, Config

_DAMAGE = st.one_of(
    st.tuples(st.just("truncate"), st.integers(0, 200)),
    st.tuples(st.just("flip"), st.integers(0, 200), st.integers(1, 255)),
    st.tuples(st.just("junk"), st.binary(max_size=80)),
    st.tuples(
        st.just("gone"),
    ),
)


def _damage(data, how):
    if how[0] == "truncate":
        return data[: how[1]]
    if how[0] == "flip":
        i = how[1] % max(1, len(data))
        return data[:i] + bytes([data[i] ^ how[2]]) + data[i + 1 :] if data else data
    if how[0] == "junk":
        return how[1]
    return None


def _board_with(files):
    sim = Simulation(scenario.check({"duration_s": 600}))
    fs = sim.board.fs
    fs.files.clear()
    for name, data in files.items():
        if data is not None:
            fs.files[name] = data
    sim.restart(0)
    return sim


def _saved(delay):
    cfg = Config()
    cfg.set("transfer.return_delay_s", delay)
    return store.encode({"v": settings_file.VERSION, "settings": cfg.changed()})


@given(main=_DAMAGE, backup=st.one_of(st.none(), _DAMAGE), log=_DAMAGE, state=_DAMAGE)
@settings(max_examples=60)
def test_damaged_files_never_stop_the_board(main, backup, log, state):
    good_log = b"".join(eventlog.pack(i, 3, i, 1000 + i) for i in range(20))
    files = {
        settings_file.NAME: _damage(_saved(42), main),
        settings_file.BACKUP: None if backup is None else _damage(_saved(17), backup),
        eventlog.NAME: _damage(good_log, log),
        store.NAME: _damage(store.encode(dict(store.DEFAULTS, v=1, starts=5)), state),
    }
    sim = _board_with(files)
    sim.run_until(sim.board.t_us / 1e6 + 2)
    ctrl = sim.controller
    delay = ctrl.cfg.get("transfer.return_delay_s")
    main_ok = files[settings_file.NAME] == _saved(42)
    backup_ok = files[settings_file.BACKUP] == _saved(17)
    if main_ok:
        assert delay == 42
    elif backup_ok:
        assert delay == 17
    else:
        assert delay in (42, 17, 10)  # an intact-looking damage may still be read right
    lost = ctrl.alarms.is_active(12)  # config_lost
    nothing = files[settings_file.NAME] is None and files[settings_file.BACKUP] is None
    assert lost == (not main_ok and not nothing and delay != 42)
    # the log reads back whatever records survived, in order; the controller still runs
    recs = ctrl.eventlog.records(100)
    assert [r[0] for r in recs] == sorted(r[0] for r in recs)
    assert ctrl.monitor.ok()
    # the record: intact values or the defaults
    assert ctrl.store.values["starts"] in (5, 0)


@given(st.sampled_from([r for r in SCHEMA if r[1] == "int"]), st.integers(-10, 10), st.booleans())
@settings(max_examples=200)
def test_config_set_accepts_a_number_exactly_when_it_is_in_range(row, offset, low_end):
    key, _, default, low, high = row[:5]
    value = (low if low_end else high) + offset
    sim = Simulation(scenario.check({"duration_s": 5}))
    sim.run_until(2)  # mains learned: mains settings may change
    reply = sim.controller.command("config set %s %d" % (key, value))
    in_range = low <= value <= high
    if not in_range:
        assert reply.startswith(
            "ERR config set: %s = %d is out of range; allowed %s..%s" % (key, value, low, high)
        ), reply
        assert sim.controller.cfg.get(key) == default
    elif reply.startswith("OK"):
        assert sim.controller.cfg.get(key) == value
    else:
        # in range, refused only by a rule that ties two settings or by what the mains
        # sensor can measure; the reply names it and nothing changed
        assert (
            "must be below" in reply
            or "allowed 50 or 60" in reply
            or "acts at" in reply
            or "nominal peak" in reply
        ), reply
        assert sim.controller.cfg.get(key) == default


@given(
    st.lists(
        st.tuples(
            st.integers(0, 0xFFFF),
            st.integers(0, 255),
            st.integers(-(2**31), 2**31 - 1),
            st.integers(0, 2**32 - 1),
        ),
        max_size=30,
    ),
    st.lists(st.tuples(st.integers(0, 30), st.binary(max_size=20)), max_size=5),
    st.lists(st.integers(0, 30), max_size=3),
)
def test_log_records_are_found_between_junk_and_torn_records(recs, junk, torn):
    parts = [eventlog.pack(*r) for r in recs]
    expect = list(recs)
    for at, data in sorted(junk, reverse=True):
        parts.insert(min(at, len(parts)), data.replace(b"\xa5", b"\x00"))
    for at in sorted(torn, reverse=True):
        parts.insert(min(at, len(parts)), eventlog.pack(1, 2, 3, 4)[:11])
    assert eventlog.scan(b"".join(parts)) == expect


def test_the_log_stays_within_its_bound_and_numbers_on_after_a_torn_append():
    # 100 records at most per file: flapping mains makes plenty of events
    events = [
        {"at_s": 5 + 2 * k, "kind": "dip", "residual_pct": 0, "duration_s": 0.05}
        for k in range(150)
    ]
    sim = Simulation(
        scenario.check(
            {
                "duration_s": 400,
                "mains": {"events": events},
                "config": {"log.max_records": 100, "gen.flap_count": 0},
            }
        )
    )
    sim.run_until(400)
    fs = sim.board.fs
    assert 0 < len(fs.files[eventlog.NAME]) <= 100 * eventlog.SIZE
    assert len(fs.files[eventlog.OLD]) <= 100 * eventlog.SIZE
    before = eventlog.scan(fs.files[eventlog.OLD] + fs.files[eventlog.NAME])
    assert len(before) > 100
    # the power goes in the middle of an append: the last record is torn
    fs.files[eventlog.NAME] = fs.files[eventlog.NAME][:-9]
    sim.restart(0)
    assert eventlog.scan(fs.files[eventlog.OLD] + fs.files[eventlog.NAME]) == before[:-1]
    sim.run_until(sim.board.t_us / 1e6 + 2)
    (boot,) = sim.controller.eventlog.records(1)  # numbered on from the last intact one
    assert boot[1] == 1 and boot[0] == before[-1][0]
    sim.run_until(500)
    after = eventlog.scan(fs.files[eventlog.OLD] + fs.files[eventlog.NAME])
    seqs = [r[0] for r in after]
    assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:])), seqs
    reply = sim.controller.command("log 3")
    assert len(reply.split("\n")) == 3


def test_a_configuration_from_the_first_schema_is_migrated_not_lost():
    # Saved by a firmware that knew nothing of relay feedback: its settings are kept, the
    # feedback check stays off (the auxiliary contacts may not be wired), and the next
    # save writes the current schema.
    old = store.encode({"v": 1, "settings": {"transfer.return_delay_s": 42}})
    sim = _board_with({settings_file.NAME: old})
    ctrl = sim.controller
    assert ctrl.cfg.get("transfer.return_delay_s") == 42
    assert ctrl.cfg.get("relay.feedback") is False and not ctrl.supervisor.contacts.enabled
    assert not ctrl.alarms.is_active(12)
    assert Config().get("relay.feedback") is True  # a new board checks it
    sim.run_until(sim.board.t_us / 1e6 + 2)
    assert ctrl.command("config save").startswith("OK")
    saved = store.decode(sim.board.fs.files[settings_file.NAME], settings_file.VERSION)
    assert saved["settings"] == {"transfer.return_delay_s": 42, "relay.feedback": False}
    # both copies hold what was saved last
    assert sim.board.fs.files[settings_file.BACKUP] == sim.board.fs.files[settings_file.NAME]


@pytest.mark.parametrize(
    "saved, fast",
    [
        ({"mains.fast_trip_pct": 12}, 16),  # below uv_pct 85: raised
        ({"mains.uv_pct": 70, "mains.uv_restore_pct": 80}, 31),  # the new default, raised
        ({"mains.ov_pct": 130, "mains.ov_restore_pct": 120}, 31),
        ({"mains.fast_trip_pct": 40}, 40),  # coherent: kept
        ({"transfer.return_delay_s": 42}, 25),
    ],
)  # none saved: the default
def test_a_fast_level_saved_before_it_had_to_clear_the_voltage_limits_is_raised(saved, fast):
    # Schema 2 let the fast detector act above the under-voltage level; schema 3 refuses
    # that. A board's saved level is raised to the nearest allowed, its other settings
    # kept, and no config_lost.
    sim = _board_with({settings_file.NAME: store.encode({"v": 2, "settings": dict(saved)})})
    ctrl = sim.controller
    assert ctrl.cfg.get("mains.fast_trip_pct") == fast
    for key, value in saved.items():
        if key != "mains.fast_trip_pct":
            assert ctrl.cfg.get(key) == value
    assert not ctrl.alarms.is_active(12)


def test_a_configuration_from_a_newer_firmware_is_not_guessed_at():
    newer = store.encode(
        {"v": settings_file.VERSION + 1, "settings": {"transfer.return_delay_s": 42}}
    )
    sim = _board_with({settings_file.NAME: newer, settings_file.BACKUP: _saved(17)})
    assert sim.controller.cfg.get("transfer.return_delay_s") == 17
    assert sim.controller.alarms.is_active(12)


def _on_flash(fs):
    data = (fs.read(eventlog.OLD) or b"") + (fs.read(eventlog.NAME) or b"")
    return [(code, arg) for _, code, arg, _ in eventlog.scan(data)]


@pytest.mark.parametrize(
    "generator",
    [
        # a start that needs a second attempt, an electrical trip on load (an alarm), the
        # battery low, mains back
        {
            "present": True,
            "failed_attempts": 1,
            "events": [{"at_s": 60, "kind": "voltage", "level_pct": 70, "duration_s": 5}],
        },
        # no generator: the idle watch skips ahead on battery until battery low
        {"present": False},
    ],
)
def test_every_event_is_on_flash_within_a_second_at_any_moment(generator):
    # A power cut can come at any moment: whatever the controller recorded a second or
    # more before it must already be in the log on flash, in order.
    sim = Simulation(
        scenario.check(
            {
                "duration_s": 400,
                "generator": generator,
                "battery": {"capacity_ah": 30, "initial_soc_pct": 20},
                "load": {"watts": 1500},
                "mains": {"events": [{"at_s": 10, "kind": "outage", "duration_s": 250}]},
            }
        )
    )
    c = sim.controller
    board = sim.board
    t_us = 0
    checks = 0
    while t_us < 400 * 1000000:
        t_us += 13000  # a cut every 13 ms of the run
        sim.run_until(t_us / 1e6)
        now = board.ticks_ms()
        ring = c.log.recent(c.log.count)
        assert c.log.count <= c.log.size
        due = [(code, arg) for t, code, arg in ring if board.ticks_diff(now, t) >= 1000]
        assert _on_flash(board.fs)[: len(due)] == due, (t_us, due, _on_flash(board.fs))
        checks += 1
    names = {events.NAMES[code] for _, code, _ in c.log.recent(c.log.count)}
    assert {"mains_lost", "transfer_to_battery", "battery_low", "mains_restored"} <= names, names
    if generator["present"]:
        assert {"generator_start", "generator_crank", "alarm", "generator_stop"} <= names, names


@pytest.mark.parametrize("generator", [{"present": True}, {"present": False}])
def test_log_stamps_are_right_to_the_second(generator):
    # The board clock's seconds do not begin on the tick counter's thousands; events come
    # at any moment of a second, on steady mains, through the idle watch (no generator)
    # and with an engine running.
    start_ticks = 1234567
    sim = Simulation(
        scenario.check(
            {
                "duration_s": 260,
                "start_ticks_ms": start_ticks,
                "generator": generator,
                "battery": {"capacity_ah": 200},
                "mains": {
                    "events": [
                        {"at_s": 10.7, "kind": "outage", "duration_s": 120.35},
                        {"at_s": 200.93, "kind": "dip", "residual_pct": 0, "duration_s": 0.2},
                    ]
                },
                "console": [
                    {"at_s": 3.999, "line": "mode manual"},
                    {"at_s": 4.001, "line": "mode auto"},
                ],
            }
        )
    )
    sim.run()
    c = sim.controller
    start = sim.board._start_rtc
    ring = c.log.recent(c.log.count)
    on_flash = eventlog.scan((sim.board.fs.read(eventlog.NAME) or b""))
    assert len(on_flash) == len(ring) > 10
    for (t, code, _), (_, code2, _, rtc) in zip(ring, on_flash):
        assert code == code2
        elapsed_ms = (t - start_ticks) & ((1 << 30) - 1)
        assert rtc == start + elapsed_ms // 1000, (events.NAMES[code], elapsed_ms, rtc - start)


def test_a_setting_that_is_not_a_finite_number_is_refused_and_changes_nothing():
    sim = Simulation(scenario.check({"duration_s": 5}))
    sim.run_until(2)
    ctrl = sim.controller
    for line in (
        "config set battery.peukert nan",
        "config set battery.peukert inf",
        "config set transfer.return_delay_s 1e400",
        "config set mains.freq_trip_pct NaN",
    ):
        reply = ctrl.command(line)
        assert reply.startswith("ERR config set: ") and "allowed" in reply, (line, reply)
    assert ctrl.cfg.get("battery.peukert") == 1.15
    # everything after still works, and what is saved reads back
    assert ctrl.command("config set battery.peukert 1.2").startswith("OK")
    assert ctrl.command("config save").startswith("OK")
    sim.restart(0)
    assert sim.controller.cfg.get("battery.peukert") == 1.2
    assert not sim.controller.alarms.is_active(12)  # config_lost


@pytest.mark.parametrize(
    "text",
    ['"battery.peukert": NaN', '"transfer.return_delay_s": 1e400', '"battery.peukert": Infinity'],
)
def test_a_saved_file_with_a_number_that_is_not_finite_falls_back(text):
    # a CRC-valid config.json whose value is not a finite number: the board boots on its
    # backup and says so
    body = b'{"v": %d, "settings": {%s}}' % (settings_file.VERSION, text.encode())
    sealed = body + b" 0x%08x\n" % (crc32(body) & 0xFFFFFFFF)
    sim = _board_with({settings_file.NAME: sealed, settings_file.BACKUP: _saved(17)})
    sim.run_until(sim.board.t_us / 1e6 + 2)
    ctrl = sim.controller
    assert ctrl.cfg.get("transfer.return_delay_s") == 17
    assert ctrl.cfg.get("battery.peukert") == 1.15
    assert ctrl.alarms.is_active(12)  # config_lost


def test_settings_a_machine_cannot_take_are_rolled_back_whole(monkeypatch):
    # a machine refusing its new settings (on a board: no heap left to load MQTT's code)
    sim = Simulation(scenario.check({"duration_s": 5}))
    sim.run_until(2)
    ctrl = sim.controller

    def refuse(cfg):
        if cfg.get("gen.cooldown_s") == 99:
            raise MemoryError("memory allocation failed")

    monkeypatch.setattr(ctrl.counters, "configure", refuse)
    reply = ctrl.command("config set gen.cooldown_s 99")
    assert reply == "ERR config set: settings not applied: memory allocation failed", reply
    assert ctrl.cfg.get("gen.cooldown_s") != 99
    assert ctrl.gen._cooldown != 99000  # the generator has the old one too
    assert ctrl.command("config set gen.cooldown_s 98").startswith("OK")


def _saved_with(settings):
    return store.encode({"v": settings_file.VERSION, "settings": settings})


def test_huge_files_are_not_read_into_the_heap():
    # 3 MB in place of each file: the board boots, on config.bak where config.json is
    # too large, on the defaults where the record is, and says what it lost
    huge = b"x" * 3000000
    sim = _board_with(
        {settings_file.NAME: huge, settings_file.BACKUP: _saved(17), store.NAME: huge}
    )
    ctrl = sim.controller
    assert ctrl.cfg.get("transfer.return_delay_s") == 17
    assert ctrl.alarms.is_active(alarms.AL_CONFIG_LOST) and ctrl.alarms.is_active(
        alarms.AL_STATE_LOST
    )
    sim = _board_with({settings_file.NAME: _saved(42), settings_file.BACKUP: huge})
    assert sim.controller.cfg.get("transfer.return_delay_s") == 42
    assert not sim.controller.alarms.is_active(12)


def test_a_record_this_firmware_would_never_write_is_not_believed():
    # CRC-valid, but every alarm bit set (the emergency stop among them) or a count no
    # board reaches: the defaults, and stored_state_lost, not twelve latched alarms
    for bad in ({"latched": 4294967295}, {"starts": 1 << 40}, {"engine_s": -5}, {"cranks": "3"}):
        sim = _board_with({store.NAME: store.encode(dict(store.DEFAULTS, v=1, **bad))})
        ctrl = sim.controller
        assert ctrl.alarms.active == 1 << alarms.AL_STATE_LOST, (bad, bin(ctrl.alarms.active))
        assert ctrl.store.values["starts"] == 0
    # what a board did latch is kept
    good = 1 << alarms.AL_GEN_OVERSPEED
    sim = _board_with({store.NAME: store.encode(dict(store.DEFAULTS, v=1, latched=good))})
    assert sim.controller.alarms.active == good


def test_junk_at_the_end_of_the_log_hides_nothing_and_the_numbers_go_on():
    good = b"".join(eventlog.pack(i, 3, i, 1000 + i) for i in range(40))
    sim = _board_with({eventlog.NAME: good + bytes(range(256)) * 4})
    ctrl = sim.controller
    recs = ctrl.eventlog.records(40)
    assert [r[0] for r in recs[:40]] == list(range(40)) or [r[0] for r in recs] == list(
        range(1, 41)
    )
    sim.run_until(sim.board.t_us / 1e6 + 3)
    seqs = [r[0] for r in ctrl.eventlog.records(45)]
    assert seqs == sorted(seqs) and seqs[-1] >= 40 and 39 in seqs
    assert len(ctrl.command("log 40").splitlines()) == 40


def test_a_calibration_the_mains_monitor_refuses_falls_back_to_the_backup():
    bad = _saved_with({"adc.mains_mv_per_count": 50, "transfer.return_delay_s": 42})
    sim = _board_with({settings_file.NAME: bad, settings_file.BACKUP: _saved(17)})
    ctrl = sim.controller
    assert ctrl.cfg.get("transfer.return_delay_s") == 17
    assert ctrl.cfg.get("adc.mains_mv_per_count") == 360 and ctrl.alarms.is_active(12)


def test_a_damaged_config_keeps_the_pin_of_the_last_save():
    sim = _board_with({})
    ctrl = sim.controller
    sim.run_until(sim.board.t_us / 1e6 + 2)
    assert ctrl.command("config set transfer.return_delay_s 30").startswith("OK")
    assert ctrl.command("config save").startswith("OK")
    assert ctrl.command("config set console.pin 97531").startswith("OK")
    assert ctrl.command("config save").startswith("OK")
    fs = sim.board.fs
    fs.files[settings_file.NAME] = fs.files[settings_file.NAME][:-7] + b"garbage"
    sim.restart(0)
    assert sim.controller.cfg.get("console.pin") == "97531"
    assert sim.controller.cfg.get("transfer.return_delay_s") == 30
    assert sim.controller.alarms.is_active(12)


def test_the_virtual_board_boots_from_its_flash_as_a_board_does():
    # config.json gone, config.bak there: the firmware's own fallback and its alarm, not
    # the scenario's settings as if the board were new
    from boards.sim.board import SimBoard

    sc = scenario.check({"duration_s": 5})
    board = SimBoard(sc, 360)
    board.fs.files[settings_file.BACKUP] = _saved(17)
    sim = Simulation(sc, board=board)
    assert sim.controller.cfg.get("transfer.return_delay_s") == 17
    assert sim.controller.alarms.is_active(alarms.AL_CONFIG_LOST)
