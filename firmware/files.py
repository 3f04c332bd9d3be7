# The board's small filesystem, as the firmware uses it: whole files read and replaced.
#
# DirFS keeps them in a directory of the port's own filesystem (LittleFS on the boards, a
# host directory for the virtual board). write() replaces a file atomically: the new
# content goes to NAME.tmp, is closed, then renamed over NAME, so a power cut leaves
# either the old file or the new one, never a mixture. The simulated board provides the
# same two methods over a dict (boards/sim/board.py: MemFS).
import os


class DirFS:
    def __init__(self, root):
        self._root = root.rstrip("/") + "/" if root else ""
        self.writes = 0

    def read(self, name):
        # The bytes of NAME, or None when it does not exist or cannot be read.
        try:
            with open(self._root + name, "rb") as f:
                return f.read()
        except OSError:
            return None

    def write(self, name, data):
        # Raises OSError when the filesystem refuses (full, read-only, worn out).
        path = self._root + name
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, path)
        self.writes += 1
