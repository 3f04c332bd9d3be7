# A virtual board on a pseudo-terminal:
#
#   python3 tools/vboard.py --scenario FILE --link PATH [--fs DIR] [--speed N]
#
# Runs the unchanged firmware under the MicroPython unix port on the simulated board, in
# real time (boards/sim/vboard.py), with its serial console on a pseudo-terminal whose
# device is symlinked at PATH: open PATH with any serial terminal (picocom, screen), or
# point NUT's nutdrv_qx at it. DIR holds
# the board's flash (config.json, state.json) and outlives the run. N runs the board N
# times faster than the wall clock (1 unless told; tests use it to wait less). Runs until the
# scenario ends or SIGTERM, an orderly stop (the events still waiting and the persistent
# record go to flash first, exit 0; a SIGKILL is a power cut); exit 2 with one line on
# stderr for bad arguments or an invalid
# scenario. After `maint` on the console the board restarts into a bare MicroPython REPL
# on the same pseudo-terminal, in DIR, as a real board restarts into its REPL.
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import tty

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAINTENANCE = 3  # boards/sim/vboard.py's exit status after `maint`


def _micropython():
    local = os.path.join(os.path.dirname(sys.executable), "micropython")
    return local if os.path.exists(local) else shutil.which("micropython")


class _Args(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write("vboard.py: %s\n" % message)
        sys.exit(2)


def _speed(text):
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= 100:
        raise argparse.ArgumentTypeError("%r is not a speed; allowed a whole number 1..100" % text)
    return n


def _die_with_parent(parent):
    # In the board's process, before it starts: the kernel kills it when this process dies,
    # however (a SIGKILL here is a power cut of the whole board, not a board left running
    # in a session of its own). Linux's prctl(PR_SET_PDEATHSIG, SIGKILL); elsewhere nothing.
    # A parent that died before the prctl took effect sends nothing: then go at once.
    def arm():
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            return
        if os.getppid() != parent:
            os._exit(1)

    return arm


def main(argv):
    ap = _Args(description="A virtual board on a pseudo-terminal.")
    ap.add_argument("--scenario", required=True, help="scenario file (JSON)")
    ap.add_argument("--link", required=True, help="path of the serial device symlink to create")
    ap.add_argument("--fs", help="directory that holds the board's filesystem")
    ap.add_argument(
        "--speed",
        type=_speed,
        default=1,
        metavar="1..100",
        help="simulated seconds per wall-clock second (default 1)",
    )
    args = ap.parse_args(argv)
    mp = _micropython()
    if mp is None:
        sys.stderr.write(
            "vboard.py: the micropython command is not installed (make test installs it)\n"
        )
        return 2
    if args.fs:
        os.makedirs(args.fs, exist_ok=True)
    master, slave = os.openpty()
    tty.setraw(slave)
    link = os.path.abspath(args.link)
    if os.path.islink(link):
        os.unlink(link)
    os.symlink(os.ttyname(slave), link)
    cmd = [mp, os.path.join(ROOT, "boards", "sim", "vboard.py"), os.path.abspath(args.scenario)]
    if args.fs:
        cmd.append(os.path.abspath(args.fs))
    if args.speed != 1:
        cmd += ["--speed", str(args.speed)]
    # SIGTERM: an orderly stop, asked through a file (the unix port has no signals)
    stop_dir = tempfile.mkdtemp(prefix="vboard-")
    stop_file = os.path.join(stop_dir, "stop")
    cmd += ["--stop", stop_file]
    # The slave stays open here, so that the board's side reads nothing (rather than an
    # error) while no terminal is connected.
    procs = [
        subprocess.Popen(
            cmd,
            stdin=master,
            stdout=master,
            start_new_session=True,
            preexec_fn=_die_with_parent(os.getpid()),
        )
    ]

    def stop(signum, frame):
        if len(procs) > 1:
            procs[-1].terminate()  # the REPL after maint
            return
        with open(stop_file, "w"):
            pass
        try:
            procs[-1].wait(5)  # it flushes and exits 0
        except subprocess.TimeoutExpired:
            procs[-1].terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        rc = procs[-1].wait()
        if rc == MAINTENANCE:
            # `maint` on the console: the board restarts into its REPL, with its flash as
            # the working directory, for mpremote (tools/rack.py deploy), until SIGTERM
            fs = os.path.abspath(args.fs) if args.fs else os.getcwd()
            procs.append(
                subprocess.Popen(
                    [mp],
                    stdin=master,
                    stdout=master,
                    stderr=master,
                    cwd=fs,
                    start_new_session=True,
                    preexec_fn=_die_with_parent(os.getpid()),
                )
            )
            procs[-1].wait()
            rc = 0
        return rc
    finally:
        os.close(master)
        os.close(slave)
        if os.path.islink(link):
            os.unlink(link)
        shutil.rmtree(stop_dir, ignore_errors=True)


if __name__ == "__main__":
    import project_venv

    project_venv.enter()
    sys.exit(main(sys.argv[1:]))
