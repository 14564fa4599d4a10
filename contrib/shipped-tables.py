#!/usr/bin/env python3
"""Print the README's tables of shipped jails and actions from config/.

Run from the repository root; paste the output under "## Shipped jails and
actions". A test (config_dump.rs) checks the README names every jail and action.
"""
import configparser
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "config")
upstream = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else None


def raw(path):
    cp = configparser.RawConfigParser(
        strict=False, allow_no_value=True, default_section="\0"
    )
    cp.optionxform = str
    cp.read(path)
    return cp


def cell(text):
    return " ".join(text.split()).replace("|", "\\|")


jails = raw(root / "jail.conf")
theirs = set(raw(upstream / "jail.conf").sections()) if upstream else set()
print("| jail | filter | mode | port | |")
print("| --- | --- | --- | --- | --- |")
for name in jails.sections():
    if name in ("INCLUDES", "DEFAULT"):
        continue
    sec = jails[name]
    filt = sec.get("filter", "%(__name__)s")
    filt = filt.replace("%(__name__)s", name).replace("[mode=%(mode)s]", "")
    mode = sec.get("mode", "")
    port = sec.get("port", "")
    port = {"0:65535": "all", "": "all"}.get(port, port)
    note = "" if not upstream or name in theirs else "beyond fail2ban"
    print(f"| `{name}` | {cell(filt)} | {cell(mode)} | {cell(port)} | {note} |")

print()
print("| action | what it does |")
print("| --- | --- |")
for path in sorted((root / "action.d").glob("*.conf")):
    name = path.stem
    if name.endswith("common"):
        continue
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip()
        if not text:
            if lines:
                break
            continue
        lines.append(text)
    summary = re.sub(r"^gaoler action:\s*", "", " ".join(lines))
    summary = re.split(r"(?<=\.)\s", summary, maxsplit=1)[0]
    print(f"| `{name}` | {cell(summary)} |")
