# make build: a bundle per board that a board, mip and a firmware build can use, and that
# runs: the compiled firmware is imported from its .mpy files by the MicroPython unix port
# and put through a mains failure.
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, run_micropython

sys.path.insert(0, os.path.join(ROOT, "tools"))
import build  # noqa: E402
from firmware import VERSION  # noqa: E402


# .mpy header byte 2: the native architecture (mpy-cross's numbering) << 2, sub-version
ARCH_CODES = {"xtensawin": 10, "armv6m": 4}


@pytest.mark.parametrize("board,arch", [("esp32", "xtensawin"), ("rp2040", "armv6m")])
def test_a_bundle_has_every_module_compiled_hashed_and_listed(tmp_path, board, arch):
    out = tmp_path / "build"
    p = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "build.py"), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stderr
    rows = {line.split()[0]: line.split() for line in p.stdout.splitlines()}
    name, got_arch, _, n, _, size = rows[board]
    assert got_arch == arch
    b = out / board
    expect = sorted(rel for _, rel in build.sources(board))
    mpys = sorted(str(f.relative_to(b / "lib")) for f in (b / "lib").rglob("*.mpy"))
    assert mpys == expect and int(n) == len(expect)
    for rel in mpys:
        data = (b / "lib" / rel).read_bytes()
        assert data[:2] == b"M\x06", rel  # .mpy version 6: MicroPython 1.22 on
        # the viper code is machine code for the board's processor; the rest is bytecode
        native = rel in ("firmware/mains_monitor.mpy", "boards/%s/sampler.mpy" % board)
        assert data[2] >> 2 == (ARCH_CODES[arch] if native else 0), rel
    assert "firmware/cpython.mpy" not in mpys
    assert int(size) == sum((b / "lib" / rel).stat().st_size for rel in mpys)
    assert int(size) <= 96 * 1024  # issue 7's bundle goal
    files = json.loads((b / "files.json").read_text())
    assert sorted(files) == sorted(["lib/" + r for r in mpys] + ["main.py"])
    for rel, meta in files.items():
        data = (b / rel).read_bytes()
        assert meta["size"] == len(data)
        assert meta["sha256"] == hashlib.sha256(data).hexdigest()
    pkg = json.loads((b / "package.json").read_text())
    # the version stamped with the commit git describes (and whether the tree differs)
    assert pkg["deps"] == [] and pkg["version"] == build.stamp_version()
    assert re.fullmatch(re.escape(VERSION) + r"\+[0-9a-f]{7}(-dirty)?", pkg["version"])
    assert sorted(dest for dest, _ in pkg["urls"]) == mpys
    assert all(src == "lib/" + dest for dest, src in pkg["urls"])
    assert (b / "main.py").read_text() == "from boards.%s.main import run\nrun()\n" % board
    manifest = (b / "manifest.py").read_text()
    # the manifest's paths lead back to the sources from where it lies
    base = re.search(r'package\("firmware", base_path="([^"]+)"\)', manifest).group(1)
    assert os.path.samefile(os.path.join(b, base), ROOT)
    assert '"%s/board.py"' % board in manifest and '"mcu.py"' in manifest
    # an unknown board is one clear line and exit 2
    p = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "build.py"), "--board", "pico"],
        capture_output=True,
        text=True,
    )
    assert (
        p.returncode == 2
        and p.stderr.strip() == "build: board 'pico' is not known; allowed: esp32, rp2040, all"
    )


def test_the_compiled_firmware_runs_in_the_micropython_vm(tmp_path):
    out = tmp_path / "build"
    build.build("esp32", str(out), arch="host")
    lib = tmp_path / "lib"
    shutil.copytree(out / "esp32" / "lib" / "firmware", lib / "firmware")
    script = tmp_path / "run.py"
    script.write_text(
        "import sys\n"
        "sys.path[:0] = [%r, %r]\n"
        "import firmware.controller\n"
        "assert firmware.controller.__file__.endswith('.mpy'), firmware.controller.__file__\n"
        "from boards.sim.replay import ReplayBoard\n"
        "from firmware.controller import Controller\n"
        "from firmware.config import Config\n"
        "cfg = Config()\n"
        "cfg.set('transfer.return_delay_s', 1)\n"
        "b = ReplayBoard({'mains': {'events': [{'at_s': 2, 'kind': 'outage',"
        " 'duration_s': 1}]}}, 6.0)\n"
        "c = Controller(b, cfg)\n"
        "while b.blocks_left():\n"
        "    c.step()\n"
        "print('outputs', b.out_n, 'events', c.log.count)\n"
        "print(c.command('version'))\n"
        "import json\n"
        "print(json.loads(c.command('status json'))['version'])\n" % (str(lib), ROOT)
    )
    p = run_micropython([str(script)], timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    words = p.stdout.split()
    assert int(words[1]) >= 2 and int(words[3]) >= 3  # to battery and back, logged
    # the bundle's firmware reports the build's stamped version
    assert words[4:] == ["OK", "version", build.stamp_version(), build.stamp_version()]
