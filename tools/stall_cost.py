# What holds the board's loop between two blocks, to be counted from outside in the
# MicroPython unix port (make bench):
#
#   valgrind --tool=callgrind --dump-before=mp_builtin_callable \
#       micropython -X heapsize=N tools/stall_cost.py FS_DIR [LIB]
#
# On the lean plant (boards/sim/lean.py), with the firmware loaded as in tools/heap_peak.py
# (LIB: the compiled firmware, as a board keeps it in its filesystem), after boot and two
# seconds of steady mains, each of these runs between two callable() marks, so that
# callgrind writes its instructions to a file of its own: a collection of the whole heap
# (as the controller makes it), a supervisor step, the slow work between blocks, a
# status reply on the console, and the controller's look at the heap (once a second). Prints one line per stretch, in order:
#   stretch NAME
import gc
import sys

args = [a for a in sys.argv[1:] if not a.startswith("-")]
sys.path.insert(0, ".")
if len(args) > 1:
    sys.path.insert(0, args[1])

from boards.sim.lean import LeanBoard  # noqa: E402
from firmware.controller import Controller  # noqa: E402

board = LeanBoard(args[0])
ctrl = Controller(board)
while board.ms < 3000:
    if ctrl.blocks():
        ctrl.service()
now = board.ticks_ms()
step = ctrl.supervisor.step
service = ctrl.service
command = ctrl.command
names = []
callable(0)
gc.collect()
names.append("gc_collect")
callable(0)
step(now)
names.append("supervisor_step")
callable(0)
service()
names.append("service")
callable(0)
command("status")
names.append("console_status")
callable(0)
ctrl._mem_free()
names.append("heap_look")
callable(0)
for name in names:
    print("stretch", name)
