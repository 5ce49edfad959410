#!/usr/bin/env bash
# Replays terraform-provider-maas's resources through Canonical's gomaasclient
# (Terraform's MAAS client library) against IRONPOOL_BIN. Outside CI: the
# client is not in any registry reachable from CI and is not copied into this
# repository, so point this script at fetched sources:
#
#   GOMAASCLIENT_SRC=…  gomaasclient (github.com/canonical/gomaasclient), a
#                       work tree or a git directory (HEAD is exported)
#   GOMAASAPI_SRC=…     github.com/juju/gomaasapi, branch v2 (v2.x)
#   GOQUERYSTRING_SRC=… github.com/google/go-querystring
#   JUJU_MGO_SRC=…      github.com/juju/mgo, branch v2 (for bson)
#   IRONPOOL_BIN=…      default target/debug/ironpool
#
# Each *_SRC may be a work tree or a git directory; GIT_REF_<NAME> (e.g.
# GIT_REF_GOMAASAPI=v2) picks the exported ref of a git directory. The rest
# of the module graph (juju/errors, collections, loggo, schema, version,
# gopkg.in/mgo.v2, yaml.v2/v3) comes from Debian's golang-*-dev packages, and
# the program is built in GOPATH mode (no module proxy needed).
#
# Starts `ironpool demo --machines 1` (one simulated machine for
# maas_instance) on a free loopback port with a fresh data directory, runs the
# checks, prints `N passed, M failed, K skipped, J xfailed in Xs` and exits
# non-zero when a check fails. IRONPOOL_COMPAT_KEEP=1 keeps data and log.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

