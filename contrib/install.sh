#!/usr/bin/env bash
# Install gaoler: the binary (plus fail2ban-* names for drop-in use), the
# shipped configuration as /etc/gaoler (kept if it already exists) and the
# systemd unit. Run as root from the repository root after
# `cargo build --release`.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/gaoler
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
install -D -m 0755 "$bin" /usr/local/bin/gaoler
for n in fail2ban-client fail2ban-server fail2ban-regex; do
  # Only where fail2ban itself is not installed.
  [ -e "/usr/bin/$n" ] || ln -sf gaoler "/usr/local/bin/$n"
done
if [ ! -e /etc/gaoler ]; then
  mkdir -p /etc/gaoler
  cp -r config/. /etc/gaoler/
  rm -rf /etc/gaoler/samples
  mkdir -p /etc/gaoler/jail.d
fi
# Man pages and completions, made from the tools' own option definitions.
docs=$(mktemp -d)
"$bin" generate-docs "$docs"
install -d /usr/local/share/man/man1 /usr/local/share/bash-completion/completions \
  /usr/local/share/zsh/site-functions /usr/local/share/fish/vendor_completions.d
for page in "$docs"/man/*.1; do
  case "$(basename "$page")" in
    # (fail2ban's own pages stay where fail2ban is installed)
    fail2ban-*) [ -e /usr/bin/fail2ban-client ] && continue ;;
  esac
  install -m 0644 "$page" /usr/local/share/man/man1/
done
install -m 0644 "$docs"/completions/bash/gaoler /usr/local/share/bash-completion/completions/
install -m 0644 "$docs"/completions/zsh/_gaoler /usr/local/share/zsh/site-functions/
install -m 0644 "$docs"/completions/fish/gaoler.fish /usr/local/share/fish/vendor_completions.d/
rm -rf "$docs"
# (the unit names the packaged binary, /usr/bin/gaoler)
sed 's|/usr/bin/gaoler|/usr/local/bin/gaoler|g' contrib/gaoler.service > /etc/systemd/system/gaoler.service
chmod 0644 /etc/systemd/system/gaoler.service
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  echo "installed; enable jails in /etc/gaoler/jail.d/*.local, then: systemctl enable --now gaoler"
else
  echo "installed; start with: gaoler server -c /etc/gaoler"
fi
