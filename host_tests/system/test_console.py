# The serial console: through the virtual board's pseudo-terminal (real bytes, real time),
# and through the simulated board's serial line in simulated time for what takes minutes
# (PIN lockouts, idle locking) or thousands of lines (fuzzing).
import json
import os
import subprocess
import sys

from hypothesis import given, settings, strategies as st

from boards.sim import scenario
from boards.sim.runner import Simulation
from firmware import megatec, settings_file
from firmware.commands import redact
from firmware.controller import POLL_MS
from firmware.config import SCHEMA
from firmware.supervisor import REST_MS
from conftest import ROOT
from rigs import VirtualBoard

GEN = {"present": True}


def test_console_on_the_pseudo_terminal(tmp_path):
    board = VirtualBoard(
        tmp_path,
        {"name": "console", "duration_s": 300, "generator": GEN, "config": {"console.pin": 2468}},
    ).open()
    try:
        assert board.ask(b"version") == "OK version 0.1.0\r\n"
        st = json.loads(board.ask(b"status json"))
        assert set(st) >= {
            "mode",
            "source",
            "mains_v",
            "mains_hz",
            "battery_v",
            "soc_pct",
            "runtime_s",
            "generator",
            "alarms",
        }
        assert st["mode"] == "auto" and st["generator"] == "idle"
        # garbage, an overlong line, a line cancelled with Ctrl-C, a stray Ctrl-C
        assert board.ask(b"\x00\x01\xfe\xff") == (
            "ERR the line has bytes that are not printable text; allowed: printable ASCII\r\n"
        )
        assert board.ask(b"y" * 500) == "ERR line too long (500 characters); allowed 120\r\n"
        assert board.ask(b"mode off\x03\x03version") == "OK version 0.1.0\r\n"
        assert board.ask(b"frobnicate").startswith("ERR unknown command 'frobnicate'; commands:")
        # the PIN: changes refused while locked, never echoed
        assert board.ask(b"mode manual") == "ERR mode: the console is locked; unlock PIN first\r\n"
        assert board.ask(b"unlock 1111") == "ERR unlock: wrong PIN\r\n"
        reply = board.ask(b"unlock 2468")
        assert reply.startswith("OK unlocked") and "2468" not in reply
        assert board.ask(b"mode manual") == "OK mode manual\r\n"
        assert "2468" not in board.ask(b"config get console.pin")
        assert board.ask(b"config set transfer.return_delay_s 7") == (
            "OK transfer.return_delay_s = 7 (config save keeps it)\r\n"
        )
        assert board.ask(b"config set transfer.return_delay_s 0").startswith(
            "ERR config set: transfer.return_delay_s = 0 is out of range; allowed 1..3600"
        )
        assert board.ask(b"config save") == "OK configuration saved\r\n"
        assert board.ask(b"lock") == "OK locked\r\n"
        assert board.ask(b"mode auto").startswith("ERR mode: the console is locked")
        shown = board.ask(b"config show", lines=len(SCHEMA))
        assert "transfer.return_delay_s = 7 s\r\n" in shown and "2468" not in shown
        # the Megatec query on the same line: 47 bytes ending in CR
        board.send(b"Q1\r")
        q1 = board.read_until(b"\r")
        assert len(q1) == 47 and q1.startswith(b"(") and q1.endswith(b"00001000\r"), q1
        log = board.ask(b"log 5", lines=5)
        assert log.endswith("\r\n") and "mode manual" in log and "2468" not in log
    finally:
        board.close()
    # the board restarts from the same flash: the saved setting is back, the mode is not
    board = VirtualBoard(tmp_path, {"name": "console", "duration_s": 60}).open()
    try:
        assert board.ask(b"config get transfer.return_delay_s").startswith(
            "OK transfer.return_delay_s = 7 s"
        )
        assert board.ask(b"mode") == "OK mode auto\r\n"
    finally:
        board.close()


def _sim(**top):
    data = {"duration_s": 3600, "generator": GEN}
    data.update(top)
    return Simulation(scenario.check(data))


