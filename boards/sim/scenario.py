# Scenario files: parse, check every key, fill in defaults.
#
# An error names the key (with its path), the value and what is allowed, in one line:
#   mains.events[2].residual_pct = 130 is out of range; allowed 0..100
# Unknown keys are errors; missing keys take the defaults below.
import json

from boards.sim import cpu
from firmware import clock


class ScenarioError(ValueError):
    pass


TICKS_PERIOD = 1 << 30

# power: the controller loses power for down_s (its outputs drop); watchdog: it is reset
# after down_s with its outputs held; hang: its loop stops for down_s, and the board's
# watchdog resets it if that is longer than watchdog_ms.
RESET_KINDS = ("power", "watchdog", "hang")

# kind, default, low, high. "num" takes ints and floats.
_MAINS_EVENT = {
    "dip": {
        "residual_pct": ("num", 0, 0, 100),
        "duration_s": ("num", 0.02, 0.0001, 604800),
        "phase_deg": ("num", None, 0, 360),
    },
    "swell": {
        "level_pct": ("num", 120, 100, 200),
        "duration_s": ("num", 0.5, 0.0001, 604800),
        "phase_deg": ("num", None, 0, 360),
    },
    "frequency": {
        "frequency_hz": ("num", 50, 40, 70),
        "duration_s": ("num", 1, 0.001, 604800),
        "ramp_s": ("num", 0, 0, 600),
    },
    "outage": {
        "duration_s": ("num", 10, 0.0001, 604800),
        "phase_deg": ("num", None, 0, 360),
    },
}

# Disturbances of a running generator set.
_GEN_EVENT = {
    "overspeed": {"level_pct": ("num", 115, 50, 150), "duration_s": ("num", 5, 0.001, 604800)},
    "voltage": {"level_pct": ("num", 80, 0, 150), "duration_s": ("num", 5, 0.001, 604800)},
}

# The battery room's temperature: a change to temperature_c reached over ramp_s.
_ROOM_EVENT = {
    "temperature": {"temperature_c": ("num", 25, -40, 80), "ramp_s": ("num", 0, 0, 86400)},
}

# Faults of the controller's own sensors and of the relays it drives (boards/sim/board.py).
_FOREVER = 604800
MAX_BYTES = 16 * 1024 * 1024  # a scenario file; 100,000 events take about 6 MB
CONTACT_PARTS = ("transfer_relay", "mains_contactor", "generator_contactor")
INPUT_NAMES = ("emergency_stop", "remote_start", "low_fuel")
_FAULT = {
    "contact_stuck": {
        "part": ("str", "mains_contactor"),
        "duration_s": ("num", _FOREVER, 0.001, _FOREVER),
    },
    "adc_stuck": {"duration_s": ("num", _FOREVER, 0.001, _FOREVER)},
    "adc_open": {"duration_s": ("num", _FOREVER, 0.001, _FOREVER)},
    "adc_saturated": {"duration_s": ("num", _FOREVER, 0.001, _FOREVER)},
    "adc_noisy": {
        "level_pct": ("num", 50, 1, 200),
        "duration_s": ("num", _FOREVER, 0.001, _FOREVER),
    },
    "battery_sensor": {
        "value_mv": ("int", 0, 0, 1000000),
        "duration_s": ("num", _FOREVER, 0.001, _FOREVER),
    },
    # gaps in the mains samples: duration_ms of samples lost (the stream resumes where the
    # waveform is now), or the control loop stopped for duration_ms while the samples go
    # on into the board's ring, the ones beyond its capacity lost
    "sample_gap": {"duration_ms": ("num", 10, 0.25, 10000)},
    "stall": {"duration_ms": ("num", 10, 0.25, 10000)},
}
GAP_KINDS = ("sample_gap", "stall")

