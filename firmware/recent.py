# Times of recent occurrences in a preallocated ring, counted over a sliding window: used
# for the transfer chatter limit and for flapping mains. Adding and counting allocate
# nothing.
from array import array


class Recent:
    def __init__(self, size, ticks_diff):
        self._t = array("i", [0] * size)
        self._diff = ticks_diff
        self._next = 0
        self._count = 0

    def add(self, now):
        size = len(self._t)
        self._t[self._next] = now
        self._next = (self._next + 1) % size
        if self._count < size:
            self._count += 1

    def within(self, now, window_ms):
        # How many of the recorded times lie less than window_ms before now.
        size = len(self._t)
        n = 0
        for k in range(1, self._count + 1):
            if self._diff(now, self._t[(self._next - k) % size]) < window_ms:
                n += 1
            else:
                break
        return n