def _type(sim, t, data, wait=POLL_MS / 1000):
    # A line typed into a quiet console is answered within POLL_MS. On battery with no
    # mains the loop looks away for up to a second at a time (idle watch), and reads the
    # console between those looks: wait=1.1 then.
    b = sim.board
    sim.run_until(t)
    b.serial_in += data
    sim.run_until(t + wait)
    out = bytes(b.serial_out)
    b.serial_out[:] = b""
    return out.decode()


def test_wrong_pins_lock_out_for_longer_and_longer():
    sim = _sim(config={"console.pin": 13579})
    for i in range(3):
        assert _type(sim, 1 + i, b"unlock 1\r") == "ERR unlock: wrong PIN\r\n"
    # the third wrong PIN starts a 30 s lockout; even the right one is refused
    assert (
        _type(sim, 10, b"unlock 13579\r")
        == "ERR unlock: too many wrong PINs; try again in 23 s\r\n"
    )
    assert _type(sim, 34, b"unlock 2\r") == "ERR unlock: wrong PIN\r\n"  # now 60 s
    assert _type(sim, 60, b"unlock 13579\r").startswith("ERR unlock: too many wrong PINs")
    assert _type(sim, 95, b"unlock 13579\r").startswith("OK unlocked")
    assert _type(sim, 96, b"unlock 2\r") == "ERR unlock: wrong PIN\r\n"  # count restarts
    lines = [e.get("line") for e in sim.board.timeline if e["event"] == "console"]
    assert lines == []  # serial input is not in the timeline; scenario lines are redacted
    rep = Simulation(
        scenario.check(
            {
                "duration_s": 2,
                "console": [
                    {"at_s": 1, "line": "unlock 13579"},
                    {"at_s": 1.5, "line": "config set console.pin 4444"},
                ],
            }
        )
    ).run()
    typed = [e["line"] for e in rep["timeline"] if e["event"] == "console"]
    assert typed == ["unlock ****", "config set console.pin ****"]
    assert "13579" not in json.dumps(rep) and "4444" not in json.dumps(rep)


def test_a_wifi_name_with_spaces_is_typed_as_it_is_or_in_quotes_and_kept():
    sim = _sim(duration_s=10)
    assert _type(sim, 1, b'config set wifi.ssid "Plant Room 2"\r') == (
        "OK wifi.ssid = Plant Room 2 (config save keeps it)\r\n"
    )
    # unquoted, the rest of the line; quoted, exactly as typed (spaces at either end)
    assert _type(sim, 2, b"config set mqtt.user site  ops \r") == (
        "OK mqtt.user = site  ops (config save keeps it)\r\n"
    )
    assert _type(sim, 3, b'config set wifi.password " pass phrase "\r') == (
        "OK wifi.password = (set) (config save keeps it)\r\n"
    )
    # a name that goes into MQTT topics takes no spaces; numbers take one word
    assert _type(sim, 4, b'config set mqtt.id "two words"\r') == (
        "ERR config set: mqtt.id = two words is not allowed; allowed 1..32 characters, "
        'no spaces ("" for none)\r\n'
    )
    assert _type(sim, 5, b"config set transfer.return_delay_s 7 8\r") == (
        "ERR config set: transfer.return_delay_s = 7 8 is not a whole number; "
        "allowed 1..3600 s\r\n"
    )
    assert _type(sim, 6, b"config save\r") == "OK configuration saved\r\n"
    cfg = sim.controller.cfg
    assert cfg.get("wifi.password") == " pass phrase " and cfg.get("transfer.return_delay_s") == 10
    # what the board boots with next
    saved = settings_file.load(sim.board.fs, sim.controller.alarms, 0)
    assert (saved.get("wifi.ssid"), saved.get("mqtt.user"), saved.get("wifi.password")) == (
        "Plant Room 2",
        "site  ops",
        " pass phrase ",
    )
    assert _type(sim, 7, b'config set wifi.ssid ""\r') == (
        "OK wifi.ssid = (none) (config save keeps it)\r\n"
    )
    assert redact('config set wifi.password " pass phrase "') == "config set wifi.password ****"


