# The control loop under micropython.heap_lock(), in the MicroPython unix port:
#
#   micropython tools/heap_check.py [50|60] [steady]
#
# The whole control loop (monitor, supervisor, generator, ATS, transfer, battery, event
# ring) runs locked through normal mains, an interruption, the transfer to battery, the
# return of mains, re-learning, the return transfer, more faults, and a 9 s outage during
# which the generator is cranked (it never fires on this board) and stopped again. Any
# allocation raises MemoryError. With `steady`: 20 s of ordinary mains (harmonics, noise,
# spikes) and nothing else, where a board spends nearly all its life; and then the same
# 20 s again through the board's whole loop, unlocked: step(), and service() when it is
# due, as boards/mcu.py runs them (service's once-a-second work allocates). Prints one
# line:
#   blocks N bytes B outputs N cranks N events N state S us_per_block T ns_per_block T
#   [loop_ns_per_block T]
import gc
import sys
import time

import micropython

sys.path.insert(0, ".")

from boards.sim.replay import ReplayBoard  # noqa: E402
from firmware.config import Config  # noqa: E402
from firmware.controller import Controller  # noqa: E402

freq = int(sys.argv[1]) if len(sys.argv) > 1 else 50
steady = sys.argv[2:3] == ["steady"]
volts = 230 if freq == 50 else 120
mains = {
    "nominal_v": volts,
    "frequency_hz": freq,
    "thd_pct": 8,
    "noise_pct": 1,
    "spikes_per_s": 5,
    "events": [],
}
if steady:
    board = ReplayBoard({"seed": 3, "mains": mains}, 21.0, start_ms=(1 << 30) - 4000)
else:
    mains["events"] = [
        {"at_s": 2.0, "kind": "dip", "residual_pct": 0, "duration_s": 0.5, "phase_deg": 90},
        {"at_s": 6.5, "kind": "swell", "level_pct": 125, "duration_s": 0.3},
        {"at_s": 8.0, "kind": "dip", "residual_pct": 40, "duration_s": 0.2},
        {"at_s": 10.0, "kind": "outage", "duration_s": 9.0},
    ]
    board = ReplayBoard({"seed": 3, "mains": mains}, 24.0, start_ms=(1 << 30) - 4000)
    rate = board.sample_rate_hz
    for k in range(21 * rate, 22 * rate):  # the mains sensor unplugged: 0 counts
        board.samples[k] = 0
    for k in range(int(22.5 * rate), int(23.5 * rate)):  # then frozen
        board.samples[k] = 2900
    board.battery_fault_ms = (21000, 23000)  # the battery reading 0 V
cfg = Config()
cfg.update({"mains.nominal_v": volts, "mains.frequency_hz": freq, "transfer.return_delay_s": 2})
ctrl = Controller(board, cfg)
for _ in range(1000):  # first second unlocked: learning, first-call caches
    ctrl.step()


def locked(step, left):
    # The control loop under the heap lock until the replay runs out (the idle watch skips
    # samples, so the blocks are counted rather than known), in a function as a board's
    # loop is: its locals cost the VM nothing, a global is a lookup.
    global blocks, elapsed, before, after
    n = 0
    before = gc.mem_alloc()
    t0 = time.ticks_us()
    micropython.heap_lock()
    try:
        while left() > 0:
            step()
            n += 1
    finally:
        micropython.heap_unlock()
    elapsed = time.ticks_diff(time.ticks_us(), t0)
    after = gc.mem_alloc()
    blocks = n


def timed(step, n):
    # n blocks of steady mains, where a board spends its life, with nothing around step()
    # but the loop (the replay's own blocks_left() is a call as dear as a block's read).
    global blocks, elapsed, before, after
    before = gc.mem_alloc()
    t0 = time.ticks_us()
    micropython.heap_lock()
    try:
        for _ in range(n):
            step()
    finally:
        micropython.heap_unlock()
    elapsed = time.ticks_diff(time.ticks_us(), t0)
    after = gc.mem_alloc()
    blocks = n


blocks = elapsed = before = after = cranks = k = 0  # globals exist before the count starts
step = ctrl.step
left = board.blocks_left
gc.collect()
if steady:
    timed(step, board.blocks_left())
    if board.skipped:
        raise SystemExit("heap_check: the steady replay went to the idle watch")
else:
    locked(step, left)
cranks = 0
for k in range(board.out_n):
    if board.out_v[k] == 2 * 4 + 1:  # OUT_GEN_START on
        cranks += 1
sensor_alarms = 0
for k in (16, 17):  # mains_sensor_fault, battery_sensor_fault
    if ctrl.alarms.is_active(k):
        sensor_alarms += 1
line = (
    "blocks %d bytes %d outputs %d cranks %d events %d state %d sensor_alarms %d "
    "us_per_block %d ns_per_block %d"
    % (
        blocks,
        after - before,
        board.out_n,
        cranks,
        ctrl.log.count,
        ctrl.transfer.state,
        sensor_alarms,
        elapsed // blocks,
        elapsed * 1000 // blocks,
    )
)


def whole_loop(ctrl, n):
    # as boards/mcu.py runs it (service's once-a-second work allocates: no heap lock)
    t0 = time.ticks_us()
    for _ in range(n):
        if ctrl.step():
            ctrl.service()
    return time.ticks_diff(time.ticks_us(), t0)


if steady:
    board = ReplayBoard({"seed": 3, "mains": mains}, 21.0, start_ms=(1 << 30) - 4000)
    ctrl = Controller(board, cfg)
    for _ in range(1000):
        if ctrl.step():
            ctrl.service()
    n = board.blocks_left()
    gc.collect()
    line += " loop_ns_per_block %d" % (whole_loop(ctrl, n) * 1000 // n)
print(line)
