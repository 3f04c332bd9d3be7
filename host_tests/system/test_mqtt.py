# The firmware's MQTT client (firmware/mqtt.py) over the boards' non-blocking TCP stream
# (boards/net.py) against a real broker: Debian's mosquitto on loopback, installed by
# `make test`, with a paho-mqtt subscriber on the other side. The client's clock is
# simulated; only the network is real, and the loops below wait for it with a deadline.
import os
import socket
import time

import pytest
from hypothesis import given, settings, strategies as st

from fakes import MASK, ticks_diff
from boards.net import tcp_open
from boards.sim.rng import Rng
from conftest import ROOT, run_micropython
from firmware import mqtt
from rigs import Subscriber, free_port
from tools import mqtt_fuzz


class Clock:
    # The board's clock, moved by hand: 1 ms per poll while the network is waited for.
    def __init__(self):
        self.ms = (1 << 30) - 3000  # wraps during the test

    def __call__(self):
        return self.ms


def _pump(client, clock, until, seconds=5.0):
    deadline = time.time() + seconds
    while not until() and time.time() < deadline:
        clock.ms = (clock.ms + 1) & MASK
        client.poll(clock.ms)
        time.sleep(0.001)
    return until()


def _client(broker, clock, **kw):
    c = mqtt.Client(tcp_open, ticks_diff, **kw)
    c.start(
        clock.ms,
        "127.0.0.1",
        broker.port,
        "ups-test",
        keepalive_s=10,
        will_topic="ups/ups-test/availability",
        will_msg=b"offline",
    )
    return c


def test_messages_arrive_in_order_with_their_qos_and_the_will_when_the_board_drops_off(broker):
    sub = Subscriber(broker.port)
    clock = Clock()
    c = _client(broker, clock)
    c.publish("ups/ups-test/availability", "online", qos=1, retain=True)
    for i in range(6):
        c.publish("ups/ups-test/event", "e%d" % i, qos=i % 2)
    assert _pump(c, clock, lambda: c.pending() == 0 and len(sub.got) == 7)
    assert c.state == mqtt.UP and c.connects == 1 and c.delivered == 7
    assert sub.got[0] == ("ups/ups-test/availability", "online", 1, False)
    assert [(t, p, q) for t, p, q, _ in sub.got[1:]] == [
        ("ups/ups-test/event", "e%d" % i, i % 2) for i in range(6)
    ]
    # retained: a subscriber arriving later still sees it
    late = Subscriber(broker.port, "ups/ups-test/availability")
    deadline = time.time() + 5
    while not late.got and time.time() < deadline:
        time.sleep(0.01)
    assert late.got == [("ups/ups-test/availability", "online", 1, True)]
    # the board vanishes without a word (power cut, network gone): the broker says so
    c._stream.close()
    deadline = time.time() + 5
    while len(sub.got) < 8 and time.time() < deadline:
        time.sleep(0.01)
    assert sub.got[7] == ("ups/ups-test/availability", "offline", 1, False)
    sub.close()
    late.close()


def test_a_broker_restart_loses_nothing_queued_and_a_full_queue_drops_the_oldest(broker):
    clock = Clock()
    c = _client(broker, clock, queue_bytes=600)
    assert _pump(c, clock, lambda: c.state == mqtt.UP)
    broker.stop()
    # the board finds out at its next write or read, and waits with a growing backoff
    for i in range(10):
        c.publish("ups/ups-test/alarm", "a%d" % i, qos=1)
    assert _pump(c, clock, lambda: c.state == mqtt.WAIT)
    assert c.last_error
    # about 22 of these 27-byte packets fit in 600 bytes: the oldest go as more come
    for i in range(10, 30):
        c.publish("ups/ups-test/alarm", "a%d" % i, qos=1)
    assert c.dropped > 0 and c.pending() + c.dropped == 30
    first_kept = 30 - c.pending()
    for _ in range(3):  # a few failed attempts, backing off
        clock.ms = (clock.ms + 70000) & MASK
        c.poll(clock.ms)
        _pump(c, clock, lambda: c.state == mqtt.WAIT, 2.0)
    broker.start()
    sub = Subscriber(broker.port)
    clock.ms = (clock.ms + mqtt.BACKOFF_MAX_MS) & MASK  # the backoff is capped
    assert _pump(c, clock, lambda: c.pending() == 0, 10.0)
    assert c.connects == 2
    deadline = time.time() + 5
    while len(sub.got) < 30 - first_kept and time.time() < deadline:
        time.sleep(0.01)
    assert [p for _, p, _, _ in sub.got] == ["a%d" % i for i in range(first_kept, 30)]
    sub.close()


