# The virtual board's inside, run by the MicroPython unix port (tools/vboard.py starts it):
#
#   micropython boards/sim/vboard.py SCENARIO.json [FS_DIR] [--speed N] [--trace FILE]
#                                    [--stop FILE]
#
# The unchanged firmware on the simulated board, paced to the wall clock (N simulated
# seconds to a wall second, 1 unless told: tests that wait for the board's own slow
# work, a save once a second, run it faster), with the
# console on this process's stdin/stdout (tools/vboard.py connects them to a
# pseudo-terminal) and the board's flash in FS_DIR. Reading the console never waits:
# select.poll with a zero timeout, then only the bytes that are there. Ctrl-C is an
# ordinary byte (micropython.kbd_intr(-1)), as on a board. Exit 0 at the scenario's
# end (printing on stderr how far it ever fell behind the wall clock), 2 with one line on
# stderr for an invalid scenario, 3 after `maint` on the console.
#
# With FS_DIR the board's clock is kept in FS_DIR/.rtc once a simulated second, and the
# next start carries on from it (a restart never sends the log's times back).
#
# --stop FILE: an orderly stop (the unix port has no signal handling; tools/vboard.py
# creates FILE on SIGTERM): looked for once a slice; once it exists the events still
# waiting and the persistent record go to flash, and the board exits 0.
#
# --trace FILE: what a test of power cuts needs to know of a run it kills, written as it
# happens (unbuffered: a SIGKILL loses none of it): `e T CODE ARG` for every event the
# firmware logs after boot, `t T` at the end of every slice of simulated time, T in ms.
import os
import select
import sys
import time

import micropython


def _root():
    here = __file__ if "/" in __file__ else "./" + __file__
    return here[: here.rindex("/")] + "/../.."


sys.path.insert(0, _root())

from boards.mcu import StreamSerial  # noqa: E402
from boards.sim import scenario  # noqa: E402
from boards.sim.board import SimBoard  # noqa: E402
from boards.sim.runner import Simulation, make_config  # noqa: E402
from firmware.files import DirFS  # noqa: E402

RTC_FILE = ".rtc"  # the board's clock, kept beside its flash (not in it)


class VirtualBoard(SimBoard):
    def __init__(self, sc, fs_dir):
        SimBoard.__init__(self, sc, make_config(sc).get("adc.mains_mv_per_count"))
        self._rtc_path = None
        self._rtc_kept = -1
        if fs_dir:
            self.fs = DirFS(fs_dir)
            # a board's clock carries on through a restart: from where it was, not from
            # the scenario's start, so that the log's times never go back
            self._rtc_path = fs_dir.rstrip("/") + "/" + RTC_FILE
            try:
                with open(self._rtc_path) as f:
                    kept = int(f.read(16))
                if kept >= self.time_s():
                    self.set_time(kept + 1)
            except (OSError, ValueError):
                pass
        self.serial = StreamSerial(
            sys.stdin.buffer, sys.stdout.buffer, select.poll, select.POLLIN, select.POLLOUT
        )

    def keep_clock(self):
        # Once a simulated second: what the next start carries on from.
        now = self.time_s()
        if self._rtc_path is None or now == self._rtc_kept:
            return
        self._rtc_kept = now
        try:
            with open(self._rtc_path, "w") as f:
                f.write("%d" % now)
        except OSError:
            pass

    def serial_read(self, buf):
        return self.serial.read(buf)

    def serial_write(self, data):
        return self.serial.write(data)


_USAGE = (
    "vboard: usage: vboard.py SCENARIO.json [FS_DIR] [--speed 1..100] [--trace FILE] "
    "[--stop FILE]\n"
)


def _options(argv):
    # -> (positional arguments, speed, trace path), or None when they make no sense
    speed = 1
    trace = None
    stop = None
    rest = []
    k = 0
    while k < len(argv):
        a = argv[k]
        if a in ("--speed", "--trace", "--stop"):
            if k + 1 >= len(argv):
                return None
            if a == "--trace":
                trace = argv[k + 1]
            elif a == "--stop":
                stop = argv[k + 1]
            else:
                try:
                    speed = int(argv[k + 1])
                except ValueError:
                    return None
                if not 1 <= speed <= 100:
                    return None
            k += 2
        elif a.startswith("-"):
            return None
        else:
            rest.append(a)
            k += 1
    if not 1 <= len(rest) <= 2:
        return None
    return rest, speed, trace, stop


def _stopping(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _flush(sim):
    # What an orderly stop writes: the events still waiting, the persistent record.
    ctrl = sim.controller
    now = sim.board.ticks_ms()
    ctrl.collect_events(now)
    if ctrl.eventlog.pending:
        ctrl.eventlog.flush()
    ctrl.store.flush(now)


def _traced(sim, path):
    # Every event the firmware logs from here on, and the simulated time reached.
    f = open(path, "w")
    board = sim.board
    log = sim.controller.log
    inner = log.listener

    def listener(code, arg):
        inner(code, arg)
        f.write("e %d %d %d\n" % (board.t_us // 1000, code, arg))

    log.listener = listener
    return f


def main(argv):
    opts = _options(argv)
    if opts is None:
        sys.stderr.write(_USAGE)
        return 2
    argv, speed, trace_path, stop_path = opts
    try:
        sc = scenario.load(argv[0])
        board = VirtualBoard(sc, argv[1] if len(argv) > 1 else None)
        sim = Simulation(sc, board=board)
    except scenario.ScenarioError as e:
        sys.stderr.write("vboard: invalid scenario %s: %s\n" % (argv[0], e))
        return 2
    trace = _traced(sim, trace_path) if trace_path else None
    micropython.kbd_intr(-1)
    buf = bytearray(64)
    end_us = int(sc["duration_s"] * 1000000)
    t0 = time.ticks_ms()
    lag_us = 0  # the furthest the board fell behind the wall clock
    while board.t_us < end_us:
        if sim.controller.maintenance:
            return 3  # tools/vboard.py restarts the board into its REPL
        wall_us = time.ticks_diff(time.ticks_ms(), t0) * 1000 * speed
        if wall_us - board.t_us > lag_us:
            lag_us = wall_us - board.t_us
        if board.t_us < wall_us:
            # catch up in slices of at most 20 ms, so the console is read often
            sim.run_until(min(wall_us, board.t_us + 20000, end_us) / 1000000)
            board.keep_clock()
            if stop_path and _stopping(stop_path):
                _flush(sim)
                return 0
            if trace:
                trace.write("t %d\n" % (board.t_us // 1000))
        else:
            # ahead of the wall clock (the firmware skipped idle time): keep answering
            n = board.serial_read(buf)
            if n:
                sim.controller.console.feed(memoryview(buf)[:n], board.ticks_ms())
            time.sleep_ms(2)
    # how late the loop ever ran (a call that waited, for the network say, shows here)
    sys.stderr.write("vboard: max lag %d ms\n" % (lag_us // 1000 // speed))
    return 0


sys.exit(main(sys.argv[1:]))
