# The event log on the board's filesystem: bounded, every record checked, written in
# batches.
#
# Records are 16 bytes: a marker byte, the event code, a sequence number, the argument,
# the clock time, and a CRC-32 of those 12 bytes:
#
#   <B B H i I> + <I>   marker 0xA5, code, seq, arg, time (s since 2000), crc
#
# They are appended to events.log; when it holds max_records it becomes events.old (the
# previous .old goes) and a new events.log starts, so the log keeps between max_records
# and twice that, newest last. A reader takes every 16-byte run that carries the marker
# and a good CRC, wherever it starts: a power cut in the middle of an append leaves a
# torn record that is skipped, and the records before and after it are read as ever.
#
# The control loop records events in RAM (events.EventRing, allocation-free); between
# blocks (every SERIAL_MS) collect() copies the new ones here, and service() appends them
# once the oldest has waited the hold (HOLD_MS: a burst, a failure and its transfer, is
# one write) or when BATCH are waiting: every event is on flash within a second of
# happening. Flash writes: none while nothing happens, one per burst of events, at most
# 1000 / HOLD_MS a second in a storm (the transfer_chatter alarm holds the load on battery
# long before that). A power cut loses at most the events of the last HOLD_MS and the one
# record being written.
import struct
from binascii import crc32
from micropython import const

NAME = "events.log"
OLD = "events.old"
_MARK = const(0xA5)
SIZE = 16
BATCH = 16
HOLD_MS = 200
_PENDING_MAX = const(256)
_SCAN_MAX = const(16384)  # junk longer than this at the end hides what is before it


def pack(seq, code, arg, rtc):
    body = struct.pack("<BBHiI", _MARK, code & 0xFF, seq & 0xFFFF, arg, rtc & 0xFFFFFFFF)
    return body + struct.pack("<I", crc32(body) & 0xFFFFFFFF)


def scan(data):
    # Every intact record in data, in order: [(seq, code, arg, rtc), ...]
    out = []
    i = 0
    n = len(data)
    while i + SIZE <= n:
        if data[i] == _MARK:
            body = data[i : i + 12]
            if struct.unpack("<I", data[i + 12 : i + 16])[0] == crc32(body) & 0xFFFFFFFF:
                _, code, seq, arg, rtc = struct.unpack("<BBHiI", body)
                out.append((seq, code, arg, rtc))
                i += SIZE
                continue
        i += 1
    return out


class EventLog:
    def __init__(self, fs, max_records):
        self._fs = fs
        self.max_records = max_records
        self.pending = []  # packed records not yet written
        self._t_first = 0  # ticks_ms of the oldest of them
        self.seen = 0  # EventRing.count already collected
        self.dropped = 0
        self.writes = 0
        last = self.records(1)
        self._seq = (last[0][0] + 1) & 0xFFFF if last else 0

    def collect(self, ring, rtc_ms, rtc, diff):
        # Copy the RAM ring's new records, with their clock time: the clock read rtc at
        # ticks rtc_ms, the start of that second.
        new = ring.count - self.seen
        if new <= 0:
            return
        if new > ring.size:
            self.dropped += new - ring.size
            new = ring.size
        self.seen = ring.count
        for t, code, arg in ring.recent(new):
            if len(self.pending) >= _PENDING_MAX:
                self.pending.pop(0)
                self.dropped += 1
            if not self.pending:
                self._t_first = t
            self.pending.append(pack(self._seq, code, arg, rtc + diff(t, rtc_ms) // 1000))
            self._seq = (self._seq + 1) & 0xFFFF

    def service(self, now_ms, diff, hold_ms=HOLD_MS):
        # Append what is waiting once it is due. Returns True when it wrote.
        p = self.pending
        if not p:
            return False
        if len(p) < BATCH and diff(now_ms, self._t_first) < hold_ms:
            return False
        if not self.flush():
            self._t_first = now_ms  # a refusing filesystem: try again after the hold
            return False
        return True

    def flush(self):
        fs = self._fs
        data = b"".join(self.pending)
        try:
            if fs.size(NAME) + len(data) > self.max_records * SIZE:
                fs.rename(NAME, OLD)
            fs.append(NAME, data)
        except OSError:
            return False
        self.pending = []
        self.writes += 1
        return True

    def records(self, n):
        # The newest n records, flash and RAM, oldest first: [(seq, code, arg, rtc), ...].
        # Reads only the tails it needs (two torn records' worth of slack), and further
        # back, doubling up to _SCAN_MAX, when junk at the end (damage) hides them.
        found = []
        for rec in self.pending:
            found.extend(scan(rec))
        for name in (NAME, OLD):
            if len(found) >= n:
                break
            size = self._fs.size(name)
            tail = (n - len(found) + 2) * SIZE
            while True:
                data = self._fs.read(name, tail)
                got = scan(data) if data else []
                if len(got) >= n - len(found) or tail >= size or tail >= _SCAN_MAX:
                    break
                tail *= 2
            found = got + found
        return found[-n:] if n < len(found) else found
