# The configuration on the board's filesystem: config.json, the settings that differ from
# their defaults, framed and checked like the persistent record (store.py: JSON, CRC-32,
# atomic replace), and config.bak, the copy it replaced.
#
# At boot: a missing file means the defaults (a new board). A damaged file, one from a
# newer firmware (a higher "v"), or one holding a value that no longer passes the schema
# is not used: the board boots with the last good copy (config.bak), or with the
# defaults when that will not do either, and raises `config_lost` - it never stops or
# loops. `config save` writes it; nothing else does.
#
# A file from an older firmware is brought up to this one's schema, one version at a time
# (_migrate), before it is checked; it is rewritten only by the next `config save`.
from firmware import alarms, store
from firmware.config import Config

NAME = "config.json"
BACKUP = "config.bak"
VERSION = 3
OLDEST = 1


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


def _settings(data):
    # The settings in a saved file, or None when it cannot be used.
    if data is None:
        return None
    record = store.decode(data, VERSION, OLDEST)
    settings = record.get("settings") if record is not None else None
    if not isinstance(settings, dict):
        return None
    for version in range(record["v"], VERSION):
        settings = _migrate(version, settings)
    try:
        Config().update(settings)
    except ValueError:
        return None
    return settings


def load(fs, alarm_set, now_ms):
    cfg = Config()
    data = fs.read(NAME)
    if data is None and fs.read(BACKUP) is None:
        return cfg
    settings = _settings(data)
    if settings is None:
        alarm_set.raise_(now_ms, alarms.AL_CONFIG_LOST)
        settings = _settings(fs.read(BACKUP))
    if settings is not None:
        cfg.update(settings)
    return cfg


def save(fs, cfg):
    # Raises OSError when the filesystem refuses. A power cut at any point leaves a
    # good config.json or config.bak, the new settings or the old ones.
    old = fs.read(NAME)
    if _settings(old) is not None:
        fs.write(BACKUP, old)
    fs.write(NAME, store.encode({"v": VERSION, "settings": cfg.changed()}))
