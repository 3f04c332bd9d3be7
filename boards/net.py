# A TCP stream that never waits: what the firmware's MQTT client (firmware/mqtt.py) talks
# through, the HAL's tcp_open(host, port); and a UDP socket for the NTP client
# (udp_open). The same lines run on the boards (MicroPython's socket and select), in the
# virtual board (the unix port) and in the host tests (CPython). The host is an IPv4
# address: a name would need a DNS lookup, which blocks.
import errno
import select
import socket

_WOULD_BLOCK = (errno.EAGAIN, errno.EINPROGRESS, getattr(errno, "EWOULDBLOCK", errno.EAGAIN))


def _arrived(recv_into, buf):
    # What a non-blocking read got: the count (0 at the end of a stream), None when
    # nothing had arrived, or OSError.
    try:
        return recv_into(buf)
    except OSError as e:
        if e.args[0] in _WOULD_BLOCK:
            return None
        raise


class Stream:
    def __init__(self, host, port):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        self._s = s
        self._poll = select.poll()
        self._poll.register(s, select.POLLOUT)
        self._up = False
        try:
            s.connect(socket.getaddrinfo(host, port)[0][-1])
        except OSError as e:
            if e.args[0] not in _WOULD_BLOCK:
                s.close()
                raise
        # MicroPython's socket reads into a buffer with readinto, CPython's with recv_into
        self._recv_into = getattr(s, "recv_into", None) or s.readinto

    def ready(self):
        # Connected yet? Raises OSError once the connection has failed.
        if self._up:
            return True
        for _, ev in self._poll.poll(0):
            if ev & (select.POLLERR | select.POLLHUP):
                raise OSError(errno.ECONNREFUSED, "connection refused")
            if ev & select.POLLOUT:
                self._up = True
        return self._up

    def write(self, data):
        # Bytes the network took now (0 if none); OSError when the connection is gone.
        try:
            n = self._s.send(data)
        except OSError as e:
            if e.args[0] in _WOULD_BLOCK:
                return 0
            raise
        return n or 0

    def readinto(self, buf):
        # Bytes that had arrived (0 if none); OSError when the peer has closed.
        n = _arrived(self._recv_into, buf)
        if n is None:
            return 0
        if n == 0 and len(buf):
            raise OSError(errno.ECONNRESET, "closed by the broker")
        return n

    def close(self):
        self._s.close()


def tcp_open(host, port):
    return Stream(host, port)


class Datagram:
    # A UDP socket that never waits (the HAL's udp_open: firmware/sntp.py).
    def __init__(self, host, port):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        self._s = s
        self._to = socket.getaddrinfo(host, port)[0][-1]
        self._recv_into = getattr(s, "recv_into", None) or s.readinto

    def send(self, data):
        try:
            self._s.sendto(data, self._to)
        except OSError as e:
            if e.args[0] not in _WOULD_BLOCK:
                raise

    def recv(self, buf):
        # Bytes of the datagram that had arrived (0 if none; the rest of a longer one is
        # dropped); OSError when the network refused (an ICMP port unreachable, say).
        return _arrived(self._recv_into, buf) or 0

    def close(self):
        self._s.close()


def udp_open(host, port):
    return Datagram(host, port)
