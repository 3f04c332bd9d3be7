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
from firmware import megatec

MAX_LINE = 120
_CR = 13
_LF = 10
_CTRL_C = 3
_BS = 8
_DEL = 127


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
        self.lines = 0

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
            self._say("ERR the line has bytes that are not printable text; allowed: printable ASCII")
            return
        if n == 0:
            return
        line = bytes(self._buf[:n]).decode().strip()
        self.lines += 1
        if megatec.is_megatec(line):
            answer = self.megatec.reply(line, now)
            if answer is not None:
                self._write(answer.encode() + b"\r")
            return
        reply = self.ctrl.command(line)
        if reply:
            self._say(reply)

    def _say(self, text):
        for part in text.split("\n"):
            self._write(part.encode() + b"\r\n")
