#!/usr/bin/env bash
# Packs the Copilot Studio solution with the skill's endpoint and app id filled in.
# Usage: scripts/pack-solution.sh --endpoint https://NAME-5001.euw.devtunnels.ms --app-id GUID [--out FILE.zip]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "pack-solution.sh: cargo is required (install Rust from https://rustup.rs)" >&2; exit 1; }
exec cargo run --quiet -p copilot-solution -- pack "$@"
