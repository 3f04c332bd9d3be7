# SNTP client (RFC 4330): sets the board clock from an NTP server on the network, at boot
# and then once a day, without ever waiting for it.
#
#   IDLE --(due, network up)--> ASKED --(a good reply)--> IDLE (synced; next in a day)
#                                 |--(_TIMEOUT_MS without one)--> IDLE (next in _RETRY_S)
#
# One 48-byte request over UDP; the reply is read when it is there, between blocks, never
# waited for (MicroPython's ntptime blocks up to a second on its socket: a second of no
# samples on a board whose ring holds 64 ms). A reply is taken only if it answers this
# request (its originate time is our transmit time), comes from a synchronised server
# (mode 4, stratum 1..15, leap not 3) and carries a transmit time; anything else is
# counted and ignored. The time is the server's plus half the round trip, in local time
# (clock.utc_offset_min); the controller sets the clock to it when they differ by two
# seconds or more (the board clock counts whole seconds).
# pyright: reportOptionalMemberAccess=false
# (the socket exists in every state that uses it: the state machine says so, not the type)
from micropython import const

IDLE = const(0)
_ASKED = const(1)

PORT = const(123)
_TIMEOUT_MS = const(3000)
_RETRY_S = const(300)  # after no answer or a refused reply
DAY_S = 86400
# NTP counts from 1900-01-01; the board clock from 2000-01-01
_NTP_2000 = 3155673600
_SIZE = const(48)


class Sntp:
    def __init__(self, udp_open, ticks_diff):
        self._udp_open = udp_open  # HAL: udp_open(host, port) -> datagram (send, recv)
        self._diff = ticks_diff
        self._sock = None
        self._req = bytearray(_SIZE)
        self._buf = bytearray(64)
        self.state = IDLE
        self.server = ""
        self.offset_s = 0
        self._t_next = 0  # ticks: the next request is due
        self._wait_ms = 0  # from _t_next
        self._t_sent = 0
        self._stamp = 0  # our transmit time in the request (its low word)
        self.synced = 0  # replies taken since boot
        self.refused = 0  # replies ignored
        self.errors = 0  # requests unanswered or unsendable

    def configure(self, cfg, now):
        server = cfg.get("clock.ntp_server")
        self.offset_s = cfg.get("clock.utc_offset_min") * 60
        if server != self.server:
            self.server = server
            self._close()
            self.state = IDLE
            self._t_next = now
            self._wait_ms = 0  # a new server is asked at once

    def awaiting(self):
        # A reply is due and will be given up on after _TIMEOUT_MS of the board's clock (a
        # harness that runs the clock faster than the network paces one to the other).
        return self.state == _ASKED

    def service(self, now, rtc_s):
        # Between blocks. Returns the clock time (s since 2000, local) to set, or -1.
        if not self.server:
            return -1
        if self.state == IDLE:
            if self._diff(now, self._t_next) >= self._wait_ms:
                self._ask(now, rtc_s)
            return -1
        got = self._read()
        if got > 0:
            secs = self._reply(got, now)
            if secs >= 0:
                self.synced += 1
                self._done(now, DAY_S)
                return secs
            self.refused += 1
        elif got < 0 or self._diff(now, self._t_sent) >= _TIMEOUT_MS:
            self.errors += 1
            self._done(now, _RETRY_S)
        return -1

    def _ask(self, now, rtc_s):
        req = self._req
        for i in range(_SIZE):
            req[i] = 0
        req[0] = 0x23  # leap 0, version 4, mode 3 (client)
        # our transmit time: what the server copies back as the originate time, so that a
        # stray or forged datagram is told apart (the fraction carries the tick count)
        stamp = (rtc_s + _NTP_2000) & 0xFFFFFFFF
        self._stamp = now & 0xFFFFFFFF
        _put32(req, 40, stamp)
        _put32(req, 44, self._stamp)
        try:
            if self._sock is None:
                self._sock = self._udp_open(self.server, PORT)
            self._sock.send(req)
        except OSError:
            self.errors += 1
            self._close()
            self._done(now, _RETRY_S)
            return
        self._t_sent = now
        self.state = _ASKED

    def _read(self):
        try:
            return self._sock.recv(self._buf)
        except OSError:
            self._close()
            return -1

    def _reply(self, n, now):
        b = self._buf
        if n < _SIZE:
            return -1
        mode = b[0] & 7
        leap = b[0] >> 6
        stratum = b[1]
        if mode != 4 or leap == 3 or not 1 <= stratum <= 15:
            return -1
        if _get32(b, 28) != self._stamp:  # originate: not an answer to this request
            return -1
        secs = _get32(b, 40)
        if secs == 0:
            return -1
        # the server's time, in s since 2000 (until 2036, when NTP's era rolls over), at
        # the middle of the round trip
        rtt = self._diff(now, self._t_sent)
        frac_ms = (_get32(b, 44) >> 22) * 1000 >> 10
        return secs - _NTP_2000 + self.offset_s + (frac_ms + rtt // 2) // 1000

    def _done(self, now, wait_s):
        self.state = IDLE
        self._t_next = now
        self._wait_ms = wait_s * 1000

    def _close(self):
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None


def _put32(b, i, v):
    b[i] = (v >> 24) & 255
    b[i + 1] = (v >> 16) & 255
    b[i + 2] = (v >> 8) & 255
    b[i + 3] = v & 255


def _get32(b, i):
    return (b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]
