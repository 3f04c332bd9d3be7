# The firmware on the real MicroPython VM: the same timelines as CPython, no allocation on
# the control path, and it compiles for both targets.
import glob
import json
import os
import subprocess
import sys

import pytest

from conftest import MPY_CROSS, ROOT, run_micropython


@pytest.mark.parametrize("freq", [50, 60])
def test_control_loop_allocates_nothing_under_heap_lock(freq):
    p = run_micropython(["tools/heap_check.py", str(freq)], timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    words = p.stdout.split()
    result = dict(zip(words[0::2], words[1::2]))
    assert int(result["blocks"]) > 6000
    assert int(result["bytes"]) == 0
    # the locked stretch went through transfers both ways and a generator start, not just
    # quiet mains
    assert int(result["outputs"]) >= 8
    assert int(result["cranks"]) >= 1
    assert int(result["events"]) >= 12
    assert int(result["sensor_alarms"]) == 2  # the sensor-fault paths ran locked too


_SCENARIOS = [
    {
        "name": "wrap-50",
        "duration_s": 14,
        "seed": 5,
        "start_ticks_ms": (1 << 30) - 6000,
        "board": {"profile": "rp2040"},  # the loop charged: both VMs alike
        "mains": {
            "nominal_v": 230,
            "frequency_hz": 50,
            "thd_pct": 6,
            "noise_pct": 1.5,
            "spikes_per_s": 3,
            "events": [
                {
                    "at_s": 2,
                    "kind": "dip",
                    "residual_pct": 40,
                    "duration_s": 0.2,
                    "phase_deg": 135,
                },
                {"at_s": 7, "kind": "outage", "duration_s": 3, "phase_deg": 270},
            ],
        },
        "config": {"transfer.return_delay_s": 2},
    },
    {
        "name": "freq-60",
        "duration_s": 12,
        "seed": 9,
        "mains": {
            "nominal_v": 120,
            "frequency_hz": 60,
            "thd_pct": 3,
            "noise_pct": 0.5,
            "events": [
                {
                    "at_s": 2,
                    "kind": "frequency",
                    "frequency_hz": 57,
                    "duration_s": 3,
                    "ramp_s": 0.5,
                },
                {"at_s": 9, "kind": "swell", "level_pct": 130, "duration_s": 0.5, "phase_deg": 0},
            ],
        },
        "config": {"transfer.return_delay_s": 1, "mains.fast_trip_pct": 30},
    },
    {
        "name": "generator-drill",
        "duration_s": 150,
        "seed": 4,
        "mains": {
            "nominal_v": 230,
            "frequency_hz": 50,
            "thd_pct": 4,
            "noise_pct": 1,
            "events": [{"at_s": 3, "kind": "outage", "duration_s": 40, "phase_deg": 45}],
        },
        "battery": {"capacity_ah": 40, "health_pct": 70},
        "generator": {"present": True, "failed_attempts": 1},
        "config": {"drill.duration_s": 40, "transfer.return_delay_s": 5},
        "console": [
            {"at_s": 1, "line": "status"},
            {"at_s": 70, "line": "mode turbo"},
            {"at_s": 75, "line": "drill"},
        ],
    },
    {
        "name": "exercise-reboot",
        "duration_s": 170,
        "seed": 2,
        "start_time": "2026-11-24T09:59:50",
        "mains": {"nominal_v": 230, "frequency_hz": 50, "thd_pct": 3, "noise_pct": 1},
        "generator": {"present": True},
        "config": {"exercise.run_s": 120, "exercise.on_load": True, "maint.relay_ops": 4},
        "resets": [{"at_s": 60, "down_s": 2}],
        "console": [
            {"at_s": 1, "line": "exercise"},
            {"at_s": 165, "line": "counters"},
            {"at_s": 166, "line": "counters reset relays"},
        ],
    },
]


@pytest.mark.parametrize("sc", _SCENARIOS, ids=[s["name"] for s in _SCENARIOS])
def test_same_timeline_under_cpython_and_micropython(tmp_path, sc):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(sc))
    reports = {}
    for name, cmd in (
        ("cpython", [sys.executable, "tools/sim.py"]),
        (
            "micropython",
            [os.path.join(os.path.dirname(sys.executable), "micropython"), "tools/sim.py"],
        ),
    ):
        out = tmp_path / (name + ".json")
        p = subprocess.run(
            cmd + [str(path), "--report", str(out), "--quiet"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert p.returncode == 0, p.stderr
        reports[name] = json.loads(out.read_text())
    cp, mp = reports["cpython"], reports["micropython"]
    assert cp["interpreter"] == "cpython" and mp["interpreter"] == "micropython"
    assert len(cp["timeline"]) >= 6
    assert cp["timeline"] == mp["timeline"]
    assert cp["metrics"] == mp["metrics"]
    names = [e["event"] for e in cp["timeline"]]
    assert "load_to_battery" in names and "load_to_mains" in names


@pytest.mark.parametrize("arch", ["xtensawin", "armv6m"])
def test_firmware_compiles_with_mpy_cross(tmp_path, arch):
    files = sorted(glob.glob(os.path.join(ROOT, "firmware", "*.py")))
    assert len(files) >= 6
    for f in files:
        out = tmp_path / (os.path.basename(f)[:-3] + ".mpy")
        p = subprocess.run(
            [MPY_CROSS, "-march=" + arch, "-o", str(out), f], capture_output=True, text=True
        )
        assert p.returncode == 0, f + ": " + p.stderr
        assert out.stat().st_size > 0
