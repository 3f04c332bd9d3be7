# Power cuts: the virtual board's MicroPython process killed with SIGKILL at random
# moments while it saves its configuration and appends to its event log, 200 times on
# the same flash directory, and 100 times at random moments of outages. After every restart
# it boots, its configuration is one of the versions that were saved, and its event log
# reads back whole: every record intact, the sequence numbers without a gap (a torn record
# is the one that was being written, and the next boot numbers on from the last intact
# one).
#
# The board runs SPEED times faster than the wall clock, so that its once-a-second work
# (the log's appends, the state's saves) falls inside the short random wait before the
# cut rather than mostly after it.
import json
import os
import random
import select
import signal
import subprocess
import sys
import time

from conftest import MICROPYTHON, ROOT
from firmware import clock, eventlog, events

KILLS = 200
SPEED = 20
CUT_WITHIN_S = 0.12  # the burst's lines and more than two of the board's seconds


class Board:
    def __init__(self, scenario, fs, speed=SPEED, trace=None):
        extra = ["--trace", trace] if trace else []
        self.p = subprocess.Popen(
            [
                MICROPYTHON,
                os.path.join(ROOT, "boards", "sim", "vboard.py"),
                scenario,
                fs,
                "--speed",
                str(speed),
            ]
            + extra,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.out = b""
        self.err = b""

    def send(self, data):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def reply(self, timeout=10, what=""):
        deadline = time.monotonic() + timeout
        while b"\r\n" not in self.out:
            left = deadline - time.monotonic()
            if left <= 0 or self.p.poll() is not None:
                self.kill()
                raise AssertionError(
                    "no reply from the board (%s): %r %r" % (what, self.out, self.err)
                )
            if select.select([self.p.stdout], [], [], left)[0]:
                self.out += os.read(self.p.stdout.fileno(), 4096)
        line, self.out = self.out.split(b"\r\n", 1)
        return line.decode()

    def kill(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
            self.p.wait()
        self.err = self.p.stderr.read()
        for f in (self.p.stdin, self.p.stdout, self.p.stderr):
            f.close()


def _log_records(fs):
    recs = []
    for name in (eventlog.OLD, eventlog.NAME):
        path = os.path.join(fs, name)
        if os.path.exists(path):
            with open(path, "rb") as f:
                recs.extend(eventlog.scan(f.read()))
    return recs


def test_power_cuts_during_saves_and_log_appends(tmp_path):
    rnd = random.Random(7)
    fs = str(tmp_path / "fs")
    os.mkdir(fs)
    scenario = tmp_path / "s.json"
    scenario.write_text(
        json.dumps({"name": "power-cuts", "duration_s": 3600, "config": {"log.max_records": 100}})
    )
    saved = {10}  # return delays that were saved, or were being saved at a cut
    boots = 0
    for i in range(KILLS):
        board = Board(str(scenario), fs)
        board.send(b"config get transfer.return_delay_s\r")
        reply = board.reply(what="boot %d" % i)
        boots += 1
        value = int(reply.split("= ")[1].split()[0])
        assert value in saved, (i, reply, saved)
        # the log through the console: whole JSON lines (as many as it holds, up to 3)
        board.send(b"log json 3\rversion\r")
        lines = []
        while not lines or not lines[-1].startswith("OK version"):
            lines.append(board.reply(what="log %d" % i))
        assert 1 <= len(lines) - 1 <= 3, lines
        for line in lines[:-1]:
            assert json.loads(line)["event"], line
        recs = _log_records(fs)
        seqs = [r[0] for r in recs]
        assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:])), (i, seqs)
        assert len(recs) <= 2 * 100
        # a burst: a new setting saved, mode changes enough to fill a log batch, then the
        # power goes at a random moment
        new = rnd.randint(1, 3600)
        saved.add(new)
        burst = b"config set transfer.return_delay_s %d\rconfig save\r" % new
        burst += b"mode manual\rmode auto\r" * rnd.randint(8, 16)
        board.send(burst)
        time.sleep(rnd.uniform(0, CUT_WITHIN_S))
        board.kill()
    assert boots == KILLS
    assert len(_log_records(fs)) > 100  # the log filled and rotated


