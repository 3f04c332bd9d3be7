# What the firmware expects of a board. Every board (boards/esp32, boards/rp2040, boards/sim)
# provides an object with these members; the firmware never imports machine.
#
#   sample_rate_hz, block_len        mains ADC rate and samples per block
#   configure(cfg)                   the calibration (adc.*) and polarity (io.*) from the
#                                    configuration; called once it is loaded, before an
#                                    output is read or driven, and after every change
#   read_block(buf, n, process) -> ms
#                                    fill buf[:n] (array 'H' of block_len raw 12-bit counts;
#                                    1 <= n <= block_len) with the next n mains samples once
#                                    they are all in, and call process(buf, n, ms) with
#                                    ticks_ms() then; again with the next n, until process
#                                    returns nonzero (MainsMonitor.process: something to act
#                                    on); returns that block's ms. One call for the blocks
#                                    in between, the boards' in machine code. n is block_len
#                                    but while the monitor waits on a possible trip
#                                    (MainsMonitor.need)
#   on_gap                           set by the firmware: read_block calls on_gap(lost)
#                                    before it hands over samples that follow `lost`
#                                    samples the board could not keep (a ring overrun, a
#                                    stall longer than the ring), so that the mains monitor
#                                    knows the waveform went on (MainsMonitor.gap); never
#                                    called for what skip() lets pass
#   samples_lost                     samples lost so far in such gaps (a counter)
#   ticks_ms(), ticks_add(t, d), ticks_diff(a, b)
#                                    a monotonic clock that wraps like MicroPython's (2^30 on
#                                    the boards); all time arithmetic goes through these
#   skip(ms)                         let about ms of samples pass unread (whole blocks): the
#                                    control loop's idle time while there is no mains at all
#   set_output(out, on)              drive an output (OUT_* below); polarity is the board's job
#   output_bits() -> int             what the board drives now, bit k for OUT_k energised:
#                                    after a watchdog reset the boards hold their outputs,
#                                    and the firmware picks up from them (Supervisor.recover)
#   feed_watchdog()
#   input_bits() -> int              the digital inputs (IN_* below) at once, bit k set when
#                                    IN_k's contact is closed; polarity is the board's job
#   gen_volts_x10(), gen_hz_x100()   generator terminal voltage (RMS, 0.1 V) and frequency
#                                    (0.01 Hz), measured by the board; 0 when still
#   battery_mv(), battery_ma()       battery bank voltage and current (discharge positive)
#   output_w()                       power delivered to the load, W (the boards: the output
#                                    current at the nominal voltage), or NO_READING when no
#                                    output sensor is fitted (io.output_sensor)
#   serial_read(buf) -> n            bytes that have arrived on the console's serial line,
#                                    copied into buf (bytearray); never waits, 0 when none
#   serial_write(data) -> n          send bytes on the console's serial line: how many it
#                                    took (0..len(data)); never waits for the far end
#   temperature_c10()                the battery room's temperature in 0.1 C (a DS18B20 with
#                                    env.sensor), or NO_READING without a sensor or an
#                                    answer from it; called once a second
#   tcp_open(host, port) -> stream   a TCP connection that never waits (boards/net.py:
#                                    ready, write, readinto, close); raises OSError when
#                                    the board has no network. Only used with mqtt.enabled
#   udp_open(host, port) -> datagram a UDP socket that never waits (boards/net.py: send,
#                                    recv, close); raises OSError without a network. Only
#                                    used with clock.ntp_server
#   set_time(secs)                   sets the real-time clock (clock set, NTP)
#   time_s()                         the real-time clock: local time in seconds since
#                                    2000-01-01 00:00 (see firmware/clock.py); reads before
#                                    2020 until it has been set
#   fs                               the board's filesystem: fs.read(name) -> bytes or None,
#                                    fs.write(name, data) replacing the file atomically,
#                                    fs.append(name, data), fs.size(name), fs.rename(a, b),
#                                    fs.remove(name)
#                                    (firmware/files.py: DirFS)
#
NO_READING = -32768

# Outputs. The UPS transfer relay is a changeover: de-energised, its common contact sits on
# the utility side (so a dead controller leaves the load on mains); energised, it moves to
# the inverter fed by the battery. A changeover can never close both sides at once.
OUT_XFER = 0
# The automatic transfer switch ahead of the UPS relay: the mains contactor is normally
# closed (energise to open), the generator contactor normally open (energise to close).
OUT_MAINS_OPEN = 1
OUT_GEN_CLOSE = 2
# Engine: fuel/run solenoid, starter motor, glow plugs.
OUT_GEN_RUN = 3
OUT_GEN_START = 4
OUT_GEN_PREHEAT = 5
# Load shedding: energise to drop the non-critical loads.
OUT_SHED = 6
# The UPS output contactor (normally closed): energise to switch the load off (a shutdown
# NUT asked for, shutdown.py).
OUT_LOAD_OFF = 7

# Inputs: the auxiliary contacts of the changeover relay (closed on the inverter side) and
# of the two source contactors (closed when the contactor is closed); see contacts.py.
IN_XFER_FB = 0
IN_MAINS_FB = 1
IN_GEN_FB = 2
# The emergency stop chain (normally-closed buttons in series; open: stop the engine, a
# broken wire stops it too), checked when io.estop is on; a remote start contact (closed:
# run the generator and put the load on it, in AUTO); the fuel tank's low-level switch.
IN_ESTOP = 3
IN_REMOTE_START = 4
IN_LOW_FUEL = 5
