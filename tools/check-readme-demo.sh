#!/usr/bin/env bash
# Runs the README's demo command exactly as written (the first ```sh block
# of "Set up on a fresh Debian machine") for a few seconds and checks what a
# newcomer sees: the admin credentials printed, and `version/` answering.
#
# Only the environment differs: a throwaway data directory and a free
# loopback port, so the check neither reuses ./ironpool-data nor fights over
# port 5240. The command text itself comes from the README, so editing the
# README without keeping it working fails CI.
set -euo pipefail
cd "$(dirname "$0")/.."

CMD=$(awk '/^## Set up on a fresh Debian machine/ { s = 1 } s && /^```sh/ { getline; print; exit }' README.md)
[ -n "$CMD" ] || { echo "check-readme-demo: no demo command found in README.md" >&2; exit 1; }
echo "README demo command: $CMD"

WORK=$(mktemp -d /tmp/ironpool-demo.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
OUT="$WORK/out"
: >"$OUT"  # exists before the background shell opens it, for the first grep
# A new process group, so the cargo wrapper and the server stop together.
setsid env IRONPOOL_DATA_DIR="$WORK/data" IRONPOOL_LISTEN="127.0.0.1:$PORT" \
  bash -c "$CMD" >"$OUT" 2>&1 </dev/null &
PID=$!
stop() { kill -TERM -- -"$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap stop EXIT

# The first run compiles in release mode; allow for it on a slow machine.
deadline=$((SECONDS + 1800))
ok=""
while [ $SECONDS -lt $deadline ]; do
  if ! kill -0 "$PID" 2>/dev/null; then
    echo "check-readme-demo: the demo exited early:" >&2; tail -n 40 "$OUT" >&2; exit 1
  fi
  if grep -q '^  password: ' "$OUT" && grep -q '^  API key:  ' "$OUT" \
     && curl -fsS "http://127.0.0.1:$PORT/MAAS/api/2.0/version/" >"$WORK/version" 2>/dev/null; then
    ok=1; break
  fi
  sleep 2
done
[ -n "$ok" ] || { echo "check-readme-demo: no credentials or no version/ answer:" >&2; tail -n 40 "$OUT" >&2; exit 1; }
grep -q '"capabilities"' "$WORK/version" || { echo "check-readme-demo: version/ answered: $(cat "$WORK/version")" >&2; exit 1; }
# Give the simulated machines a moment, then make sure the demo is still up.
sleep 5
kill -0 "$PID" 2>/dev/null || { echo "check-readme-demo: the demo died after starting:" >&2; tail -n 40 "$OUT" >&2; exit 1; }
curl -fsS "http://127.0.0.1:$PORT/MAAS/api/2.0/version/" >/dev/null
grep -E '^(Ironpool demo|  username|  API key)' "$OUT" | sed 's/\(API key:  \).*/\1<printed>/'
echo "check-readme-demo: ok"
