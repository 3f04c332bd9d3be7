# The serial console: bytes from the board's serial line in, replies out, shared by
# operators (commands.py) and by NUT's nutdrv_qx (megatec.py).
#
# feed() takes whatever bytes have arrived and never waits for more. A line ends at CR or
# LF (an LF right after a CR ends nothing). Ctrl-C throws away the line being typed (on
# the board, micropython.kbd_intr(-1) makes it an ordinary byte, so it cannot stop the
# firmware); backspace and DEL take back one character. A line longer than the buffer,
# or with other control bytes or non-ASCII bytes in it, gets one ERR line, and the bytes
# after it start afresh. Megatec replies end with CR alone, as the protocol has them;
# every other reply line ends with CR LF.
#
# Replies go out as the line takes them (the board's serial_write says how much it took):
# they wait in a queue of OUT_MAX bytes, refilled a line at a time from a long reply
# (`log 1000`), so that a terminal that reads slowly gets every line, paced, and the heap
# holds a few lines rather than the whole reply; other replies (NUT's polls) go out
# between its lines. A reply that arrives while the queue is full (a terminal that does
# not read at all) is dropped, and the next thing sent says how many were.
from firmware import megatec
from micropython import const

MAX_LINE = 120
OUT_MAX = 2048
_CHUNK = const(64)  # bytes per write: a write that blocks, blocks briefly
_CR = const(13)
_LF = const(10)
_CTRL_C = const(3)
_BS = const(8)
_DEL = const(127)


class Console:
    def __init__(self, ctrl, write):
        self.ctrl = ctrl
        self._write = write
        self._buf = bytearray(MAX_LINE)
        self._n = 0
        self._overflow = 0
        self._garbage = False
        self._after_cr = False
        self.megatec = megatec.Megatec(ctrl)
        self._out = bytearray()  # bytes the line has not taken yet
        self._source = None  # the rest of a long reply, a line at a time
        self.dropped = 0  # replies dropped, not yet told

    def feed(self, data, now):
        for byte in data:
            if byte == _CR or byte == _LF:
                if byte == _LF and self._after_cr:
                    self._after_cr = False
                    continue
                self._after_cr = byte == _CR
                self._end_line(now)
                continue
            self._after_cr = False
            if byte == _CTRL_C:
                self._reset()
            elif byte == _BS or byte == _DEL:
                if self._n:
                    self._n -= 1
            elif byte < 32 or byte > 126:
                self._garbage = True
            elif self._n < MAX_LINE:
                self._buf[self._n] = byte
                self._n += 1
            else:
                self._overflow += 1

    def _reset(self):
        self._n = 0
        self._overflow = 0
        self._garbage = False

    def _end_line(self, now):
        n, overflow, garbage = self._n, self._overflow, self._garbage
        self._reset()
        if overflow:
            self._say("ERR line too long (%d characters); allowed %d" % (n + overflow, MAX_LINE))
            return
        if garbage:
            self._say(
                "ERR the line has bytes that are not printable text; allowed: printable ASCII"
            )
            return
        if n == 0:
            return
        line = bytes(self._buf[:n]).decode().strip()
        if megatec.is_megatec(line):
            answer = self.megatec.reply(line, now)
            if answer is not None:
                self._queue(answer.encode() + b"\r")
            return
        reply = self.ctrl.command(line, stream=True)
        if isinstance(reply, str):
            if reply:
                self._say(reply)
        elif self._source is None:
            self._source = reply
            self.pump()
        else:
            self.dropped += 1  # a long reply still going out: one at a time

    def _say(self, text):
        self._queue("\r\n".join(text.split("\n")).encode() + b"\r\n")

    def _queue(self, data):
        if self.dropped and len(self._out) + len(data) + 60 <= OUT_MAX:
            self._out += b"ERR %d replies dropped: the line was not read\r\n" % self.dropped
            self.dropped = 0
        if len(self._out) + len(data) > OUT_MAX:
            self.dropped += 1
            return
        self._out += data
        self.pump()

    def _refill(self):
        # The queue topped up to half from a long reply, whole lines only.
        src = self._source
        while src is not None and len(self._out) < OUT_MAX // 2:
            try:
                line = next(src)
            except StopIteration:
                src = self._source = None
                break
            self._out += line.encode() + b"\r\n"

    def pump(self):
        # Between blocks: what the line takes now, never more than it takes. True while
        # a reply was going out.
        if self._out or self._source:
            self._refill()
            while self._out:
                n = self._write(self._out[:_CHUNK])
                if not n:
                    break
                self._out = self._out[n:]
                self._refill()
            return True
