#!/usr/bin/env bash
# Drives the upstream `maas` CLI (maascli + apiclient from MAAS's own source)
# through the commands operators type, against IRONPOOL_BIN. Outside CI: MAAS's
# source is not in any registry reachable from CI, and we do not copy it here.
#
#   MAAS_SRC=/path/to/canonical/maas IRONPOOL_BIN=target/debug/ironpool compat-tests/maascli/run.sh
#
# MAAS_SRC is a checkout of github.com/canonical/maas: a work tree (its
# src/maascli is used in place) or a bare repository / git directory (src/maascli
# and src/apiclient of MAAS_REF, default HEAD, are exported to a temporary
# directory). A venv with the few PyPI packages maascli imports (httplib2,
# oauthlib, pyOpenSSL, macaroonbakery, PyYAML) is built once in
# $MAASCLI_VENV (default /tmp/ironpool-maascli-venv). Then: a region
# (`ironpool demo --machines 2`: two simulated machines that commission to
# Ready, so allocate/deploy/release and storage run for real) on a free
# loopback port with a fresh SQLite data directory, `maas login` with an
# administrator's API key under a private HOME, and driver.py. Prints one
# line per command, a table per resource family and
# `N passed, M failed, K not run`; exits non-zero when a command failed.
# IRONPOOL_COMPAT_KEEP=1 keeps the data directory and the region log.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

: "${MAAS_SRC:?set MAAS_SRC to a checkout of github.com/canonical/maas}"
IRONPOOL_BIN="${IRONPOOL_BIN:-$root/target/debug/ironpool}"
[[ "$IRONPOOL_BIN" == /* ]] || IRONPOOL_BIN="$PWD/$IRONPOOL_BIN"
[[ -x "$IRONPOOL_BIN" ]] || { echo "run.sh: IRONPOOL_BIN=$IRONPOOL_BIN is not an executable file" >&2; exit 2; }
PYTHON="${PYTHON:-python3}"
venv="${MAASCLI_VENV:-/tmp/ironpool-maascli-venv}"

work="$(mktemp -d /tmp/ironpool-maascli.XXXXXX)"
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

# --- the CLI ------------------------------------------------------------------
if [[ -d "$MAAS_SRC/src/maascli" ]]; then
    pysrc="$MAAS_SRC/src"
else
    # A bare repository (what `git clone --mirror` or a fetch cache gives).
    mkdir -p "$work/maas-src"
    git --git-dir="$MAAS_SRC" archive "${MAAS_REF:-HEAD}" src/maascli src/apiclient | tar -x -C "$work/maas-src"
    pysrc="$work/maas-src/src"
fi
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import httplib2, oauthlib, OpenSSL, macaroonbakery, yaml' 2>/dev/null; then
    echo "run.sh: building $venv" >&2
    "$PYTHON" -m venv "$venv"
    "$venv/bin/pip" install -q httplib2 oauthlib pyOpenSSL macaroonbakery PyYAML
fi
mkdir -p "$work/home"
cat >"$work/maas" <<EOF
#!/bin/sh
HOME="$work/home" PYTHONPATH="$pysrc" exec "$venv/bin/python" -m maascli "\$@"
EOF
chmod +x "$work/maas"

# --- region -------------------------------------------------------------------
unset IRONPOOL_DATABASE_URL IRONPOOL_LISTEN IRONPOOL_CONFIG
export IRONPOOL_DATA_DIR="$work/data"
mkdir -p "$IRONPOOL_DATA_DIR"
log="$work/region.log"
printf '%s' 'admin-Pa55word!' >"$work/pw"
"$IRONPOOL_BIN" createadmin --username admin --password-file "$work/pw" --email admin@example.com >/dev/null
admin_key="$("$IRONPOOL_BIN" apikey --username admin | grep -E '^[^:[:space:]]+:[^:[:space:]]+:[^:[:space:]]+$' | head -n 1)"
[[ -n "$admin_key" ]] || { echo "run.sh: ironpool apikey printed no key" >&2; exit 1; }

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up=""
for attempt in 1 2 3; do
    port="$(free_port)"
    IRONPOOL_DEMO_PASSWORD='admin-Pa55word!' "$IRONPOOL_BIN" demo --admin-username admin \
        --machines 2 --step-delay-ms 100 --listen "127.0.0.1:$port" --tls-listen off >"$log" 2>&1 </dev/null &
    region_pid=$!
    for _ in $(seq 1 600); do
        kill -0 "$region_pid" 2>/dev/null || break
        if "$PYTHON" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
            "http://127.0.0.1:$port/MAAS/api/2.0/version/" 2>/dev/null; then up=1; break; fi
        sleep 0.1
    done
    [[ -n "$up" ]] && break
    kill -TERM "$region_pid" 2>/dev/null || true
    wait "$region_pid" 2>/dev/null || true
    region_pid=""
done
[[ -n "$up" ]] || { echo "run.sh: the region did not start:" >&2; tail -n 40 "$log" >&2; exit 1; }

# The demo machines commission to Ready by themselves; wait for them so the
# allocate/deploy/storage steps have machines to work on.
"$work/maas" login admin "http://127.0.0.1:$port/MAAS/" "$admin_key" >/dev/null
for _ in $(seq 1 300); do
    n="$("$work/maas" admin machines read status=ready | "$PYTHON" -c 'import json,sys; print(len(json.load(sys.stdin)))' || echo 0)"
    [[ "$n" -ge 2 ]] && break
    sleep 0.5
done

set +e
"$PYTHON" "$here/driver.py" admin -- "$work/maas"
rc=$?
set -e
if ! kill -0 "$region_pid" 2>/dev/null; then
    echo "run.sh: the region died during the run:" >&2
    tail -n 40 "$log" >&2
    rc=1
fi
exit "$rc"
