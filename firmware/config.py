# Controller settings: one schema, every value checked before it is applied.
#
# Keys are dotted names as typed on the console ("mains.uv_pct"). Values arrive as text
# (console) or as JSON numbers (scenario files); both go through set(), which raises
# ValueError with a one-line message naming the key, the value and what is allowed.

# (key, kind, default, low, high, unit, meaning); kind is "int", "float", "bool", "str" (low
# and high bound its length; printable ASCII, no spaces: a name that goes into topics),
# "text" (the same, spaces allowed: Wi-Fi network names and passphrases, credentials),
# "ip" (an IPv4 address, or empty) or "pin" (up to high digits, or empty).
SCHEMA = (
    ("mains.nominal_v", "int", 230, 100, 277, "V", "nominal mains voltage (RMS)"),
    ("mains.frequency_hz", "int", 50, 50, 60, "Hz", "nominal mains frequency: 50 or 60"),
    (
        "adc.mains_mv_per_count",
        "int",
        360,
        50,
        2000,
        "mV",
        "mains sensor calibration: volts per ADC count x1000",
    ),
    (
        "adc.battery_uv_per_count",
        "int",
        14650,
        1000,
        200000,
        "uV",
        "battery voltage divider calibration: microvolts per ADC count",
    ),
    (
        "adc.current_ma_per_count",
        "int",
        98,
        1,
        10000,
        "mA",
        "battery current sensor calibration: milliamps per ADC count",
    ),
    ("adc.current_zero", "int", 2048, 0, 4095, "counts", "battery current sensor reading at 0 A"),
    (
        "adc.gen_mv_per_count",
        "int",
        73,
        1,
        2000,
        "mV",
        "generator voltage transducer calibration: millivolts (RMS) per ADC count",
    ),
    (
        "adc.output_ma_per_count",
        "int",
        25,
        1,
        10000,
        "mA",
        "output current transducer calibration: milliamps (RMS) per ADC count",
    ),
    (
        "io.outputs_active_low",
        "bool",
        False,
        0,
        1,
        "",
        "output drivers energise their relay on a low pin",
    ),
    (
        "io.estop",
        "bool",
        False,
        0,
        1,
        "",
        "a normally closed emergency stop chain is wired: open stops the engine",
    ),
    (
        "io.output_sensor",
        "bool",
        False,
        0,
        1,
        "",
        "an output current transducer is wired: the load's power is measured",
    ),
    (
        "io.inputs_active_low",
        "bool",
        True,
        0,
        1,
        "",
        "input contacts pull their pin low when closed (pull-ups fitted)",
    ),
    (
        "mains.fast_trip_pct",
        "int",
        25,
        2,
        50,
        "%",
        "deviation from the learned wave that is a loss within ms; beyond uv/ov_pct",
    ),
    (
        "mains.fast_floor_pct",
        "int",
        10,
        2,
        50,
        "%",
        "near zero crossings 30 % of the learned wave counts, never less than this",
    ),
    (
        "mains.fast_trip_samples",
        "int",
        3,
        2,
        8,
        "samples",
        "consecutive deviating samples that declare a loss",
    ),
    ("mains.uv_pct", "int", 85, 60, 95, "%", "under-voltage trip level (RMS, % of nominal)"),
    ("mains.uv_restore_pct", "int", 88, 65, 99, "%", "under-voltage restore level"),
    (
        "mains.uv_qual_ms",
        "int",
        200,
        20,
        10000,
        "ms",
        "time an under-voltage above the fast detector's level lasts before a trip",
    ),
    ("mains.ov_pct", "int", 113, 105, 130, "%", "over-voltage trip level (RMS, % of nominal)"),
    ("mains.ov_restore_pct", "int", 110, 101, 125, "%", "over-voltage restore level"),
    (
        "mains.ov_qual_ms",
        "int",
        200,
        20,
        10000,
        "ms",
        "time an over-voltage below the fast detector's level lasts before a trip",
    ),
    ("mains.freq_trip_pct", "float", 3.0, 1.0, 10.0, "%", "frequency deviation that trips"),
    (
        "mains.freq_restore_pct",
        "float",
        2.0,
        0.5,
        9.0,
        "%",
        "frequency deviation below which mains is good again",
    ),
    (
        "mains.freq_qual_ms",
        "int",
        300,
        20,
        10000,
        "ms",
        "time a frequency deviation must last before it trips",
    ),
    (
        "transfer.return_delay_s",
        "int",
        10,
        1,
        3600,
        "s",
        "mains must be good this long before the load goes back",
    ),
    (
        "transfer.max_per_min",
        "int",
        4,
        1,
        30,
        "transfers",
        "transfers to battery in 60 s before the controller holds on battery",
    ),
    (
        "transfer.lockout_s",
        "int",
        60,
        10,
        3600,
        "s",
        "after too many transfers, mains must be good this long",
    ),
    (
        "relay.operate_ms",
        "int",
        10,
        1,
        200,
        "ms",
        "relay operate time, the longest the contacts take to move",
    ),
    (
        "relay.feedback",
        "bool",
        True,
        0,
        1,
        "",
        "the relay's and contactors' auxiliary contacts are wired as feedback",
    ),
    (
        "ats.dead_time_ms",
        "int",
        1000,
        100,
        10000,
        "ms",
        "both source contactors open this long between mains and generator",
    ),
    ("gen.present", "bool", True, 0, 1, "", "a generator is installed"),
    (
        "gen.start_delay_s",
        "int",
        3,
        0,
        60,
        "s",
        "mains must stay failed this long before the generator is started",
    ),
    ("gen.preheat_s", "int", 0, 0, 30, "s", "glow plug time before each crank"),
    ("gen.crank_s", "int", 5, 1, 30, "s", "longest crank attempt"),
    ("gen.crank_rest_s", "int", 5, 2, 60, "s", "rest between crank attempts"),
    ("gen.attempts", "int", 3, 1, 10, "attempts", "crank attempts before fail-to-start"),
    (
        "gen.crank_disconnect_pct",
        "int",
        30,
        20,
        95,
        "%",
        "generator voltage or frequency (speed) that ends cranking",
    ),
    (
        "gen.safety_on_s",
        "int",
        10,
        0,
        60,
        "s",
        "after firing, limits are not enforced for this long",
    ),
    ("gen.warmup_s", "int", 5, 0, 600, "s", "run unloaded this long before taking the load"),
    ("gen.cooldown_s", "int", 10, 0, 1800, "s", "run unloaded this long before stopping"),
    (
        "gen.fail_to_stop_s",
        "int",
        30,
        5,
        300,
        "s",
        "the engine must stop within this after the stop signal",
    ),
    ("gen.v_low_pct", "int", 85, 60, 99, "%", "generator under-voltage limit"),
    ("gen.v_high_pct", "int", 110, 101, 130, "%", "generator over-voltage limit"),
    ("gen.f_low_pct", "int", 95, 80, 99, "%", "generator under-frequency limit"),
    ("gen.f_high_pct", "int", 105, 101, 115, "%", "generator over-frequency limit"),
    (
        "gen.overspeed_pct",
        "int",
        110,
        103,
        130,
        "%",
        "frequency that shuts the engine down at once",
    ),
    (
        "gen.flap_count",
        "int",
        3,
        0,
        20,
        "dropouts",
        "mains failures within flap_window_s that start the generator (0: off)",
    ),
    ("gen.flap_window_s", "int", 600, 30, 3600, "s", "window for counting mains failures"),
    (
        "gen.flap_clear_s",
        "int",
        120,
        10,
        3600,
        "s",
        "after flapping, mains must be good this long to take the load back",
    ),
    (
        "gen.limit_qual_ms",
        "int",
        500,
        50,
        10000,
        "ms",
        "time out of limits before the generator is tripped",
    ),
    (
        "drill.duration_s",
        "int",
        300,
        30,
        7200,
        "s",
        "a drill (mode test) runs this long, then the controller returns to auto",
    ),
    ("selftest.duration_s", "int", 30, 10, 600, "s", "battery self-test: discharge this long"),
    (
        "selftest.min_mv_per_cell",
        "int",
        1850,
        1700,
        2100,
        "mV",
        "battery self-test fails below this terminal voltage",
    ),
    (
        "selftest.max_r_pct",
        "int",
        150,
        110,
        1000,
        "%",
        "battery self-test fails above this share of battery.r_mohm",
    ),
    (
        "exercise.every_d",
        "int",
        7,
        0,
        90,
        "days",
        "days between generator exercise runs (0: no exercise)",
    ),
    (
        "exercise.day",
        "int",
        1,
        0,
        89,
        "",
        "which day of the cycle runs; with every_d 7: 0 Monday .. 6 Sunday",
    ),
    (
        "exercise.at_min",
        "int",
        600,
        0,
        1439,
        "min",
        "exercise start, minutes after midnight on the board clock",
    ),
    ("exercise.run_s", "int", 1800, 60, 14400, "s", "exercise run time"),
    ("exercise.on_load", "bool", False, 0, 1, "", "exercise with the load on the generator"),
    (
        "exercise.window_min",
        "int",
        60,
        1,
        1440,
        "min",
        "a run that cannot start within this of its time is skipped",
    ),
    (
        "maint.engine_h",
        "int",
        250,
        0,
        20000,
        "h",
        "engine service interval in running hours (0: no alarm)",
    ),
    (
        "maint.relay_ops",
        "int",
        50000,
        0,
        10000000,
        "operations",
        "relay and contactor operations between inspections (0: no alarm)",
    ),
    ("maint.battery_d", "int", 1460, 0, 7300, "days", "battery replacement age (0: no alarm)"),
    (
        "shed.enabled",
        "bool",
        False,
        0,
        1,
        "",
        "drop non-critical loads (output OUT_SHED) while on battery",
    ),
    (
        "shed.delay_s",
        "int",
        60,
        0,
        3600,
        "s",
        "on battery this long before non-critical loads are dropped",
    ),
    (
        "shed.runtime_s",
        "int",
        900,
        0,
        36000,
        "s",
        "drop them at once when the runtime falls to this",
    ),
    ("battery.nominal_v", "int", 48, 12, 480, "V", "battery bank nominal voltage (2 V per cell)"),
    ("battery.capacity_ah", "int", 100, 1, 1000, "Ah", "rated capacity (20-hour rate)"),
    ("battery.health_pct", "int", 100, 10, 100, "%", "capacity left as a share of the rating"),
    (
        "battery.min_health_pct",
        "int",
        40,
        10,
        100,
        "%",
        "until a discharge measures the capacity, battery low assumes this health",
    ),
    ("battery.peukert", "float", 1.15, 1.0, 1.5, "", "Peukert exponent"),
    ("battery.r_mohm", "int", 20, 1, 2000, "mOhm", "internal resistance of the bank"),
    (
        "battery.cutoff_mv_per_cell",
        "int",
        1750,
        1500,
        2000,
        "mV",
        "inverter cut-out voltage per cell",
    ),
    (
        "battery.shutdown_lead_s",
        "int",
        180,
        30,
        3600,
        "s",
        "battery low (servers shut down) this long before the battery is flat",
    ),
    (
        "battery.start_margin_s",
        "int",
        60,
        0,
        3600,
        "s",
        "the generator must be ready this long before the battery is flat",
    ),
    (
        "log.max_records",
        "int",
        2000,
        100,
        20000,
        "records",
        "event log size on flash (16 bytes each; up to twice this is kept)",
    ),
    (
        "console.pin",
        "pin",
        "",
        0,
        8,
        "digits",
        'PIN for commands that change anything, 1-8 digits ("": none); never shown',
    ),
    (
        "console.lock_s",
        "int",
        300,
        30,
        86400,
        "s",
        "the console locks again after this long without a command",
    ),
    (
        "nut.allow_control",
        "bool",
        False,
        0,
        1,
        "",
        "honour NUT's test and shutdown commands (upscmd), which need no PIN",
    ),
    ("ups.rating_w", "int", 3000, 100, 1000000, "W", "UPS output rating, for the load percentage"),
    (
        "env.sensor",
        "bool",
        False,
        0,
        1,
        "",
        "a DS18B20 battery-room temperature sensor is wired to its input",
    ),
    (
        "env.temp_high_c",
        "int",
        35,
        20,
        70,
        "C",
        "battery room too hot above this (lead-acid life halves per 8-10 C over 25)",
    ),
    (
        "env.temp_low_c",
        "int",
        0,
        -30,
        20,
        "C",
        "battery room too cold below this (capacity -0.8 % per C below 25 C)",
    ),
    (
        "wifi.ssid",
        "text",
        "",
        0,
        32,
        "",
        "Wi-Fi network to join (ESP32, Pico W), empty for none; at the next start",
    ),
    ("wifi.password", "text", "", 0, 64, "", "Wi-Fi passphrase; never shown"),
    (
        "clock.ntp_server",
        "ip",
        "",
        0,
        15,
        "",
        "NTP server (IPv4) that sets the clock at start and daily, empty for none",
    ),
    (
        "clock.utc_offset_min",
        "int",
        0,
        -720,
        840,
        "min",
        "local time minus UTC, for NTP (no daylight saving: set it at the change)",
    ),
    ("mqtt.enabled", "bool", False, 0, 1, "", "publish telemetry to an MQTT broker"),
    (
        "mqtt.host",
        "ip",
        "",
        0,
        15,
        "",
        "the broker's IPv4 address (a name would need a DNS lookup, which blocks)",
    ),
    ("mqtt.port", "int", 1883, 1, 65535, "", "the broker's TCP port"),
    ("mqtt.user", "text", "", 0, 64, "", "user name at the broker (empty: none)"),
    ("mqtt.password", "text", "", 0, 64, "", "password at the broker; never shown"),
    (
        "mqtt.id",
        "str",
        "ups",
        1,
        32,
        "",
        "this controller's name in topics (ups/ID/...), client id, Home Assistant",
    ),
    (
        "mqtt.keepalive_s",
        "int",
        60,
        10,
        3600,
        "s",
        "MQTT keep-alive: a silent broker is dropped after 1.5 times this",
    ),
    (
        "mqtt.status_s",
        "int",
        10,
        1,
        3600,
        "s",
        "the retained state is published this often and at each change of source",
    ),
    (
        "mqtt.alert_hold_s",
        "int",
        60,
        0,
        3600,
        "s",
        "an alarm changing again within this is published after the hold",
    ),
    (
        "mqtt.commands",
        "bool",
        False,
        0,
        1,
        "",
        "take commands on ups/ID/command, reply on ups/ID/reply (needs user, password)",
    ),
)
# Settings that are never shown, logged or echoed.
SECRET = ("console.pin", "mqtt.password", "wifi.password")

