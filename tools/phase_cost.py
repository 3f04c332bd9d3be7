# Machine instructions per block in each phase of the board's loop, to be counted from
# outside in the MicroPython unix port (make bench):
#
#   valgrind --tool=callgrind --dump-before=mp_builtin_callable micropython tools/phase_cost.py
#
# The input: ordinary mains (harmonics, noise, spikes), a 12 s outage from 3 s on that the
# battery carries (hours of it: no hurry) and a generator that fires after 2 s of
# cranking: learning at boot, steady mains, the relays moving, the start delay, cranking,
# the contactors' dead time and the warm-up, the load on the generator, mains back and
# learned again under the generator. A first pass runs the board's loop (blocks(), and
# service() when due) and notes the phase at each return; the second, on a fresh board and
# controller with the same input, runs the same loop and calls callable() where the phase
# changes, so that callgrind writes the instructions of each stretch to a file of its own
# (the nth call ends file n + 1). Prints one line per stretch, in order, with the blocks it
# took and how many of them the loop read (the rest the idle watch skipped):
#   stretch PHASE BLOCKS READ
import gc
import sys

sys.path.insert(0, ".")

from boards.sim.replay import ReplayBoard  # noqa: E402
from firmware import ats, generator, supervisor, transfer  # noqa: E402
from firmware import mains_monitor as mm  # noqa: E402
from firmware.controller import Controller  # noqa: E402

SECONDS = 17.0
BOOT_BLOCKS = 1000  # boot, first learning, first-call caches: not a phase
SCENARIO = {
    "seed": 3,
    "mains": {
        "nominal_v": 230,
        "frequency_hz": 50,
        "thd_pct": 8,
        "noise_pct": 1,
        "spikes_per_s": 5,
        "events": [{"at_s": 3.0, "kind": "outage", "duration_s": 12.0}],
    },
}


def _steady(sup):
    # The load on good mains, the engine at rest and nothing under way.
    return (
        sup.mode == supervisor.AUTO
        and not sup.outage
        and not sup.remote
        and sup.monitor.ok()
        and sup.transfer.state == transfer.ON_UTILITY
        and sup.ats.settled()
        and sup.ats.closed() == ats.MAINS
        and sup.gen.state == generator.IDLE
        and not sup.exercise.running()
        and sup.selftest.state == 0
        and sup.shutdown.state == 0
    )


def phase(ctrl, pos):
    sup = ctrl.supervisor
    if pos < BOOT_BLOCKS * 4:
        return "boot"
    if ctrl.transfer.moving() or not sup.ats.settled():
        return "moving"  # a relay or contactor, and the dead time, looked away or not
    if ctrl._idle:
        return "idle"  # the idle watch: samples skipped, not read
    if sup.gen.state == generator.CRANK:
        return "cranking"
    if ctrl.monitor.state == mm.LEARN:
        return "learning"
    if sup.ats.closed() == ats.GEN and sup.transfer.state == transfer.ON_UTILITY:
        return "on_generator"
    if _steady(sup):
        return "steady"
    return "other"  # on battery, start delay, warm-up


def board():
    b = ReplayBoard(SCENARIO, SECONDS, start_ms=(1 << 30) - 4000)
    b.fires_ms = 2000
    b.load_ma = 20000  # about 1 kW from a 48 V bank: hours of it, no hurry
    return b


def _no_look():
    # The controller's look at the heap (gc.mem_free, once a second) walks the whole heap:
    # on the unix port's 2 MB heap it would count eight times a board's. It is counted on
    # its own in tools/stall_cost.py, in a heap of a board's size; here it finds plenty.
    return 1 << 20


def controller(b):
    c = Controller(b)
    c._mem_free = _no_look
    return c


def loop(b, ctrl, at_return):
    # the board's loop (boards/mcu.py) until the replay runs out
    blocks = ctrl.blocks
    service = ctrl.service
    end = b.n - 4 * b.block_len
    while b.pos < end:
        if blocks():
            service()
        at_return(b.pos)


first = board()
ctrl = controller(first)
changes = []  # (position, phase from there on)


def note(pos):
    ph = phase(ctrl, pos)
    if not changes or changes[-1][1] != ph:
        changes.append((pos, ph))


loop(first, ctrl, note)
first = ctrl = None  # the second replay takes the first one's room
gc.collect()
second = board()
ctrl = controller(second)
marks = [pos for pos, _ in changes[1:]]
k = [0, 0, 0]  # next mark, position of the last one, ms skipped until then


def stretch(i, pos):
    # the stretch from the last mark to pos
    blocks = (pos - k[1]) // second.block_len
    skipped = (second.skipped_ms - k[2]) * 4 // second.block_len
    print("stretch %s %d %d" % (changes[i][1], blocks, blocks - skipped))


def mark(pos):
    i = k[0]
    if i < len(marks) and pos == marks[i]:
        callable(0)
        if i:
            stretch(i, pos)
        k[0] = i + 1
        k[1] = pos
        k[2] = second.skipped_ms


loop(second, ctrl, mark)
callable(0)
if k[0]:
    stretch(k[0], second.pos)
