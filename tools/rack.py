# The rack from one host: deploy the firmware to many boards at once, read their status
# and logs, open a console.
#
#   python3 tools/rack.py deploy --board esp32|rp2040 [--stop [--pin PIN]] [--resume]
#                                [--build DIR] [--arch host] PORT...
#   python3 tools/rack.py status PORT...
#   python3 tools/rack.py log PORT [N]
#   python3 tools/rack.py console PORT
#
# deploy: builds the bundle (tools/build.py), then on every board at once, through
# mpremote's raw REPL: checks that the board's MicroPython loads this bundle (its .mpy
# version, and the architecture and sub-version of the native code, from
# sys.implementation._mpy) and refuses it with one line naming both otherwise, before
# anything is copied; hashes what the board has, copies only the files whose SHA-256
# differs, hashes them again to verify, and resets the board so the new firmware starts.
# --arch host compiles the bundle for this machine instead of the board's chip: for
# boards that are MicroPython unix ports (the virtual rack).
# The board must be at its REPL (the firmware's console does not answer mpremote): with
# --stop, rack.py first types `maint` on the running firmware's console (after `unlock
# PIN` with --pin), which restarts the board into its REPL (boards/mcu.py: run). With
# --resume the REPL is taken as it is, without the soft reset and without the final reset
# (a MicroPython unix port, as in the virtual rack, exits on either). One line per board
# as it goes (a bar on a terminal), then a table; a board that fails is reported with the
# reason, and the others carry on.
#
# status, log: ask the running firmware on its console (`status json`, `log N`), every
# board at once; a board that does not answer within TIMEOUT_S is reported as such.
# console: a terminal on the board's console (CR line ends, local echo); Ctrl-] ends it.
#
# Exit 0 when every board did what was asked, 1 when one failed, 2 for bad arguments.
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import build  # noqa: E402

TIMEOUT_S = 5.0
BAUD = 115200
USAGE = (
    "usage: rack.py deploy --board NAME [--stop [--pin PIN]] [--resume] [--build DIR] "
    "[--arch host] PORT... | "
    "status PORT... | log PORT [N] | console PORT"
)


class Progress:
    # What each board is doing, drawn as one bar per board on a terminal, or as a line per
    # step elsewhere (a log, a test).
    def __init__(self, ports, out=sys.stdout):
        self._out = out
        self._tty = out.isatty()
        self._lock = threading.Lock()
        self._state = {p: (0, 0, "waiting") for p in ports}
        self._ports = list(ports)
        self._drawn = False

    def update(self, port, done, total, what):
        with self._lock:
            self._state[port] = (done, total, what)
            if self._tty:
                self._draw()
            else:
                self._out.write("%s: %s\n" % (port, what))
                self._out.flush()

    def _draw(self):
        if self._drawn:
            self._out.write("\x1b[%dA" % len(self._ports))
        for p in self._ports:
            done, total, what = self._state[p]
            width = 24
            fill = width * done // total if total else 0
            self._out.write(
                "\x1b[2K%-24s [%s%s] %3d/%-3d %s\n"
                % (p[-24:], "#" * fill, "." * (width - fill), done, total, what)
            )
        self._out.flush()
        self._drawn = True


def _stop_firmware(port, pin, progress):
    # `maint` on the running firmware's console; the board restarts into its REPL.
    progress.update(port, 0, 0, "stopping the controller")
    if pin:
        reply = " ".join(_ask(port, "unlock %s" % pin))
        if not reply.startswith("OK"):
            raise RuntimeError("unlock refused on %s: %s" % (port, reply))
    reply = " ".join(_ask(port, "maint"))
    if "OK maintenance" not in reply:
        raise RuntimeError("maint refused on %s: %s" % (port, reply))


def _raw_repl(port, soft_reset, wait_s):
    # The board's raw REPL, retried for wait_s while it restarts.
    from mpremote.transport_serial import SerialTransport

    deadline = time.monotonic() + wait_s
    while True:
        try:
            t = SerialTransport(port, baudrate=BAUD)
        except Exception as e:
            if time.monotonic() < deadline:
                time.sleep(0.5)
                continue
            raise RuntimeError("cannot open %s: %s" % (port, e))
        try:
            t.enter_raw_repl(soft_reset=soft_reset)
            return t
        except Exception as e:
            t.close()
            if time.monotonic() < deadline:
                time.sleep(0.5)
                continue
            raise RuntimeError(
                "no REPL on %s (is the firmware running? --stop stops it): %s"
                % (port, str(e).strip() or type(e).__name__)
            )


# MicroPython's native architectures, by the number sys.implementation._mpy carries
ARCHES = (
    "none",
    "x86",
    "x64",
    "armv6",
    "armv6m",
    "armv7m",
    "armv7em",
    "armv7emsp",
    "armv7emdp",
    "xtensa",
    "xtensawin",
    "rv32imc",
    "rv64imc",
)