OUTAGE_CUTS = 100
OUTAGE_SPEED = 100
_COUNTED = ("engine", "starts", "cranks", "changeover", "mains contactor", "generator contactor")


def _counters(board, what):
    # `counters` as numbers: engine hours, starts, cranks, the three relays' operations
    board.send(b"counters\r")
    line = board.reply(what=what)
    assert line.startswith("OK engine "), line
    values = []
    for name in _COUNTED:
        values.append(float(line.split(name + " ", 1)[1].split()[0].rstrip(",")))
    return values


def _trace(path):
    # (events: [(t_ms, code, arg)], the last simulated time the board reached)
    got, reached = [], 0
    with open(path) as f:
        for line in f:
            w = line.split()
            if line.endswith("\n") and w[0] == "e":
                got.append((int(w[1]), int(w[2]), int(w[3])))
            elif line.endswith("\n") and w[0] == "t":
                reached = int(w[1])
    return got, reached


def _until(trace, t_s):
    # Wait until the board's simulated time has reached t_s (its trace says so).
    deadline = time.monotonic() + 120
    while _trace(trace)[1] < t_s * 1000:
        assert time.monotonic() < deadline, "the board stopped at %d ms" % _trace(trace)[1]
        time.sleep(0.002)


def test_power_cuts_in_outages_lose_no_event_older_than_a_second(tmp_path):
    # The power goes at a random moment of an outage (the failure, the transfer, the
    # generator's start, cranking, warm-up, the load moving to it, running on it), 100
    # times on the same flash. Every event the firmware logged more than a second before
    # the cut (the trace says when each happened, in simulated time) is on flash, in
    # order, as logged; the boot record too. The counters never go back from one boot to
    # the next, and what was counted a minute before a cut is kept.
    rnd = random.Random(11)
    fs = str(tmp_path / "fs")
    os.mkdir(fs)
    scenario = tmp_path / "s.json"
    scenario.write_text(
        json.dumps(
            {
                "name": "outage-cuts",
                "duration_s": 3600,
                "generator": {"present": True},
                "mains": {"events": [{"at_s": 5, "kind": "outage", "duration_s": 3000}]},
            }
        )
    )
    trace = str(tmp_path / "trace")
    before = None  # counters at the last boot
    kept = None  # counters a minute or more before the last cut
    checked = 0
    for i in range(OUTAGE_CUTS):
        seqs = [r[0] for r in _log_records(fs)]
        board = Board(str(scenario), fs, OUTAGE_SPEED, trace)
        counted = _counters(board, "boot %d" % i)
        if before is not None:
            assert all(a >= b for a, b in zip(counted, before)), (i, before, counted)
        if kept is not None:
            assert all(a >= b for a, b in zip(counted, kept)), (i, kept, counted)
        before, kept = counted, None
        # most cuts within the outage's first 40 s, where its events come; some later,
        # after the counters were read a minute before. The moments are the board's own
        # (its trace), however fast or slow the host runs it.
        if rnd.random() < 0.8:
            _until(trace, rnd.uniform(5.0, 40.0))
        else:
            _until(trace, rnd.uniform(15.0, 30.0))
            read = _counters(board, "counters %d" % i)
            _, at = _trace(trace)
            _until(trace, at / 1000.0 + 61.0 + rnd.uniform(0.0, 20.0))
            kept = read
        board.kill()
        logged, reached = _trace(trace)
        old = set(seqs)
        recs = [r for r in _log_records(fs) if r[0] not in old]
        assert reached > 5000, (i, reached, board.err)
        assert recs and recs[0][1] == events.EV_BOOT, (i, recs[:2])
        due = [e for e in logged if e[0] <= reached - 1000]
        got = [(code, arg) for _, code, arg, _ in recs[1 : len(due) + 1]]
        assert got == [(code, arg) for _, code, arg in due], (i, reached, due, recs)
        checked += len(due)
    assert checked > OUTAGE_CUTS * 3  # the cuts came after events, not before them


