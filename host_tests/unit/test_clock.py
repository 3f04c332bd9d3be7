# The board clock from the network: firmware/sntp.py against an NTP responder on loopback
# (RFC 4330 replies built here with struct, as a server sends them), on the simulated board
# in simulated time, and the client alone against hostile replies.
import socket
import struct
import threading
import time

import pytest
from hypothesis import given, settings, strategies as st

from boards.sim import scenario
from boards.sim.runner import Simulation
from firmware import clock, sntp
from firmware.config import Config

NTP_2000 = 3155673600


class Responder:
    """Answers every request with `now_s` (seconds since 2000, UTC), as an NTP server."""

    def __init__(self, now_s, stratum=2, mode=4):
        self.now_s = now_s
        self.stratum = stratum
        self.mode = mode
        self.requests = 0
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.s.settimeout(0.2)
        self.port = self.s.getsockname()[1]
        self._stop = False
        self._t = threading.Thread(target=self._serve, daemon=True)
        self._t.start()

    def _serve(self):
        while not self._stop:
            try:
                data, peer = self.s.recvfrom(512)
            except socket.timeout:
                continue
            if len(data) < 48 or data[0] & 7 != 3:
                continue
            self.requests += 1
            t = self.now_s + NTP_2000
            reply = struct.pack(
                "!BBbb11I",
                (4 << 3) | self.mode,
                self.stratum,
                6,
                -20,
                0,
                0,
                0x7F7F0101,
                t,
                0,
                *struct.unpack("!II", data[40:48]),
                t,
                0,
                t,
                1 << 31,
            )
            self.s.sendto(reply, peer)

    def close(self):
        self._stop = True
        self._t.join()
        self.s.close()


def _run(sim, until_s):
    # The board's clock stands still while a reply is due (it comes in wall time).
    c = sim.controller
    t = sim.board.t_us / 1e6
    while t < until_s:
        t = min(until_s, t + 0.05)
        sim.run_until(t)
        deadline = time.monotonic() + 5
        while c.sntp is not None and c.sntp.awaiting() and time.monotonic() < deadline:
            c.service()
            time.sleep(0.001)


@pytest.fixture
def responder():
    made = []

    def make(*args, **kw):
        r = Responder(*args, **kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def test_the_clock_is_set_from_ntp_at_start_and_the_step_logged(responder, monkeypatch):
    utc = clock.seconds(2026, 6, 1, 10, 0, 0)
    r = responder(utc)
    monkeypatch.setattr(sntp, "PORT", r.port)
    sim = Simulation(
        scenario.check(
            {
                "duration_s": 30,
                "start_time": "2000-01-01T00:00:00",
                "config": {"clock.ntp_server": "127.0.0.1", "clock.utc_offset_min": 120},
            }
        )
    )
    _run(sim, 30)
    c = sim.controller
    # local time, two hours ahead of UTC, set once the reply came (the board's clock
    # stood still meanwhile)
    assert sim.board.time_s() == utc + 2 * 3600 + 30
    assert c.sntp.synced == 1 and r.requests == 1
    steps = [arg for _, code, arg in c.log.recent(c.log.count) if code == 37]
    assert steps == [utc + 2 * 3600 - 0]
    # nothing more until the next day
    _run(sim, 60)
    assert r.requests == 1


def test_a_server_that_never_answers_is_asked_again_later(monkeypatch):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))  # takes the requests, answers nothing
    monkeypatch.setattr(sntp, "PORT", s.getsockname()[1])
    sim = Simulation(
        scenario.check(
            {
                "duration_s": 320,
                "start_time": "2000-01-01T00:00:00",
                "config": {"clock.ntp_server": "127.0.0.1"},
            }
        )
    )
    sim.run()  # no pacing needed: nothing ever comes
    c = sim.controller
    assert sim.board.time_s() < clock.VALID_FROM_S
    assert c.sntp.errors == 2 and c.sntp.synced == 0  # asked at 0 s and at 303 s
    s.close()


