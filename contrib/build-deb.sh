#!/usr/bin/env bash
# Builds gaoler's Debian package with cargo-deb: the binary, then the man
# pages and completions it writes (`gaoler generate-docs`), then the
# package (metadata in crates/gaoler/Cargo.toml). PROFILE=dev makes a
# package from the debug build (CI reuses its test build that way).
# Prints the package's path.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${PROFILE:-release}
dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
command -v cargo-deb >/dev/null || cargo install cargo-deb --locked --quiet
cargo build --profile "$profile" -p gaoler --quiet
rm -rf target/docs
"target/$dir/gaoler" generate-docs target/docs
cargo deb -p gaoler --no-build --profile "$profile" --quiet 2>/dev/null \
  || cargo deb -p gaoler --no-build --profile "$profile"
ls -t target/debian/gaoler_*.deb | head -1