def test_killing_the_virtual_board_kills_the_firmware_too(tmp_path):
    # A SIGKILL of tools/vboard.py is a power cut of the whole board: the firmware's
    # MicroPython process, in a session of its own, goes with it.
    scenario = tmp_path / "s.json"
    scenario.write_text(json.dumps({"duration_s": 600}))
    link = tmp_path / "tty"
    p = subprocess.Popen(
        [
            sys.executable,
            os.path.join(ROOT, "tools", "vboard.py"),
            "--scenario",
            str(scenario),
            "--link",
            str(link),
        ],
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    children = []
    while not children:
        assert time.monotonic() < deadline and p.poll() is None, "the virtual board did not start"
        time.sleep(0.05)
        with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as f:
            children = [int(x) for x in f.read().split()]
    (board,) = children
    while not link.exists():
        assert time.monotonic() < deadline, "no pseudo-terminal"
        time.sleep(0.05)
    term = os.open(str(link), os.O_RDWR | os.O_NOCTTY)  # a terminal (or NUT) is connected
    p.send_signal(signal.SIGKILL)
    p.wait()
    deadline = time.monotonic() + 10
    while os.path.exists("/proc/%d" % board) and _state(board) != "Z":
        if time.monotonic() > deadline:
            os.kill(board, signal.SIGKILL)
            raise AssertionError("the firmware outlived its board")
        time.sleep(0.05)
    os.close(term)
    p.stderr.close()


def _state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def test_the_virtual_boards_clock_carries_on_through_a_restart(tmp_path):
    # A board's clock does not go back to the scenario's start at every boot: the log's
    # times of the second run come after those of the first, killed or not
    fs = str(tmp_path / "fs")
    os.mkdir(fs)
    scenario = tmp_path / "s.json"
    scenario.write_text(json.dumps({"name": "clock", "duration_s": 4}))
    vb = [
        MICROPYTHON,
        os.path.join(ROOT, "boards", "sim", "vboard.py"),
        str(scenario),
        fs,
        "--speed",
        "50",
    ]
    p = subprocess.run(vb, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    board = Board(str(scenario), fs, 50)
    board.send(b"clock\r")
    shown = board.reply(what="clock")
    assert shown > "OK clock 2026-01-01 00:00:04"
    board.kill()
    p = subprocess.run(vb, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    # the killed run's boot record may not have reached flash; the others have
    boots = [r[3] for r in _log_records(fs) if r[1] == events.EV_BOOT]
    assert len(boots) >= 2 and boots == sorted(boots) and len(set(boots)) == len(boots), boots
    assert clock.stamp(boots[-1]) >= shown.split(" ", 2)[2]


def test_sigterm_is_an_orderly_stop_that_keeps_every_event(tmp_path):
    # A SIGKILL is a power cut; a SIGTERM of tools/vboard.py stops the board in order: the
    # event just logged (still in its 200 ms hold) is on flash, and the exit is 0
    scenario = tmp_path / "s.json"
    scenario.write_text(json.dumps({"duration_s": 600}))
    link, fs = tmp_path / "tty", tmp_path / "fs"
    p = subprocess.Popen(
        [
            sys.executable,
            os.path.join(ROOT, "tools", "vboard.py"),
            "--scenario",
            str(scenario),
            "--link",
            str(link),
            "--fs",
            str(fs),
        ],
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while not link.exists():
        assert time.monotonic() < deadline and p.poll() is None, "no pseudo-terminal"
        time.sleep(0.05)
    term = os.open(str(link), os.O_RDWR | os.O_NOCTTY)
    got = b""
    os.write(term, b"mode manual\r")
    while b"\r\n" not in got:
        assert time.monotonic() < deadline, got
        if select.select([term], [], [], 1)[0]:
            got += os.read(term, 256)
    assert got.startswith(b"OK mode manual")
    p.send_signal(signal.SIGTERM)
    assert p.wait(20) == 0, p.stderr.read()
    os.close(term)
    p.stderr.close()
    assert (events.EV_MODE, 1) in [(r[1], r[2]) for r in _log_records(str(fs))]