_INDEX = {}
for _i, _row in enumerate(SCHEMA):
    _INDEX[_row[0]] = _i


def _allowed(row):
    if row[1] == "bool":
        return "on or off"
    if row[1] == "str":
        return '%d..%d characters, no spaces ("" for none)' % (row[3], row[4])
    if row[1] == "text":
        return '%d..%d printable characters ("" for none)' % (row[3], row[4])
    if row[1] == "ip":
        return 'an IPv4 address such as 192.168.1.10, or "" for none'
    if row[1] == "pin":
        return '1..%d digits, or "" for none' % row[4]
    return "%s..%s %s" % (row[3], row[4], row[5])


def _parse(row, value):
    key, kind = row[0], row[1]
    if kind == "bool":
        if value is True or value is False:
            return value
        text = str(value).lower()
        if text in ("on", "true", "1", "yes"):
            return True
        if text in ("off", "false", "0", "no"):
            return False
        raise ValueError("%s = %s is not a switch; allowed: on or off" % (key, value))
    if kind == "str" or kind == "text" or kind == "ip":
        return _parse_text(row, value)
    if kind == "pin":
        return _parse_pin(row, value)
    if isinstance(value, bool):
        raise ValueError("%s = %s is not a number; allowed %s" % (key, value, _allowed(row)))
    try:
        if kind == "int":
            if isinstance(value, float):
                if value != int(value):
                    raise ValueError
                num = int(value)
            else:
                num = int(value)
        else:
            num = float(value)
    except (ValueError, TypeError, OverflowError):
        what = "a whole number" if kind == "int" else "a number"
        raise ValueError("%s = %s is not %s; allowed %s" % (key, value, what, _allowed(row)))
    # written so that NaN, which compares false with everything, is out of range too
    if not row[3] <= num <= row[4]:
        raise ValueError("%s = %s is out of range; allowed %s" % (key, value, _allowed(row)))
    return num


