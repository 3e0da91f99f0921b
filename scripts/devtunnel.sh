#!/usr/bin/env bash
# Exposes the skill (port 5001) on a Microsoft dev tunnel: creates the tunnel or reuses it, prints its
# public URL, the manifest address and the exact pack command, then hosts the tunnel until Ctrl+C.
# Usage: scripts/devtunnel.sh [--print-only]
# Environment: TUNNEL_ID (default handover-skill), SKILL_PORT (5001), SKILL_APP_ID (for the pack command).
set -euo pipefail
cd "$(dirname "$0")/.."

: "${TUNNEL_ID:=handover-skill}"
: "${SKILL_PORT:=5001}"
: "${SKILL_APP_ID:=<your-skill-app-id>}"

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
