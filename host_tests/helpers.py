# Small builders shared by the scenario tests.
from boards.sim import scenario
from boards.sim.runner import Simulation


def mains(nominal_v=230, frequency_hz=50, events=(), **kw):
    m = {"nominal_v": nominal_v, "frequency_hz": frequency_hz, "events": list(events)}
    m.update(kw)
    return m


def simulate(duration_s, mains_section, seed=1, config=None, **top):
    data = {"name": top.pop("name", "test"), "duration_s": duration_s, "seed": seed,
            "mains": mains_section, "config": config or {}}
    data.update(top)
    sim = Simulation(scenario.check(data))
    rep = sim.run()
    return rep, sim


def events_named(rep, name):
    return [e for e in rep["timeline"] if e["event"] == name]