class _Sock:
    def __init__(self):
        self.sent = []
        self.replies = []

    def send(self, data):
        self.sent.append(bytes(data))

    def recv(self, buf):
        if not self.replies:
            return 0
        data = self.replies.pop(0)
        n = min(len(buf), len(data))
        buf[:n] = data[:n]
        return n

    def close(self):
        pass


def _client(offset_min=0):
    sock = _Sock()
    cfg = Config()
    cfg.update({"clock.ntp_server": "10.0.0.1", "clock.utc_offset_min": offset_min})
    c = sntp.Sntp(lambda host, port: sock, lambda a, b: a - b)
    c.configure(cfg, 0)
    return c, sock


def _reply(req, secs, first=None, stratum=2, mode=4, leap=0):
    b = bytearray(
        struct.pack(
            "!BBbb11I",
            (leap << 6) | (4 << 3) | mode,
            stratum,
            6,
            -20,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            secs + NTP_2000,
            0,
        )
    )
    b[24:32] = req[40:48] if first is None else first
    return bytes(b)


@settings(max_examples=300)
@given(data=st.binary(max_size=100))
def test_hostile_datagrams_never_set_the_clock_or_raise(data):
    c, sock = _client()
    assert c.service(0, 0) == -1 and len(sock.sent) == 1
    sock.replies.append(data)
    assert c.service(10, 0) == -1
    assert c.refused + c.errors <= 1


@pytest.mark.parametrize(
    "bad", [dict(mode=5), dict(stratum=0), dict(stratum=16), dict(leap=3), dict(first=b"\0" * 8)]
)
def test_replies_that_do_not_answer_this_request_from_a_synchronised_server_are_refused(bad):
    c, sock = _client()
    c.service(1000, 0)
    sock.replies.append(_reply(sock.sent[0], 800000000, **bad))
    assert c.service(1010, 0) == -1 and c.refused == 1
    # the good one after it is taken, in local time
    sock.replies.append(_reply(sock.sent[0], 800000000))
    assert c.service(1020, 0) == 800000000


def test_local_time_and_the_round_trip():
    c, sock = _client(offset_min=-300)
    c.service(0, 0)
    sock.replies.append(_reply(sock.sent[0], 800000000))
    assert c.service(2400, 0) == 800000000 - 300 * 60 + 1  # half of a 2.4 s round trip


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    edge=st.integers(0, 999),
    grids=st.lists(st.tuples(st.integers(1, 400), st.integers(1, 60)), min_size=1, max_size=8),
)
def test_where_the_clock_s_second_begins_is_found_to_the_ms_whatever_the_polls(edge, grids):
    # The board clock's second begins `edge` ms into each tick-second; the controller polls
    # it on grids of any pace and phase (the slow work's, the idle watch's). Where it
    # reckons a second began is never after the true edge's sighting nor before the edge,
    # and once a poll falls in the ms after an edge it is exact from then on.
    from boards.sim.replay import ReplayBoard
    from firmware.controller import Controller

    board = ReplayBoard({"seed": 1, "mains": {"events": []}}, 0.01)
    t = [0]
    board.ticks_ms = lambda: t[0] & ((1 << 30) - 1)
    board.time_s = lambda: 820540800 + (t[0] - edge) // 1000
    ctrl = Controller(board, Config())
    exact = False
    for polls, pace in grids + [(2000, 1)]:
        t[0] += pace // 2  # a new phase
        for _ in range(polls):
            t[0] += pace
            ctrl._follow_clock(board.ticks_ms())
            s = ctrl._rtc_s
            began = 1000 * (s - 820540800) + edge  # the true edge of that second, in ticks
            off = board.ticks_diff(ctrl._rtc_ticks, began & ((1 << 30) - 1))
            assert 0 <= off < 1000
            if exact:
                assert off == 0
            exact = exact or off == 0 and s == board.time_s()
    assert exact  # a ms grid finds it