def test_the_console_locks_again_after_its_idle_time():
    sim = _sim(config={"console.pin": 1234, "console.lock_s": 60})
    assert _type(sim, 1, b"unlock 1234\r").startswith("OK unlocked for 60 s")
    assert _type(sim, 50, b"mode manual\r") == "OK mode manual\r\n"
    assert _type(sim, 100, b"mode auto\r") == "OK mode auto\r\n"  # 50 s since the last
    assert _type(sim, 161, b"mode off\r").startswith("ERR mode: the console is locked")
    assert _type(sim, 162, b"status\r").startswith("OK mode auto")  # reading needs no PIN


def test_megatec_fields_commands_and_control_switch():
    sim = _sim(
        mains={"events": [{"at_s": 100, "kind": "outage", "duration_s": 200}]},
        load={"watts": 1500},
    )
    q1 = _type(sim, 20, b"Q1\r")
    assert q1 == "(230.0 230.0 230.0 050 50.0 51.6 00.0 00001000\r"
    assert _type(sim, 21, b"F\r") == "#230.0 013 48.00 50.0\r"
    i = _type(sim, 22, b"I\r")
    assert len(i) == 39 and i.startswith("#UPS-GEN-CTRL    ATS-UPS    ")
    # nut.allow_control is off: T is refused (the load stays on mains), S and C too
    assert _type(sim, 23, b"T\r") == ""
    assert _type(sim, 25, b"Q1\r").endswith(" 00001000\r")
    assert sim.controller.console.megatec.refused == 1
    q1 = _type(sim, 101, b"Q1\r", 1.1)
    assert q1.startswith("(000.0 000.0 230.0 050 00.0 5") and q1.endswith(" 00.0 10001000\r")
    sim.run_until(130)  # the generator carries the load: on line, output from it
    assert _type(sim, 130, b"Q1\r").endswith(" 00001000\r")


def test_megatec_test_and_cancel_with_control_allowed():
    sim = _sim(config={"nut.allow_control": True})
    assert _type(sim, 20, b"T01\r") == ""
    assert _type(sim, 22, b"Q1\r").endswith(" 10001100\r")  # on battery, testing
    assert _type(sim, 30, b"CT\r") == ""
    sim.run_until(31)
    ends = [e for e in sim.board.timeline if e["event"] == "selftest_end"]
    assert [e["result"] for e in ends] == ["interrupted"]
    starts = [e for e in sim.board.timeline if e["event"] == "selftest_start"]
    assert [e["duration_s"] for e in starts] == [60]
    assert _type(sim, 40, b"Q\r") == ""  # no beeper to toggle
    assert sim.controller.console.megatec.refused == 1


def test_megatec_shutdown_switches_the_load_off_and_back_on_with_power():
    # NUT's shutdown.return at the end of an outage: off after the delay, on again a
    # minute after power is back (S.5R0001); then load.off / load.on (S00R0000, C)
    sim = _sim(
        config={"nut.allow_control": True},
        generator={"present": False},
        mains={"events": [{"at_s": 10, "kind": "outage", "duration_s": 100}]},
    )
    assert _type(sim, 20, b"S.5R0001\r") == ""
    assert _type(sim, 21, b"Q1\r", 1.1).endswith(" 10001010\r")  # on battery, shutdown active
    sim.run_until(300)
    assert _type(sim, 300, b"S00R0000\r") == ""
    assert _type(sim, 302, b"Q1\r").startswith("(230.0 230.0 000.0 000 50.0 ")  # off: no output
    sim.run_until(400)
    assert _type(sim, 400, b"C\r") == ""
    sim.run_until(401)
    tl = [
        (e["t_ms"] / 1000, e["event"])
        for e in sim.board.timeline
        if e["event"] in ("load_off", "load_on", "load_to_mains")
    ]
    assert [name for _, name in tl] == [
        "load_off",
        "load_to_mains",
        "load_on",
        "load_off",
        "load_on",
    ]
    assert 50 <= tl[0][0] <= 52  # 30 s after the command
    assert abs(tl[2][0] - tl[1][0] - 60) < 0.1  # a minute of power, then on
    assert 300 <= tl[3][0] <= 301 and 400 <= tl[4][0] <= 401
    rep = sim.report()
    assert rep["metrics"]["itic_violations"] == 0  # switched off on purpose, not dropped
    assert rep["metrics"]["min_battery_soc_pct"] > 99  # nothing drawn while off