def test_a_broker_that_never_answers_is_dropped_and_every_poll_returns_at_once(tmp_path):
    # A listener that accepts the connection and then says nothing: the client's socket
    # never blocks (timeout 0), its CONNACK wait ends after ANSWER_MS of board time, and
    # it tries again later.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)
    port = silent.getsockname()[1]
    clock = Clock()
    c = mqtt.Client(tcp_open, ticks_diff)
    c.start(clock.ms, "127.0.0.1", port, "ups-test")
    c.publish("ups/ups-test/x", "1")
    assert _pump(c, clock, lambda: c.state == mqtt.HANDSHAKE)
    assert c._stream._s.gettimeout() == 0.0  # non-blocking: no call can wait
    entered = clock.ms
    polls = 0
    while c.state == mqtt.HANDSHAKE:
        clock.ms = (clock.ms + 100) & MASK
        c.poll(clock.ms)
        polls += 1
        assert polls <= mqtt.ANSWER_MS // 100 + 1
    assert c.state == mqtt.WAIT and "no CONNACK" in c.last_error
    assert ticks_diff(clock.ms, entered) >= mqtt.ANSWER_MS
    assert c.pending() == 1  # kept for a broker that answers
    silent.close()


def test_a_refused_connection_backs_off_doubling_up_to_a_minute(tmp_path):
    port = free_port()  # nothing listens there
    clock = Clock()
    c = mqtt.Client(tcp_open, ticks_diff)
    c.start(clock.ms, "127.0.0.1", port, "ups-test")
    attempts = []
    for _ in range(200000):
        clock.ms = (clock.ms + 100) & MASK
        before = c.state
        c.poll(clock.ms)
        if before == mqtt.WAIT and c.state != mqtt.WAIT:
            attempts.append(clock.ms)
        if c.state == mqtt.CONNECTING:
            _pump(c, clock, lambda: c.state == mqtt.WAIT, 2.0)
        if len(attempts) == 9:
            break
    gaps = [ticks_diff(b, a) for a, b in zip(attempts, attempts[1:])]
    # each gap: the backoff, plus the time the refusal took to show (board ms)
    backoffs = [min(1000 << (i + 1), 60000) for i in range(len(gaps))]
    assert all(b <= g < b + 2000 for g, b in zip(gaps, backoffs)), (gaps, backoffs)
    assert "refused" in c.last_error or "connect" in c.last_error


def test_the_packets_are_what_mqtt_3_1_1_says():
    assert mqtt.connect_packet("ab", 60) == b"\x10\x0e\x00\x04MQTT\x04\x02\x00\x3c\x00\x02ab"
    p = mqtt.connect_packet("c", 30, "w/t", b"off", "u", "pw")
    assert p[9] == 0x80 | 0x40 | 0x20 | 0x08 | 0x04 | 0x02
    assert bytes(mqtt.publish_packet("t", "x", 1, True, 7)) == b"\x33\x06\x00\x01t\x00\x07x"
    long = bytes(mqtt.publish_packet("t", "x" * 200))
    assert long[:3] == b"\x30\xcb\x01"  # 203 in two length bytes
    assert mqtt.split(bytearray(b"\x20\x02\x00\x00"), 4) == (0x20, 2, 4)
    assert mqtt.split(bytearray(b"\x20\x02\x00"), 3) is None  # still arriving
    with pytest.raises(ValueError):
        mqtt.split(bytearray(b"\x30\xff\xff\xff\x7f"), 5)
    # longer than the client keeps: its bounds, for the caller to skip it
    assert mqtt.split(bytearray(b"\x30\xac\x02"), 3) == (0x30, 3, 303)


