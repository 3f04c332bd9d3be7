# The configuration on the board's filesystem: config.json, the settings that differ from
# their defaults, framed and checked like the persistent record (store.py: JSON, CRC-32,
# atomic replace), and config.bak, a second copy of the same.
#
# At boot: a missing file means the defaults (a new board). A damaged file, one larger
# than MAX_BYTES (read no further), one from a newer firmware (a higher "v"), or one
# holding a value that no longer passes the schema or that the controller cannot use (the
# check given to load: the mains monitor's calibration) is not used: the board boots with
# config.bak, or with the defaults when that will not do either, and raises `config_lost`
# - it never stops or loops. `config save` writes config.json, then config.bak: a power
# cut leaves one of them good, and damage to one leaves the newest settings (the PIN
# among them) in the other.
#
# A file from an older firmware is brought up to this one's schema, one version at a time
# (_migrate), before it is checked; it is rewritten only by the next `config save`.
from firmware import alarms, store
from firmware.config import Config

NAME = "config.json"
BACKUP = "config.bak"
VERSION = 3
OLDEST = 1
MAX_BYTES = 8192  # every setting changed takes under 3 KB


def _migrate(version, settings):
    # Settings saved by schema `version`, as schema version + 1 reads them.
    if version == 1:
        # Version 2 checks the relay and contactor feedback inputs (relay.feedback, on
        # by default). A board set up before that may not have its auxiliary contacts
        # wired: it keeps running without the check until someone turns it on.
        if "relay.feedback" not in settings:
            settings["relay.feedback"] = False
    elif version == 2:
        # Version 3's fast detector acts only beyond the under- and over-voltage levels
        # (a fast_trip_pct of 15, the old default, took every sag below 85 % in ms). A
        # saved level that would now be refused is raised to the nearest one allowed, so
        # the board keeps the rest of its settings rather than falling back to defaults.
        fast = settings.get("mains.fast_trip_pct", 25)
        uv = settings.get("mains.uv_pct", 85)
        ov = settings.get("mains.ov_pct", 113)
        if isinstance(fast, int) and isinstance(uv, int) and isinstance(ov, int):
            need = max(fast, 101 - uv, ov - 99)
            if need != fast:
                settings["mains.fast_trip_pct"] = min(50, need)
    return settings


def _config(data):
    # The configuration in a saved file, or None when it cannot be used.
    if data is None:
        return None
    record = store.decode(data, VERSION, OLDEST)
    settings = record.get("settings") if record is not None else None
    if not isinstance(settings, dict):
        return None
    for version in range(record["v"], VERSION):  # pyright: ignore[reportOptionalSubscript]
        settings = _migrate(version, settings)
    cfg = Config()
    try:
        cfg.update(settings)
    except ValueError:
        return None
    return cfg


def _read(fs, name):
    # The file's bytes, or None when it is missing; a file too large to be ours is read
    # as damaged (b""), not into the heap.
    if fs.size(name) > MAX_BYTES:
        return b""
    return fs.read(name)


def _usable(data, check):
    # The configuration in a saved file, or None when it cannot be used: the schema
    # refuses it, or check does.
    cfg = _config(data)
    if cfg is not None and check is not None:
        try:
            check(cfg)
        except ValueError:
            return None
    return cfg


def load(fs, alarm_set, now_ms, check=None):
    # check(cfg) raises ValueError for settings the controller cannot run on. The backup
    # is read only when config.json will not do.
    main = _read(fs, NAME)
    cfg = _usable(main, check)
    if cfg is not None:
        return cfg
    backup = _read(fs, BACKUP)
    if main is None and backup is None:
        return Config()  # a new board
    alarm_set.raise_(now_ms, alarms.AL_CONFIG_LOST)
    cfg = _usable(backup, check)
    return cfg if cfg is not None else Config()


def save(fs, cfg):
    # Raises OSError when the filesystem refuses. Each write replaces its file whole, so a
    # power cut at any point leaves a good config.json or config.bak, new or old.
    data = store.encode({"v": VERSION, "settings": cfg.changed()})
    fs.write(NAME, data)
    fs.write(BACKUP, data)
