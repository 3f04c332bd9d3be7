# Random sequences of mains events, operator commands (modes, drills, manual starts),
# controller restarts and waits against random batteries, loads and generators, with a
# daily generator exercise falling due among them, and the safety invariants checked all
# along (hypothesis stateful testing).
from hypothesis import settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from boards.sim import scenario
from boards.sim.runner import Simulation
from firmware import clock
from firmware import generator as gen_sm
from firmware import supervisor as sup_sm


def _event(**ev):
    return scenario.check({"mains": {"events": [ev]}})["mains"]["events"][0]


class Site(RuleBasedStateMachine):
    @initialize(
        capacity=st.sampled_from([20, 50, 100]),
        health=st.sampled_from([30, 60, 100]),
        watts=st.sampled_from([500, 1500, 3000]),
        failed=st.integers(0, 3),
        fails=st.booleans(),
        delay=st.sampled_from([0, 3, 30]),
        seed=st.integers(1, 1000),
        on_load=st.booleans(),
    )
    def build(self, capacity, health, watts, failed, fails, delay, seed, on_load):
        sc = scenario.check(
            {
                "duration_s": 600000,
                "seed": seed,
                "mains": {"nominal_v": 230, "frequency_hz": 50, "thd_pct": 3, "noise_pct": 0.5},
                "battery": {"capacity_ah": capacity, "health_pct": health},
                "load": {"watts": watts},
                "generator": {"present": True, "failed_attempts": failed, "fails_to_start": fails},
                "start_time": "2026-11-24T09:59:00",
                "config": {
                    "gen.start_delay_s": delay,
                    "transfer.return_delay_s": 5,
                    "exercise.every_d": 1,
                    "exercise.at_min": 600,
                    "exercise.run_s": 600,
                    "exercise.on_load": on_load,
                },
            }
        )
        self.sim = Simulation(sc)
        self.t = 0.0
        self.gen_works = not fails and failed < self.sim.cfg.get("gen.attempts")
        self.late_since = None
        self.starts_at_shutdown = None
        self._advance(2.0)

    def _advance(self, secs):
        # In 0.5 s steps, so that the runtime invariant is checked all along.
        end = self.t + secs
        while self.t < end:
            self.t = min(end, self.t + 0.5)
            self.sim.run_until(self.t)
            ctrl = self.sim.controller
            sup = ctrl.supervisor
            runtime = ctrl.battery.runtime_s
            on_batt = ctrl.transfer.on_battery()
            automatic = sup.mode in (sup_sm.AUTO, sup_sm.TEST)
            late = (
                automatic
                and self.gen_works
                and on_batt
                and runtime < sup.start_to_load_s
                and not ctrl.gen.committed()
                and not ctrl.gen.tripped()
            )
            if late:
                if self.late_since is None:
                    self.late_since = self.t
                # the estimate is refreshed once a second: allow it that long
                assert self.t - self.late_since <= 1.5, (runtime, gen_sm.NAMES[ctrl.gen.state])
            else:
                self.late_since = None

    @rule(dur=st.floats(0.01, 900), phase=st.sampled_from(range(0, 360, 45)))
    def outage(self, dur, phase):
        self.sim.board.mains.inject(_event(kind="outage", duration_s=dur, phase_deg=phase))
        self._advance(min(dur, 120) + 0.5)

    @rule(residual=st.sampled_from([0, 40, 70, 80]), dur=st.floats(0.01, 5))
    def dip(self, residual, dur):
        self.sim.board.mains.inject(_event(kind="dip", residual_pct=residual, duration_s=dur))
        self._advance(dur + 0.5)

    @rule(secs=st.floats(1, 240))
    def wait(self, secs):
        self._advance(secs)

    @rule(
        line=st.sampled_from(
            [
                "mode auto",
                "mode manual",
                "mode off",
                "drill",
                "gen start",
                "gen stop",
                "status",
                "alarms",
                "mode bogus",
            ]
        )
    )
    def command(self, line):
        reply = self.sim.controller.command(line)
        assert reply.startswith("OK") or reply.startswith("ERR"), reply
        assert "\n" not in reply
        self._advance(0.5)

    @rule()
    def exercise_time(self):
        # The clock moves to just before the next daily exercise (10:00).
        board = self.sim.board
        day = board.time_s() // clock.DAY_S
        board.set_time((day + 1) * clock.DAY_S + 600 * 60 - 2)
        self._advance(5)

    @rule(down=st.sampled_from([0, 0.3, 2, 10]))
    def restart(self, down):
        # The controller resets (watchdog, power blip): outputs drop, the firmware boots.
        self.sim.restart(down)
        self.t = self.sim.board.t_us / 1e6
        self.starts_at_shutdown = None  # a latched alarm does not survive a restart
        self._advance(0.5)

    @precondition(lambda self: hasattr(self, "sim"))
    @invariant()
    def no_exercise_or_drill_with_a_latched_shutdown(self):
        ctrl = self.sim.controller
        if ctrl.alarms.latched_shutdown():
            assert not ctrl.supervisor.exercise.running()
            assert ctrl.supervisor.mode != sup_sm.TEST

    @precondition(lambda self: hasattr(self, "sim"))
    @invariant()
    def never_two_sources_and_no_starter_on_a_running_engine(self):
        b = self.sim.board
        assert b.source_conflicts == 0
        assert b.gen.starter_while_running == 0
        assert not (b.k_mains.closed and b.k_gen.closed)

    @precondition(lambda self: hasattr(self, "sim"))
    @invariant()
    def no_crank_once_a_shutdown_is_latched(self):
        ctrl = self.sim.controller
        if ctrl.alarms.latched_shutdown():
            if self.starts_at_shutdown is None:
                self.starts_at_shutdown = ctrl.gen.starts
            assert ctrl.gen.starts == self.starts_at_shutdown
            assert not self.sim.board.gen.start


TestSite = Site.TestCase
TestSite.settings = settings(max_examples=15, stateful_step_count=10, deadline=None)
