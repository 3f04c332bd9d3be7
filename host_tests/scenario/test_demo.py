# The demo scenario, as `make demo` runs it: the timeline an operator reads, the report
# and the plot; and the same report from the MicroPython VM.
import json
import os
import subprocess
import sys

from conftest import MICROPYTHON, ROOT

DEMO = "scenarios/demo-3h-outage.json"
METRICS = (
    "max_load_interruption_ms",
    "itic_violations",
    "load_dropped",
    "transfers_to_battery",
    "transfers_to_generator",
    "detection_latency_ms",
    "generator_start_attempts",
    "min_battery_soc_pct",
    "battery_depleted",
    "lb_lead_s",
    "alarms",
)


def test_demo_prints_the_story_and_writes_report_and_plot(tmp_path):
    report, png = tmp_path / "demo" / "report.json", tmp_path / "demo" / "timeline.png"
    p = subprocess.run(
        [sys.executable, "tools/sim.py", DEMO, "--report", str(report), "--plot", str(png)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=dict(os.environ, MPLBACKEND="Agg"),
        timeout=600,
    )
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "demo-3h-outage (cpython)"
    story = [ln.split()[1] for ln in lines[1:] if ln.startswith("  ")]
    # the operator's story, in order: a dip rides on battery; the long outage starts the
    # generator, the first crank fails, the second fires, the load goes to the generator,
    # mains returns, the return delay runs, the load goes back, cooldown, stop
    want = [
        "mains_lost",
        "load_to_battery",
        "mains_restored",
        "load_to_mains",
        "mains_lost",
        "load_to_battery",
        "generator_start",
        "generator_crank",
        "generator_crank",
        "engine_running",
        "generator_ready",
        "load_to_generator",
        "mains_restored",
        "load_to_battery",
        "load_to_mains",
        "generator_stop",
        "engine_stopped",
    ]
    it = iter(story)
    assert all(w in it for w in want), story
    assert story.count("generator_crank") == 2
    assert lines[1].startswith("  00:00:00.000  boot")
    assert lines[2].startswith("  00:00:20.")  # simulated clock, not wall clock
    rep = json.loads(report.read_text())
    assert rep["scenario"] == "demo-3h-outage" and rep["interpreter"] == "cpython"
    m = rep["metrics"]
    assert set(METRICS) <= set(m)
    assert m["itic_violations"] == 0 and not m["load_dropped"]
    assert m["transfers_to_battery"] == 3 and m["transfers_to_generator"] == 1
    assert m["generator_start_attempts"] == 2
    assert all(x <= 4.0 for x in m["detection_latency_ms"])
    assert not m["battery_depleted"] and m["lb_lead_s"] is None
    assert m["source_conflicts"] == 0 and m["starter_while_running"] == 0
    # the 40 % dip at 20 s was over before the start delay: no start for it
    first_start = [e for e in rep["timeline"] if e["event"] == "generator_start"][0]["t_ms"]
    assert first_start > 60000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20000


def test_demo_report_is_the_same_from_micropython(tmp_path):
    outs = {}
    for name, exe in (("cpython", sys.executable), ("micropython", MICROPYTHON)):
        out = tmp_path / (name + ".json")
        p = subprocess.run(
            [exe, "tools/sim.py", DEMO, "--report", str(out), "--quiet"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert p.returncode == 0, p.stderr
        outs[name] = json.loads(out.read_text())
    assert outs["cpython"]["timeline"] == outs["micropython"]["timeline"]
    assert outs["cpython"]["metrics"] == outs["micropython"]["metrics"]
