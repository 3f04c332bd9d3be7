# The controller: one pass of the control loop per sample block.
#
#   board.read_block -> MainsMonitor.process -> Transfer.step -> board outputs
#
# Everything on this path is preallocated; slow work (console, telemetry, persistence)
# will run between blocks and never inside step().
from array import array

from firmware import events
from firmware.alarms import Alarms
from firmware.config import Config
from firmware.mains_monitor import MainsMonitor
from firmware.transfer import Transfer

# While the load is on battery and there is no mains at all, the controller looks at the
# mains for two windows (about 50 ms) every WATCH_GAP_MS instead of continuously: mains
# coming back is noticed within a second, long before any return delay ends, and the CPU
# is free for slow work.
WATCH_GAP_MS = 950


class Controller:
    def __init__(self, board, cfg=None):
        self.board = board
        self.cfg = cfg if cfg is not None else Config()
        self.log = events.EventRing()
        self.alarms = Alarms(self.log)
        self.monitor = MainsMonitor(self.cfg, board.sample_rate_hz, board.ticks_diff)
        self.transfer = Transfer(self.cfg, board, self.log, self.alarms)
        self._buf = array("H", [0] * board.block_len)
        self._n = board.block_len
        self._mains_lost = False
        self.log.add(board.ticks_ms(), events.EV_BOOT, 0)

    def step(self):
        board = self.board
        board.read_block(self._buf)
        now = board.ticks_ms()
        monitor = self.monitor
        faults = monitor.process(self._buf, self._n, now)
        ok = monitor.ok()
        if faults:
            if not self._mains_lost:
                self._mains_lost = True
                self.log.add(now, events.EV_MAINS_LOST, faults)
        elif ok and self._mains_lost:
            self._mains_lost = False
            self.log.add(now, events.EV_MAINS_RESTORED, 0)
        self.transfer.step(now, ok, faults)
        board.feed_watchdog()
        if monitor.absent() and self.transfer.settled_on_battery():
            board.skip(WATCH_GAP_MS)
            monitor.resume()
            board.feed_watchdog()
