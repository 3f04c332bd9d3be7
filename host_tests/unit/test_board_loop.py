# The board's loop (boards/mcu.py: blocks(), and service() when it says so) against the
# simulations' block-at-a-time step(): the same decisions at the same moments, and on steady
# mains the controller looked at only when something is due.
from boards.sim.replay import ReplayBoard
from firmware.config import Config
from firmware.controller import POLL_MS, SERIAL_MS, TALK_MS, Controller
from firmware.supervisor import REST_MS

OUTAGE = {
    "seed": 7,
    "mains": {
        "nominal_v": 230,
        "frequency_hz": 50,
        "thd_pct": 8,
        "noise_pct": 1,
        "spikes_per_s": 5,
        "events": [
            {"at_s": 1.5, "kind": "dip", "residual_pct": 40, "duration_s": 0.2, "phase_deg": 33},
            {"at_s": 4.0, "kind": "outage", "duration_s": 9.0, "phase_deg": 200},
        ],
    },
}


def _run(by_blocks, end):
    board = ReplayBoard(OUTAGE, 16.0, start_ms=(1 << 30) - 5000)
    board.fires_ms = 1500
    cfg = Config()
    cfg.update({"transfer.return_delay_s": 1, "gen.warmup_s": 2})
    ctrl = Controller(board, cfg)
    go = ctrl.blocks if by_blocks else ctrl.step
    while board.pos < end:
        if go():
            ctrl.service()
    return board, ctrl


def test_blocks_makes_every_decision_step_makes_at_the_same_moment():
    # blocks() first: it may run past where it was asked to stop (up to a second, the idle
    # watch's skip), and step() then goes exactly as far
    b, cb = _run(True, ReplayBoard.sample_rate_hz * 12)
    a, ca = _run(False, b.pos)
    assert a.pos == b.pos
    assert a.out_n >= 8  # to battery, the generator, back: it moved
    assert list(a.out_t[: a.out_n]) == list(b.out_t[: b.out_n])
    assert list(a.out_v[: a.out_n]) == list(b.out_v[: b.out_n])
    assert ca.log.count == cb.log.count and ca.log.recent(64) == cb.log.recent(64)
    assert a.feeds == b.feeds and a.skipped == b.skipped


def test_on_steady_mains_the_controller_wakes_only_when_something_is_due():
    board = ReplayBoard(
        {"seed": 3, "mains": {"thd_pct": 8, "noise_pct": 1, "spikes_per_s": 0, "events": []}}, 5.0
    )
    ctrl = Controller(board, Config())
    while board.pos < 8000:  # two seconds: learnt, settled, the console quiet since boot
        if ctrl.blocks():
            ctrl.service()
    calls = {"blocks": 0, "service": 0, "supervisor": 0}
    step = ctrl.supervisor.step
    due = set()  # when the supervisor or the slow work was due

    def counted(now):
        calls["supervisor"] += 1
        due.add(now)
        step(now)

    ctrl.supervisor.step = counted
    start = board.pos
    while board.pos < start + 8000:  # two seconds
        calls["blocks"] += 1
        if ctrl.blocks():
            calls["service"] += 1
            due.add(board.ticks_ms())
            ctrl.service()
    # (one more of each where the two seconds end in the middle of a stretch); the console
    # quiet, the slow work every POLL_MS
    assert 2000 // POLL_MS <= calls["service"] <= 2000 // POLL_MS + 1
    assert 2000 // REST_MS <= calls["supervisor"] <= 2000 // REST_MS + 1
    # back only when one of them is due; the supervisor on a grid that holds the slow
    # work's, so that every other step comes with it
    assert calls["blocks"] == len(due) < calls["service"] + calls["supervisor"]


class _TalkBoard(ReplayBoard):
    # a console line: what the test types, and what the controller wrote back
    def __init__(self, *args):
        super().__init__(*args)
        self.typed = b""
        self.written = b""

    def serial_read(self, buf):
        n = min(len(buf), len(self.typed))
        buf[:n] = self.typed[:n]
        self.typed = self.typed[n:]
        return n

    def serial_write(self, data):
        self.written += bytes(data)
        return len(data)


