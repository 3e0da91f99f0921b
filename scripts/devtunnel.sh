#!/usr/bin/env bash
# Exposes the skill (port 5001) on a Microsoft dev tunnel: creates the tunnel or reuses it, prints its
# public URL, the manifest address and the exact pack command, then hosts the tunnel until Ctrl+C.
# Usage: scripts/devtunnel.sh [--print-only]
# Environment: TUNNEL_ID (default handover-skill), SKILL_PORT (5001), SKILL_APP_ID (required: the
# skill's app registration, which the skill must run with behind a tunnel).
set -euo pipefail
cd "$(dirname "$0")/.."

: "${TUNNEL_ID:=handover-skill}"
: "${SKILL_PORT:=5001}"

# Without SKILL_APP_ID the skill runs in anonymous local mode: it checks no token, so anyone who
# finds the tunnel's URL could open live chats and write to agents. Refuse before touching the tunnel.
if ! [[ "${SKILL_APP_ID:-}" =~ ^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$ ]]; then
  {
    echo "devtunnel.sh: set SKILL_APP_ID to the skill's app registration id (a GUID) first."
    echo "  Without it the skill runs in anonymous local mode, which checks no token: published on a"
    echo "  tunnel, anyone with its URL could open live chats and write to your agents (the skill itself"
    echo "  refuses to start anonymously with a public SKILL_PUBLIC_URL). Register the skill in Entra ID"
    echo "  and run the skill with SKILL_APP_ID, SKILL_APP_SECRET and SKILL_TENANT_ID (see the README)."
  } >&2
  exit 1
fi

if ! command -v devtunnel >/dev/null; then
  {
    echo "devtunnel.sh: the devtunnel CLI is not installed."
    echo "  Install it (https://learn.microsoft.com/azure/developer/dev-tunnels/get-started):"
    echo "    Linux:   curl -sL https://aka.ms/DevTunnelCliInstall | bash"
    echo "    macOS:   brew install --cask devtunnel"
    echo "    Windows: winget install Microsoft.devtunnel"
    echo "  then log in: devtunnel user login"
  } >&2
  exit 1
fi

if ! devtunnel user show >/dev/null 2>&1; then
  echo "devtunnel.sh: you are not logged in to dev tunnels. Run: devtunnel user login" >&2
  exit 1
fi

if devtunnel show "$TUNNEL_ID" >/dev/null 2>&1; then
  echo "Reusing the dev tunnel $TUNNEL_ID."
else
  echo "Creating the dev tunnel $TUNNEL_ID."
  devtunnel create "$TUNNEL_ID" --allow-anonymous >/dev/null
fi
if ! devtunnel port show "$TUNNEL_ID" --port-number "$SKILL_PORT" >/dev/null 2>&1; then
  devtunnel port create "$TUNNEL_ID" --port-number "$SKILL_PORT" >/dev/null
fi

# The public URL of the port, e.g. https://abcd1234-5001.euw.devtunnels.ms
url="$(devtunnel show "$TUNNEL_ID" | grep -Eo "https://[A-Za-z0-9.-]*-${SKILL_PORT}\.[A-Za-z0-9.-]*devtunnels\.ms" | head -n 1 || true)"
if [ -z "$url" ]; then
  echo "devtunnel.sh: could not find the public URL of port $SKILL_PORT in 'devtunnel show $TUNNEL_ID'." >&2
  exit 1
fi

printf '\n  Skill public URL:  %s\n' "$url"
printf '  Skill manifest:    %s/skill-manifest.json\n' "$url"
printf '  Run the skill:     SKILL_PUBLIC_URL=%s cargo run -p skill   (with SKILL_APP_ID, SKILL_APP_SECRET, SKILL_TENANT_ID, BOT_APP_ID, BOT_APP_SECRET)\n' "$url"
printf '  Pack the solution: scripts/pack-solution.sh --endpoint %s --app-id %s --out ContosoHandover.zip\n\n' "$url" "$SKILL_APP_ID"

if [ "${1:-}" = "--print-only" ]; then
  exit 0
fi
exec devtunnel host "$TUNNEL_ID"
