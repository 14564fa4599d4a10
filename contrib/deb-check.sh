#!/usr/bin/env bash
# CI's package check (issue 14): build gaoler's Debian package, install it
# on this machine with dpkg -i, use the installed tools, verify the unit,
# and purge it again, checking that nothing is left behind.
set -euo pipefail
cd "$(dirname "$0")/.."
deb=$(PROFILE=${PROFILE:-dev} bash contrib/build-deb.sh | tail -1)
echo "package: $deb"
if dpkg -s gaoler >/dev/null 2>&1; then
  echo "gaoler is installed as a package already; not touching it" >&2
  exit 1
fi
paths=$(dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' | grep -v '/$')
cleanup() { dpkg -P gaoler >/dev/null 2>&1 || true; }
trap cleanup EXIT

dpkg -i "$deb" >/dev/null
/usr/bin/gaoler client -c /etc/gaoler -t | grep -qx 'OK: configuration test is successful'
line='Dec  7 05:42:33 host sshd[42]: Failed password for root from 192.0.2.5 port 22 ssh2'
/usr/bin/gaoler regex "$line" /etc/gaoler/filter.d/sshd.conf | grep -q '1 matched'
systemd-analyze verify --man=no /lib/systemd/system/gaoler.service
[ -d /var/lib/gaoler ] && [ -d /etc/gaoler/jail.d ]
# sshd is enabled where it is installed and has a log source, else not
if [ -x /usr/sbin/sshd ] && { [ -e /var/log/auth.log ] || [ -d /run/systemd/journal ] || [ -d /var/log/journal ]; }; then
  grep -qx 'enabled = true' /etc/gaoler/jail.d/sshd-auto.conf
  dump=$(/usr/bin/gaoler client -c /etc/gaoler -d)
  grep -q '"add", "sshd"' <<<"$dump"
else
  [ ! -e /etc/gaoler/jail.d/sshd-auto.conf ]
fi
for t in client server regex; do
  if [ -L "/usr/bin/fail2ban-$t" ] || [ ! -e "/usr/bin/fail2ban-$t" ]; then
    [ "$(readlink -f "/usr/bin/fail2ban-$t")" = /usr/bin/gaoler ]
  else
    # fail2ban's own program stays where fail2ban is installed
    ! update-alternatives --list "fail2ban-$t" 2>/dev/null | grep -q gaoler
  fi
done

dpkg -P gaoler >/dev/null
trap - EXIT
left=""
for p in $paths /var/lib/gaoler /etc/gaoler /run/gaoler; do
  [ -e "$p" ] && left="$left $p"
done
if update-alternatives --list fail2ban-client 2>/dev/null | grep -q gaoler; then
  left="$left (alternative fail2ban-client)"
fi
if [ -n "$left" ]; then
  echo "dpkg -P left:$left" >&2
  exit 1
fi
echo "package built, installed, used and purged cleanly"
