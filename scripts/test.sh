#!/usr/bin/env bash
# Runs every check CI runs: formatting, lints, and all tests (Rust unit and integration tests, the
# botbuilder interop check, which needs its npm packages installed first, and the browser test, which
# needs Debian's chromium and chromium-driver: `apt-get install -y chromium chromium-driver`).
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in cargo node npm; do
  command -v "$tool" >/dev/null || { echo "scripts/test.sh: '$tool' is required (install Rust from rustup.rs, Node.js 20 from nodejs.org)" >&2; exit 1; }
done

npm ci --prefix interop/sdk-hosts --no-audit --no-fund --loglevel=error
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The end-to-end tests start the three services as real processes.
cargo build --workspace --bins
cargo test --workspace
