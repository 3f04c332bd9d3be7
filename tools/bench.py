# make bench: the figures the README quotes, measured, never asserted by a timed test.
#
#   python3 tools/bench.py [--out out/bench/results.json]
#
# 1. Detection latency: an interruption and 40 % / 70 % residual dips starting at every
#    phase angle 0-350 deg in 10 deg steps, 50 Hz / 230 V and 60 Hz / 120 V, 8 % THD, 1 %
#    noise. Latency is from the first affected sample to the transfer command, as the
#    plant sees it (so it includes the 1 ms block).
# 2. Heap bytes allocated per block and VM time per block, in the MicroPython unix port
#    (tools/heap_check.py, control loop under heap_lock).
import json
import os
import platform
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from boards.sim import scenario  # noqa: E402
from boards.sim.board import BLOCK_LEN, SAMPLE_RATE_HZ  # noqa: E402
from boards.sim.runner import Simulation  # noqa: E402

SUPPLIES = ((50, 230), (60, 120))
RESIDUALS = (0, 40, 70)
PHASES = range(0, 360, 10)


def latency(freq, volts, residual, phase):
    sc = scenario.check({
        "duration_s": 1.3, "seed": phase + 1,
        "mains": {"nominal_v": volts, "frequency_hz": freq, "thd_pct": 8, "noise_pct": 1,
                  "events": [{"at_s": 1.0, "kind": "dip", "residual_pct": residual,
                              "duration_s": 0.25, "phase_deg": phase}]}})
    lat = Simulation(sc).run()["metrics"]["detection_latency_ms"]
    return lat[0] if lat else None


def latencies():
    out = {}
    for freq, volts in SUPPLIES:
        for residual in RESIDUALS:
            vals = [latency(freq, volts, residual, ph) for ph in PHASES]
            missed = sum(1 for v in vals if v is None)
            got = sorted(v for v in vals if v is not None)
            out["%dHz_%dpct" % (freq, residual)] = {
                "max_ms": got[-1] if got else None,
                "median_ms": got[len(got) // 2] if got else None,
                "missed": missed,
            }
    return out


def heap():
    micropython = os.path.join(os.path.dirname(sys.executable), "micropython")
    out = {}
    for freq in (50, 60):
        p = subprocess.run([micropython, "tools/heap_check.py", str(freq)], cwd=ROOT,
                           capture_output=True, text=True)
        if p.returncode != 0:
            out["%dHz" % freq] = {"error": (p.stderr or p.stdout).strip().splitlines()[-1]}
            continue
        words = p.stdout.split()
        vals = dict(zip(words[0::2], words[1::2]))
        blocks = int(vals["blocks"])
        block_us = 1e6 * BLOCK_LEN / SAMPLE_RATE_HZ
        out["%dHz" % freq] = {
            "blocks": blocks,
            "bytes_per_block": int(vals["bytes"]) / blocks,
            "vm_us_per_block": int(vals["us_per_block"]),
            "vm_share_of_real_time_pct": 100.0 * int(vals["us_per_block"]) / block_us,
        }
    return out


def main(argv):
    out_path = "out/bench/results.json"
    if argv[:1] == ["--out"] and len(argv) > 1:
        out_path = argv[1]
    elif argv:
        sys.stderr.write("bench.py: usage: bench.py [--out FILE]\n")
        return 2
    t0 = time.time()
    results = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": "%s, %s, %d cores" % (platform.machine(), platform.python_implementation()
                                         + " " + platform.python_version(), os.cpu_count() or 0),
        "sample_rate_hz": SAMPLE_RATE_HZ,
        "block_samples": BLOCK_LEN,
        "detection_latency": latencies(),
        "micropython_block_path": heap(),
    }
    results["bench_seconds"] = round(time.time() - t0, 1)
    path = os.path.join(ROOT, out_path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
    print("Detection latency (first affected sample -> transfer command), phases 0-350 deg:")
    print("  %-14s %8s %10s %7s" % ("case", "max ms", "median ms", "missed"))
    for key, v in results["detection_latency"].items():
        print("  %-14s %8s %10s %7d" % (key, v["max_ms"], v["median_ms"], v["missed"]))
    print("MicroPython unix port, control loop under heap_lock:")
    for key, v in results["micropython_block_path"].items():
        if "error" in v:
            print("  %s: FAILED: %s" % (key, v["error"]))
            continue
        print("  %s: %g bytes/block over %d blocks, %d us/block (%.2f %% of real time)" % (
            key, v["bytes_per_block"], v["blocks"], v["vm_us_per_block"],
            v["vm_share_of_real_time_pct"]))
    print("wrote %s (%s)" % (out_path, results["machine"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