@given(
    st.lists(
        st.one_of(
            st.binary(max_size=60),
            st.text(max_size=40).map(lambda s: s.encode()),
            st.sampled_from(
                [
                    b"status",
                    b"Q1",
                    b"mode",
                    b"log 3",
                    b"ack all",
                    b"config get mains.uv_pct",
                    b"help",
                    b"\x03",
                    b"counters",
                    b"T",
                    b"unlock 1",
                ]
            ),
        ),
        min_size=1,
        max_size=15,
    )
)
@settings(max_examples=40)
def test_any_input_gets_answers_and_never_stalls_the_loop(chunks):
    sim = _sim(duration_s=60)
    b = sim.board
    t = 2.0
    for chunk in chunks:
        blocks = b.blocks_read
        feeds = b.watchdog_feeds
        b.serial_in += chunk + b"\r"
        t += 0.1
        sim.run_until(t)
        # the control loop read every block of those 100 ms (the console is served between
        # blocks, never instead of them) and fed the watchdog at least every REST_MS
        assert b.blocks_read - blocks >= 99
        assert b.watchdog_feeds - feeds >= 100 // REST_MS
        assert not b.serial_in
    out = bytes(b.serial_out)
    # every reply is whole: ERR/OK lines, log lines, JSON, Megatec answers
    for line in out.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n"):
        assert line == b"" or line[:1] in b"OE({#2-abcdefghijklmnopqrstuvwxyz", line
    # a line that is not blank and not a Megatec command gets at least one reply line
    text_lines = 0
    for chunk in chunks:
        for part in chunk.replace(b"\n", b"\r").split(b"\r"):
            clean = bytes(c for c in part.split(b"\x03")[-1] if c not in (8, 127))
            if clean.strip() and not megatec.is_megatec(clean.decode("latin-1").strip()):
                text_lines += 1
    assert out.count(b"\r\n") >= text_lines


def test_maint_is_refused_unless_the_load_is_on_good_mains_with_the_generator_at_rest():
    sim = Simulation(
        scenario.check(
            {
                "duration_s": 60,
                "generator": {"present": True},
                "mains": {"events": [{"at_s": 10, "kind": "outage", "duration_s": 20}]},
            }
        )
    )
    sim.run_until(5)
    assert sim.controller.command("maint").startswith("OK maintenance")
    assert sim.controller.maintenance
    sim.controller.maintenance = False
    sim.run_until(20)  # on battery, the generator starting
    assert (
        sim.controller.command("maint")
        == "ERR maint: only with the load on good mains and the generator at rest"
    )
    assert not sim.controller.maintenance


