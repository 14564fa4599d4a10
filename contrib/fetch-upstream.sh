#!/usr/bin/env bash
# Makes the reference tree the tests compare gaoler against (GAOLER_UPSTREAM):
# fail2ban's repository at the commit in UPSTREAM_COMMIT, laid out as
#   config/       fail2ban's config/ (the stock /etc/fail2ban tree)
#   test-config/  fail2ban/tests/config/
#   logs/         fail2ban/tests/files/logs/ (the annotated sample logs)
#   golden/       all-jails.local (every stock jail enabled on an empty log)
#                 and dump-all-jails.jsonl (what Debian's fail2ban-client -d
#                 prints for config/ with it, one JSON array per line)
# The golden dump needs Debian's fail2ban package (apt-get install fail2ban).
#
# Usage: contrib/fetch-upstream.sh DIR   then   export GAOLER_UPSTREAM=DIR
set -euo pipefail
dest=${1:?usage: $0 DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
commit=$(tr -d ' \n' < "$here/UPSTREAM_COMMIT")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

git clone --quiet https://github.com/fail2ban/fail2ban.git "$work/src"
git -C "$work/src" checkout --quiet "$commit"
mkdir -p "$dest"
cp -r "$work/src/config" "$dest/config"
cp -r "$work/src/fail2ban/tests/config" "$dest/test-config"
cp -r "$work/src/fail2ban/tests/files/logs" "$dest/logs"
cp "$work/src/COPYING" "$dest/COPYING"

mkdir -p "$dest/golden"
# Every jail section of jail.conf but the defaults, enabled on an empty log.
sed -n 's/^\[\([A-Za-z0-9_-]*\)\]$/\1/p' "$dest/config/jail.conf" \
  | grep -vx -e INCLUDES -e DEFAULT \
  | while read -r jail; do
      printf '[%s]\nenabled = true\nlogpath = /tmp/empty.log\nbackend = polling\n' "$jail"
    done > "$dest/golden/all-jails.local"

if [ -x /usr/bin/fail2ban-client ]; then
  # (as `cfgall`, relative: the dump holds the path of one ignorecommand)
  cp -r "$dest/config" "$work/cfgall"
  mkdir -p "$work/cfgall/jail.d"
  cp "$dest/golden/all-jails.local" "$work/cfgall/jail.d/"
  touch /tmp/empty.log
  (cd "$work" && /usr/bin/python3 /usr/bin/fail2ban-client -c cfgall -d 2>/dev/null) \
    | /usr/bin/python3 -c '
import ast, json, sys
for line in sys.stdin:
    line = line.strip()
    if line.startswith("["):
        print(json.dumps(ast.literal_eval(line)))
' > "$dest/golden/dump-all-jails.jsonl"
else
  echo "fail2ban-client not installed: golden/dump-all-jails.jsonl not made" >&2
fi
echo "made $dest; export GAOLER_UPSTREAM=$dest"
