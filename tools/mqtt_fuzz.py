# The firmware's MQTT client (firmware/mqtt.py) fed what a hostile or broken broker could
# send, under either VM:
#
#   micropython tools/mqtt_fuzz.py SEED COUNT
#   python3 tools/mqtt_fuzz.py SEED COUNT
#
# Each case connects a client to a fake stream, answers its CONNECT with a CONNACK (or,
# one case in eight, with the case's bytes in its place), then hands it the case's bytes
# in random pieces, polling after each: random bytes, or packets a broker sends (CONNACK,
# PUBLISH at QoS 0 and 1, retained or not, PUBACK, SUBACK, PINGRESP) with one to three
# mutations each (a byte changed, the length field changed or made long, cut short, bytes
# put in, packets glued together, a message longer than the client keeps). A case passes
# when no poll raises and the client is left up or waiting to reconnect, its receive
# buffer within bounds. Prints the first failing case and exits 1, or `cases N ok`.
import sys

try:
    from firmware import mqtt
except ImportError:
    here = __file__ if "/" in __file__ else "./" + __file__
    sys.path.insert(0, here[: here.rindex("/")] + "/..")
    from firmware import mqtt

from boards.sim.rng import Rng


class FakeStream:
    def __init__(self):
        self.incoming = bytearray()
        self.written = bytearray()
        self.closed = False

    def ready(self):
        return True

    def write(self, data):
        self.written += data
        return len(data)

    def readinto(self, buf):
        n = min(len(buf), len(self.incoming))
        if not n:
            return None
        buf[:n] = self.incoming[:n]
        self.incoming = self.incoming[n:]
        return n

    def close(self):
        self.closed = True


def _diff(a, b):
    return ((a - b + (1 << 29)) & 0x3FFFFFFF) - (1 << 29)


def _packet(rng):
    # one packet a broker sends a client, well formed
    k = rng.next32() % 7
    if k == 0:
        return bytearray(b"\x20\x02\x00") + bytes((rng.next32() % 6,))
    if k == 1:
        return bytearray(b"\x40\x02") + bytes((rng.next32() & 0xFF, rng.next32() & 0xFF))
    if k == 2:
        return bytearray(b"\x90\x03\xea\x60") + bytes((0x80 if rng.next32() % 4 == 0 else 1,))
    if k == 3:
        return bytearray(b"\xd0\x00")
    topic = b"ups/ups-fuzz/command"
    qos = rng.next32() % 2
    size = (0, 5, 40, 120, 250, 300, 2000)[rng.next32() % 7]
    payload = bytes((0x61 + rng.next32() % 26,)) * size
    body = bytes((len(topic) >> 8, len(topic) & 0xFF)) + topic
    if qos:
        body += bytes((rng.next32() & 0xFF, 1 + rng.next32() % 250))
    body += payload
    first = 0x30 | qos << 1 | rng.next32() % 2
    return bytearray((first,)) + mqtt._length(len(body)) + body


def _mutate(rng, pkt):
    k = rng.next32() % 6
    n = len(pkt)
    if k == 0 and n:
        pkt[rng.next32() % n] = rng.next32() & 0xFF
    elif k == 1 and n > 1:
        pkt[1] = rng.next32() & 0xFF  # the length field
    elif k == 2 and n > 1:
        pkt[1:2] = bytes((0xFF, 0xFF, 0xFF, rng.next32() & 0xFF))
    elif k == 3:
        pkt = pkt[: rng.next32() % (n + 1)]
    elif k == 4:
        at = rng.next32() % (n + 1)
        pkt = pkt[:at] + bytes(rng.next32() & 0xFF for _ in range(1 + rng.next32() % 8)) + pkt[at:]
    else:
        pkt = pkt + _packet(rng)
    return pkt


def case_bytes(rng):
    if rng.next32() % 5 == 0:
        return bytearray(rng.next32() & 0xFF for _ in range(rng.next32() % 64))
    out = bytearray()
    for _ in range(1 + rng.next32() % 4):
        pkt = _packet(rng)
        for _ in range(rng.next32() % 4):
            pkt = _mutate(rng, pkt)
        out += pkt
    return out


def run(data, rng=None, in_handshake=False, retained_seen=None):
    # One case: a connected client (or one still waiting for its CONNACK) handed data
    # in pieces. Returns the client; raises what poll() let out.
    stream = FakeStream()
    c = mqtt.Client(lambda host, port: stream, _diff)
    c.on_message = lambda topic, payload, retained=0: None
    c.start(0, "127.0.0.1", 1883, "ups-fuzz", 10)
    c.subscribe("ups/ups-fuzz/command")
    now = 1000
    c.poll(now)
    if not in_handshake:
        stream.incoming += b"\x20\x02\x00\x00"
        c.poll(now)
    k = 0
    while k < len(data):
        step = 1 + (rng.next32() % 64 if rng is not None else len(data))
        stream.incoming += data[k : k + step]
        k += step
        now += 1
        c.poll(now)
    for _ in range(4):
        now += 1
        c.poll(now)
    if c.state not in (mqtt.UP, mqtt.WAIT, mqtt.HANDSHAKE):
        raise AssertionError("state %d" % c.state)
    if c._rx_n > len(c._rx) or getattr(c, "_skip", 0) < 0:
        raise AssertionError("receive buffer %d" % c._rx_n)
    return c


def main(argv):
    seed, count = int(argv[0]), int(argv[1])
    rng = Rng(seed)
    for i in range(count):
        data = case_bytes(rng)
        try:
            run(data, rng, rng.next32() % 8 == 0)
        except Exception as e:
            print("case %d failed: %r on %s" % (i, e, bytes(data)))
            return 1
    print("cases %d ok" % count)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
