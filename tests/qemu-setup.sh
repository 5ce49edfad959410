#!/usr/bin/env bash
# Makes qemu-system-x86_64 (TCG) and the iPXE NIC ROMs available to the
# network-boot tests, without disturbing installed packages (the recipe in
# peers.md §5.1): the firmware and shared libraries come from apt, and the
# qemu packages themselves are unpacked into tests/.qemu (gitignored), so a
# host whose qemu-utils comes from backports keeps it.
#
# Idempotent. Prints nothing but "qemu-setup: ok" when all is in place.
set -euo pipefail
cd "$(dirname "$0")"
Q="$PWD/.qemu"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

want=(ipxe-qemu seabios ipxe libbrlapi0.8 libcacard0 libcapstone4 libdaxctl1 libepoxy0 libfdt1
  libgstreamer-plugins-base1.0-0 libibverbs1 libndctl6 libnl-3-200 libnl-route-3-200 libopus0 liborc-0.4-0
  libpmem1 librdmacm1 libslirp0 libsndio7.0 libspice-server1 libusb-1.0-0 libusbredirparser1 libvdeplug2
  libpixman-1-0 libgbm1 libasound2 libaio1 libfuse3-3 liburing2 libseccomp2 libcap-ng0 libnuma1 bridge-utils)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "qemu-setup: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x "$Q/root/usr/bin/qemu-system-x86_64" ]; then
  echo "qemu-setup: unpacking qemu into $Q"
  rm -rf "$Q" && mkdir -p "$Q/debs"
  ( cd "$Q/debs" && { apt-get download qemu-system-x86 qemu-system-common qemu-system-data >/dev/null 2>&1 ||
      { as_root apt-get update -qq && apt-get download qemu-system-x86 qemu-system-common qemu-system-data >/dev/null; }; } )
  for f in "$Q"/debs/qemu-system-*.deb; do dpkg -x "$f" "$Q/root"; done
  rm -rf "$Q/debs"
fi
mkdir -p "$Q/data"
for f in "$Q"/root/usr/share/qemu/* /usr/share/seabios/* /usr/lib/ipxe/qemu/*; do
  [ -e "$Q/data/$(basename "$f")" ] || ln -sf "$f" "$Q/data/"
done
if ldd "$Q/root/usr/bin/qemu-system-x86_64" | grep -q 'not found'; then
  echo "qemu-setup: qemu is missing libraries:" >&2
  ldd "$Q/root/usr/bin/qemu-system-x86_64" | grep 'not found' >&2
  exit 1
fi
echo "qemu-setup: ok"
