#!/usr/bin/env bash
# Runs the gomaasapi (Juju's MAAS client) compatibility suite against
# IRONPOOL_BIN (default: target/debug/ironpool from the repository root).
#
#   IRONPOOL_BIN=target/debug/ironpool compat-tests/go/run.sh
#
# Installs golang-go and golang-github-juju-gomaasapi-dev when missing, builds
# the Go program in GOPATH mode (the Debian package has no module proxy
# behind it), starts a region (`ironpool demo --machines 1`: one simulated
# machine for the deploy-polling check) on a free loopback port with a fresh SQLite
# data directory, creates an administrator (`ironpool createadmin`) and a
# non-administrator (through the API), runs the checks, stops the region and
# prints `N passed, M failed, K skipped, J xfailed in Xs`. Exits non-zero when
# any check fails (KNOWN-FAIL checks do not fail the run).
# IRONPOOL_COMPAT_KEEP=1 keeps the data directory and region log.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
started=$(date +%s.%N)

summary_fail() {
    # A summary line test.sh's awk counts even when the Go program never ran.
    python3 -c 'import sys, time; print("0 passed, 1 failed in %.2fs" % (time.time() - float(sys.argv[1])))' "$started"
}

IRONPOOL_BIN="${IRONPOOL_BIN:-$root/target/debug/ironpool}"
[[ "$IRONPOOL_BIN" == /* ]] || IRONPOOL_BIN="$PWD/$IRONPOOL_BIN"
if [[ ! -x "$IRONPOOL_BIN" ]]; then
    echo "run.sh: IRONPOOL_BIN=$IRONPOOL_BIN is not an executable file" >&2
    summary_fail
    exit 2
fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- packages -----------------------------------------------------------------
missing=()
command -v go >/dev/null || missing+=(golang-go)
[ -d /usr/share/gocode/src/github.com/juju/gomaasapi ] || missing+=(golang-github-juju-gomaasapi-dev)
command -v curl >/dev/null || missing+=(curl)
command -v python3 >/dev/null || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
    echo "run.sh: installing ${missing[*]}" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- build (GOPATH mode) ------------------------------------------------------
work="$(mktemp -d /tmp/ironpool-gocompat.XXXXXX)"
region_pid=""
cleanup() {
    if [[ -n "$region_pid" ]] && kill -0 "$region_pid" 2>/dev/null; then
        kill -TERM "$region_pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$region_pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$region_pid" 2>/dev/null || true
        wait "$region_pid" 2>/dev/null || true
    fi
    if [[ -n "${IRONPOOL_COMPAT_KEEP:-}" ]]; then
        echo "run.sh: region data and log kept in $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

export GO111MODULE=off GOPATH="$here:/usr/share/gocode" GOCACHE="${GOCACHE:-/tmp/ironpool-gocompat-cache}" GOFLAGS=
if ! (cd "$here/src/gomaascompat" && go build -o "$work/gomaascompat" .); then
    echo "run.sh: building the Go program failed" >&2
    summary_fail
    exit 1
fi

# --- region -------------------------------------------------------------------
unset IRONPOOL_DATABASE_URL IRONPOOL_LISTEN IRONPOOL_CONFIG
export IRONPOOL_DATA_DIR="$work/data"
mkdir -p "$IRONPOOL_DATA_DIR"
log="$work/region.log"

"$IRONPOOL_BIN" createadmin --username admin --password 'admin-Pa55word!' --email admin@example.com >/dev/null
admin_key="$("$IRONPOOL_BIN" apikey --username admin | grep -E '^[^:[:space:]]+:[^:[:space:]]+:[^:[:space:]]+$' | head -n 1)"
[[ -n "$admin_key" ]] || { echo "run.sh: ironpool apikey printed no key" >&2; summary_fail; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up=""
for attempt in 1 2 3; do
    port="$(free_port)"
    # `demo` is `region` plus one simulated machine (virtual BMC + the agent
    # library), which the deploy-polling check deploys to Deployed.
    "$IRONPOOL_BIN" demo --admin-username admin --admin-password 'admin-Pa55word!' \
        --machines 1 --step-delay-ms 200 --listen "127.0.0.1:$port" >"$log" 2>&1 </dev/null &
    region_pid=$!
    for _ in $(seq 1 600); do   # 60 s: a debug build on a busy machine is slow
        kill -0 "$region_pid" 2>/dev/null || break
        if curl -fsS -o /dev/null "http://127.0.0.1:$port/MAAS/api/2.0/version/" 2>/dev/null; then up=1; break; fi
        sleep 0.1
    done
    [[ -n "$up" ]] && break
    kill -TERM "$region_pid" 2>/dev/null || true
    wait "$region_pid" 2>/dev/null || true
    region_pid=""
done
if [[ -z "$up" ]]; then
    echo "run.sh: the region did not start:" >&2
    tail -n 40 "$log" >&2
    summary_fail
    exit 1
fi
url="http://127.0.0.1:$port/MAAS/"

# A non-administrator, created through the API like an operator would; its
# key comes from `ironpool apikey` (no password login in gomaasapi).
curl -fsS -o /dev/null -X POST "${url}api/2.0/users/" \
    -H "Authorization: $(python3 - "$admin_key" <<'EOF'
import sys, time, uuid
c, t, s = sys.argv[1].split(":")
print(f'OAuth oauth_version="1.0", oauth_signature_method="PLAINTEXT", oauth_consumer_key="{c}", '
      f'oauth_token="{t}", oauth_signature="&{s}", oauth_nonce="{uuid.uuid4().hex}", '
      f'oauth_timestamp="{int(time.time())}"')
EOF
)" \
    --data-urlencode username=bob --data-urlencode email=bob@example.com \
    --data-urlencode password='bob-Pa55word!' --data-urlencode is_superuser=0
user_key="$("$IRONPOOL_BIN" apikey --username bob | grep -E '^[^:[:space:]]+:[^:[:space:]]+:[^:[:space:]]+$' | head -n 1)"

set +e
"$work/gomaascompat" -url "$url" -key "$admin_key" -user-key "$user_key" | tee "$work/out"
rc=${PIPESTATUS[0]}
set -e
if ! grep -qE '^[0-9]+ passed, [0-9]+ failed' "$work/out"; then
    echo "run.sh: the Go program exited $rc without a summary" >&2
    summary_fail
    [[ $rc -ne 0 ]] || rc=1
fi
if ! kill -0 "$region_pid" 2>/dev/null; then
    echo "run.sh: the region died during the run:" >&2
    tail -n 40 "$log" >&2
    rc=1
fi
if [[ $rc -ne 0 ]]; then
    echo "--- region log (last 30 lines)" >&2
    tail -n 30 "$log" >&2
fi
exit "$rc"