IRONPOOL_BIN="${IRONPOOL_BIN:-$root/target/debug/ironpool}"
[[ "$IRONPOOL_BIN" == /* ]] || IRONPOOL_BIN="$PWD/$IRONPOOL_BIN"
[[ -x "$IRONPOOL_BIN" ]] || { echo "run.sh: IRONPOOL_BIN=$IRONPOOL_BIN is not executable" >&2; exit 2; }
for v in GOMAASCLIENT_SRC GOMAASAPI_SRC GOQUERYSTRING_SRC JUJU_MGO_SRC; do
    [[ -n "${!v:-}" ]] || { echo "run.sh: set $v (see the top of this script)" >&2; exit 2; }
done

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
missing=()
command -v go >/dev/null || missing+=(golang-go)
for p in golang-github-juju-errors-dev golang-github-juju-collections-dev golang-github-juju-loggo-dev \
         golang-github-juju-schema-dev golang-github-juju-version-dev golang-gopkg-mgo.v2-dev \
         golang-gopkg-yaml.v2-dev golang-gopkg-yaml.v3-dev; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
    echo "run.sh: installing ${missing[*]}" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

work="$(mktemp -d /tmp/ironpool-gomaasclient.XXXXXX)"
region_pid=""
cleanup() {
    if [[ -n "$region_pid" ]] && kill -0 "$region_pid" 2>/dev/null; then
        kill -TERM "$region_pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$region_pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$region_pid" 2>/dev/null || true
        wait "$region_pid" 2>/dev/null || true
    fi
    if [[ -n "${IRONPOOL_COMPAT_KEEP:-}" ]]; then echo "run.sh: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# --- a GOPATH holding the fetched sources at their import paths -------------
gp="$work/gopath"
place() { # place SRC IMPORT_PATH REF
    local src="$1" dest="$gp/src/$2" ref="$3"
    mkdir -p "$dest"
    if [[ -f "$src/go.mod" || -f "$src/doc.go" ]]; then
        cp -a "$src/." "$dest/"
    elif git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
        git -C "$src" archive "$ref" | tar -x -C "$dest"
    else
        echo "run.sh: $src is neither a source tree nor a git directory" >&2; exit 2
    fi
}
place "$GOMAASCLIENT_SRC" github.com/canonical/gomaasclient "${GIT_REF_GOMAASCLIENT:-HEAD}"
place "$GOMAASAPI_SRC" github.com/juju/gomaasapi/v2 "${GIT_REF_GOMAASAPI:-v2}"
place "$GOQUERYSTRING_SRC" github.com/google/go-querystring "${GIT_REF_GOQUERYSTRING:-HEAD}"
place "$JUJU_MGO_SRC" github.com/juju/mgo/v2 "${GIT_REF_JUJU_MGO:-v2}"

# gomaasclient's node-script update calls MAASObject.UpdateFiles (gomaasapi
# v2.3.0); older v2 snapshots lack it, so add the one method when missing.
api="$gp/src/github.com/juju/gomaasapi/v2"
if ! grep -q 'func (obj MAASObject) UpdateFiles' "$api"/*.go; then
    cat >"$api/zz_ironpool_updatefiles.go" <<'GO'
package gomaasapi

import "net/url"

// UpdateFiles is a multipart PUT, as in gomaasapi v2.3.0 (added by
// ironpool's compat-tests/gomaasclient/run.sh to an older snapshot).
func (obj MAASObject) UpdateFiles(params url.Values, files map[string][]byte) (MAASObject, error) {
	data, err := obj.client.nonIdempotentRequestFiles("PUT", obj.URI(), params, files)
	if err != nil {
		return MAASObject{}, err
	}
	parsed, err := Parse(obj.client, data)
	if err != nil {
		return MAASObject{}, err
	}
	return parsed.GetMAASObject()
}
GO
fi

export GO111MODULE=off GOPATH="$gp:/usr/share/gocode" GOCACHE="${GOCACHE:-/tmp/ironpool-gomaasclient-cache}" GOFLAGS=
if ! (cd "$here" && go build -o "$work/gomaasclientcompat" .); then
    echo "run.sh: building the Go program failed" >&2
    exit 1
fi

# --- region -------------------------------------------------------------------
unset IRONPOOL_DATABASE_URL IRONPOOL_LISTEN IRONPOOL_CONFIG
export IRONPOOL_DATA_DIR="$work/data"
mkdir -p "$IRONPOOL_DATA_DIR"
log="$work/region.log"
"$IRONPOOL_BIN" createadmin --username admin --password 'admin-Pa55word!' --email admin@example.com >/dev/null
key="$("$IRONPOOL_BIN" apikey --username admin | grep -E '^[^:[:space:]]+:[^:[:space:]]+:[^:[:space:]]+$' | head -n 1)"
[[ -n "$key" ]] || { echo "run.sh: ironpool apikey printed no key" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up=""
for _attempt in 1 2 3; do
    port="$(free_port)"
    "$IRONPOOL_BIN" demo --admin-username admin --admin-password 'admin-Pa55word!' \
        --machines 1 --step-delay-ms 100 --listen "127.0.0.1:$port" --tls-listen off >"$log" 2>&1 </dev/null &
    region_pid=$!
    for _ in $(seq 1 600); do
        kill -0 "$region_pid" 2>/dev/null || break
        if curl -fsS -o /dev/null "http://127.0.0.1:$port/MAAS/api/2.0/version/" 2>/dev/null; then up=1; break; fi
        sleep 0.1
    done
    [[ -n "$up" ]] && break
    kill -TERM "$region_pid" 2>/dev/null || true
    wait "$region_pid" 2>/dev/null || true
    region_pid=""
done
[[ -n "$up" ]] || { echo "run.sh: the region did not start:" >&2; tail -n 40 "$log" >&2; exit 1; }

# maas_instance needs the simulated machine Ready (it commissions by itself).
for _ in $(seq 1 600); do
    grep -q . <(curl -fsS "http://127.0.0.1:$port/MAAS/api/2.0/machines/?status=ready" \
        -H "Authorization: OAuth oauth_version=\"1.0\", oauth_signature_method=\"PLAINTEXT\", oauth_consumer_key=\"${key%%:*}\", oauth_token=\"$(cut -d: -f2 <<<"$key")\", oauth_signature=\"&${key##*:}\", oauth_nonce=\"$RANDOM$RANDOM\", oauth_timestamp=\"$(date +%s)\"" \
        2>/dev/null | grep -o '"system_id"') && break
    sleep 0.2
done

# maas_boot_source names a keyring file on the region's host; the region
# checks that it is a readable binary (not ASCII-armoured) keyring.
printf '\x99\x00\x0d\x04ironpool-compat' >"$work/keyring.gpg"

set +e
"$work/gomaasclientcompat" -url "http://127.0.0.1:$port/MAAS/" -key "$key" -keyring "$work/keyring.gpg" | tee "$work/out"
rc=${PIPESTATUS[0]}
set -e
if ! kill -0 "$region_pid" 2>/dev/null; then
    echo "run.sh: the region died during the run:" >&2; tail -n 40 "$log" >&2; rc=1
fi
if [[ $rc -ne 0 ]]; then echo "--- region log (last 30 lines)" >&2; tail -n 30 "$log" >&2; fi
exit "$rc"
