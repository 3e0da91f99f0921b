#!/usr/bin/env bash
# Runs the whole handover on this machine: the skill (anonymous local mode), Contoso Live Chat, and
# the local stand-in for Copilot Studio and Teams. Prints the three URLs; Ctrl+C stops all three.
#
#   scripts/dev.sh --genesys   the Genesys Cloud stand-in instead of Contoso Live Chat (Python 3 with
#                              pip install -r genesys-standin/requirements.txt), so a Genesys user
#                              sees the flow through Open Messaging before touching their org
set -euo pipefail
cd "$(dirname "$0")/.."

hub=contoso
case "${1:-}" in
  --genesys) hub=genesys ;;
  "") ;;
  *) echo "dev.sh: unknown option '$1' (the one option is --genesys)" >&2; exit 1 ;;
esac

: "${SKILL_BIND:=127.0.0.1:5001}"
: "${LIVECHAT_BIND:=127.0.0.1:5000}"
: "${EMULATOR_BIND:=127.0.0.1:5002}"
: "${DEV_DATA_DIR:=data}"
export SKILL_BIND LIVECHAT_BIND EMULATOR_BIND
export SKILL_DATA_DIR="${SKILL_DATA_DIR:-$DEV_DATA_DIR/skill}"
export LIVECHAT_DATA_DIR="${LIVECHAT_DATA_DIR:-$DEV_DATA_DIR/livechat}"
export LIVECHAT_BASE_URL="${LIVECHAT_BASE_URL:-http://$LIVECHAT_BIND}"
export LIVECHAT_WEBHOOK_URL="${LIVECHAT_WEBHOOK_URL:-http://$SKILL_BIND/api/livechat/messages}"
export SKILL_ENDPOINT="${SKILL_ENDPOINT:-http://$SKILL_BIND/api/messages}"
export SKILL_PUBLIC_URL="${SKILL_PUBLIC_URL:-http://$SKILL_BIND}"
# A fresh shared secret per run, so that even local webhooks are signed and checked.
export WEBHOOK_SECRET="${WEBHOOK_SECRET:-$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')}"

tools="curl"
[ -n "${DEV_SKIP_BUILD:-}" ] || tools="$tools cargo"
for tool in $tools; do
  command -v "$tool" >/dev/null || { echo "dev.sh: '$tool' is required (Rust from https://rustup.rs; curl from your package manager)" >&2; exit 1; }
done

# DEV_SKIP_BUILD=1 and DEV_BIN_DIR run binaries built elsewhere (the scripts' own test does).
if [ -z "${DEV_SKIP_BUILD:-}" ]; then
  cargo build --quiet --bins -p skill -p contoso-livechat -p copilot-solution
fi
bin="${DEV_BIN_DIR:-${CARGO_TARGET_DIR:-target}/debug}"

pids=()
stop() {
  trap - INT TERM EXIT
  if [ "${#pids[@]}" -gt 0 ]; then
    echo
    echo "Stopping the skill, the live chat and the stand-in..."
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap stop INT TERM EXIT

if [ "$hub" = genesys ]; then
  : "${GENESYS_STANDIN_BIND:=127.0.0.1:5003}"
  python="${HANDOVER_PYTHON:-python3}"
  "$python" -c "import PureCloudPlatformClientV2" 2>/dev/null || {
    echo "dev.sh: the Genesys stand-in needs Python 3 with Genesys' SDK: pip install -r genesys-standin/requirements.txt (or set HANDOVER_PYTHON to a Python that has it)" >&2
    exit 1
  }
  export GENESYS_STANDIN_BIND GENESYS_STANDIN_WEBHOOK_URL="$LIVECHAT_WEBHOOK_URL"
  export LIVECHAT_KIND=genesys GENESYS_API_URL="http://$GENESYS_STANDIN_BIND" GENESYS_LOGIN_URL="http://$GENESYS_STANDIN_BIND"
  export GENESYS_CLIENT_ID="${GENESYS_CLIENT_ID:-standin-client}" GENESYS_CLIENT_SECRET="${GENESYS_CLIENT_SECRET:-standin-secret}"
  export GENESYS_INTEGRATION_ID="${GENESYS_INTEGRATION_ID:-5a5c7c2a-0000-4000-8000-000000000001}"
  "$python" genesys-standin/standin.py & pids+=($!)
  hub_url="http://$GENESYS_STANDIN_BIND"
else
  "$bin/contoso-livechat" & pids+=($!)
  hub_url="http://$LIVECHAT_BIND"
fi
"$bin/skill" & pids+=($!)
"$bin/copilot-solution" emulate & pids+=($!)

# Wait (bounded) until all three answer (the stand-in's SDK takes some seconds to load).
for url in "$hub_url/healthz" "http://$SKILL_BIND/healthz" "http://$EMULATOR_BIND/healthz"; do
  for _ in $(seq 1 600); do
    if curl -fsS "$url" >/dev/null 2>&1; then continue 2; fi
    sleep 0.1
  done
  echo "dev.sh: $url did not answer; see the logs above" >&2
  exit 1
done

printf '\n  The handover runs locally:\n'
printf '    Teams user (Copilot Studio stand-in)  http://%s\n' "$EMULATOR_BIND"
if [ "$hub" = genesys ]; then
  printf '    Live agent (Genesys Cloud stand-in)   %s\n' "$hub_url"
else
  printf '    Live agent (Contoso Live Chat)        http://%s   (sign in: alex / contoso-demo)\n' "$LIVECHAT_BIND"
fi
printf '    Handoff skill                         http://%s/skill-manifest.json\n\n' "$SKILL_BIND"
printf '  Say "I need to talk to a person" in the first, answer in the second, say "goodbye" to hand back.\n'
printf '  Press Ctrl+C to stop all three.\n\n'

# Stop everything as soon as one of them stops.
wait -n "${pids[@]}"
