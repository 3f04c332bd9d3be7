# MQTT 3.1.1 for telemetry: the packets we send and read, and the connection as a state
# machine over a TCP stream that never waits (the board's tcp_open, boards/net.py).
#
#   OFF --start()--> WAIT --(backoff over)--> CONNECTING --(stream up)--> HANDSHAKE
#   (CONNECT sent) --(CONNACK accepted)--> UP
#   any error, a refusal, or no answer in time --> WAIT, the backoff doubling from
#   _BACKOFF_MIN_MS to BACKOFF_MAX_MS (reset by a CONNACK)
#
# poll() does what the stream allows at that moment and returns: it never waits for the
# network, so the control loop that calls it between blocks is never held up, whatever the
# broker does. A broker that accepts the connection and never answers is dropped after
# ANSWER_MS; one that stops answering while up, after 1.5 keep-alive periods.
#
# Everything from the network is checked before it is used: each packet's type, flags and
# length against what MQTT 3.1.1 lets a broker send a client in that state, each field's
# length against the packet's. A packet that breaks the rules drops the connection
# (nothing raises out of poll()); the backoff is only reset once a connection has stayed
# up for BACKOFF_MAX_MS, so a broker that accepts and then sends garbage is not hammered.
# A message longer than _RX_MAX (up to _SKIP_MAX) is skipped as it streams past, not a
# reason to reconnect: it is counted (too_long) and told to on_message with no payload,
# or a retained one would come back at every connect.
#
# Outgoing messages wait in a queue bounded in bytes: when a new one does not fit, the
# oldest go first (counted in `dropped`). The message at the head is written as the stream
# takes it; a QoS 1 message stays at the head until its PUBACK, so messages arrive in the
# order they were queued, and one cut off with the connection is sent again (flagged DUP)
# on the next. The broker publishes the last will (offline) if the board drops off.
#
# Not on the control path: this allocates a little per message; nothing here runs inside
# a block.
# pyright: reportOptionalMemberAccess=false
# (the stream exists in every state that uses it: the state machine says so, not the type)
from micropython import const

OFF = const(0)
WAIT = const(1)
CONNECTING = const(2)
HANDSHAKE = const(3)
UP = const(4)
STATE_NAMES = ("off", "waiting", "connecting", "handshake", "up")

_BACKOFF_MIN_MS = const(1000)
BACKOFF_MAX_MS = const(60000)
ANSWER_MS = const(5000)  # for the TCP connection, then for the CONNACK
_WRITE_MAX = const(512)  # bytes handed to the stream per poll
_RX_MAX = const(256)  # the largest packet we keep from the broker
_SKIP_MAX = const(16384)  # longer than this: no broker of ours, the connection goes
_ACKS_MAX = const(32)  # PUBACKs waiting to be written

_CONNECT = const(0x10)
_CONNACK = const(0x20)
_PUBLISH = const(0x30)
_PUBACK = const(0x40)
_SUBSCRIBE = const(0x82)
_SUBACK = const(0x90)
_PINGREQ = const(0xC0)
_PINGRESP = const(0xD0)


def _length(n):
    # MQTT's remaining length: 7 bits a byte, high bit set while more follow
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            return out


def _str(s):
    b = s.encode() if isinstance(s, str) else bytes(s)
    return bytes((len(b) >> 8, len(b) & 0xFF)) + b


def connect_packet(
    client_id, keepalive_s, will_topic=None, will_msg=b"", user=None, password=None, clean=True
):
    flags = 0x02 if clean else 0
    payload = _str(client_id)
    if will_topic:
        flags |= 0x04 | 0x20 | 0x08  # will, retained, QoS 1
        payload += _str(will_topic) + _str(will_msg)
    if user:
        flags |= 0x80
        payload += _str(user)
        if password:
            flags |= 0x40
            payload += _str(password)
    body = b"\x00\x04MQTT\x04" + bytes((flags, keepalive_s >> 8, keepalive_s & 0xFF)) + payload
    return bytes((_CONNECT,)) + _length(len(body)) + body


def publish_packet(topic, payload, qos=0, retain=False, pid=0):
    if isinstance(payload, str):
        payload = payload.encode()
    body = _str(topic) + (bytes((pid >> 8, pid & 0xFF)) if qos else b"") + payload
    return bytearray(
        bytes((_PUBLISH | qos << 1 | (1 if retain else 0),)) + _length(len(body)) + body
    )


