# The board's small filesystem, as the firmware uses it: whole files read and replaced,
# logs appended to and renamed.
#
# DirFS keeps them in a directory of the port's own filesystem (LittleFS on the boards, a
# host directory for the virtual board). write() replaces a file atomically: the new
# content goes to NAME.tmp, is closed, then renamed over NAME, so a power cut leaves
# either the old file or the new one, never a mixture. The simulated board provides the
# same methods over a dict (boards/sim/board.py: MemFS).
import os


class DirFS:
    def __init__(self, root):
        self._root = root.rstrip("/") + "/" if root else ""
        self.writes = 0

    def read(self, name, tail=0):
        # The bytes of NAME (tail > 0: only its last tail bytes), or None when it does not
        # exist or cannot be read.
        try:
            with open(self._root + name, "rb") as f:
                if tail:
                    size = f.seek(0, 2)
                    f.seek(max(0, size - tail))
                return f.read()
        except OSError:
            return None

    def size(self, name):
        # Bytes in NAME, 0 when it does not exist.
        try:
            return os.stat(self._root + name)[6]
        except OSError:
            return 0

    def append(self, name, data):
        with open(self._root + name, "ab") as f:
            f.write(data)
        self.writes += 1

    def remove(self, name):
        # NAME is gone (it may not have been there).
        try:
            os.remove(self._root + name)
        except OSError:
            pass

    def rename(self, name, new):
        # NAME becomes NEW, replacing it.
        os.rename(self._root + name, self._root + new)

    def write(self, name, data):
        # Raises OSError when the filesystem refuses (full, read-only, worn out).
        path = self._root + name
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, path)
        self.writes += 1
