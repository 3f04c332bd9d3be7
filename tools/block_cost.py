# The control loop on steady mains for a given number of blocks, to be counted from
# outside (make bench runs it under valgrind's callgrind, in the MicroPython unix port):
#
#   valgrind --tool=callgrind --dump-before=mp_builtin_callable \
#       micropython tools/block_cost.py N step|loop
#
# After boot and a warm-up second (learning, first-call caches), N blocks of step() alone
# (the block path) or of step() and service() when it is due (the board's whole loop, as
# boards/mcu.py runs it), between two callable() marks, so that callgrind writes their
# instructions to a file of their own; prints "stretch MODE BLOCKS". (The difference of
# two whole runs, N and 0 blocks, moved by millions with the script's fixed part.)
import gc
import sys

sys.path.insert(0, ".")

from boards.sim.replay import ReplayBoard  # noqa: E402
from firmware.config import Config  # noqa: E402
from firmware.controller import Controller  # noqa: E402

n = int(sys.argv[1])
loop = sys.argv[2] == "loop"
mains = {
    "nominal_v": 230,
    "frequency_hz": 50,
    "thd_pct": 8,
    "noise_pct": 1,
    "spikes_per_s": 5,
    "events": [],
}
# the same replay for every N, so that making it is part of the fixed cost
board = ReplayBoard({"seed": 3, "mains": mains}, 4.0, start_ms=(1 << 30) - 4000)
if not 0 <= n <= 2900:
    raise SystemExit("block_cost: N must be 0..2900 (the replay is 4 s)")
ctrl = Controller(board, Config())
# the controller's look at the heap (once a second) costs what the heap's size is: counted
# on its own in a board-sized heap (tools/stall_cost.py), not on the unix port's 2 MB here
ctrl._mem_free = lambda: 1 << 20
for _ in range(1000):
    if ctrl.step():
        ctrl.service()


def blocks(step, service, n):
    # in a function, as a board's loop is (a global would be a lookup per block)
    if service is None:
        for _ in range(n):
            step()
    else:
        # the board's loop: blocks() runs until something is due; the replay counts them
        end = board.pos + n * board.block_len
        while board.pos < end:
            if step():
                service()


gc.collect()
start = board.pos
callable(0)
blocks(ctrl.blocks if loop else ctrl.step, ctrl.service if loop else None, n)
callable(0)
print("stretch %s %d" % (sys.argv[2], (board.pos - start) // board.block_len))
