# Small builders shared by the scenario tests.
from boards.sim import scenario
from boards.sim.runner import Simulation


def one_block(buf, n, now):
    # the process a board's read_block calls (hal.py) that takes one block and stops
    return 1


def mains(nominal_v=230, frequency_hz=50, events=(), **kw):
    m = {"nominal_v": nominal_v, "frequency_hz": frequency_hz, "events": list(events)}
    m.update(kw)
    return m


def simulate(duration_s, mains_section, seed=1, config=None, stop_after=None, **top):
    """Run a scenario; with stop_after=EVENT, end 60 s after that plant or firmware event."""
    data = {
        "name": top.pop("name", "test"),
        "duration_s": duration_s,
        "seed": seed,
        "mains": mains_section,
        "config": config or {},
    }
    data.update(top)
    sim = Simulation(scenario.check(data))
    if stop_after is None:
        rep = sim.run()
        _loop_kept_up(rep)
        return rep, sim
    t = 0
    while t < duration_s:
        t = min(duration_s, t + 60)
        sim.run_until(t)
        if any(e["event"] == stop_after for e in sim.board.timeline):
            sim.run_until(min(duration_s, t + 60))
            break
    sim.board.finish()
    rep = sim.report()
    _loop_kept_up(rep)
    return rep, sim


def _loop_kept_up(rep):
    # Every scenario: the control loop fed the board's watchdog in time all along (a real
    # board would have been reset at a late feed).
    assert rep["metrics"]["watchdog_late_feeds"] == 0, rep["metrics"]["max_feed_gap_ms"]


def events_named(rep, name):
    return [e for e in rep["timeline"] if e["event"] == name]