_SPEC = {
    "name": ("str", "unnamed"),
    "duration_s": ("num", 60, 0.01, 604800),
    "seed": ("int", 1, 0, 2**31 - 1),
    "start_ticks_ms": ("int", 0, 0, TICKS_PERIOD - 1),
    "start_time": ("time", "2026-01-01T00:00:00"),  # the board clock when the run begins
    "resets": ("resets", []),  # controller restarts
    "watchdog_ms": ("int", 2000, 100, 60000),  # the board's watchdog timeout
    "mains": (
        "obj",
        {
            "nominal_v": ("num", 230, 50, 480),
            "frequency_hz": ("num", 50, 40, 70),
            "voltage_pct": ("num", 100, 0, 200),
            "thd_pct": ("num", 0, 0, 30),
            "harmonics": ("harmonics", None),
            "noise_pct": ("num", 0, 0, 20),
            "flicker_pct": ("num", 0, 0, 20),
            "flicker_hz": ("num", 8.8, 0.01, 25),
            "spikes_per_s": ("num", 0, 0, 1000),
            "spike_pct": ("num", 50, 0, 200),
            "events": ("events", []),
        },
    ),
    "battery": (
        "obj",
        {
            "nominal_v": ("num", 48, 12, 480),
            "capacity_ah": ("num", 100, 1, 10000),
            "initial_soc_pct": ("num", 100, 0, 100),
            "health_pct": ("num", 100, 1, 100),
        },
    ),
    "load": (
        "obj",
        {
            "watts": ("num", 1500, 0, 1000000),
            "sheddable_watts": ("num", 0, 0, 1000000),
        },
    ),
    "generator": (
        "obj",
        {
            "present": ("bool", False),
            "failed_attempts": ("int", 0, 0, 100),
            "fails_to_start": ("bool", False),
            "time_to_fire_s": ("num", 2, 0, 60),
            "ramp_s": ("num", 3, 0, 60),
            "events": ("gen_events", []),
        },
    ),
    "room": (
        "obj",
        {  # the battery room
            "temperature_c": ("num", 25, -40, 80),
            "sensor": ("bool", False),  # a DS18B20 is fitted and answers
            "events": ("room_events", []),
        },
    ),
    "relays": (
        "obj",
        {
            "operate_ms": ("num", 8, 0.1, 200),
        },
    ),
    "board": (
        "obj",
        {  # what the board's loop costs (cpu.py)
            "profile": ("profile", "host"),
        },
    ),
    "faults": ("faults", []),
    "inputs": ("inputs", []),  # the contacts on the digital inputs
    "config": ("config", {}),
    "console": ("console", []),
}


def _is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _fmt(v):
    return json.dumps(v)


def _check_value(path, rule, value):
    kind = rule[0]
    if kind == "num" or kind == "int":
        if not _is_num(value) or (kind == "int" and not isinstance(value, int)):
            what = "a whole number" if kind == "int" else "a number"
            raise ScenarioError(
                "%s = %s is not %s; allowed %s..%s" % (path, _fmt(value), what, rule[2], rule[3])
            )
        if not rule[2] <= value <= rule[3]:  # NaN too: it compares false
            raise ScenarioError(
                "%s = %s is out of range; allowed %s..%s" % (path, _fmt(value), rule[2], rule[3])
            )
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ScenarioError(
                "%s = %s is not allowed; allowed true or false" % (path, _fmt(value))
            )
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise ScenarioError("%s = %s is not a string" % (path, _fmt(value)))
        return value
    if kind == "obj":
        return _check_obj(path, rule[1], value)
    if kind == "profile":
        try:
            if not isinstance(value, str):
                raise ValueError("%s is not a string" % _fmt(value))
            cpu.costs(value)
        except ValueError as e:
            raise ScenarioError("%s = %s" % (path, e))
        return value
    if kind == "time":
        if not isinstance(value, str):
            raise ScenarioError(
                '%s = %s is not a date and time like "2026-11-24T10:00:00"' % (path, _fmt(value))
            )
        try:
            clock.parse(value)
        except ValueError as e:
            raise ScenarioError("%s = %s: %s" % (path, _fmt(value), e))
        return value
    if kind == "resets":
        if not isinstance(value, list):
            raise ScenarioError('%s must be a list of {"at_s": ..., "down_s": ...}' % path)
        spec = {
            "at_s": ("num", 0, 0, 604800),
            "down_s": ("num", 1, 0, 3600),
            "kind": ("str", "power"),
        }
        out = [_check_obj("%s[%d]" % (path, i), spec, e) for i, e in enumerate(value)]
        for i, e in enumerate(out):
            if e["kind"] not in RESET_KINDS:
                raise ScenarioError(
                    "%s[%d].kind = %s is not allowed; allowed: %s"
                    % (path, i, _fmt(e["kind"]), ", ".join(RESET_KINDS))
                )
        out.sort(key=lambda e: e["at_s"])
        return out
    if kind == "harmonics":
        return _check_harmonics(path, value)
    if kind == "events":
        return _check_events(path, value)
    if kind == "gen_events":
        return _check_list(path, value, _GEN_EVENT)
    if kind == "room_events":
        return _check_list(path, value, _ROOM_EVENT)
    if kind == "inputs":
        if not isinstance(value, list):
            raise ScenarioError(
                '%s must be a list of {"at_s": ..., "name": ..., "on": true}' % path
            )
        spec = {"at_s": ("num", 0, 0, 604800), "name": ("str", ""), "on": ("bool", True)}
        out = [_check_obj("%s[%d]" % (path, i), spec, e) for i, e in enumerate(value)]
        for i, e in enumerate(out):
            if e["name"] not in INPUT_NAMES:
                raise ScenarioError(
                    "%s[%d].name = %s is not allowed; allowed: %s"
                    % (path, i, _fmt(e["name"]), ", ".join(INPUT_NAMES))
                )
        return out
    if kind == "faults":
        out = _check_list(path, value, _FAULT)
        for i, ev in enumerate(out):
            if ev["kind"] == "contact_stuck" and ev["part"] not in CONTACT_PARTS:
                raise ScenarioError(
                    "%s[%d].part = %s is not allowed; allowed: %s"
                    % (path, i, _fmt(ev["part"]), ", ".join(CONTACT_PARTS))
                )
        return out
    if kind == "config":
        if not isinstance(value, dict):
            raise ScenarioError(
                '%s must be an object of settings, e.g. {"transfer.return_delay_s": 5}' % path
            )
        return value
    if kind == "console":
        if not isinstance(value, list):
            raise ScenarioError('%s must be a list of {"at_s": ..., "line": ...}' % path)
        spec = {"at_s": ("num", 0, 0, 604800), "line": ("str", "")}
        out = [_check_obj("%s[%d]" % (path, i), spec, e) for i, e in enumerate(value)]
        out.sort(key=lambda e: e["at_s"])
        return out
    raise ScenarioError("%s: internal error, unknown rule %s" % (path, kind))


