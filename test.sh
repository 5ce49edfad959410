#!/usr/bin/env bash
# Runs every Ironpool test on a fresh Debian machine with cargo.
#
# Installs what the tests need (idempotently), starts a throwaway PostgreSQL
# cluster on a free loopback port, runs formatting and lint checks and the
# whole test suite against real SQLite and real PostgreSQL, and removes the
# cluster on exit.
set -euo pipefail
cd "$(dirname "$0")"

# Each step says when it started (seconds since the script began), so a
# slow CI run shows where its time went.
log() { printf '\n== [%s, +%ss] %s\n' "$(date -u +%T)" "$SECONDS" "$*"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- packages -----------------------------------------------------------------
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
missing=()
[ -n "$(pg_bin)" ] && [ -x "$(pg_bin)/initdb" ] || missing+=(postgresql)
command -v python3 >/dev/null || missing+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v dig >/dev/null || missing+=(bind9-dnsutils)
command -v curl >/dev/null || missing+=(curl)
# The end-to-end test's deployable disk image (tools/build-test-image.sh).
command -v mcopy >/dev/null || missing+=(mtools)
command -v mkfs.vfat >/dev/null || missing+=(dosfstools)
command -v sfdisk >/dev/null || missing+=(fdisk)
command -v syslinux >/dev/null || missing+=(syslinux)
[ -e /usr/lib/syslinux/mbr/mbr.bin ] || missing+=(syslinux-common)
# libFuzzer (tools/fuzz.sh) is C++ built from source by libfuzzer-sys.
command -v c++ >/dev/null || missing+=(g++)
# Signed image streams (issue 15, M8): the region verifies with gpgv; the
# tests make a throwaway key and sign a mirror with gpg.
command -v gpgv >/dev/null || missing+=(gpgv)
command -v gpg >/dev/null || missing+=(gnupg)
# DHCP served by a real rack to a real client in a network namespace
# (rack_link.rs, dhcp_snippets.rs; run as root).
command -v dhclient >/dev/null || missing+=(isc-dhcp-client)
# The web UI's browser tests (api-server/tests/ui_browser.rs): headless
# Chromium driven over WebDriver.
[ -x /usr/lib/chromium/chromium ] || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
# Tag definitions are XPath evaluated by libxml2 (the `libxml` crate, as
# MAAS uses it through lxml): its headers and pkg-config file, and libclang
# for the crate's bindgen step.
[ -e /usr/include/libxml2/libxml/xpath.h ] || missing+=(libxml2-dev)
command -v pkg-config >/dev/null || missing+=(pkg-config)
ls /usr/lib/llvm-*/lib/libclang.so >/dev/null 2>&1 || ls /usr/lib/*/libclang*.so >/dev/null 2>&1 || missing+=(libclang-dev)
# The Debian package's test (packaging/test-deb.sh): its units are checked
# with systemd-analyze; dpkg-deb, adduser and setpriv come with Debian.
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v adduser >/dev/null || missing+=(adduser)
# The boot storm (`ironpool bench storm`, cli/tests/cli.rs): the iPXE
# bootstrap the rack serves over TFTP.
[ -e /usr/lib/ipxe/undionly.kpxe ] || missing+=(ipxe)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
PGBIN=$(pg_bin)

# --- PostgreSQL ---------------------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PGDIR=$(mktemp -d /tmp/ironpool-pg.XXXXXX)
PGPORT=$(free_port)
run_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
[ "$(id -u)" = 0 ] && chown postgres "$PGDIR"
cleanup() {
  run_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$PGDIR"
}
trap cleanup EXIT
log "starting PostgreSQL ($PGBIN) on 127.0.0.1:$PGPORT"
run_pg "$PGBIN/initdb" -D "$PGDIR/data" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null
run_pg "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/log" -w \
  -o "-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=400" start >/dev/null
export IRONPOOL_TEST_PG_URL="postgres://postgres@127.0.0.1:$PGPORT/postgres"

# --- real peers for the rack tests (BMC simulators, TFTP/DHCP clients) -------
log "rack peers"
rack-controller/tests/peers-setup.sh
log "qemu for the network-boot test"
tests/qemu-setup.sh
log "libvirtd and sshd for the virsh power driver tests"
tests/libvirt-setup.sh
log "ephemeral environment and test image for the end-to-end lifecycle test"
# The static agent shares the workspace target dir: its artifacts live under
# target/x86_64-unknown-linux-gnu, and build scripts/proc macros are reused.
AGENT_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}" tools/build-ephemeral.sh tests/.ephemeral
EPHEMERAL_CACHE="$PWD/tests/.ephemeral/cache" tools/build-test-image.sh tests/.test-image
# A real Debian 12 to deploy (root tarball, squashfs and a simplestreams
# mirror) with mmdebstrap, which needs root; cached: seconds when nothing
# changed.
as_root tools/build-os-image.sh tests/.os-image

# --- checks and tests ---------------------------------------------------------
# One build on a clean clone gains nothing from incremental state, which is
# gigabytes of disk; a developer's own `cargo test` keeps it.
export CARGO_INCREMENTAL=0
df -h . /tmp | sed 's/^/disk: /'
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
log "the README's demo command, verbatim (tools/check-readme-demo.sh)"
tools/check-readme-demo.sh
# The demo built the release binary: package it, install it, upgrade it in
# place, run its units as they are written, remove and purge it.
if [ "$(id -u)" = 0 ]; then
  log "the Debian package (packaging/test-deb.sh)"
  packaging/test-deb.sh "${CARGO_TARGET_DIR:-$PWD/target}/release/ironpool"
fi
# The request parsers under libFuzzer for a bounded time from the checked-in
# seeds (~2.5 min with the sanitizer build); installs cargo-fuzz if missing.
log "fuzz targets, ${FUZZ_SECONDS:-20}s each (tools/fuzz.sh)"
FUZZ_SECONDS=${FUZZ_SECONDS:-20} tools/fuzz.sh
# python-libmaas's venv before the Rust tests: the qemu end-to-end test
# reads script results through it (the compat suite below reuses it).
log "python-libmaas venv (compat-tests/python/run.sh --venv-only)"
compat-tests/python/run.sh --venv-only
export IRONPOOL_LIBMAAS_PYTHON="$PWD/compat-tests/python/.venv/bin/python"
log "cargo test"
TEST_LOG="$PGDIR/cargo-test.log"
cargo test --workspace --no-fail-fast 2>&1 | tee "$TEST_LOG"

log "compat-tests: python-libmaas"
IRONPOOL_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/ironpool" compat-tests/python/run.sh 2>&1 | tee -a "$TEST_LOG"

log "compat-tests: gomaasapi"
IRONPOOL_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/ironpool" compat-tests/go/run.sh 2>&1 | tee -a "$TEST_LOG"

df -h . /tmp | sed 's/^/disk: /'
du -sh "${CARGO_TARGET_DIR:-$PWD/target}" 2>/dev/null | sed 's/^/disk: target /' || true

# One closing line for the whole run: every cargo test binary, pytest and the Go suite.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed;?$/) p += $i; if ($(i+1) ~ /^failed;?$/) f += $i; if ($(i+1) ~ /^ignored;?$/) s += $i } }
     /^=+ .* in [0-9.]+s/ || /^[0-9]+ (passed|failed)/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed,?$/) p += $i; if ($(i+1) ~ /^failed,?$/) f += $i; if ($(i+1) ~ /^(skipped|xfailed),?$/) s += $i } }
     END { printf "\nironpool: %d passed, %d failed, %d skipped\n", p, f, s }' "$TEST_LOG"
log "done in ${SECONDS}s"
