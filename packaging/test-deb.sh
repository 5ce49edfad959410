#!/usr/bin/env bash
# The Debian package, for real, on this machine (root): builds two
# revisions from BIN, installs the first, starts the region the way its
# unit does (packaging/run-unit.sh; systemd-analyze verifies the units),
# creates data through the API, upgrades in place to the second revision
# (postinst migrates; the edited conffile stays), checks the data and
# version/ again, starts the rack unit against the region (and scrapes its
# /metrics), removes the
# package (data kept) and purges it (data gone).
#
#   packaging/test-deb.sh BIN
#
# Both revisions carry the same binary: this checks the package's upgrade
# path (maintainer scripts, conffiles, data, migrations), not a schema
# change between two releases. Leaves the machine as it found it, unless an
# `ironpool` package was already installed (then it refuses to run).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:?usage: test-deb.sh BIN}
[ "$(id -u)" = 0 ] || { echo "test-deb: needs root (dpkg -i)"; exit 1; }
if [ "$(dpkg-query -W -f='${Status}' ironpool 2>/dev/null || true)" = "install ok installed" ]; then
  echo "test-deb: an ironpool package is already installed here; not touching it" >&2; exit 1
fi
W=$(mktemp -d /tmp/ironpool-deb.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
  sleep 1
  dpkg -P ironpool >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT
say() { echo "test-deb: $*"; }
fail() { echo "test-deb: FAILED: $*" >&2; for l in "$W"/*.log; do [ -e "$l" ] && { echo "== $l"; tail -n 30 "$l"; }; done >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
MPORT=$(free_port)
API="http://127.0.0.1:$PORT/MAAS/api/2.0"

D1=$("$ROOT/packaging/build-deb.sh" "$BIN" "$W/deb" 1)
D2=$("$ROOT/packaging/build-deb.sh" "$BIN" "$W/deb" 2)
say "built $(basename "$D1") and $(basename "$D2") ($(stat -c %s "$D2") bytes)"
[ "$(dpkg-deb -f "$D1" Package)" = ironpool ] || fail "no control file"

say "install revision 1"
dpkg -i "$D1" >"$W/dpkg1.log" 2>&1 || fail "dpkg -i $D1"
getent passwd ironpool >/dev/null || fail "no ironpool user"
[ "$(stat -c '%a %U' /var/lib/ironpool)" = "700 ironpool" ] || fail "/var/lib/ironpool is $(stat -c '%a %U' /var/lib/ironpool)"
[ "$(stat -c '%a %G' /etc/ironpool/region.toml)" = "640 ironpool" ] || fail "region.toml is $(stat -c '%a %G' /etc/ironpool/region.toml)"
[ -n "$(ls -A /var/lib/ironpool)" ] || fail "postinst did not migrate (empty /var/lib/ironpool)"
for u in ironpool-region ironpool-rack; do
  out=$(systemd-analyze verify "/lib/systemd/system/$u.service" 2>&1 || true)
  [ -z "$out" ] || fail "systemd-analyze verify $u.service: $out"
done

# The operator's edit of a conffile: the port this test can use.
sed -i "s/^listen = .*/listen = \"127.0.0.1:$PORT\"/" /etc/ironpool/region.toml

start_region() {
  local pid
  pid=$("$ROOT/packaging/run-unit.sh" /lib/systemd/system/ironpool-region.service "$W/region-$1.log") || fail "the region unit did not start"
  PIDS+=("$pid")
  for _ in $(seq 1 150); do
    curl -fsS "$API/version/" >"$W/version" 2>/dev/null && { echo "$pid"; return 0; }
    sleep 0.2
  done
  fail "the region did not answer version/"
}
stop_region() { kill -TERM -- "-$1"; for _ in $(seq 1 100); do kill -0 -- "-$1" 2>/dev/null || return 0; sleep 0.2; done; fail "the region did not stop"; }

say "start the region as its unit does"
R=$(start_region 1)
grep -q '"capabilities"' "$W/version" || fail "version/: $(cat "$W/version")"
[ "$(stat -c %U /var/lib/ironpool/secret 2>/dev/null)" = ironpool ] || fail "the region's files are not the ironpool user's"
as_region() {
  setpriv --reuid=ironpool --regid=ironpool --init-groups env -i PATH=/usr/bin:/bin \
    IRONPOOL_DATA_DIR=/var/lib/ironpool IRONPOOL_CONFIG=/etc/ironpool/region.toml /usr/bin/ironpool "$@"
}
(cd / && as_region createadmin --username pkgadmin --email pkg@example.com --password 'Pkg-test-pass-1') >"$W/admin.log" 2>&1 || fail "createadmin"
KEY=$(cd / && as_region apikey --username pkgadmin --generate 2>>"$W/admin.log" | tail -n1)
IFS=: read -r CK TK TS <<<"$KEY"
auth() { printf 'OAuth oauth_version="1.0", oauth_signature_method="PLAINTEXT", oauth_consumer_key="%s", oauth_token="%s", oauth_signature="&%s", oauth_nonce="%s", oauth_timestamp="%s"' "$CK" "$TK" "$TS" "$RANDOM$RANDOM" "$(date +%s)"; }
curl -fsS -H "Authorization: $(auth)" -d name=pkg-zone -d description=kept "$API/zones/" >"$W/zone" || fail "creating a zone: $(cat "$W/zone")"
stop_region "$R"

say "upgrade in place to revision 2"
dpkg -i "$D2" >"$W/dpkg2.log" 2>&1 || fail "dpkg -i $D2 (upgrade)"
[ "$(dpkg-query -W -f='${Version}' ironpool)" = "$(dpkg-deb -f "$D2" Version)" ] || fail "not upgraded"
grep -q "^listen = \"127.0.0.1:$PORT\"" /etc/ironpool/region.toml || fail "the edited conffile was replaced"
R=$(start_region 2)
curl -fsS -H "Authorization: $(auth)" "$API/zones/pkg-zone/" >"$W/zone2" || fail "reading the zone after the upgrade"
grep -q '"description": *"kept"' "$W/zone2" || fail "the zone did not survive the upgrade: $(cat "$W/zone2")"

say "the rack unit joins the region"
curl -fsS -H "Authorization: $(auth)" "$API/rackcontrollers/" >"$W/racks0" || fail "rackcontrollers/"
grep -q '"system_id"' "$W/racks0" && fail "a rack controller before the rack started: $(cat "$W/racks0")"
install -m 0640 -g ironpool /var/lib/ironpool/secret /etc/ironpool/rack.secret
cat >>/etc/ironpool/rack.env <<ENV
IRONPOOL_REGION_URL=http://127.0.0.1:$PORT/MAAS
IRONPOOL_SECRET_FILE=/etc/ironpool/rack.secret
IRONPOOL_RACK_HTTP_LISTEN=off
IRONPOOL_RACK_TFTP_LISTEN=off
IRONPOOL_RACK_DHCP_LISTEN=off
IRONPOOL_RACK_DHCP6_LISTEN=off
IRONPOOL_RACK_METRICS_LISTEN=127.0.0.1:$MPORT
ENV
K=$("$ROOT/packaging/run-unit.sh" /lib/systemd/system/ironpool-rack.service "$W/rack.log") || fail "the rack unit did not start"
PIDS+=("$K")
ok=""
for _ in $(seq 1 100); do
  curl -fsS -H "Authorization: $(auth)" "$API/rackcontrollers/" >"$W/racks" 2>/dev/null && grep -q '"system_id"' "$W/racks" && { ok=1; break; }
  sleep 0.3
done
[ -n "$ok" ] || fail "the rack did not register"
# Its metrics, on the loopback port the env file gives, say it is linked.
ok=""
for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$MPORT/metrics" >"$W/rack-metrics" 2>/dev/null &&
    grep -qx 'ironpool_rack_region_connected 1' "$W/rack-metrics" && { ok=1; break; }
  sleep 0.3
done
[ -n "$ok" ] || fail "the rack's /metrics does not say it is connected: $(head -c 2000 "$W/rack-metrics" 2>/dev/null)"
[ -n "$(ls -A /var/lib/ironpool-rack)" ] || fail "the rack kept nothing in its state directory"
kill -TERM -- "-$K" || true
stop_region "$R"

say "remove: the data stays"
dpkg -r ironpool >"$W/dpkg-r.log" 2>&1 || fail "dpkg -r"
[ ! -e /usr/bin/ironpool ] || fail "/usr/bin/ironpool is still there"
[ -e /var/lib/ironpool/secret ] && [ -e /etc/ironpool/region.toml ] || fail "remove deleted data or configuration"
say "purge: the data goes"
dpkg -P ironpool >"$W/dpkg-p.log" 2>&1 || fail "dpkg -P"
[ ! -e /var/lib/ironpool ] && [ ! -e /etc/ironpool ] || fail "purge left data or configuration"
! getent passwd ironpool >/dev/null || fail "purge left the ironpool user"
say "ok"
