# What the board's loop costs on a chip, for the simulated board to charge (scenario key
# board.profile): `host` (nothing: the loop is as fast as the plant needs), `rp2040`,
# `esp32`, or either with a slowdown, `rp2040x3`. The costs are make bench's host
# instruction counts (instructions_per_phase, 2026-12-03) at 2.8 cycles an instruction
# (measured on the rp2 port) and the chip's clock: a block of 4 samples (the monitor and
# the loop, 3.65k instructions, and the board's read: the RP2040's DMA sampler 4.6k, the
# ESP32's 6.3k, counted in the unix port), a supervisor step (150k, between its 90k on
# steady mains and the more a start sequence takes), the slow work between blocks (25k).
# On the ESP32 the sample interrupt takes 7.4 % of the chip (make bench, sample_isr): its
# 18.6 us a sample are charged with the block, and the rest runs that much slower.
PROFILES = {
    # name: (us per sample, us per supervisor step, us per service() call)
    "rp2040": (46, 3400, 560),  # 125 MHz
    "esp32": (48, 1890, 310),  # 240 MHz, at the RP2040's cycles per instruction
}
NAMES = ("host",) + tuple(sorted(PROFILES))


def costs(profile):
    # (sample_us, step_us, service_us), or None for `host`; ValueError names what is allowed.
    if profile == "host":
        return None
    name, _, times = profile.partition("x")
    base = PROFILES.get(name)
    scale = int(times) if times.isdigit() and not times.startswith("0") else 0
    if base is None or times and not 1 <= scale <= 100:
        raise ValueError(
            "%r is not a board profile; allowed: %s, or one of the chips with a "
            "slowdown of 1-100 (rp2040x3)" % (profile, ", ".join(NAMES))
        )
    scale = scale or 1
    return (base[0] * scale, base[1] * scale, base[2] * scale)
