# Run a scenario on the simulated board, in simulated time.
#
#   python3 tools/sim.py SCENARIO.json --report OUT.json [--plot OUT.png] [--quiet]
#   micropython tools/sim.py SCENARIO.json --report OUT.json
#
# Prints the timeline an operator would read. Exit 0 when the run completed (whatever
# happened to the load), 2 with a one-line reason on stderr for an invalid scenario or
# command line.
import sys

_USAGE = "usage: sim.py SCENARIO.json [--report OUT.json] [--plot OUT.png] [--quiet]"


def _root():
    here = __file__ if "/" in __file__ else "./" + __file__
    tools = here[: here.rindex("/")]
    return tools + "/.." if tools else ".."


sys.path.insert(0, _root())

from boards.sim import report as report_json  # noqa: E402
from boards.sim import scenario  # noqa: E402
from boards.sim.runner import Simulation  # noqa: E402
from tools import timeline as timeline_text  # noqa: E402


def fail(msg):
    sys.stderr.write("sim.py: %s\n" % msg)
    sys.exit(2)


def parse_args(argv):
    opts = {"scenario": None, "report": None, "plot": None, "quiet": False}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--report", "--plot"):
            if i + 1 >= len(argv):
                fail("%s needs a file name; %s" % (a, _USAGE))
            opts[a[2:]] = argv[i + 1]
            i += 2
            continue
        if a == "--quiet":
            opts["quiet"] = True
        elif a in ("-h", "--help"):
            print(_USAGE)
            sys.exit(0)
        elif a.startswith("-"):
            fail("unknown option %s; %s" % (a, _USAGE))
        elif opts["scenario"] is None:
            opts["scenario"] = a
        else:
            fail("one scenario at a time; %s" % _USAGE)
        i += 1
    if opts["scenario"] is None:
        fail("no scenario given; %s" % _USAGE)
    return opts


def _makedirs(path):
    import os

    parts = path.split("/")[:-1]
    cur = ""
    for p in parts:
        cur = cur + p + "/" if cur or p else "/"
        if not p:
            continue
        try:
            os.mkdir(cur.rstrip("/"))
        except OSError:
            pass


def main(argv):
    opts = parse_args(argv)
    if opts["plot"] and sys.implementation.name == "micropython":
        fail("--plot needs CPython with matplotlib")
    try:
        sc = scenario.load(opts["scenario"])
        sim = Simulation(sc, trace=bool(opts["plot"]))
    except scenario.ScenarioError as e:
        fail("invalid scenario %s: %s" % (opts["scenario"], e))
    for path in (opts["report"], opts["plot"]):
        if path:
            _writable(path)  # before the run, not after it
    rep = sim.run()
    if not opts["quiet"]:
        print(timeline_text.render(rep))
    if opts["report"]:
        try:
            with open(opts["report"], "w") as f:
                f.write(report_json.dumps(rep) + "\n")
        except OSError as e:
            fail("cannot write the report %s: %s" % (opts["report"], e))
    if opts["plot"]:
        from tools import plot

        try:
            plot.timeline_png(rep, sim.board.trace, opts["plot"])
        except OSError as e:
            fail("cannot write the plot %s: %s" % (opts["plot"], e))
    return 0


def _writable(path):
    # Its folder made if need be, and the file opened once for writing: a path that
    # cannot take it is one line on stderr now rather than a traceback after the run.
    _makedirs(path)
    try:
        with open(path, "a"):
            pass
    except OSError as e:
        fail("cannot write %s: %s" % (path, e))


if __name__ == "__main__":
    if sys.implementation.name == "cpython":
        import project_venv

        project_venv.enter(required=False)  # without it, all but --plot works
    sys.exit(main(sys.argv[1:]))