def _describe(ver, sub, arch):
    name = ARCHES[arch] if 0 <= arch < len(ARCHES) else "arch %d" % arch
    return "%s (mpy %d.%d)" % (name, ver, sub)


def bundle_needs(bundle, files):
    # (mpy version, sub-version, architecture) the bundle's .mpy files need; the
    # architecture is 0 when none holds native code.
    ver = sub = arch = 0
    for rel in sorted(files):
        if rel.endswith(".mpy"):
            with open(os.path.join(bundle, rel), "rb") as f:
                head = f.read(4)
            ver = head[1]
            if head[2] >> 2:
                arch, sub = head[2] >> 2, head[2] & 3
    return ver, sub, arch


def _check_board(t, port, need):
    # Refuses a board whose MicroPython cannot load the bundle.
    out = t.exec(
        "import sys\nprint(getattr(sys.implementation, '_mpy', -1), "
        "'.'.join(str(x) for x in sys.implementation.version[:3]))"
    ).decode()
    words = out.split()
    try:
        mpy = int(words[0])
    except (ValueError, IndexError):
        raise RuntimeError("%s did not say what it runs: %r" % (port, out.strip()[:60]))
    ver, sub, arch = need
    has = (mpy & 0xFF, (mpy >> 8) & 3, mpy >> 10)
    if mpy < 0 or has[0] != ver or arch and (has[2] != arch or has[1] != sub):
        raise RuntimeError(
            "%s runs MicroPython %s for %s; the bundle is for %s: refused, "
            "nothing copied"
            % (
                port,
                words[1] if len(words) > 1 else "?",
                _describe(*has) if mpy >= 0 else "no .mpy",
                _describe(ver, sub, arch or has[2]),
            )
        )


def _deploy_one(port, bundle, files, resume, stop, pin, progress):
    # Returns (copied, unchanged). Raises with a readable reason.
    if stop:
        if not os.path.exists(port):
            raise RuntimeError("cannot open %s: no such device" % port)
        _stop_firmware(port, pin, progress)
    progress.update(port, 0, len(files), "connecting")
    # after a stop the REPL must not be soft-reset: that could start main.py again
    t = _raw_repl(port, not (resume or stop), 20 if stop else 0)
    try:
        progress.update(port, 0, len(files), "checking")
        _check_board(t, port, bundle_needs(bundle, files))
        changed = []
        for i, rel in enumerate(sorted(files)):
            progress.update(port, i, len(files), "comparing %s" % rel)
            if not t.fs_exists(rel) or t.fs_hashfile(rel, "sha256").hex() != files[rel]["sha256"]:
                changed.append(rel)
        made = set()
        for i, rel in enumerate(changed):
            progress.update(port, i, len(changed), "copying %s" % rel)
            parts = rel.split("/")[:-1]
            for k in range(1, len(parts) + 1):
                d = "/".join(parts[:k])
                if d not in made:
                    if not t.fs_exists(d):
                        t.fs_mkdir(d)
                    made.add(d)
            with open(os.path.join(bundle, rel), "rb") as f:
                t.fs_writefile(rel, f.read())
        for i, rel in enumerate(changed):
            progress.update(port, i, len(changed), "verifying %s" % rel)
            if t.fs_hashfile(rel, "sha256").hex() != files[rel]["sha256"]:
                raise RuntimeError("%s did not land intact on %s" % (rel, port))
        if not resume:
            progress.update(port, len(files), len(files), "resetting")
            t.exec_raw_no_follow("import machine; machine.reset()")
        else:
            t.exit_raw_repl()
        progress.update(
            port,
            len(files),
            len(files),
            "done: %d copied, %d unchanged" % (len(changed), len(files) - len(changed)),
        )
        return len(changed), len(files) - len(changed)
    finally:
        try:
            t.close()
        except Exception:
            pass


def deploy(
    board, ports, resume=False, build_dir=None, out=sys.stdout, stop=False, pin=None, arch=None
):
    build_dir = build_dir or os.path.join(ROOT, "out", "build")
    build.build(board, build_dir, arch)
    bundle = os.path.join(build_dir, board)
    with open(os.path.join(bundle, "files.json")) as f:
        files = json.load(f)
    progress = Progress(ports, out)

    def one(port):
        try:
            copied, same = _deploy_one(port, bundle, files, resume, stop, pin, progress)
            return port, True, "%d copied, %d unchanged" % (copied, same)
        except Exception as e:
            progress.update(port, 0, 0, "FAILED")
            return port, False, str(e)

    with ThreadPoolExecutor(max_workers=max(1, len(ports))) as pool:
        results = list(pool.map(one, ports))
    _table(
        ["board", "result"],
        [[p, ("ok: " if ok else "FAILED: ") + msg] for p, ok, msg in results],
        out,
    )
    return 0 if all(ok for _, ok, _ in results) else 1