def test_the_console_is_served_every_poll_and_quickly_while_it_is_in_use():
    board = _TalkBoard({"seed": 3, "mains": {"thd_pct": 8, "noise_pct": 1, "events": []}}, 6.0)
    ctrl = Controller(board, Config())
    at = []
    service = ctrl.service

    def timed():
        at.append(board.ticks_ms())
        return service()

    def run(ms):
        end = board.pos + ms * 4
        while board.pos < end:
            if ctrl.blocks():
                timed()

    run(2000)
    at.clear()
    run(1000)
    assert {board.ticks_diff(b, a) for a, b in zip(at, at[1:])} == {POLL_MS}
    board.typed = b"status\r"
    at.clear()
    run(2000)
    typed = at[0]  # the line is read at the first service, within POLL_MS
    assert board.written.startswith(b"OK mode auto")
    gaps = [(board.ticks_diff(a, typed), board.ticks_diff(b, a)) for a, b in zip(at, at[1:])]
    # then the console is served in the next block, every SERIAL_MS for TALK_MS, and every
    # POLL_MS again
    assert gaps[0] == (0, 1)
    assert {g for t, g in gaps[1:] if t < TALK_MS} == {SERIAL_MS}
    assert {g for t, g in gaps if t >= TALK_MS + SERIAL_MS} == {POLL_MS}
    assert len(gaps) >= TALK_MS // SERIAL_MS + 10


