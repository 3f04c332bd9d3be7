# What the board's loop costs on a chip, for the simulated board to charge (scenario key
# board.profile): `host` (nothing: the loop is as fast as the plant needs), `rp2040`,
# `esp32`, or either with a slowdown, `rp2040x3`. The costs are make bench's host
# instruction counts (2026-12-03, evening) at 2.8 cycles an instruction (measured on the
# rp2 port) and the chip's clock: a block of 4 samples (the monitor and the loop, 3.0k
# instructions on steady mains with the replay board's read, and what the board's own
# read costs beyond it, board_read: the RP2040's 1.2k, the ESP32's 4.1k without the
# bench's stand-ins), a supervisor step (130k, between its 121k on steady mains and the
# 133k on battery; more in a start sequence), the slow work between blocks with the
# controller's look at what is due (34k). On the ESP32 the sample interrupt takes 7.4 %
# of the chip (make bench, sample_isr): its 18.6 us a sample are charged with the block,
# and the rest runs that much slower.
PROFILES = {
    # name: (us per sample, us per supervisor step, us per service() call)
    "rp2040": (24, 2900, 760),  # 125 MHz
    "esp32": (39, 1520, 400),  # 240 MHz, at the RP2040's cycles per instruction
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
