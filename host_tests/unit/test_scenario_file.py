import json
import subprocess
import sys

import pytest

from boards.sim import scenario
from conftest import ROOT, run_micropython

SIM = [sys.executable, "tools/sim.py"]


@pytest.mark.parametrize(
    "data, words",
    [
        ({"durations": 5}, ["durations", "not a known key", "duration_s"]),
        ({"duration_s": -1}, ["duration_s = -1", "out of range"]),
        ({"duration_s": "long"}, ["duration_s", "not a number"]),
        (
            {"mains": {"events": [{"at_s": 1, "kind": "blip"}]}},
            ["mains.events[0].kind", "blip", "dip, frequency, outage, swell"],
        ),
        (
            {"mains": {"events": [{"at_s": 1, "kind": "dip", "residual_pct": 130}]}},
            ["mains.events[0].residual_pct = 130", "0..100"],
        ),
        (
            {"mains": {"events": [{"at_s": 1, "kind": "dip", "level_pct": 80}]}},
            ["mains.events[0].level_pct", "not a known key", "residual_pct"],
        ),
        (
            {"mains": {"events": [{"at_s": 1, "kind": "frequency"}]}},
            ["mains.events[0].frequency_hz", "missing"],
        ),
        ({"mains": {"harmonics": {"1": 3}}}, ["mains.harmonics", "order", "2..40"]),
        ({"battery": {"capacity_ah": 0}}, ["battery.capacity_ah = 0", "1..10000"]),
        ({"generator": {"present": "yes"}}, ["generator.present", "true or false"]),
        ({"start_ticks_ms": 2**30}, ["start_ticks_ms", "0..1073741823"]),
        (
            {"console": [{"at": 1, "line": "status"}]},
            ["console[0].at", "not a known key", "at_s, line"],
        ),
        ({"console": [{"at_s": 1, "line": 5}]}, ["console[0].line", "not a string"]),
        ({"board": {"profile": "pentium"}}, ["board.profile", "'pentium'", "host, esp32, rp2040"]),
        ({"board": {"profile": "rp2040x0"}}, ["board.profile", "slowdown of 1-100"]),
        ({"board": {"profile": 3}}, ["board.profile = 3", "not a string"]),
    ],
)
def test_invalid_scenarios_name_the_key_and_what_is_allowed(data, words):
    with pytest.raises(scenario.ScenarioError) as err:
        scenario.check(data)
    msg = str(err.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg


def test_missing_keys_take_the_documented_defaults():
    sc = scenario.check({})
    assert sc["duration_s"] == 60
    assert sc["mains"]["nominal_v"] == 230
    assert sc["mains"]["frequency_hz"] == 50
    assert sc["relays"]["operate_ms"] == 8
    assert sc["battery"]["capacity_ah"] == 100
    assert sc["mains"]["events"] == []


def _write(tmp_path, data):
    p = tmp_path / "s.json"
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(p)


@pytest.mark.parametrize("interp", ["cpython", "micropython"])
@pytest.mark.parametrize(
    "content, words",
    [
        (
            {
                "mains": {
                    "nominal_v": 230,
                    "events": [{"at_s": 1, "kind": "dip", "phase_deg": 400}],
                }
            },
            ["mains.events[0].phase_deg = 400", "0..360"],
        ),
        ('{"duration_s": 5,', ["not valid JSON"]),
        ({"config": {"mains.uv_pct": 99}}, ["config", "mains.uv_pct = 99", "60..95"]),
        ({"config": {"no.such": 1}}, ["config", "unknown setting no.such"]),
        # numbers that are not finite, anywhere; nesting no parser takes
        ('{"load": {"watts": NaN}}', ["load.watts = NaN", "out of range"]),
        ('{"mains": {"events": [{"at_s": NaN, "kind": "outage"}]}}', ["mains.events[0].at_s"]),
        ('{"duration_s": 1e400}', ["duration_s", "out of range"]),
        ('{"battery": {"capacity_ah": -Infinity}}', ["battery.capacity_ah", "out of range"]),
        ('{"config": {"battery.peukert": NaN}}', ["config", "battery.peukert", "allowed"]),
        ('{"config": {"transfer.return_delay_s": 1e400}}', ["config", "transfer.return_delay_s"]),
        ("[" * 100000 + "]" * 100000, ["not valid JSON"]),
    ],
)
def test_sim_cli_exits_2_with_one_line(tmp_path, interp, content, words):
    path = _write(tmp_path, content)
    out = tmp_path / "r.json"
    if interp == "cpython":
        p = subprocess.run(
            SIM + [path, "--report", str(out)], cwd=ROOT, capture_output=True, text=True
        )
    else:
        p = run_micropython(["tools/sim.py", path, "--report", str(out)])
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    if (
        interp == "micropython"
        and isinstance(content, str)
        and ("NaN" in content or "Infinity" in content)
    ):
        words = ["not valid JSON"]  # its json takes only what JSON allows
    for w in words:
        assert w in lines[0]
    assert "Traceback" not in p.stderr
    assert not out.exists()


def test_sim_cli_missing_file_and_bad_option(tmp_path):
    p = subprocess.run(
        SIM + [str(tmp_path / "nope.json")], cwd=ROOT, capture_output=True, text=True
    )
    assert p.returncode == 2 and "cannot read" in p.stderr and len(p.stderr.splitlines()) == 1
    p = subprocess.run(SIM + ["x.json", "--fast"], cwd=ROOT, capture_output=True, text=True)
    assert p.returncode == 2 and "unknown option --fast" in p.stderr


@pytest.mark.parametrize("interp", ["cpython", "micropython"])
def test_sim_cli_reads_a_bounded_file_and_says_when_it_cannot_write(tmp_path, interp):
    run = (
        (lambda args: subprocess.run(SIM + args, cwd=ROOT, capture_output=True, text=True))
        if interp == "cpython"
        else (lambda args: run_micropython(["tools/sim.py"] + args))
    )
    p = run(["/dev/zero"])  # would never end
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "Traceback" not in p.stderr
    path = _write(tmp_path, {"duration_s": 1})
    for bad in ("/proc/no/such/r.json", str(tmp_path)):  # no such folder; a folder
        p = run([path, "--quiet", "--report", bad])
        assert p.returncode == 2 and "cannot write" in p.stderr, p.stderr
        assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
