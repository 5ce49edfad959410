#!/usr/bin/env bash
# Makes a libvirt daemon with the qemu driver available to the virsh power
# driver's tests (power/tests/virsh.rs, api-server/tests/power_drivers.rs),
# on a host without systemd (CI runs as root on a fresh Debian):
#
#   libvirt-daemon-system, libvirt-clients   libvirtd and virsh (qemu:///system)
#   openssh-server                           sshd, which the tests start on a
#                                            free port for qemu+ssh://
#
# qemu itself is the copy tests/qemu-setup.sh unpacks (run it first): the
# Debian qemu-system-x86 package would remove a backported qemu-utils. Domains
# name tests/.qemu/qemu-libvirt as their emulator, a wrapper that adds the
# firmware directory.
#
# libvirtd is started with tests/.libvirt/libvirtd.conf: its socket is open
# to the libvirt group without polkit (there is no D-Bus here), so the
# `ironpool-virsh` user the SSH password test logs in as can reach
# qemu:///system. That user is created with a locked password; the test sets
# a random one while it runs and locks it again.
#
# Idempotent. Prints "libvirt-setup: ok" when all is in place.
set -euo pipefail
cd "$(dirname "$0")"
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

want=(libvirt-daemon-system libvirt-clients openssh-server)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "libvirt-setup: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

Q="$PWD/.qemu"
[ -x "$Q/root/usr/bin/qemu-system-x86_64" ] || { echo "libvirt-setup: run tests/qemu-setup.sh first" >&2; exit 1; }
wrapper="$Q/qemu-libvirt"
want_wrapper=$(printf '#!/bin/sh\nexec %s -L %s "$@"\n' "$Q/root/usr/bin/qemu-system-x86_64" "$Q/data")
if [ "$(cat "$wrapper" 2>/dev/null)" != "$want_wrapper" ]; then
  printf '%s\n' "$want_wrapper" > "$wrapper"
  chmod 755 "$wrapper"
fi

mkdir -p .libvirt
cat > .libvirt/libvirtd.conf <<'CONF'
unix_sock_group = "libvirt"
unix_sock_ro_perms = "0777"
unix_sock_rw_perms = "0770"
auth_unix_ro = "none"
auth_unix_rw = "none"
CONF

id ironpool-virsh >/dev/null 2>&1 || as_root useradd -M -s /bin/sh -G libvirt ironpool-virsh
as_root usermod -p '!' ironpool-virsh
as_root mkdir -p /run/sshd

# (`virsh version` is no probe: it fails while no domain names an emulator.)
if ! virsh -c qemu:///system list >/dev/null 2>&1 || ! [ -S /run/libvirt/libvirt-sock ] ||
   [ "$(stat -c %G /run/libvirt/libvirt-sock)" != libvirt ]; then
  echo "libvirt-setup: starting virtlogd and libvirtd"
  pgrep -x virtlogd >/dev/null || as_root virtlogd -d
  if pgrep -x libvirtd >/dev/null; then
    echo "libvirt-setup: a libvirtd is running with another configuration; stop it first" >&2
    exit 1
  fi
  as_root libvirtd -d -f "$PWD/.libvirt/libvirtd.conf"
  for _ in $(seq 1 100); do
    virsh -c qemu:///system list >/dev/null 2>&1 && break
    sleep 0.1
  done
fi
virsh -c qemu:///system list --all >/dev/null
echo "libvirt-setup: ok"
