# The firmware's own heap in the MicroPython VM, through the three-hour demo on a lean
# plant (boards/sim/lean.py) that allocates nothing once built:
#
#   micropython [-X heapsize=N] tools/heap_peak.py FS_DIR [LIB] [--boot-only] [--budget=BYTES]
#                                                  [--mqtt=PORT]
#
# LIB: a folder holding the compiled firmware (out/build/BOARD/lib from make build), so
# that the firmware's code is loaded as on a board that keeps it in its filesystem; without
# it the sources are compiled here. Prints one line:
#   base B plant P code C data_boot D data_end E sim_s S state T generator G starts N
#   capacity H free_at_start F
# base: the interpreter's own heap at the start; plant: the lean plant; code: the
# firmware's modules once imported (on a board with the firmware frozen into its image,
# manifest.py, this stays in flash); data_boot / data_end: the firmware's objects after
# boot and after the three hours (the run ends 2 minutes after mains returns); capacity:
# what the GC heap holds in all (less than heapsize: its tables take a share).
# --budget=BYTES: once the code is in, ballast fills the heap, then leaves one contiguous
# stretch of BYTES free (a block of that size is taken, everything else filled, the block
# freed: nothing else is free); finishing at all then proves the firmware never held more
# than that at once (the GC collects before it gives up).
# --mqtt=PORT: MQTT telemetry enabled (mqtt.enabled, set as the console's `config set`
# does, after boot), to a broker on 127.0.0.1:PORT through the board's real TCP stream
# (boards/net.py). Its code is imported with the rest before the ballast; its objects,
# queue and socket count as the firmware's. Adds: connects N delivered D dropped P.
import gc
import sys
import time

gc.collect()
base = gc.mem_alloc()
args = [a for a in sys.argv[1:] if not a.startswith("--")]
boot_only = "--boot-only" in sys.argv
budget = 0
mqtt_port = 0
for a in sys.argv[1:]:
    if a.startswith("--budget="):
        budget = int(a[9:])
    elif a.startswith("--mqtt="):
        mqtt_port = int(a[7:])
sys.path.insert(0, ".")
if len(args) > 1:
    sys.path.insert(0, args[1])


def _fill(size, chain):
    # Pieces of size bytes until the heap is full, chained (piece, rest) rather than kept
    # in a list: a growing list would move its array between them.
    try:
        while True:
            chain = (bytearray(size), chain)
    except MemoryError:
        return chain


from boards.sim.lean import LeanBoard  # noqa: E402

board = LeanBoard(args[0])
if mqtt_port:
    from boards import net

    board.tcp_open = net.tcp_open
gc.collect()
plant = gc.mem_alloc()

from firmware.controller import Controller  # noqa: E402

if mqtt_port:
    import firmware.telemetry  # noqa: E402,F401

gc.collect()
code = gc.mem_alloc()
big = small = reserve = client = None  # names made now: with the heap full, a new global fails
if budget:
    # Fill the heap to the last byte, holes between the code's objects included; give back
    # the last big pieces taken until one block of the budget can be had, take it, fill
    # all else again, then free that block: what is free is that one stretch and nothing
    # else.
    big = _fill(4000, None)
    small = _fill(16, None)
    while reserve is None:
        try:
            reserve = bytearray(budget - 320)  # with what the fill leaves, at most budget
        except MemoryError:
            if big is None:
                raise SystemExit("heap too small to leave %d bytes in one stretch" % budget)
            big = big[1]
            gc.collect()
    small = _fill(16, small)
    reserve = None
    gc.collect()
    code = gc.mem_alloc()  # the ballast is not the firmware's
free_at_start = gc.mem_free()
ctrl = Controller(board)
if mqtt_port:
    err = ctrl.apply({"mqtt.enabled": True, "mqtt.host": "127.0.0.1", "mqtt.port": mqtt_port})
    assert err is None, err
gc.collect()
boot = gc.mem_alloc()
end = 0 if boot_only else (60 + 10800 + 120) * 1000
step = ctrl.step
service = ctrl.service
if mqtt_port:
    # The board's clock runs far faster than the network's here: it stands still (a
    # block at a time, 1 ms of wall time each) while the client waits for the broker, as
    # a real board's loop would go on at the wall clock's pace, so that a loaded host
    # never looks like a dead broker.
    client = ctrl.telemetry.client
    while board.ms < end:
        if step():
            service()
        if client.awaiting():
            time.sleep_ms(1)
else:
    while board.ms < end:
        if step():
            service()
gc.collect()
after = gc.mem_alloc()
print(
    "base",
    base,
    "plant",
    plant - base,
    "code",
    code - plant,
    "data_boot",
    boot - code,
    "data_end",
    after - code,
    "sim_s",
    board.ms // 1000,
    "state",
    ctrl.transfer.state,
    "generator",
    ctrl.gen.state,
    "starts",
    ctrl.gen.fired,
    "capacity",
    gc.mem_alloc() + gc.mem_free(),
    "free_at_start",
    free_at_start,
)
if mqtt_port:
    c = ctrl.telemetry.client
    print("connects", c.connects, "delivered", c.delivered, "dropped", c.dropped)
