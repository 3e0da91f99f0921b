#!/usr/bin/env bash
# Runs every check CI runs (formatting, lints, all tests), after setting up what a fresh machine
# lacks: Debian's Chromium and ChromeDriver for the browser tests and podman and debootstrap for the
# image test (installed with apt-get when this runs as root or with password-less sudo), a local
# PostgreSQL that is installed but stopped (started), the interop test's npm packages, and Python
# with Genesys' SDK for the Genesys stand-in. Where it cannot install something it says exactly
# what to install. CI (.ci/run) runs this script, so the two cannot drift.
#
#   TEST_SH_NO_INSTALL=1   never install or start anything; only say what is missing
#   TEST_SH_SETUP_ONLY=1   set up, then stop before the checks
#   SKILL_TEST_POSTGRES_URL  another PostgreSQL for the tests (default: the local server)
#   CHROMIUM_BIN, CHROMEDRIVER_BIN  the browser and its driver (default: Debian's, in /usr/bin)
#   HANDOVER_IMAGE_TEST=skip:<why>  skip the image test (set here, loudly, when it cannot run)
set -euo pipefail
cd "$(dirname "$0")/.."

: "${CHROMIUM_BIN:=/usr/bin/chromium}"
: "${CHROMEDRIVER_BIN:=/usr/bin/chromedriver}"
export CHROMIUM_BIN CHROMEDRIVER_BIN

say() { echo "scripts/test.sh: $*" >&2; }

for tool in cargo node npm curl; do
  command -v "$tool" >/dev/null || {
    say "'$tool' is required: Rust from https://rustup.rs, Node.js 20 from https://nodejs.org, curl from your package manager"
    exit 1
  }
done

# Runs a command as root: directly, or through password-less sudo; fails when neither can.
as_root() {
  if [ -n "${TEST_SH_NO_INSTALL:-}" ]; then
    return 1
  elif [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo -n "$@"
  else
    return 1
  fi
}

if [ ! -x "$CHROMIUM_BIN" ] || [ ! -x "$CHROMEDRIVER_BIN" ]; then
  say "the browser tests need $CHROMIUM_BIN and $CHROMEDRIVER_BIN; installing Debian's chromium and chromium-driver"
  if ! { command -v apt-get >/dev/null &&
         as_root apt-get update -qq &&
         as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }; then
    say "cannot install them here; run: sudo apt-get install -y chromium chromium-driver"
    say "(or set CHROMIUM_BIN and CHROMEDRIVER_BIN to a Chromium and its matching chromedriver)"
    exit 1
  fi
fi

# The image test builds the Containerfile with podman and runs the image's binaries under chroot,
# which needs root. Where it cannot run it is skipped, and this script says so at the start and end.
if [ -z "${HANDOVER_IMAGE_TEST:-}" ]; then
  if ! command -v podman >/dev/null || ! command -v debootstrap >/dev/null; then
    say "the image test needs podman and debootstrap; installing Debian's"
    { command -v apt-get >/dev/null &&
      as_root apt-get update -qq &&
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman debootstrap >/dev/null; } || true
  fi
  if ! command -v podman >/dev/null || ! command -v debootstrap >/dev/null; then
    export HANDOVER_IMAGE_TEST="skip:podman and debootstrap are not installed (sudo apt-get install -y podman debootstrap)"
  elif [ "$(id -u)" != 0 ]; then
    export HANDOVER_IMAGE_TEST="skip:it runs the image's binaries under chroot, which needs root"
  fi
fi
image_test_note() {
  case "${HANDOVER_IMAGE_TEST:-}" in
    skip:*) say "THE IMAGE TEST IS SKIPPED: ${HANDOVER_IMAGE_TEST#skip:}" ;;
  esac
}
image_test_note

# The store and multi-instance tests use PostgreSQL: the local server on 127.0.0.1:5432, user
# postgres without a password, unless SKILL_TEST_POSTGRES_URL names another.
postgres_hint="the PostgreSQL tests need a server on 127.0.0.1:5432 that lets the user postgres in without a password (Debian: sudo apt-get install -y postgresql, and 'trust' for 127.0.0.1 in pg_hba.conf), or SKILL_TEST_POSTGRES_URL=postgres://user:password@host:port/database"
if ! command -v pg_isready >/dev/null; then
  say "pg_isready (PostgreSQL's client tools) is missing; $postgres_hint"
  exit 1
fi
postgres_answers() {
  if [ -n "${SKILL_TEST_POSTGRES_URL:-}" ]; then
    pg_isready -q -d "$SKILL_TEST_POSTGRES_URL"
  else
    pg_isready -q -h 127.0.0.1 -p 5432
  fi
}
if ! postgres_answers; then
  cluster=$(ls /etc/postgresql 2>/dev/null | head -n 1 || true)
  if [ -z "${SKILL_TEST_POSTGRES_URL:-}" ] && [ -n "$cluster" ] && command -v pg_ctlcluster >/dev/null &&
     as_root pg_ctlcluster --skip-systemctl-redirect "$cluster" main start; then
    say "started the local PostgreSQL $cluster"
    for _ in $(seq 1 60); do
      postgres_answers && break
      sleep 0.5
    done
  fi
  postgres_answers || { say "PostgreSQL does not answer; $postgres_hint"; exit 1; }
fi

# The interop test's packages, reinstalled when the lock file is newer than what is installed.
installed=interop/sdk-hosts/node_modules/.package-lock.json
if [ ! -f "$installed" ] || [ interop/sdk-hosts/package-lock.json -nt "$installed" ]; then
  npm ci --prefix interop/sdk-hosts --no-audit --no-fund --loglevel=error
fi
# The Genesys stand-in checks what the skill sends against Genesys' own SDK models: Python 3 with
# PureCloudPlatformClientV2, installed where missing into target/genesys-venv.
if [ -z "${HANDOVER_PYTHON:-}" ]; then
  command -v python3 >/dev/null || {
    say "the Genesys stand-in needs Python 3; installing Debian's"
    { command -v apt-get >/dev/null && as_root apt-get update -qq &&
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null; } ||
      { say "cannot install it here; run: sudo apt-get install -y python3 python3-venv"; exit 1; }
  }
  if python3 -c "import PureCloudPlatformClientV2" 2>/dev/null; then
    HANDOVER_PYTHON=$(command -v python3)
  else
    venv=target/genesys-venv
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import PureCloudPlatformClientV2" 2>/dev/null; then
      [ -n "${TEST_SH_NO_INSTALL:-}" ] && { say "the Genesys stand-in needs: pip install -r genesys-standin/requirements.txt"; exit 1; }
      say "installing Genesys' Python SDK for the Genesys stand-in into $venv"
      python3 -m venv "$venv" 2>/dev/null || {
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null &&
          python3 -m venv "$venv"; } ||
        { say "cannot make a Python venv; run: sudo apt-get install -y python3-venv"; exit 1; }
      "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r genesys-standin/requirements.txt
    fi
    HANDOVER_PYTHON="$PWD/$venv/bin/python"
  fi
fi
export HANDOVER_PYTHON
[ -z "${TEST_SH_SETUP_ONLY:-}" ] || exit 0

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The end-to-end tests start the three services as real processes.
cargo build --workspace --bins
cargo test --workspace
image_test_note