def subscribe_packet(pid, topic, qos=1):
    body = bytes((pid >> 8, pid & 0xFF)) + _str(topic) + bytes((qos,))
    return bytes((_SUBSCRIBE,)) + _length(len(body)) + body


def split(buf, n):
    # The first whole packet in buf[:n]: (type byte, body start, end), or None while it is
    # still arriving; end beyond _RX_MAX for one too long to keep (the caller skips it).
    # Raises ValueError for a length no broker of ours would send.
    if n < 2:
        return None
    length = shift = 0
    i = 1
    while True:
        if i >= n:
            return None
        b = buf[i]
        length |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            break
        shift += 7
        if shift > 21:
            raise ValueError("malformed remaining length")
    if i + length > _SKIP_MAX:
        raise ValueError("packet of %d bytes; at most %d accepted" % (i + length, _SKIP_MAX))
    if i + length > _RX_MAX:
        return buf[0], i, i + length
    if i + length > n:
        return None
    return buf[0], i, i + length


def publish_header(first, buf, start, n):
    # A PUBLISH's topic, packet id (0 at QoS 0) and where its payload starts, from the
    # packet's bytes buf[start:n]; raises ValueError when they do not fit in them.
    qos = first >> 1 & 3
    if qos > 1:
        raise ValueError("PUBLISH at QoS %d: we subscribe at QoS 1 at most" % qos)
    if n - start < 2:
        raise ValueError("PUBLISH without a topic")
    end = start + 2 + (buf[start] << 8 | buf[start + 1])
    if end > n:
        raise ValueError("PUBLISH topic longer than the packet")
    pid = 0
    if qos:
        if end + 2 > n:
            raise ValueError("PUBLISH without its packet id")
        pid = buf[end] << 8 | buf[end + 1]
    return bytes(buf[start + 2 : end]), pid, end + 2 * qos


