# A seeded generator that gives the same numbers under CPython and MicroPython, so that a
# scenario produces the same timeline on both interpreters (random.gauss does not exist on
# MicroPython, and the two interpreters' random modules differ).


class Rng:
    def __init__(self, seed):
        self._s = (seed * 2654435761 + 12345) & 0xFFFFFFFF or 1

    def next32(self):
        # xorshift32
        s = self._s
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        self._s = s
        return s

    def uniform(self):
        # [0, 1)
        return self.next32() / 4294967296.0

    def gauss(self):
        # Sum of 4 uniforms, scaled to variance 1: close to normal, with bounded tails
        # (+-3.5 sigma), which suits a physical noise source.
        total = 0.0
        for _ in range(4):
            total += self.uniform()
        return (total - 2.0) * 1.7320508
