#!/usr/bin/env bash
# The README's demo command: builds Ironpool and runs `ironpool demo`, a
# region on the embedded SQLite database with an admin account and
# simulated machines.
#
# Building needs libxml2's headers, pkg-config and libclang (tag
# definitions are XPath evaluated by libxml2, as MAAS does through lxml; the
# bindings are generated at build time). A fresh Debian machine lacks them,
# so they are installed here when missing (as root, or through sudo).
set -euo pipefail
cd "$(dirname "$0")"

need=()
for p in pkg-config libxml2-dev libclang-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "demo.sh: installing build dependencies: ${need[*]}" >&2
  $sudo apt-get install -y --no-install-recommends "${need[@]}" \
    || { $sudo apt-get update && $sudo apt-get install -y --no-install-recommends "${need[@]}"; }
fi

exec cargo run --release -- demo "$@"
