# tools/rack.py against a virtual rack: bare MicroPython unix ports at their REPL on
# pseudo-terminals (mpremote talks to them with resume), and virtual boards running the
# firmware (tools/vboard.py) for status and log.
import hashlib
import json
import os
import re
import subprocess
import sys
import time

import pytest

from firmware import VERSION
from rigs import ROOT, BareBoard, VirtualBoard

RACK = [sys.executable, os.path.join(ROOT, "tools", "rack.py")]
# the virtual rack's boards are unix ports: a bundle compiled for this machine
HOST = ("--resume", "--arch", "host")


def _rack(*args, timeout=300):
    return subprocess.run(RACK + list(args), capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def rack(tmp_path):
    boards = [BareBoard(tmp_path / ("board%d" % i)) for i in range(4)]
    yield boards
    for b in boards:
        b.close()


def _results(out):
    # the final table: board -> result
    lines = out.splitlines()
    start = max(i for i, x in enumerate(lines) if x.startswith("board "))
    return dict(re.split(r"\s{2,}", x, 1) for x in lines[start + 1 :])


def _landed(board, files):
    for rel, meta in files.items():
        data = (board.dir / rel).read_bytes()
        assert hashlib.sha256(data).hexdigest() == meta["sha256"], (board.dir, rel)


def test_deploy_to_four_boards_at_once_then_only_what_changed(rack, tmp_path):
    build_dir = str(tmp_path / "build")
    links = [b.link for b in rack]
    p = _rack("deploy", "--board", "esp32", *HOST, "--build", build_dir, *links)
    assert p.returncode == 0, p.stdout + p.stderr
    files = json.loads(open(os.path.join(build_dir, "esp32", "files.json")).read())
    n = len(files)
    for b in rack:
        _landed(b, files)
        assert _results(p.stdout)[b.link] == "ok: %d copied, 0 unchanged" % n, p.stdout
    # again: nothing copied anywhere, nothing touched
    stamps = [(b.dir / "main.py").stat().st_mtime_ns for b in rack]
    p = _rack("deploy", "--board", "esp32", *HOST, "--build", build_dir, *links)
    assert p.returncode == 0, p.stdout + p.stderr
    for b, stamp in zip(rack, stamps):
        assert _results(p.stdout)[b.link] == "ok: 0 copied, %d unchanged" % n, p.stdout
        assert (b.dir / "main.py").stat().st_mtime_ns == stamp
    # one file damaged on one board, one board that is not there: the damaged file alone
    # is copied again, the missing board is reported, the rest carry on
    (rack[2].dir / "lib" / "firmware" / "supervisor.mpy").write_bytes(b"junk")
    missing = str(tmp_path / "nowhere.tty")
    p = _rack("deploy", "--board", "esp32", *HOST, "--build", build_dir, missing, *links)
    assert p.returncode == 1
    res = _results(p.stdout)
    assert res[rack[2].link] == "ok: 1 copied, %d unchanged" % (n - 1), p.stdout
    assert res[missing].startswith("FAILED: cannot open %s" % missing), p.stdout
    assert [res[b.link] for b in (rack[0], rack[1], rack[3])] == [
        "ok: 0 copied, %d unchanged" % n
    ] * 3
    _landed(rack[2], files)


@pytest.mark.parametrize("board, arch", [("esp32", "xtensawin"), ("rp2040", "armv6m")])
def test_a_bundle_for_another_chip_is_refused_before_anything_is_copied(
    rack, tmp_path, board, arch
):
    # the boards are x86-64 unix ports; the bundle's viper code is for the chip
    p = _rack(
        "deploy", "--board", board, "--resume", "--build", str(tmp_path / "build"), rack[0].link
    )
    assert p.returncode == 1
    res = _results(p.stdout)[rack[0].link]
    assert re.match(
        r"FAILED: %s runs MicroPython \d+\.\d+\.\d+ for x64 \(mpy 6\.\d\); the bundle is "
        r"for %s \(mpy 6\.\d\): refused, nothing copied$" % (re.escape(rack[0].link), arch),
        res,
    ), res
    assert sorted(os.listdir(rack[0].dir)) == []


def test_status_and_log_from_boards_running_the_firmware(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    boards = [
        VirtualBoard(tmp_path / "a", {"duration_s": 600}),
        VirtualBoard(
            tmp_path / "b",
            {
                "duration_s": 600,
                "mains": {"events": [{"at_s": 2, "kind": "outage", "duration_s": 600}]},
            },
        ),
    ]
    try:
        while boards[1].elapsed() < 4:  # mains learned, then lost
            time.sleep(0.1)
        p = _rack("status", boards[0].link, boards[1].link, str(tmp_path / "gone.tty"), timeout=60)
        assert p.returncode == 1, p.stdout + p.stderr
        lines = p.stdout.splitlines()
        assert lines[0].split() == [
            "board",
            "version",
            "mode",
            "source",
            "battery",
            "generator",
            "alarms",
        ]
        row_a = next(x for x in lines if x.startswith(boards[0].link)).split()
        row_b = next(x for x in lines if x.startswith(boards[1].link)).split()
        # the virtual boards run the firmware from its source: the plain version
        assert row_a[1:4] == [VERSION, "auto", "mains"] and row_a[-1] == "-"
        assert row_b[1:4] == [VERSION, "auto", "battery"]
        assert _results(p.stdout)[str(tmp_path / "gone.tty")].startswith("FAILED: "), p.stdout
        p = _rack("log", boards[1].link, "5", timeout=60)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "transfer_to_battery" in p.stdout and "boot" in p.stdout
    finally:
        for b in boards:
            b.close()


def test_bad_arguments_get_one_line_and_exit_2():
    for args, msg in (
        (["deploy", "x.tty"], "deploy needs --board"),
        (["deploy", "--board", "esp32"], "deploy needs at least one PORT"),
        (["deploy", "--board", "esp32", "--fast", "p"], "'--fast' is not an option"),
        (["log", "p", "many"], "log N must be a whole number"),
        (["deploy", "--board", "esp32", "--pin", "1", "p"], "--pin goes with --stop"),
        (["reboot"], "usage:"),
    ):
        p = _rack(*args)
        assert p.returncode == 2 and msg in p.stderr and len(p.stderr.splitlines()) == 1, (
            args,
            p.stderr,
        )


def test_deploy_stops_a_running_board_with_maint_then_updates_it(tmp_path):
    # The firmware runs with a PIN on its console. A wrong PIN: refused, the board runs
    # on. The right one: `maint` restarts it into its REPL (tools/vboard.py plays the
    # restart), and the bundle lands on its flash beside its configuration.
    (tmp_path / "a").mkdir()
    board = VirtualBoard(tmp_path / "a", {"duration_s": 600, "config": {"console.pin": 1234}})
    build_dir = str(tmp_path / "build")
    try:
        p = _rack(
            "deploy",
            "--board",
            "rp2040",
            "--stop",
            "--pin",
            "9999",
            *HOST,
            "--build",
            build_dir,
            board.link,
            timeout=120,
        )
        assert p.returncode == 1
        assert _results(p.stdout)[board.link].startswith(
            "FAILED: unlock refused on %s: ERR unlock: wrong PIN" % board.link
        ), p.stdout
        assert board.proc.poll() is None
        p = _rack(
            "deploy",
            "--board",
            "rp2040",
            "--stop",
            "--pin",
            "1234",
            *HOST,
            "--build",
            build_dir,
            board.link,
            timeout=120,
        )
        assert p.returncode == 0, p.stdout + p.stderr
        files = json.loads(open(os.path.join(build_dir, "rp2040", "files.json")).read())
        assert _results(p.stdout)[board.link] == "ok: %d copied, 0 unchanged" % len(files)
        fs = tmp_path / "a" / "fs"
        for rel, meta in files.items():
            assert hashlib.sha256((fs / rel).read_bytes()).hexdigest() == meta["sha256"]
        assert (fs / "config.json").exists()
    finally:
        board.close()


def test_console_is_a_terminal_on_the_board(tmp_path):
    # rack.py console on a pseudo-terminal of its own, as an operator would run it: a
    # typed line reaches the firmware, its reply comes back, Ctrl-] ends the session.
    import pty
    import select as sel

    (tmp_path / "a").mkdir()
    board = VirtualBoard(tmp_path / "a", {"duration_s": 600})
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(sys.executable, RACK + ["console", board.link])
    out = b""
    try:
        deadline = time.monotonic() + 20
        while b"Quit:" not in out and time.monotonic() < deadline:  # miniterm's banner
            if sel.select([fd], [], [], 0.5)[0]:
                out += os.read(fd, 4096)
        os.write(fd, b"version\r")
        while b"OK version" not in out and time.monotonic() < deadline:
            if sel.select([fd], [], [], 0.5)[0]:
                out += os.read(fd, 4096)
        assert b"OK version 0." in out, out
        os.write(fd, b"\x1d")  # Ctrl-]
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0
    finally:
        try:
            os.kill(pid, 9)
        except OSError:
            pass
        board.close()


def test_a_long_log_reaches_rack_whole(tmp_path):
    # 1500 records on the board's flash: `rack.py log PORT 1500` gets every line, in
    # order, paced through the pseudo-terminal rather than cut
    from firmware import eventlog

    (tmp_path / "fs").mkdir()
    (tmp_path / "fs" / eventlog.NAME).write_bytes(
        b"".join(eventlog.pack(i, 3, i, 820540800 + i) for i in range(1500))
    )
    board = VirtualBoard(tmp_path, {"duration_s": 600})
    try:
        p = _rack("log", board.link, "1500", timeout=120)
        assert p.returncode == 0, p.stdout + p.stderr
        lines = p.stdout.splitlines()
        assert len(lines) == 1500, (len(lines), lines[:3], lines[-3:])
        args = [int(x.split()[-1]) for x in lines if " mains_restored " in x]
        assert len(args) >= 1490 and args == list(range(args[0], args[0] + len(args)))
        assert args[-1] == 1499
    finally:
        board.close()
