# The manual against the code: the tables made from the firmware's own are fresh, every
# console command has its row, every link leads to a file in the repository, and the
# README stays a front door.
import os
import re
import subprocess
import sys

from conftest import ROOT
from firmware import commands

DOCS = os.path.join(ROOT, "docs")


def _pages():
    pages = [os.path.join(ROOT, "README.md"), os.path.join(ROOT, "CHANGELOG.md")]
    return pages + sorted(os.path.join(DOCS, f) for f in os.listdir(DOCS) if f.endswith(".md"))


def test_the_settings_and_alarms_tables_are_made_from_the_firmware():
    p = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "docs_tables.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 0, p.stderr
    text = open(os.path.join(DOCS, "settings.md")).read()
    from firmware.config import SCHEMA

    assert all("| `%s` |" % row[0] in text for row in SCHEMA)


def test_a_stale_table_is_found(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import docs_tables

    name, what, source, make = docs_tables.TABLES[0]
    text = open(os.path.join(DOCS, name)).read()
    assert docs_tables.made(text, what, source, make) == text
    stale = text.replace("| `mains.nominal_v` | 230 |", "| `mains.nominal_v` | 240 |")
    assert stale != text and docs_tables.made(stale, what, source, make) == text


def test_every_console_command_has_its_row_and_is_in_help():
    text = open(os.path.join(DOCS, "console.md")).read()
    names = sorted(n[5:] for n in dir(commands.Commands) if n.startswith("_cmd_"))
    assert len(names) >= 17
    rows = set()  # the commands each row's first cell names
    for cell in re.findall(r"^\| ([^|]*`[^|]*)\|", text, re.M):
        rows |= set(re.findall(r"`(\w+)", cell))
    assert set(names) <= rows, set(names) - rows
    assert rows <= set(names) | {"pin"}, rows - set(names)
    listed = set(re.findall(r"\b(\w+)\b", commands.HELP))
    assert set(names) <= listed, set(names) - listed


def test_every_link_leads_to_a_file_in_the_repository():
    for page in _pages():
        text = open(page).read()
        assert "../shared" not in text and "DESIGN.md" not in text, page
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
            if target.startswith(("http://", "https://")):
                continue
            path = os.path.normpath(os.path.join(os.path.dirname(page), target))
            assert path.startswith(ROOT + os.sep), (page, target)
            assert os.path.exists(path), (page, target)


def test_the_readme_is_a_front_door():
    lines = open(os.path.join(ROOT, "README.md")).read().splitlines()
    assert len(lines) <= 150
    text = "\n".join(lines)
    assert "make demo" in text and "make test" in text and "LICENSE" in text
    assert os.path.exists(os.path.join(ROOT, "LICENSE"))
