# Under CPython only: what MicroPython's compiler provides for viper code, so that the same
# lines run as plain Python in the host tests (the decorator is micropython.py's, at the
# top of the tree). A pointer cast is the buffer itself (indexing an array reads and
# writes it alike). Words stored through ptr32 stay within a signed 32-bit word on both.


def ptr16(buf):
    return buf


def ptr32(buf):
    return buf


def uint(x):
    # a machine word read as unsigned (32 bits here: every value checked this way fits)
    return x & 0xFFFFFFFF