def _ask(port, line, timeout=TIMEOUT_S, quiet_s=0.3):
    # Send one console line; the reply's lines (up to a pause of quiet_s after the first).
    import serial

    with serial.Serial(port, BAUD, timeout=0.05) as s:
        s.reset_input_buffer()
        s.write(line.encode() + b"\r")
        got = b""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            chunk = s.read(4096)
            if chunk:
                got += chunk
                last = time.monotonic()
            elif last is not None and b"\n" in got and time.monotonic() - last >= quiet_s:
                break
        if not got.strip():
            raise RuntimeError("no answer from %s within %g s" % (port, timeout))
    return [x for x in got.decode(errors="replace").replace("\r", "\n").split("\n") if x.strip()]


def _status_row(port):
    try:
        lines = _ask(port, "status json")
        st = json.loads(next(x for x in lines if x.startswith("{")))
    except StopIteration:
        return [port, "FAILED: the reply was not status json", "", "", "", "", ""], False
    except Exception as e:
        return [port, "FAILED: %s" % e, "", "", "", "", ""], False
    runtime = "-" if st.get("runtime_s") is None else "%d s" % st["runtime_s"]
    battery = "%.0f %% %s%s" % (st["soc_pct"], runtime, " LOW" if st.get("battery_low") else "")
    return [
        port,
        st.get("version", "-"),
        st["mode"],
        st["source"],
        battery,
        st["generator"],
        ", ".join(st["alarms"]) or "-",
    ], True


def status(ports, out=sys.stdout):
    with ThreadPoolExecutor(max_workers=max(1, len(ports))) as pool:
        rows = list(pool.map(_status_row, ports))
    _table(
        ["board", "version", "mode", "source", "battery", "generator", "alarms"],
        [r for r, _ in rows],
        out,
    )
    return 0 if all(ok for _, ok in rows) else 1


def log(port, n=20, out=sys.stdout):
    try:
        lines = _ask(port, "log %d" % n)
    except Exception as e:
        out.write("%s: FAILED: %s\n" % (port, e))
        return 1
    for x in lines:
        out.write(x + "\n")
    return 0


def console(port):
    import serial.tools.miniterm as miniterm

    sys.argv = ["rack.py console", "--eol", "CR", "--echo", "--raw", port, str(BAUD)]
    miniterm.main()
    return 0


def _table(head, rows, out):
    widths = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]
    for r in [head] + rows:
        out.write("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")
    out.flush()


def main(argv):
    if not argv:
        sys.stderr.write("rack.py: %s\n" % USAGE)
        return 2
    cmd, args = argv[0], list(argv[1:])
    if cmd == "deploy":
        board, resume, build_dir, ports, stop, pin, arch = None, False, None, [], False, None, None
        while args:
            a = args.pop(0)
            if a == "--board" and args:
                board = args.pop(0)
            elif a == "--arch" and args and args[0] == "host":
                arch = args.pop(0)
            elif a == "--stop":
                stop = True
            elif a == "--pin" and args:
                pin = args.pop(0)
            elif a == "--build" and args:
                build_dir = args.pop(0)
            elif a == "--resume":
                resume = True
            elif a.startswith("--"):
                sys.stderr.write(
                    "rack.py: %r is not an option of deploy; allowed: --board NAME, "
                    "--stop, --pin PIN, --resume, --build DIR, --arch host\n" % a
                )
                return 2
            else:
                ports.append(a)
        if board not in build.BOARDS:
            sys.stderr.write(
                "rack.py: deploy needs --board, one of: %s\n" % ", ".join(build.BOARDS)
            )
            return 2
        if not ports:
            sys.stderr.write("rack.py: deploy needs at least one PORT\n")
            return 2
        if pin is not None and not stop:
            sys.stderr.write(
                "rack.py: --pin goes with --stop (it unlocks the console for maint)\n"
            )
            return 2
        return deploy(board, ports, resume, build_dir, stop=stop, pin=pin, arch=arch)
    if cmd == "status" and args:
        return status(args)
    if cmd == "log" and 1 <= len(args) <= 2:
        if len(args) == 2 and not args[1].isdigit():
            sys.stderr.write("rack.py: log N must be a whole number, got %r\n" % args[1])
            return 2
        return log(args[0], int(args[1]) if len(args) == 2 else 20)
    if cmd == "console" and len(args) == 1:
        return console(args[0])
    sys.stderr.write("rack.py: %s\n" % USAGE)
    return 2


if __name__ == "__main__":
    import project_venv

    project_venv.enter()
    sys.exit(main(sys.argv[1:]))
