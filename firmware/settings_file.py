# The configuration on the board's filesystem: config.json, the settings that differ from
# their defaults, framed and checked like the persistent record (store.py: JSON, CRC-32,
# atomic replace).
#
# At boot: a missing file means the defaults; a damaged file, or one holding a value that
# no longer passes the schema, boots with the defaults and raises `config_lost` rather
# than stopping the board. `config save` writes it; nothing else does.
from firmware import alarms, store
from firmware.config import Config

NAME = "config.json"
VERSION = 1


def load(fs, alarm_set, now_ms):
    cfg = Config()
    data = fs.read(NAME)
    if data is None:
        return cfg
    record = store.decode(data, VERSION)
    settings = record.get("settings") if record is not None else None
    if not isinstance(settings, dict):
        alarm_set.raise_(now_ms, alarms.AL_CONFIG_LOST)
        return cfg
    try:
        cfg.update(settings)
    except ValueError:
        alarm_set.raise_(now_ms, alarms.AL_CONFIG_LOST)
    return cfg


def save(fs, cfg):
    # Raises OSError when the filesystem refuses.
    fs.write(NAME, store.encode({"v": VERSION, "settings": cfg.changed()}))
