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
# status reply on the console, the controller's look at the heap (once a second); then,
# with MQTT on a stream that answers as a broker does: turning it on (`config set`, which
# loads its code), the service right after the broker's CONNACK (availability, the state,
# the first discovery message) and a service that publishes the state. A stretch named
# "-" is the setting up between two stalls, not one. Prints one line per stretch, in order:
#   stretch NAME
import gc
import sys

args = [a for a in sys.argv[1:] if not a.startswith("-")]
sys.path.insert(0, ".")
if len(args) > 1:
    sys.path.insert(0, args[1])

sys.path.insert(0, "tools")

from boards.sim.lean import LeanBoard  # noqa: E402
from firmware.controller import Controller  # noqa: E402
from mqtt_fuzz import FakeStream  # noqa: E402

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
stream = FakeStream()
board.tcp_open = lambda host, port: stream
why = ctrl.apply({"mqtt.enabled": True, "mqtt.host": "192.168.1.2"})
names.append("mqtt_enable")  # config set: its code loaded, the client started
callable(0)
if why:
    raise SystemExit("stall_cost: " + why)
tel = ctrl.telemetry
now = board.ticks_ms()
tel.service(now)  # connects: CONNECT written
stream.incoming += b"\x20\x02\x00\x00"  # CONNACK
now = board.ticks_add(now, 1000)
gc.collect()  # the work itself, not a collection it may meet
names.append("-")
callable(0)
tel.service(now)
names.append("mqtt_connect")
callable(0)
for _ in range(80):  # the rest of the discovery, then quiet
    queue = tel.client._queue
    if queue and queue[0][1]:  # its PUBACK, as a broker sends it
        pid = queue[0][2]
        stream.incoming += bytes((0x40, 2, pid >> 8, pid & 255))
    now = board.ticks_add(now, 1000)
    stream.written = bytearray()
    tel.service(now)
tel._t_state = board.ticks_add(now, -3600000)  # the state is due
now = board.ticks_add(now, 1000)
gc.collect()
names.append("-")  # (the rest of the discovery: not one stall)
callable(0)
tel.service(now)
names.append("mqtt_state")
callable(0)
if tel.backlog() or b"/state" not in stream.written:
    raise SystemExit("stall_cost: the state was not published")
for name in names:
    print("stretch", name)
