# What a sample costs the CPU in the ESP32's timer interrupt (boards/esp32/sampler.py), to
# be counted from outside in the MicroPython unix port (make bench):
#
#   valgrind --tool=callgrind --dump-before=mp_builtin_callable micropython tools/isr_cost.py
#
# Between callable() marks: N calls of an empty Python handler, then N of the sampler's
# viper handler, each as the port calls a hard handler (one argument). The difference is
# what the handler does beyond being called. (The RP2040's sampler takes no interrupt: the
# ADC and DMA fill its ring.) Prints one line per stretch, in order:
#   stretch NAME CALLS
import sys
import time

sys.path.insert(0, ".")

from boards.esp32.sampler import TimerSampler  # noqa: E402

N = 4000
sampler = TimerSampler(
    lambda: 0x8000, [lambda: 0x8000] * 4, lambda: 0, lambda s: None, time, lambda n: None
)


def empty(_timer):
    pass


def run(handler, n):
    for _ in range(n):
        handler(None)


isr = sampler.isr
callable(0)
run(empty, N)
callable(0)
run(isr, N)
callable(0)
print("stretch empty_handler", N)
print("stretch esp32_sample_isr", N)