def test_the_same_client_runs_in_the_micropython_vm(broker):
    sub = Subscriber(broker.port)
    script = (
        "import sys, time\n"
        "sys.path.insert(0, %r)\n"
        "from firmware.mqtt import Client\n"
        "from boards.net import tcp_open\n"
        "c = Client(tcp_open, time.ticks_diff)\n"
        "c.start(time.ticks_ms(), '127.0.0.1', %d, 'ups-mpy', 10)\n"
        "for i in range(3):\n"
        "    c.publish('ups/ups-mpy/event', 'm%%d' %% i, qos=1)\n"
        "t0 = time.ticks_ms()\n"
        "while c.pending() and time.ticks_diff(time.ticks_ms(), t0) < 5000:\n"
        "    c.poll(time.ticks_ms())\n"
        "    time.sleep_ms(1)\n"
        "print('state', c.state, 'delivered', c.delivered)\n" % (ROOT, broker.port)
    )
    path = os.path.join(str(broker.conf.parent), "mpy_client.py")
    with open(path, "w") as f:
        f.write(script)
    p = run_micropython([path], timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.split() == ["state", str(mqtt.UP), "delivered", "3"]
    deadline = time.time() + 5
    while len(sub.got) < 3 and time.time() < deadline:
        time.sleep(0.01)
    assert [p for _, p, _, _ in sub.got] == ["m0", "m1", "m2"]
    sub.close()


# What a hostile or broken broker sends (tools/mqtt_fuzz.py: a client on a fake stream).


def test_eight_bytes_that_crashed_the_client_only_drop_the_connection():
    # the CONNACK, then a QoS 1 PUBLISH whose topic length (0xFFFF) runs past the packet
    c = mqtt_fuzz.run(bytes.fromhex("200200003202ffff"), in_handshake=True)
    assert c.state == mqtt.WAIT and "topic longer than the packet" in c.last_error
    for data, why in (
        (b"\x20\x02\x00\x00", "unexpected packet 0x20"),  # a second CONNACK
        (b"\x40\x03\x00\x01\x00", "unexpected packet 0x40"),  # PUBACK of 3
        (b"\x34\x05\x00\x01t\x00\x01", "QoS 2"),
        (b"\x32\x04\x00\x01t\x00", "without its packet id"),
        (b"\x10\x00", "unexpected packet 0x10"),
        (b"\x30\xff\xff\xff\x7f", "at most 16384"),
    ):
        c = mqtt_fuzz.run(data)
        assert c.state == mqtt.WAIT and why in c.last_error, (data, c.last_error)
    # before the CONNACK, anything else is refused too
    c = mqtt_fuzz.run(b"\xd0\x00", in_handshake=True)
    assert c.state == mqtt.WAIT and "expected a CONNACK" in c.last_error


@settings(max_examples=1500, derandomize=True, deadline=None)
@given(st.binary(max_size=700), st.booleans(), st.integers(0, 2**31))
def test_no_bytes_from_the_network_raise_out_of_poll(data, in_handshake, seed):
    mqtt_fuzz.run(bytearray(data), Rng(seed), in_handshake)


@settings(max_examples=1500, derandomize=True, deadline=None)
@given(st.integers(0, 2**31))
def test_no_mutated_packet_raises_out_of_poll(seed):
    rng = Rng(seed)
    mqtt_fuzz.run(mqtt_fuzz.case_bytes(rng), rng, rng.next32() % 8 == 0)


def test_the_fuzzing_runs_in_the_micropython_vm_too():
    p = run_micropython(["tools/mqtt_fuzz.py", "7", "5000"], timeout=300)
    assert p.returncode == 0 and p.stdout.split() == ["cases", "5000", "ok"], p.stdout + p.stderr


def test_a_message_too_long_to_keep_is_skipped_and_told_not_a_reconnect():
    # 300 bytes, retained, QoS 1: acknowledged, skipped as it streams past, counted and
    # told with no payload; the connection stays, and the command after it arrives
    got = []
    topic = b"ups/ups-fuzz/command"
    body = bytes((0, len(topic))) + topic + b"\x00\x09" + b"x" * 300
    long_msg = bytes((0x33,)) + bytes(mqtt._length(len(body))) + body
    short = bytes((0x30, 2 + len(topic) + 6, 0, len(topic))) + topic + b"status"
    stream = mqtt_fuzz.FakeStream()
    c = mqtt.Client(lambda host, port: stream, ticks_diff)
    c.on_message = lambda t, p, r: got.append((t, p, r))
    c.start(0, "127.0.0.1", 1883, "ups-fuzz", 10)
    c.poll(1000)
    stream.incoming += b"\x20\x02\x00\x00" + long_msg + short
    for now in range(1001, 1010):
        c.poll(now)
    assert c.state == mqtt.UP and c.connects == 1 and c.too_long == 1
    assert got == [(None, None, 1), (topic, b"status", 0)]
    assert b"\x40\x02\x00\x09" in stream.written  # its PUBACK


def test_a_broker_that_fails_right_after_each_connack_is_not_hammered():
    # the backoff is reset only by a connection that stayed up a minute
    stream = mqtt_fuzz.FakeStream()
    c = mqtt.Client(lambda host, port: stream, ticks_diff)
    c.start(0, "127.0.0.1", 1883, "ups-fuzz", 10)
    now, attempts = 0, []
    while len(attempts) < 6:
        now += 100
        before = c.state
        c.poll(now)
        if before == mqtt.WAIT and c.state != mqtt.WAIT:
            attempts.append(now)
            stream.incoming += b"\x20\x02\x00\x00\x10\x00"  # CONNACK, then garbage
            c.poll(now)
            assert c.state == mqtt.WAIT
    gaps = [b - a for a, b in zip(attempts, attempts[1:])]
    assert gaps == sorted(gaps) and gaps[-1] >= 16000, gaps