def _check_obj(path, spec, value):
    if not isinstance(value, dict):
        raise ScenarioError(
            "%s must be an object with keys: %s" % (path or "scenario", ", ".join(sorted(spec)))
        )
    for key in value:
        if key not in spec:
            raise ScenarioError(
                "%s is not a known key; allowed: %s"
                % ((path + "." if path else "") + str(key), ", ".join(sorted(spec)))
            )
    out = {}
    for key in spec:
        rule = spec[key]
        sub = (path + "." if path else "") + key
        if key in value:
            out[key] = _check_value(sub, rule, value[key])
        else:
            default = rule[1]
            if rule[0] == "obj":
                default = _check_obj(sub, rule[1], {})
            elif isinstance(default, (list, dict)):
                default = type(default)()
            out[key] = default
    return out


def _check_harmonics(path, value):
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ScenarioError('%s must map harmonic orders to percent, e.g. {"3": 5, "5": 6}' % path)
    out = {}
    for key in value:
        try:
            order = int(key)
        except ValueError:
            order = 0
        if order < 2 or order > 40:
            raise ScenarioError("%s: order %s is not allowed; allowed 2..40" % (path, _fmt(key)))
        out[order] = _check_value("%s.%s" % (path, key), ("num", 0, 0, 30), value[key])
    return out


def _check_events(path, value):
    out = _check_list(path, value, _MAINS_EVENT)
    for i, ev in enumerate(out):
        if ev["kind"] == "frequency" and "frequency_hz" not in value[i]:
            raise ScenarioError(
                "%s[%d].frequency_hz is missing; a frequency event needs it" % (path, i)
            )
    return out


def _check_list(path, value, kinds):
    if not isinstance(value, list):
        raise ScenarioError("%s must be a list of events" % path)
    out = []
    for i, ev in enumerate(value):
        sub = "%s[%d]" % (path, i)
        if not isinstance(ev, dict):
            raise ScenarioError("%s must be an object with at_s and kind" % sub)
        kind = ev.get("kind")
        if kind not in kinds:
            raise ScenarioError(
                "%s.kind = %s is not allowed; allowed: %s"
                % (sub, _fmt(kind), ", ".join(sorted(kinds)))
            )
        spec = {"at_s": ("num", 0, 0, 604800), "kind": ("str", kind)}
        spec.update(kinds[kind])
        out.append(_check_obj(sub, spec, ev))
    return out


def load(path):
    # Read at most MAX_BYTES (a device such as /dev/zero would never end), then checked.
    parts = []
    total = 0
    try:
        with open(path) as f:
            while total <= MAX_BYTES:
                part = f.read(65536)
                if not part:
                    break
                parts.append(part)
                total += len(part)
            text = "".join(parts)
    except (OSError, UnicodeError) as e:
        raise ScenarioError("%s: cannot read: %s" % (path, e))
    except MemoryError:
        raise ScenarioError("%s: too large for this interpreter's heap" % path)
    if total > MAX_BYTES:
        raise ScenarioError("%s: larger than %d bytes; allowed up to that" % (path, MAX_BYTES))
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ScenarioError("%s: not valid JSON: %s" % (path, e))
    except (RuntimeError, MemoryError) as e:
        # nested deeper than the parser's recursion allows (RecursionError is one)
        raise ScenarioError("%s: not valid JSON: %s" % (path, type(e).__name__))
    return check(data)


def check(data):
    sc = _check_obj("", _SPEC, data)
    sc["start_time_s"] = clock.parse(sc["start_time"])
    return sc
