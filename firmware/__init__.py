# The controller firmware: pure logic, no hardware access. A board object (see hal.py)
# is passed in; the same files run on ESP32, RP2040, the MicroPython unix port and CPython.
VERSION = "0.1.0"