class Client:
    def __init__(self, open_stream, ticks_diff, queue_bytes=2048):
        # open_stream(host, port) -> a stream (ready, write, readinto, close), or raises
        # OSError; the board's tcp_open.
        self._open = open_stream
        self._diff = ticks_diff
        self.queue_bytes = queue_bytes
        self.state = OFF
        self._queue = []  # [packet bytearray, qos, pid]
        self._queued = 0  # bytes in _queue
        self._sent = 0  # bytes of the head already written
        self._rx = bytearray(_RX_MAX)
        self._rx_n = 0
        self._skip = 0  # bytes of a too-long packet still to throw away
        self._acks = bytearray()  # PUBACKs to write, ahead of the queue
        self._t_up = 0  # when the connection came up
        self._pid = 0
        self._stream = None
        self._t = 0  # when the current state (or backoff) began
        self._backoff = _BACKOFF_MIN_MS
        self._t_out = self._t_in = 0  # last bytes written / read while up
        self._out_sent = 0  # bytes of the CONNECT written in HANDSHAKE
        self._ping_out = False  # a PINGREQ waits for its PINGRESP since _t_ping
        self._t_ping = 0
        self.dropped = 0  # messages dropped from a full queue
        self.delivered = 0  # messages the broker has (written, or acknowledged)
        self.connects = 0  # CONNACKs accepted
        self.too_long = 0  # messages longer than _RX_MAX, skipped
        self.last_error = ""
        # on_message(topic bytes, payload bytes, retained) for subscriptions; topic and
        # payload None for a message too long to keep
        self.on_message = None
        self.on_connect = None  # (now): at each CONNACK, before anything is written
        self._subs = []
        self._connect = b""
        self._host = ""
        self._port = 0
        self.keepalive_ms = 0

    def start(
        self,
        now,
        host,
        port,
        client_id,
        keepalive_s=60,
        will_topic=None,
        will_msg=b"",
        user=None,
        password=None,
    ):
        self.stop()
        self._subs = []
        self._host = host
        self._port = port
        self.keepalive_ms = keepalive_s * 1000
        self._connect = connect_packet(
            client_id, keepalive_s, will_topic, will_msg, user, password
        )
        self._backoff = _BACKOFF_MIN_MS
        self._enter(WAIT, now)
        self._t = now - _BACKOFF_MIN_MS  # the first attempt at once

    def stop(self):
        self._drop("")
        self.state = OFF

    def subscribe(self, topic):
        self._subs.append(topic)

    def publish(self, topic, payload, qos=0, retain=False, first=False):
        # Queue a message; returns at once. The oldest go when it does not fit. first: ahead
        # of what waits (only right after a connect, when nothing of the queue is out yet).
        pid = 0
        if qos:
            self._pid = self._pid % 65535 + 1
            pid = self._pid
        pkt = publish_packet(topic, payload, qos, retain, pid)
        if len(pkt) > self.queue_bytes:
            self.dropped += 1
            return False
        while self._queued + len(pkt) > self.queue_bytes:
            self._pop()
            self.dropped += 1
        if first:
            self._queue.insert(0, [pkt, qos, pid])
        else:
            self._queue.append([pkt, qos, pid])
        self._queued += len(pkt)
        return True

    def pending(self):
        return len(self._queue)

    def queued_bytes(self):
        return self._queued

    def awaiting(self):
        # An answer from the broker is due (the connection, the CONNACK, a PINGRESP) and
        # will be given up on after a time on the board's clock. A harness that runs the
        # board's clock faster than the network's asks this to pace one to the other.
        return (
            self.state == CONNECTING
            or self.state == HANDSHAKE
            or (self.state == UP and self._ping_out)
        )

    def _pop(self):
        pkt = self._queue.pop(0)[0]
        self._queued -= len(pkt)
        self._sent = 0

    def _enter(self, state, now):
        self.state = state
        self._t = now

    def _drop(self, why):
        # Close the stream; a QoS 1 message cut off goes again, whole and flagged DUP.
        if why:
            self.last_error = why
        if self._stream is not None:
            try:
                self._stream.close()
            except OSError:
                pass
            self._stream = None
        if self._sent and self._queue:
            head = self._queue[0]
            if head[1]:
                head[0][0] |= 0x08
            else:
                self._pop()  # QoS 0, partly written: the broker threw it away
        self._sent = 0
        self._rx_n = 0
        self._skip = 0
        self._acks = bytearray()  # a new session: the broker forgets what was in flight

    def _fail(self, now, why):
        if self.state == UP and self._diff(now, self._t_up) >= BACKOFF_MAX_MS:
            self._backoff = _BACKOFF_MIN_MS  # it was a good connection for a while
        self._drop(why)
        self._enter(WAIT, now)

    def poll(self, now):
        state = self.state
        if state == OFF:
            return
        if state == WAIT:
            if self._diff(now, self._t) < self._backoff:
                return
            self._backoff = min(self._backoff * 2, BACKOFF_MAX_MS)
            try:
                self._stream = self._open(self._host, self._port)
            except OSError as e:
                self._fail(now, "connect: %s" % e)
                return
            self._enter(CONNECTING, now)
            state = CONNECTING
        try:
            if state == CONNECTING:
                if not self._stream.ready():
                    if self._diff(now, self._t) >= ANSWER_MS:
                        self._fail(now, "no TCP connection within %d ms" % ANSWER_MS)
                    return
                self._out_sent = 0
                self._enter(HANDSHAKE, now)
            if self.state == HANDSHAKE:
                if self._out_sent < len(self._connect):
                    self._out_sent += self._stream.write(self._connect[self._out_sent :])
                self._read(now)
                if self.state == HANDSHAKE and self._diff(now, self._t) >= ANSWER_MS:
                    self._fail(now, "no CONNACK within %d ms" % ANSWER_MS)
                return
            self._read(now)
            if self.state == UP:
                self._write(now)
                self._keepalive(now)
        except (OSError, ValueError) as e:
            self._fail(now, str(e) or type(e).__name__)

    def _read(self, now):
        rx = self._rx
        n = self._stream.readinto(memoryview(rx)[self._rx_n :])
        if not n:
            return
        self._t_in = now
        if self._skip:
            # the rest of a packet too long to keep; what follows it is kept
            if n <= self._skip:
                self._skip -= n
                return
            rest = n - self._skip
            rx[0:rest] = rx[self._skip : n]
            self._skip = 0
            n = rest
        self._rx_n += n
        while True:
            got = split(rx, self._rx_n)
            if got is None:
                return
            first, start, end = got
            if end > _RX_MAX:
                self._too_long(first, start)
                self._skip = end - self._rx_n
                self._rx_n = 0
                return
            self._packet(now, first, start, end)
            if self.state == WAIT:
                return
            rest = self._rx_n - end
            rx[0:rest] = rx[end : self._rx_n]
            self._rx_n = rest

    def _too_long(self, first, start):
        if first & 0xF0 != _PUBLISH or self.state != UP:
            raise ValueError("packet 0x%02x too long" % first)
        self.too_long += 1
        _, pid, _ = publish_header(first, self._rx, start, self._rx_n)
        if pid:
            self._ack(pid)
        self._deliver(None, None, first & 1)

    def _ack(self, pid):
        # Acknowledged ahead of the queue (between two of its packets), so that the broker
        # does not send it again and sends the next: apart from the queue, whose oldest go
        # when it is full. More waiting than a broker lets be in flight: not a broker.
        if len(self._acks) >= _ACKS_MAX * 4:
            raise ValueError("more than %d messages unacknowledged" % _ACKS_MAX)
        self._acks += bytes((_PUBACK, 2, pid >> 8, pid & 0xFF))

    def _deliver(self, topic, payload, retained):
        if self.on_message is None:
            return
        try:
            self.on_message(topic, payload, retained)
        except Exception as e:  # the handler's fault, not the network's: not raised
            self.last_error = "message handler: %s" % (str(e) or type(e).__name__)

    def _packet(self, now, first, start, end):
        # One whole packet from the broker, checked against what it may send in this state.
        rx = self._rx
        size = end - start
        if self.state == HANDSHAKE:
            if first != _CONNACK or size != 2:
                raise ValueError("expected a CONNACK, got packet 0x%02x" % first)
            if rx[start + 1] != 0:
                self._fail(now, "broker refused the connection (CONNACK %d)" % rx[start + 1])
                return
            self.connects += 1
            self._ping_out = False
            self._t_out = self._t_up = now
            self._enter(UP, now)
            for i, topic in enumerate(self._subs):
                pkt = bytearray(subscribe_packet(60000 + i, topic))
                self._queue.insert(i, [pkt, 0, 0])
                self._queued += len(pkt)
            if self.on_connect is not None:
                self.on_connect(now)
        elif first == _PUBACK and size == 2:
            pid = rx[start] << 8 | rx[start + 1]
            if self._queue and self._queue[0][1] and self._queue[0][2] == pid:
                if self._sent >= len(self._queue[0][0]):
                    self._pop()
                    self.delivered += 1
        elif first == _PINGRESP and size == 0:
            self._ping_out = False
        elif first == _SUBACK and size == 3:
            if rx[start + 2] == 0x80:
                self.last_error = "broker refused the subscription"
        elif first & 0xF0 == _PUBLISH:
            topic, pid, body = publish_header(first, rx, start, end)
            if pid:
                self._ack(pid)
            self._deliver(topic, bytes(rx[body:end]), first & 1)
        else:
            raise ValueError("unexpected packet 0x%02x of %d bytes" % (first, size))

    def _write(self, now):
        budget = _WRITE_MAX
        while budget > 0:
            # between two packets on the wire: none begun, or the head written whole
            if self._acks and (not self._sent or self._sent >= len(self._queue[0][0])):
                n = self._stream.write(self._acks)
                if not n:
                    return
                self._acks = self._acks[n:]
                budget -= n
                self._t_out = now
                continue
            if not self._queue:
                return
            pkt, qos, _ = self._queue[0]
            if self._sent >= len(pkt):
                return  # QoS 1, written, waiting for its PUBACK
            n = self._stream.write(memoryview(pkt)[self._sent : self._sent + budget])
            if not n:
                return
            self._sent += n
            budget -= n
            self._t_out = now
            if self._sent >= len(pkt) and not qos:
                self._pop()
                self.delivered += 1

    def _keepalive(self, now):
        # A PINGREQ when nothing has been heard from the broker, or sent to it, for a
        # keep-alive period (QoS 0 messages get no answer: writing alone proves nothing);
        # no PINGRESP within half a period: the broker is gone.
        ka = self.keepalive_ms
        if not ka:
            return
        if self._ping_out:
            if self._diff(now, self._t_ping) >= ka // 2:
                self._fail(
                    now,
                    "no answer from the broker for %d s" % (self._diff(now, self._t_in) // 1000),
                )
        elif self._diff(now, self._t_in) >= ka or self._diff(now, self._t_out) >= ka:
            if self._stream.write(b"\xc0\x00") == 2:
                self._ping_out = True
                self._t_ping = self._t_out = now