def test_the_phase_bench_goes_through_every_phase_in_micropython():
    # make bench counts each phase's instructions on this run (tools/phase_cost.py): it must
    # still reach each one, in the VM it is counted in.
    from conftest import run_micropython

    p = run_micropython(["tools/phase_cost.py"], timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    blocks = {}
    read = {}
    for line in p.stdout.splitlines():
        _, name, n, r = line.split()
        blocks[name] = blocks.get(name, 0) + int(n)
        read[name] = read.get(name, 0) + int(r)
    for name in ("steady", "moving", "other", "cranking", "on_generator", "learning", "idle"):
        assert blocks.get(name, 0) >= 10, (name, blocks)
    assert blocks["steady"] >= 1900 and blocks["cranking"] >= 1900  # whole stretches
    # an outage the battery carries: its start delay read through (a battery found dead
    # would skip it), the dead time looked away from, the idle watch reading nothing
    assert read["other"] >= 2900 and read["steady"] == blocks["steady"]
    assert 10 <= read["moving"] < blocks["moving"] // 2 and read["idle"] == 0


def test_no_flash_write_while_the_ups_relay_is_in_flight():
    # A batch of events waiting to be written and the slow work due, just as the UPS relay
    # is told to move: the write waits for the relay to land (a write can hold a board's CPU for
    # milliseconds), then comes.
    from boards.sim import scenario
    from boards.sim.runner import Simulation
    from firmware import eventlog, events

    sim = Simulation(
        scenario.check(
            {
                "name": "move",
                "duration_s": 6,
                "seed": 2,
                "mains": {
                    "thd_pct": 3,
                    "noise_pct": 0.5,
                    "events": [{"at_s": 3.0, "kind": "outage", "duration_s": 2}],
                },
            }
        )
    )
    ctrl = sim.controller
    fs = sim.board.fs
    writes = []
    for name in ("write", "append", "rename"):
        real = getattr(fs, name)

        def watched(*a, _real=real):
            writes.append(sim.board.t_us)
            return _real(*a)

        setattr(fs, name, watched)
    while not ctrl.transfer.moving():
        sim.run_until(sim.board.t_us / 1e6 + 0.001)
    moved_at = sim.board.t_us
    now = sim.board.ticks_ms()
    for _ in range(eventlog.BATCH):  # a whole batch: written when seen
        ctrl.log.add(now, events.EV_CLOCK_SET, 0)
    ctrl._t_poll = sim.board.ticks_add(now, -1000)
    del writes[:]
    assert ctrl.service() and ctrl.transfer.moving() and writes == []
    sim.run_until(sim.board.t_us / 1e6 + 0.1)
    assert not ctrl.transfer.moving() and writes and writes[0] > moved_at


def test_the_heap_is_collected_when_nothing_is_being_decided():
    # A heap always short of room: the controller collects it between blocks, but never
    # while the source contactors move (their dead time included) or the UPS relay is in
    # flight, nor with a run of deviating samples under way (spikes start many).
    from boards.sim import scenario
    from boards.sim.runner import Simulation

    sim = Simulation(
        scenario.check(
            {
                "name": "gc",
                "duration_s": 40,
                "seed": 5,
                "generator": {"present": True},
                "config": {
                    "transfer.return_delay_s": 3,
                    "gen.warmup_s": 2,
                    "gen.cooldown_s": 2,
                    "ats.dead_time_ms": 3000,
                },
                "mains": {
                    "thd_pct": 5,
                    "noise_pct": 1,
                    "spikes_per_s": 200,
                    "events": [{"at_s": 3, "kind": "outage", "duration_s": 20}],
                },
            }
        )
    )
    ctrl = sim.controller
    sup = ctrl.supervisor
    seen = []
    heap = [20000]  # free bytes: 1.1 KB taken between two looks

    def mem_free():
        heap[0] -= 1100
        return heap[0]

    def collect():
        seen.append((sup.ats.settled(), ctrl.transfer.moving(), ctrl.monitor.need))
        heap[0] = 20000

    ctrl._mem_free = mem_free
    ctrl._collect = collect
    rep = sim.run()
    names = [e["event"] for e in rep["timeline"]]
    assert "load_to_generator" in names and names.count("load_to_mains") >= 1
    assert len(seen) > 10 and ctrl.collections == len(seen)
    assert all(s == (True, False, 4) for s in seen)
    # looked at once a second, and collected not at every look: only once 2 KB more is
    # taken (2 looks here)
    assert len(seen) <= 40 // 2


_COLLECT = """
import gc, sys
sys.path.insert(0, '.')
from boards.sim.replay import ReplayBoard
from firmware.config import Config
from firmware.controller import Controller
board = ReplayBoard({'seed': 5, 'mains': {'thd_pct': 5, 'noise_pct': 1,
    'events': [{'at_s': 3, 'kind': 'outage', 'duration_s': 4}]}}, 16.0)
cfg = Config()
cfg.update({'transfer.return_delay_s': 2})
ctrl = Controller(board, cfg)
gc.collect()
ballast = []  # live data up to 40 KB free, as on a board
try:
    while gc.mem_free() > 40 * 1024:
        ballast.append(bytearray(500))
except MemoryError:
    pass
second = 0
junk = None
while board.pos < board.n - 4000:
    if ctrl.blocks():
        ctrl.service()
    if board.pos // 4000 != second:
        second = board.pos // 4000
        junk = [bytearray(100) for _ in range(40)]  # about 5 KB of garbage a second
print(ctrl.collections, board.out_n)
"""


def test_the_controller_collects_a_real_heap_in_micropython():
    # The unix port's own mem_free and collect: live data up to 40 KB free and about 5 KB
    # of garbage a second, through an outage and the return. The controller's look once a
    # second finds less than 24 KB free before the heap runs out, and collects.
    from conftest import run_micropython

    p = run_micropython(["-X", "heapsize=1500k", "-c", _COLLECT], timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    collections, outputs = (int(w) for w in p.stdout.split())
    assert collections >= 5 and outputs >= 4  # the load moved off mains and back


def test_the_stall_bench_runs_each_stretch_in_micropython(tmp_path):
    # make bench counts these under callgrind (tools/stall_cost.py): each must still run.
    from conftest import run_micropython

    p = run_micropython(["-X", "heapsize=1m", "tools/stall_cost.py", str(tmp_path)], timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.split() == [
        "stretch",
        "gc_collect",
        "stretch",
        "supervisor_step",
        "stretch",
        "service",
        "stretch",
        "console_status",
        "stretch",
        "heap_look",
        "stretch",
        "mqtt_enable",
        "stretch",
        "-",
        "stretch",
        "mqtt_connect",
        "stretch",
        "-",
        "stretch",
        "mqtt_state",
    ]


def test_the_sample_interrupt_bench_runs_in_micropython():
    # make bench counts the ESP32's handler under callgrind (tools/isr_cost.py)
    from conftest import run_micropython

    p = run_micropython(["tools/isr_cost.py"], timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.split() == [
        "stretch",
        "empty_handler",
        "4000",
        "stretch",
        "esp32_sample_isr",
        "4000",
    ]
