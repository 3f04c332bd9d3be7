# The manual's tables that the firmware's own tables make, so that the manual cannot drift
# from what the board does: every setting in docs/settings.md (firmware/config.py: SCHEMA)
# and every alarm in docs/operation.md (firmware/alarms.py: TABLE, and which latch).
#
#   python3 tools/docs_tables.py          # rewrite the tables between their markers
#   python3 tools/docs_tables.py --check  # exit 1, naming the file, if one is stale
#
# Everything outside the markers is the manual's own prose and stays as written.
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from firmware import alarms  # noqa: E402
from firmware.config import SCHEMA, SECRET  # noqa: E402


def _default(row):
    key, kind, default = row[0], row[1], row[2]
    if kind == "bool":
        return "on" if default else "off"
    if default == "" or key in SECRET and default:
        return "(none)"
    return str(default)


def _allowed(row):
    kind, low, high, unit = row[1], row[3], row[4], row[5]
    if kind == "bool":
        return "on / off"
    if kind == "str":
        return "%d..%d characters, no spaces" % (low, high)
    if kind == "text":
        return "%d..%d printable characters" % (low, high)
    if kind == "ip":
        return "IPv4 address"
    if kind == "pin":
        return "1..%d digits" % high
    if row[0] == "mains.frequency_hz":
        return "50 or 60 Hz"
    return ("%s..%s %s" % (low, high, unit)).rstrip()


def settings_table():
    lines = ["| key | default | allowed | meaning |", "| --- | --- | --- | --- |"]
    for row in SCHEMA:
        lines.append(
            "| `%s` | %s | %s | %s |"
            % (row[0], _default(row), _allowed(row), row[6].replace("|", "\\|"))
        )
    return "\n".join(lines)


_CLASSES = {alarms.WARNING: "warning", alarms.SHUTDOWN: "shutdown", alarms.TRIP: "electrical trip"}


def alarms_table():
    lines = ["| alarm | class | once its cause is gone |", "| --- | --- | --- |"]
    latching = alarms.Alarms(None).latching()
    for code in sorted(alarms.TABLE):
        name, cls = alarms.TABLE[code]
        stays = (
            "stands until acknowledged (`ack`), across restarts"
            if latching >> code & 1
            else "clears by itself"
        )
        lines.append("| `%s` | %s | %s |" % (name, _CLASSES[cls], stays))
    return "\n".join(lines)


# (file under docs/, what the markers call the table, the table)
TABLES = (
    ("settings.md", "settings", "firmware/config.py", settings_table),
    ("operation.md", "alarms", "firmware/alarms.py", alarms_table),
)


def markers(what, source):
    return (
        "<!-- %s table: made by tools/docs_tables.py from %s -->" % (what, source),
        "<!-- end of the %s table -->" % what,
    )


def made(text, what, source, make):
    # text with its table made anew; ValueError when the markers are missing
    begin, end = markers(what, source)
    a = text.find(begin)
    b = text.find(end)
    if a < 0 or b < a:
        raise ValueError("the markers are missing (%s ... %s)" % (begin, end))
    return text[: a + len(begin)] + "\n" + make() + "\n" + text[b:]


def main(argv):
    check = argv == ["--check"]
    if argv and not check:
        sys.stderr.write("docs_tables: usage: docs_tables.py [--check]\n")
        return 2
    stale = []
    for name, what, source, make in TABLES:
        path = os.path.join(ROOT, "docs", name)
        with open(path) as f:
            text = f.read()
        try:
            new = made(text, what, source, make)
        except ValueError as e:
            sys.stderr.write("docs_tables: docs/%s: %s\n" % (name, e))
            return 1
        if new == text:
            continue
        if check:
            stale.append("docs/" + name)
        else:
            with open(path, "w") as f:
                f.write(new)
    if stale:
        sys.stderr.write(
            "docs_tables: %s stale: run python3 tools/docs_tables.py\n" % ", ".join(stale)
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