def _parse_pin(row, value):
    # Digits as typed ("0042" is not "42"), "" for none; a whole number from a file saved
    # when the PIN was one (0 was none). What was offered is never shown.
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 99999999:
        return "%d" % value if value else ""
    if value == '""':
        return ""
    if (
        not isinstance(value, str)
        or len(value) > row[4]
        or not all("0" <= c <= "9" for c in value)
    ):
        raise ValueError("%s = (hidden) is not allowed; allowed %s" % (row[0], _allowed(row)))
    return value


def _parse_text(row, value):
    key, kind = row[0], row[1]
    if value == '""':
        value = ""  # typed on the console: empty
    low = 32 if kind == "text" else 33  # a space is printable ASCII too
    if (
        not isinstance(value, str)
        or not row[3] <= len(value) <= row[4]
        or not all(low <= ord(c) <= 126 for c in value)
    ):
        shown = "(hidden)" if key in SECRET else value
        raise ValueError("%s = %s is not allowed; allowed %s" % (key, shown, _allowed(row)))
    if kind == "ip" and value:
        parts = value.split(".")
        if len(parts) != 4 or not all(
            p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts
        ):
            raise ValueError("%s = %s is not allowed; allowed %s" % (key, value, _allowed(row)))
    return value


# Pairs that must keep their order so that hysteresis exists: (lower key, higher key).
_ORDERED = (
    ("mains.uv_pct", "mains.uv_restore_pct"),
    ("mains.ov_restore_pct", "mains.ov_pct"),
    ("mains.freq_restore_pct", "mains.freq_trip_pct"),
)


