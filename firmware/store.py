# The controller's persistent record: counters and schedule state that must survive a
# restart, as one small file of integers.
#
#   state.json:  {"v": 1, "engine_s": 3600, ...} 0x89abcdef\n
#
# The JSON text is followed by its CRC-32, so a file damaged by the flash or by hand is
# recognised rather than half-believed; an unreadable record boots with the defaults and
# raises `stored_state_lost`. Saving replaces the file atomically (files.DirFS.write).
#
# Flash wear: a change is not written at once. Counts (starts, relay operations) and the
# engine's running time are written at most once per SOON_S, and urgent changes (an
# exercise starting, an operator's reset, a latched alarm) at once, so that a restart
# neither doubles nor loses a run. Writes per hour: none while nothing happens, 60 with an
# engine running for hours, at most 3600 / SOON_S + the urgent ones whatever happens; a
# restart loses at most SOON_S of counts and of engine time. The file is replaced whole,
# so what a restart reads is always a record that was saved: never older than SOON_S.
import json
from binascii import crc32

from firmware import alarms

NAME = "state.json"
VERSION = 1
MAX_BYTES = 2048
SOON_S = 60
LATER = 1
SOON = 2
NOW = 3

DEFAULTS = {
    "ex_slot": 0,  # the last scheduled exercise that was run or skipped (clock s)
    "ex_until": 0,  # an exercise under way ends at this time (clock s), 0 when none
    "engine_s": 0,  # engine running time
    "starts": 0,  # successful engine starts
    "cranks": 0,  # starter engagements
    "xfer_ops": 0,  # UPS changeover relay operations
    "mains_ops": 0,  # mains contactor operations
    "gen_ops": 0,  # generator contactor operations
    "engine_svc_s": 0,  # engine_s at the last engine service
    "relay_svc": 0,  # relay operations (all three) at the last inspection
    "battery_since": 0,  # clock time the battery was fitted, 0 while unknown
    "latched": 0,  # latched alarms (bits by alarm code), kept until acknowledged
    "cool_until": 0,  # a generator cooldown under way ends at this time (clock s)
    "pin_wrong": 0,  # wrong PINs in a row, every channel (pin.py)
    "pin_wait_s": 0,  # the wait they earned, from the last wrong one
}


def encode(values):
    body = json.dumps(values).encode()
    return body + b" 0x%08x\n" % (crc32(body) & 0xFFFFFFFF)


def decode(data, version=VERSION, oldest=None):
    # The record's values, or None when data is not an intact record of that version (or
    # of one from oldest up to it).
    try:
        cut = data.rindex(b" 0x")
        body = data[:cut]
        if int(data[cut + 3 :].strip(), 16) != crc32(body) & 0xFFFFFFFF:
            return None
        values = json.loads(body)
    except (ValueError, TypeError):
        return None
    if not isinstance(values, dict):
        return None
    v = values.get("v")
    if v != version and not (oldest is not None and isinstance(v, int) and oldest <= v < version):
        return None
    return values


class Store:
    def __init__(self, fs, alarm_set):
        self._fs = fs
        self._alarms = alarm_set
        self.values = dict(DEFAULTS)
        self.writes = 0
        self._due = 0  # the most pressing change not written yet
        self._t_saved = None

    def load(self, now_ms):
        # A record larger than MAX_BYTES is not read into the heap; one whose values this
        # firmware would never have written (a value beyond 2^32, a latched alarm that
        # cannot latch) is not believed either: the defaults, and stored_state_lost. Clock
        # times are seconds since 2000: below 2^32 until 2136.
        if self._fs.size(NAME) > MAX_BYTES:
            self._alarms.raise_(now_ms, alarms.AL_STATE_LOST)
            return
        data = self._fs.read(NAME)
        if data is None:
            return  # first boot: the defaults
        values = decode(data)
        if values is None or not self._plausible(values):
            self._alarms.raise_(now_ms, alarms.AL_STATE_LOST)
            return
        for key in DEFAULTS:
            if key in values:
                self.values[key] = values[key]

    def _plausible(self, values):
        for key in DEFAULTS:
            v = values.get(key, 0)
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 1 << 32:
                return False
        return values.get("latched", 0) & ~self._alarms.latching() == 0

    def changed(self, how=LATER):
        if how > self._due:
            self._due = how

    def service(self, now_ms, diff):
        # Between blocks: write when due. Returns True when it wrote.
        due = self._due
        if not due:
            return False
        if due != NOW and self._t_saved is not None:
            if diff(now_ms, self._t_saved) < SOON_S * 1000:
                return False
        return self.flush(now_ms)

    def flush(self, now_ms):
        record = {"v": VERSION}
        record.update(self.values)
        try:
            self._fs.write(NAME, encode(record))
        except OSError:
            self._alarms.raise_(now_ms, alarms.AL_STATE_LOST)
            self._t_saved = now_ms  # try again after SOON_S, not on every block
            return False
        self._due = 0
        self._t_saved = now_ms
        self.writes += 1
        return True