def test_the_tools_find_the_projects_venv_whatever_python_starts_them(tmp_path):
    # As docs/simulator.md writes it, `python3 tools/vboard.py ...` with the system's python3,
    # which has no micropython beside it: the tool runs itself again in .venv.
    base = getattr(sys, "_base_executable", None) or "python3"
    assert not os.path.exists(os.path.join(os.path.dirname(base), "micropython"))
    scenario = tmp_path / "s.json"
    scenario.write_text('{"duration_s": 1}')
    p = subprocess.run(
        [
            base,
            os.path.join(ROOT, "tools", "vboard.py"),
            "--scenario",
            str(scenario),
            "--link",
            str(tmp_path / "tty"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0 and "vboard: max lag" in p.stderr, (p.returncode, p.stderr)


def test_the_clock_is_shown_set_from_the_console_and_logged():
    # a board whose clock was never set (an RTC without a battery: 2000-01-01)
    sim = Simulation(
        scenario.check(
            {
                "duration_s": 120,
                "start_time": "2000-01-01T00:00:00",
                "config": {"console.pin": "2468"},
                "console": [
                    {"at_s": 5, "line": "clock"},
                    {"at_s": 6, "line": "status"},
                    {"at_s": 7, "line": "clock set 2026-03-01 12:00:00"},
                    {"at_s": 8, "line": "unlock 2468"},
                    {"at_s": 9, "line": "clock set 2026-02-30 12:00:00"},
                    {"at_s": 10, "line": "clock set 2026-03-01 12:00:00"},
                    {"at_s": 20, "line": "clock"},
                    {"at_s": 21, "line": "status json"},
                    {"at_s": 22, "line": "log 3"},
                ],
            }
        )
    )
    rep = sim.run()
    replies = [e["reply"] for e in rep["timeline"] if e["event"] == "console"]
    unset = " (clock not set: no exercise, log times from 2000; clock set YYYY-MM-DD HH:MM:SS)"
    assert replies[0] == "OK clock 2000-01-01 00:00:05" + unset
    assert replies[1].endswith(unset)
    assert replies[2] == "ERR clock: the console is locked; unlock PIN first"
    assert replies[4] == "ERR clock set: no such day"
    assert replies[5] == "OK clock 2026-03-01 12:00:00"
    assert replies[6] == "OK clock 2026-03-01 12:00:10"
    st = json.loads(replies[7])
    assert st["clock"] == "2026-03-01 12:00:11" and st["clock_set"] is True
    step = 825681600 - 10  # 2026-03-01 12:00:00 less 2000-01-01 00:00:10
    assert replies[8].split("\n")[-1] == "2026-03-01 12:00:00 clock_set %+d s" % step


# The PIN: set as an operator would, as typed, shared by every channel, never forgotten.


def test_a_pin_set_on_the_console_can_be_saved_and_holds_after_a_restart():
    sim = _sim(duration_s=600)
    assert _type(sim, 1, b"config set console.pin 0042\r") == (
        "OK console.pin = (set) (config save keeps it)\r\n"
    )
    # whoever set it is still at the console: it stays open to save it
    assert _type(sim, 2, b"config save\r") == "OK configuration saved\r\n"
    sim.restart(0)
    t = sim.board.t_us / 1e6
    assert _type(sim, t + 1, b"mode off\r").startswith("ERR mode: the console is locked")
    # digits as typed: 42 is not 0042, and nothing offered is repeated
    assert _type(sim, t + 2, b"unlock 42\r") == "ERR unlock: wrong PIN\r\n"
    assert _type(sim, t + 3, b"unlock 0042\r").startswith("OK unlocked")
    for k, bad in enumerate((b"12a4", b"123456789", b"-1", b"4 2")):
        reply = _type(sim, t + 4 + k, b"config set console.pin " + bad + b"\r")
        assert reply == (
            "ERR config set: console.pin = (hidden) is not allowed; allowed 1..8 "
            'digits, or "" for none\r\n'
        ), reply
    assert sim.controller.cfg.get("console.pin") == "0042"


def test_a_pin_saved_as_a_number_by_an_older_firmware_still_unlocks():
    sim = _sim(duration_s=60)
    fs = sim.board.fs
    from firmware import store

    fs.files[settings_file.NAME] = store.encode(
        {"v": settings_file.VERSION, "settings": {"console.pin": 4321}}
    )
    sim.restart(0)
    assert sim.controller.cfg.get("console.pin") == "4321"
    assert not sim.controller.alarms.is_active(12)  # config_lost
    t = sim.board.t_us / 1e6
    assert _type(sim, t + 1, b"unlock 4321\r").startswith("OK unlocked")


def _days(ctrl, t0, seconds, step_s=1):
    # The controller's ticks as the loop gives them, with the clock wrapping at 2^30 ms
    now = t0
    for _ in range(seconds // step_s):
        now = (now + step_s * 1000) & ((1 << 30) - 1)
        ctrl.pin.tick(now)
        ctrl.commands.tick(now)
    return now


def test_the_console_locks_after_its_idle_time_whatever_the_clock_does():
    sim = _sim(duration_s=60, config={"console.pin": "2468"})
    sim.run_until(1)
    ctrl = sim.controller
    c = ctrl.commands
    now = (1 << 30) - 100000  # the clock wraps 100 s in
    assert c.execute("unlock 2468", now).startswith("OK unlocked")
    # reading does not keep it open; a change does
    now = _days(ctrl, now, 200)
    assert c.execute("status", now).startswith("OK")
    now = _days(ctrl, now, 99)
    assert not c.locked(now)
    now = _days(ctrl, now, 2)
    assert c.locked(now)  # 300 s after the unlock, reads or not
    assert c.execute("unlock 2468", now).startswith("OK unlocked")
    now = _days(ctrl, now, 250)
    assert c.execute("mode manual", now) == "OK mode manual"
    now = _days(ctrl, now, 250)
    assert not c.locked(now)  # 250 s after the change
    # a week with nothing typed: locked all along, it never opens again by itself (a
    # signed 2^30 ms clock difference did, 6.2 days on)
    for _ in range(7):
        now = _days(ctrl, now, 86400, 60)
        assert c.locked(now)
        assert c.execute("mode auto", now).startswith("ERR mode: the console is locked")


def test_wrong_pins_are_counted_for_every_channel_and_survive_a_restart():
    sim = _sim(duration_s=600, config={"console.pin": "2468"})
    sim.run_until(1)
    ctrl = sim.controller
    from firmware.commands import Commands

    mqtt_side = Commands(ctrl, per_line=True)  # as telemetry makes it
    assert ctrl.commands.execute("unlock 1", 0) == "ERR unlock: wrong PIN"
    assert mqtt_side.execute("pin 2 mode off", 0) == "ERR pin: wrong PIN"
    assert ctrl.commands.execute("unlock 3", 0) == "ERR unlock: wrong PIN"
    # three in a row, on either channel: 30 s for both
    assert mqtt_side.execute("pin 2468 mode off", 0) == (
        "ERR pin: too many wrong PINs; try again in 30 s"
    )
    assert ctrl.store.values["pin_wrong"] == 3
    sim.run_until(3)  # the record is written at once
    sim.restart(0)  # a power cycle: the wait begins again
    ctrl = sim.controller
    assert ctrl.pin.wrong == 3
    t = sim.board.t_us / 1e6
    assert _type(sim, t + 1, b"unlock 2468\r").startswith("ERR unlock: too many wrong PINs")
    # and it grows: 60 s after the fourth wrong one, 3600 s at most
    assert _type(sim, t + 31, b"unlock 9\r") == "ERR unlock: wrong PIN\r\n"
    assert _type(sim, t + 32, b"unlock 2468\r") == (
        "ERR unlock: too many wrong PINs; try again in 59 s\r\n"
    )
    assert _type(sim, t + 92, b"unlock 2468\r").startswith("OK unlocked")
    assert ctrl.pin.wrong == 0 and ctrl.store.values["pin_wrong"] == 0
    from firmware import pin

    waits = []
    for wrong in range(3, 20):
        g = pin.PinGuard(ctrl.store, ctrl.board.ticks_diff)
        g.wrong = wrong - 1
        g.wait_ms = 0
        g.check("x", "2468")
        waits.append(g.wait_ms // 1000)
    assert waits[:4] == [30, 60, 120, 240] and max(waits) == pin.MAX_LOCKOUT_S == waits[-1]


def test_a_guesser_gets_32_tries_the_first_day_and_24_a_day_after():
    # one guess a second, on whichever channel, for three days: the figure in
    # docs/security.md
    sim = _sim(duration_s=60, config={"console.pin": "2468"})
    sim.run_until(1)
    ctrl = sim.controller
    now, tried = 0, []
    for _ in range(3):
        n = 0
        for _ in range(86400):
            now = (now + 1000) & ((1 << 30) - 1)
            ctrl.pin.tick(now)
            if ctrl.pin.check("1357", "2468") == "wrong PIN":
                n += 1
        tried.append(n)
    assert tried == [32, 24, 24]


# Long replies on a terminal that reads slowly, or not at all.


def _logged(sim, pairs):
    # 2 x pairs mode events, collected into the log as they come (the RAM ring holds 64)
    ctrl = sim.controller
    for _ in range(pairs):
        ctrl.command("mode manual")
        ctrl.command("mode auto")
        sim.run_until(sim.board.t_us / 1e6 + 0.02)


def test_a_long_reply_reaches_a_slow_terminal_whole_and_in_order():
    sim = _sim(duration_s=600, config={"log.max_records": 2000})
    sim.run_until(1)
    _logged(sim, 550)
    t = sim.board.t_us / 1e6
    sim.run_until(t + 2)  # on flash
    b = sim.board
    b.serial_rate = 16  # 16 bytes every 10 ms: 1.6 kB/s
    b.serial_in += b"log json 1000\r"
    sim.run_until(t + 4)
    b.serial_in += b"Q1\r"  # NUT's poll in the middle of it
    sim.run_until(t + 60)
    out = bytes(b.serial_out)
    q1 = out.index(b"(")
    assert out[q1 + 46 : q1 + 47] == b"\r" and out[q1 - 2 : q1] == b"\r\n"  # between lines
    out = out[:q1] + out[q1 + 47 :]
    lines = out.decode().split("\r\n")
    assert lines[-1] == ""
    seqs = [json.loads(x)["seq"] for x in lines[:-1]]
    assert len(seqs) == 1000 and seqs == list(range(seqs[0], seqs[0] + 1000))
    assert sim.controller.console.dropped == 0


def test_a_terminal_that_does_not_read_is_told_what_it_missed():
    sim = _sim(duration_s=600)
    sim.run_until(1)
    b = sim.board
    b.serial_rate = 0  # nothing read
    for k in range(60):
        b.serial_in += b"status\r"
        sim.run_until(2 + k * 0.05)
    dropped = sim.controller.console.dropped
    assert dropped > 0
    b.serial_rate = None
    sim.run_until(6)
    b.serial_in += b"version\r"
    sim.run_until(7)
    lines = bytes(b.serial_out).decode().split("\r\n")
    assert "ERR %d replies dropped: the line was not read" % dropped in lines
    assert lines[-2] == "OK version 0.1.0"
    assert len([x for x in lines if x.startswith("OK mode")]) == 60 - dropped


def test_over_mqtt_a_long_reply_ends_with_what_was_cut():
    sim = _sim(duration_s=60)
    sim.run_until(1)
    _logged(sim, 50)
    from firmware.commands import MAX_REPLY, Commands

    mqtt_side = Commands(sim.controller, per_line=True)
    reply = mqtt_side.execute("log 100", sim.board.ticks_ms())
    assert len(reply) <= MAX_REPLY
    last = reply.split("\n")[-1]
    assert last.startswith("... ") and "more lines cut" in last
    shown = len(reply.split("\n")) - 1
    assert int(last.split()[1]) + shown == 100
    reply = mqtt_side.execute("config show", sim.board.ticks_ms())
    assert len(reply) <= MAX_REPLY and "more lines cut" in reply


def test_a_command_with_its_pin_over_mqtt_is_run_as_typed():
    sim = _sim(duration_s=60, config={"console.pin": "2468"})
    sim.run_until(1)
    from firmware.commands import Commands

    mqtt_side = Commands(sim.controller, per_line=True)
    reply = mqtt_side.execute('pin 2468 config set wifi.ssid "Plant  Room 2 "', 0)
    assert reply == "OK wifi.ssid = Plant  Room 2  (config save keeps it)", reply
    assert sim.controller.cfg.get("wifi.ssid") == "Plant  Room 2 "