class Config:
    def __init__(self):
        self._values = {}
        for row in SCHEMA:
            self._values[row[0]] = row[2]

    def get(self, key):
        row(key)  # an unknown key: the one error for it
        return self._values[key]

    def set(self, key, value):
        self.update({key: value})
        return self._values[key]

    def update(self, values):
        # Apply several settings as one change: all of them or none.
        saved = dict(self._values)
        try:
            for key in sorted(values):
                self._set_unchecked(key, values[key])
            self._check_order()
        except ValueError:
            self._values = saved
            raise

    def _set_unchecked(self, key, value):
        num = _parse(row(key), value)
        if key == "mains.frequency_hz" and num not in (50, 60):
            raise ValueError("%s = %s is not allowed; allowed 50 or 60 Hz" % (key, value))
        self._values[key] = num

    def _check_order(self):
        v = self._values
        for low, high in _ORDERED:
            if not v[low] < v[high]:
                raise ValueError("%s = %s must be below %s = %s" % (low, v[low], high, v[high]))
        # The fast detector is for collapses and deep dips: it must act only beyond the
        # under- and over-voltage levels, or it would take every sag and swell those
        # qualify before their time is up (a 84 % step in 5 ms, not after uv_qual_ms).
        fast = v["mains.fast_trip_pct"]
        if not 100 - fast < v["mains.uv_pct"]:
            raise ValueError(
                "mains.fast_trip_pct = %s acts at %s %%, not below mains.uv_pct = %s:"
                " allowed above %s"
                % (fast, 100 - fast, v["mains.uv_pct"], 100 - v["mains.uv_pct"])
            )
        if not 100 + fast > v["mains.ov_pct"]:
            raise ValueError(
                "mains.fast_trip_pct = %s acts at %s %%, not above mains.ov_pct = %s:"
                " allowed above %s"
                % (fast, 100 + fast, v["mains.ov_pct"], v["mains.ov_pct"] - 100)
            )
        # anyone who can publish to the broker could command the board: never anonymously
        if v["mqtt.commands"] and not (v["mqtt.user"] and v["mqtt.password"]):
            raise ValueError("mqtt.commands = on needs mqtt.user and mqtt.password set first")

    def items(self):
        return [(row[0], self._values[row[0]]) for row in SCHEMA]

    def changed(self):
        # The settings that differ from their defaults: what a saved file holds.
        return {row[0]: self._values[row[0]] for row in SCHEMA if self._values[row[0]] != row[2]}

    def shown(self, key):
        # The value as an operator may see it.
        value = self.get(key)
        if key in SECRET:
            return "(set)" if value else "(none)"
        if value == "":
            return "(none)"
        if value is True or value is False:
            return "on" if value else "off"
        return str(value)


def row(key):
    if key not in _INDEX:
        raise ValueError("unknown setting %s; see 'config show' for the list" % key)
    return SCHEMA[_INDEX[key]]
