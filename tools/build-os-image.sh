#!/usr/bin/env bash
# Builds a real Debian 12 (bookworm) amd64 server OS for Ironpool to deploy,
# with mmdebstrap from the host's Debian mirror:
#
#   tools/build-os-image.sh OUTDIR
#
# OUTDIR/bookworm-amd64.tgz       the root as a gzip'd tar (MAAS filetype
#                                 "tgz"): ./-relative paths, numeric owners,
#                                 xattrs kept (GNU tar --xattrs)
# OUTDIR/bookworm-amd64.squashfs  the same root as squashfs (MAAS ftype
#                                 "squashfs", what MAAS publishes for Ubuntu)
# OUTDIR/mirror/                  a simplestreams mirror (os "debian", release
#                                 "bookworm", amd64/generic) with the image's
#                                 boot-kernel, boot-initrd and squashfs, for
#                                 `boot-sources/` + `boot-resources/?op=import`
#
# The root boots on BIOS (grub-pc-bin) and UEFI (grub-efi-amd64-bin) machines
# once an installer has partitioned the disks, unpacked the root, written
# /etc/fstab and the cloud-init configuration, and run grub-install +
# update-grub (+ update-initramfs -u for md/LVM roots) in a chroot. It has no
# fstab, grub.cfg, machine-id, SSH host keys, hostname or cloud-init
# datasource of its own.
#
# Idempotent: OUTDIR/.stamp holds a hash of this script (which holds the
# package list and every setting); nothing is rebuilt while it matches. The
# bootstrapped root is cached in OUTDIR/cache/base (stamped with the package
# list and dpkg excludes only), so changing the customization below does not
# re-run mmdebstrap.
#
# Needs root (mmdebstrap --mode=root: chroot, mounts, device nodes) and a
# Debian 12 host; installs mmdebstrap and squashfs-tools with apt if missing.
set -euo pipefail
OUT=${1:?usage: build-os-image.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
C="$OUT/cache"
NAME=bookworm-amd64
T_START=$(date +%s.%N)

log() { echo "build-os-image: $*"; }
die() { echo "build-os-image: $*" >&2; exit 1; }
# step LABEL CMD...: runs CMD and prints how long it took.
step() {
  local label=$1 t0 t1
  shift
  t0=$(date +%s.%N)
  "$@"
  t1=$(date +%s.%N)
  log "$(awk -v l="$label" -v a="$t0" -v b="$t1" 'BEGIN { printf "%-28s %7.1f s", l, b - a }')"
}

[ "$(id -u)" = 0 ] || die "needs root (mmdebstrap --mode=root makes device nodes and mounts /proc in the chroot)"

# --- what goes into the image ----------------------------------------------------
# mmdebstrap's minbase variant (Essential + Priority: required + apt) plus these,
# without Recommends (mmdebstrap's default).
PACKAGES=(
  # boot: init, device manager, kernel, initramfs (zstd: COMPRESS=zstd below)
  systemd-sysv udev dbus libpam-systemd kmod linux-image-amd64 initramfs-tools zstd
  # initramfs-tools only recommends busybox, but without it the initramfs has
  # klibc's tools alone and mdadm's local-bottom script fails ("rm: not found")
  busybox
  # the installer runs grub-install + update-grub in a chroot. The *-bin
  # packages, not grub-pc/grub-efi-amd64: those run grub-install from their
  # postinst on debconf-chosen disks, which makes no sense while building.
  # efibootmgr: grub-install --target=x86_64-efi registers the boot entry.
  grub-pc-bin grub-efi-amd64-bin grub2-common efibootmgr
  # first boot: cloud-init with the MAAS datasource (oauthlib signs its
  # metadata requests; a Depends of cloud-init, listed so that stays true)
  cloud-init python3-oauthlib
  # network: cloud-init renders MAAS's network config v1 (bonds, VLANs,
  # static + DHCP) to netplan, netplan to systemd-networkd (in the systemd
  # package); systemd-resolved applies the DNS servers (networkd only hands
  # them to resolved; without it /etc/resolv.conf would never be written)
  netplan.io systemd-resolved iproute2 netbase
  # clock: what cloud-init's ntp module configures when MAAS sends NTP servers
  systemd-timesyncd
  openssh-server sudo
  # storage the installer may build under the root: md RAID, LVM, bcache,
  # and the filesystems MAAS offers; their initramfs hooks assemble md/LVM
  lvm2 mdadm bcache-tools e2fsprogs xfsprogs dosfstools
  ca-certificates curl procps
)

# dpkg never unpacks these paths (in the image and, since the file stays in
# /etc/dpkg/dpkg.cfg.d, for later installs/upgrades on the deployed machine,
# as in Ubuntu's minimal images). Both /lib/modules and /usr/lib/modules:
# bookworm's kernel packages still ship /lib, later ones /usr/lib.
EXCLUDES=$(cat <<'EOF'
# Ironpool server image: no documentation, manuals or translations (a server
# is administered over ssh with the upstream docs at hand); keep the licences.
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/groff/*
path-exclude=/usr/share/lintian/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
# Kernel modules for hardware a server (or a VM) does not have: GPUs (the
# console is VGA text or serial, both built in), sound, cameras/TV/radio,
# Wi-Fi and Bluetooth, the staging tree, industrial I/O sensors and data
# acquisition boards, touchscreens/joysticks/tablets, ISDN, CAN bus, amateur
# radio, WWAN modems, 802.15.4/NFC. InfiniBand/RDMA too (nothing in the
# image configures it; NVMe-oF/NFS over RDMA and SMC-R lose their
# transport). Kept: storage, every Ethernet NIC, md/dm/bcache, bonding,
# 8021q, bridges, netfilter, all filesystems, USB/HID (BMC virtual media
# and keyboards), hwmon, IPMI, watchdogs.
path-exclude=/lib/modules/*/kernel/drivers/gpu/*
path-exclude=/lib/modules/*/kernel/sound/*
path-exclude=/lib/modules/*/kernel/drivers/media/*
path-exclude=/lib/modules/*/kernel/drivers/net/wireless/*
path-exclude=/lib/modules/*/kernel/net/wireless/*
path-exclude=/lib/modules/*/kernel/net/mac80211/*
path-exclude=/lib/modules/*/kernel/drivers/bluetooth/*
path-exclude=/lib/modules/*/kernel/net/bluetooth/*
path-exclude=/lib/modules/*/kernel/drivers/staging/*
path-exclude=/lib/modules/*/kernel/drivers/iio/*
path-exclude=/lib/modules/*/kernel/drivers/comedi/*
path-exclude=/lib/modules/*/kernel/drivers/input/touchscreen/*
path-exclude=/lib/modules/*/kernel/drivers/input/joystick/*
path-exclude=/lib/modules/*/kernel/drivers/input/tablet/*
path-exclude=/lib/modules/*/kernel/drivers/infiniband/*
path-exclude=/lib/modules/*/kernel/drivers/isdn/*
path-exclude=/lib/modules/*/kernel/drivers/net/can/*
path-exclude=/lib/modules/*/kernel/net/can/*
path-exclude=/lib/modules/*/kernel/drivers/net/hamradio/*
path-exclude=/lib/modules/*/kernel/net/ax25/*
path-exclude=/lib/modules/*/kernel/net/netrom/*
path-exclude=/lib/modules/*/kernel/net/rose/*
path-exclude=/lib/modules/*/kernel/drivers/net/wwan/*
path-exclude=/lib/modules/*/kernel/drivers/net/ieee802154/*
path-exclude=/lib/modules/*/kernel/net/ieee802154/*
path-exclude=/lib/modules/*/kernel/drivers/nfc/*
path-exclude=/lib/modules/*/kernel/net/nfc/*
EOF
)
EXCLUDES="$EXCLUDES
$(echo "$EXCLUDES" | sed -n 's|^\(path-exclude=\)/lib/modules/|\1/usr/lib/modules/|p')"

# initramfs-tools settings, in place before the kernel's postinst builds the
# first initrd (a conf.d file: initramfs.conf stays the package's conffile).
INITRAMFS_CONF=$(cat <<'EOF'
# Ironpool server image.
# zstd: about as small as xz and several times faster to unpack, which the
# kernel does at every boot.
COMPRESS=zstd
# most: the storage, NIC and filesystem drivers of any machine, as the image
# is built once for all hardware (dep would size it for the build host).
MODULES=most
# No resume device: initramfs-tools would otherwise record the swap of the
# machine that runs update-initramfs (the build host) as the resume device.
RESUME=none
EOF
)

# Servers have no floppy drive, but the PC platform (and qemu's default
# machine) advertises a controller: the driver then probes a missing disk, in
# the initramfs and again when blkid/cloud-init scan the block devices, and
# waits on its I/O errors. In place before the first initrd is built, which
# copies /etc/modprobe.d.
MODPROBE_CONF='# Ironpool server image: no floppy drives on servers.
blacklist floppy'

# --- host tools ------------------------------------------------------------------
missing=()
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
{ command -v mksquashfs >/dev/null && command -v unsquashfs >/dev/null; } || missing+=(squashfs-tools)
tar --version 2>/dev/null | grep -q 'GNU tar' || missing+=(tar)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- up to date? -----------------------------------------------------------------
stamp=$(sha256sum "$0" | cut -c1-16)
if [ "$(cat "$OUT/.stamp" 2>/dev/null)" = "$stamp" ] && [ -e "$OUT/$NAME.tgz" ] &&
   [ -e "$OUT/$NAME.squashfs" ] && [ -e "$OUT/mirror/streams/v1/index.json" ]; then
  log "up to date ($OUT)"
  exit 0
fi
rm -f "$OUT/.stamp"

# The host's Debian mirror (what apt uses here, e.g. a local mirror in CI),
# else deb.debian.org; DEBIAN_MIRROR / DEBIAN_SECURITY_MIRROR override. These
# become the image's /etc/apt/sources.list.
policy=$(apt-cache policy 2>/dev/null || true)
MIRROR=${DEBIAN_MIRROR:-$(echo "$policy" | awk '$3 == "bookworm/main" && $4 == "amd64" { print $2; exit }')}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY=${DEBIAN_SECURITY_MIRROR:-$(echo "$policy" | awk '$3 == "bookworm-security/main" && $4 == "amd64" { print $2; exit }')}
SECURITY=${SECURITY:-http://deb.debian.org/debian-security}

# --- bootstrap (cached) ----------------------------------------------------------
BASE="$C/base"
base_stamp=$(printf '%s\n' "${PACKAGES[*]}" "$EXCLUDES" "$INITRAMFS_CONF" "$MODPROBE_CONF" "$MIRROR" "$SECURITY" | sha256sum | cut -c1-16)
bootstrap() {
  # Into a new directory: a failed run (e.g. the mirror unreachable) keeps
  # the previous root.
  rm -rf "$BASE.new"
  mkdir -p "$C"
  local tmp="$C/.bootstrap"
  rm -rf "$tmp" && mkdir -p "$tmp"
  echo "$EXCLUDES" > "$tmp/excludes"
  echo "$INITRAMFS_CONF" > "$tmp/initramfs.conf"
  echo "$MODPROBE_CONF" > "$tmp/modprobe.conf"
  # merged-usr hook: makes /bin, /lib, ... symlinks into /usr the way
  # debootstrap does and installs usr-is-merged; otherwise apt satisfies
  # init-system-helpers' "usrmerge | usr-is-merged" with usrmerge, which
  # pulls in perl (55 MB) to convert a /usr that is already merged.
  # setup-hooks: before any package is unpacked, so the kernel's postinst
  # builds the initrd with these settings.
  # shellcheck disable=SC2016 # $1 is expanded by mmdebstrap's hook shell
  mmdebstrap --mode=root --variant=minbase --arch=amd64 \
    --include="${PACKAGES[*]}" \
    --dpkgopt="$tmp/excludes" \
    --aptopt='Acquire::Languages "none"' \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --setup-hook='mkdir -p "$1/etc/initramfs-tools/conf.d" "$1/etc/modprobe.d"' \
    --setup-hook="upload $tmp/initramfs.conf /etc/initramfs-tools/conf.d/ironpool.conf" \
    --setup-hook="upload $tmp/modprobe.conf /etc/modprobe.d/ironpool-no-floppy.conf" \
    bookworm "$BASE.new" \
    "deb $MIRROR bookworm main" \
    "deb $MIRROR bookworm-updates main" \
    "deb $SECURITY bookworm-security main"
  rm -rf "$tmp" "$BASE" "$C/base.stamp"
  mv "$BASE.new" "$BASE"
  echo "$base_stamp" > "$C/base.stamp"
}
if [ "$(cat "$C/base.stamp" 2>/dev/null)" != "$base_stamp" ] || [ ! -d "$BASE/etc" ]; then
  log "bootstrapping Debian bookworm from $MIRROR (mmdebstrap)"
  step "mmdebstrap" bootstrap
else
  log "bootstrapped root cached in $BASE"
fi

# --- customize a copy ------------------------------------------------------------
R="$C/root"
rm -rf "$R"
step "copy the cached root" cp -a "$BASE" "$R"
customize() {
  # Things that must not refer to the build host or be shared by every
  # deployed machine. machine-id: empty, so systemd makes one at first boot
  # (and dbus uses the same); hostname: cloud-init sets it; SSH host keys:
  # cloud-init (ssh_deletekeys/ssh_genkeytypes) makes them; fstab and
  # grub.cfg: the installer's, for the disks it partitioned.
  : > "$R/etc/machine-id"
  rm -f "$R/var/lib/dbus/machine-id"
  ln -s /etc/machine-id "$R/var/lib/dbus/machine-id"
  : > "$R/etc/hostname"
  chmod 644 "$R/etc/hostname" # mmdebstrap copies the build host's, mode and all
  # C.UTF-8 (built into libc): else cloud-init's locale module, finding no
  # LANG, runs locale-gen for en_US.UTF-8 at first boot (slow, and needs no
  # locale the image does not already have).
  echo 'LANG=C.UTF-8' > "$R/etc/default/locale"
  rm -f "$R"/etc/ssh/ssh_host_*
  printf '# /etc/fstab: written by the installer\n' > "$R/etc/fstab"
  rm -rf "$R/boot/grub"
  # Never left empty-handed: if cloud-init did not run (no datasource found),
  # sshd still gets host keys instead of failing its config test.
  mkdir -p "$R/etc/systemd/system/ssh.service.d"
  cat > "$R/etc/systemd/system/ssh.service.d/ironpool-hostkeys.conf" <<'EOF'
# Ironpool image: the image ships no host keys (cloud-init makes them at first
# boot); make any that are still missing rather than fail to start.
[Service]
ExecStartPre=/usr/bin/ssh-keygen -A
EOF

  # GRUB: menu and kernel messages on both the screen and the first serial
  # port (BMC serial-over-LAN, qemu -serial), 1 s menu.
  cat > "$R/etc/default/grub" <<'EOF'
# Ironpool server image (see grub-mkconfig's info page for the keys)
GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200"
GRUB_TERMINAL="console serial"
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_DISABLE_OS_PROBER=true
EOF

  # cloud-init: the network renderer chosen here, not by probing (Debian's
  # cloud.cfg lists eni, netplan, networkd, ... and takes the first one
  # available). netplan -> systemd-networkd does bonds, VLANs on bonds,
  # static and DHCP; netplan's generator enables systemd-networkd when it has
  # something to do, but cloud-init runs after the generators, so it is
  # enabled below as well.
  cat > "$R/etc/cloud/cloud.cfg.d/05_ironpool_network.cfg" <<'EOF'
# Ironpool image: render the network configuration (MAAS's version 1) as
# netplan, applied by systemd-networkd; DNS through systemd-resolved.
system_info:
  network:
    renderers: ['netplan']
    activators: ['netplan']
EOF
  # No datasource preset: the installer writes datasource_list (MAAS or
  # NoCloud) into cloud.cfg.d. 90_dpkg.cfg is debconf's "all datasources",
  # which would make ds-identify probe clouds this machine is not on.
  rm -f "$R/etc/cloud/cloud.cfg.d/90_dpkg.cfg"
  systemctl --root="$R" enable systemd-networkd.service systemd-resolved.service >/dev/null 2>&1
  # Host keys: no DSA (deprecated, off in OpenSSH's defaults; its key
  # generation is seconds of first boot on a slow machine).
  # grub_dpkg: that module records the boot disk in grub-pc's debconf
  # questions, but the image has grub-pc-bin, not grub-pc (the installer runs
  # grub-install itself); it costs a grub-probe run at every first boot.
  cat > "$R/etc/cloud/cloud.cfg.d/05_ironpool_boot.cfg" <<'EOF'
# Ironpool image: first-boot settings (see tools/build-os-image.sh).
ssh_genkeytypes: [ed25519, ecdsa, rsa]
grub_dpkg:
  enabled: false
EOF

  # Boot-time trimming (each measured under qemu TCG; see the report):
  # - apt-daily*: no unattended apt runs on a provisioned server (updates are
  #   the operator's; they would also hold the dpkg lock while cloud-init's
  #   package modules run);
  # - e2scrub_*: e2scrub needs free extents in the VG for snapshots, and the
  #   reap service runs at every boot;
  # - modprobe@drm: the image has no DRM drivers (drivers/gpu excluded).
  systemctl --root="$R" mask apt-daily.timer apt-daily-upgrade.timer \
    e2scrub_all.timer e2scrub_reap.service modprobe@drm.service >/dev/null 2>&1

  # Left-overs of the build.
  rm -rf "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/*.bin "$R"/var/cache/apt/archives/*.deb \
    "$R"/var/cache/debconf/*-old "$R"/var/lib/dpkg/*-old "$R"/var/log/apt/* "$R"/tmp/* "$R"/var/tmp/*
  mkdir -p "$R/var/lib/apt/lists/partial"
}
step "customize" customize

# Checks: nothing of the build host left, and what the installer relies on.
check() {
  local f
  for f in boot/grub/grub.cfg etc/ssh/ssh_host_rsa_key; do
    [ ! -e "$R/$f" ] || die "$f is in the image"
  done
  [ ! -s "$R/etc/machine-id" ] || die "etc/machine-id is not empty"
  [ ! -s "$R/etc/hostname" ] || die "etc/hostname is not empty"
  ! grep -qv '^#' "$R/etc/fstab" || die "etc/fstab has entries"
  ls "$R"/boot/vmlinuz-* "$R"/boot/initrd.img-* >/dev/null || die "no kernel/initrd in /boot"
  [ -e "$R/usr/lib/python3/dist-packages/oauthlib/__init__.py" ] || die "python3-oauthlib missing"
  for f in grub-install update-grub update-initramfs netplan mdadm lvm make-bcache mkfs.xfs; do
    chroot "$R" sh -c "command -v $f" >/dev/null || die "$f missing in the image"
  done
  # Modules that need a module the excludes above left out cannot load.
  # (Debian's /boot/System.map is a stub, so depmod -e cannot tell; each
  # module's "depends" field, written by the kernel build, can.)
  local broken
  broken=$(chroot "$R" sh -c "find /lib/modules/$KVER -name '*.ko' -print0 | xargs -0 modinfo -F depends" |
    tr ',' '\n' | sed '/^$/d; s/-/_/g' | sort -u |
    comm -23 - <(find "$R/lib/modules/$KVER" -name '*.ko' | sed 's|.*/||; s|\.ko$||; s/-/_/g' | sort -u))
  [ -z "$broken" ] || log "modules needed by others but excluded: $(echo "$broken" | tr '\n' ' ')"
}
kvers=("$R"/lib/modules/*)
[ ${#kvers[@]} = 1 ] || die "expected one kernel in lib/modules: ${kvers[*]}"
KVER=${kvers[0]##*/}
step "check" check
log "root $(du -sxm "$R" | cut -f1) MiB unpacked, kernel $KVER, initrd.img $(stat -c %s "$R/boot/initrd.img-$KVER") bytes"

# --- publish -----------------------------------------------------------------------
make_tgz() {
  tar --create --directory="$R" --numeric-owner --xattrs --xattrs-include='*' --acls \
    --sort=name --gzip --file="$OUT/$NAME.tgz.tmp" .
  mv "$OUT/$NAME.tgz.tmp" "$OUT/$NAME.tgz"
}
step "tgz" make_tgz
# zstd -9: the installer unsquashes it inside the machine (under TCG in the
# tests). Measured on the build host, unsquashfs to tmpfs / size / mksquashfs:
# lz4 -Xhc 0.9 s / 263 MB / 91 s, zstd -9 1.2 s / 215 MB / 8 s, gzip 1.6 s /
# 224 MB / 121 s, zstd -19 1.5 s / 202 MB / 258 s, xz 5.9 s / 187 MB / 142 s.
SQUASHFS_COMP=(-comp zstd -Xcompression-level 9)
# (mksquashfs warns "Unrecognised xattr prefix system.posix_acl_*": the ACLs
# systemd puts on /var/log/journal, which squashfs cannot store; tmpfiles.d
# sets them again at boot. The tgz keeps them.)
make_squashfs() {
  rm -f "$OUT/$NAME.squashfs.tmp"
  mksquashfs "$R" "$OUT/$NAME.squashfs.tmp" -noappend -quiet -no-progress -xattrs "${SQUASHFS_COMP[@]}" >/dev/null
  mv "$OUT/$NAME.squashfs.tmp" "$OUT/$NAME.squashfs"
}
step "squashfs" make_squashfs
log "$NAME.tgz $(stat -c %s "$OUT/$NAME.tgz") bytes, $NAME.squashfs $(stat -c %s "$OUT/$NAME.squashfs") bytes"

# Simplestreams, shaped like build-ephemeral.sh's (and MAAS's Ubuntu images:
# kernel, initrd and root squashfs of one product version).
make_mirror() {
  local M="$OUT/mirror" version d
  version=$(date -u +%Y%m%d.%H%M%S)
  d="debian/bookworm/amd64/$version"
  rm -rf "$M" && mkdir -p "$M/$d" "$M/streams/v1"
  cp "$R/boot/vmlinuz-$KVER" "$M/$d/boot-kernel"
  cp "$R/boot/initrd.img-$KVER" "$M/$d/boot-initrd"
  ln "$OUT/$NAME.squashfs" "$M/$d/squashfs" 2>/dev/null || cp "$OUT/$NAME.squashfs" "$M/$d/squashfs"
  item() {
    local f=$1 p="$d/$1"
    printf '"%s": {"ftype": "%s", "path": "%s", "sha256": "%s", "size": %s}' \
      "$f" "$f" "$p" "$(sha256sum "$M/$p" | cut -d' ' -f1)" "$(stat -c %s "$M/$p")"
  }
  cat > "$M/streams/v1/products.json" <<EOF
{"content_id": "ironpool:os", "datatype": "image-downloads", "format": "products:1.0",
 "products": {"ironpool:os:debian:bookworm:amd64": {
   "os": "debian", "release": "bookworm", "version": "12", "release_title": "Debian 12 (bookworm)",
   "arch": "amd64", "subarch": "generic", "subarches": "generic", "kflavor": "generic", "label": "stable",
   "versions": {"$version": {"items": {$(item boot-kernel), $(item boot-initrd), $(item squashfs)}}}}}}
EOF
  cat > "$M/streams/v1/index.json" <<EOF
{"format": "index:1.0", "index": {"ironpool:os": {
  "datatype": "image-downloads", "path": "streams/v1/products.json", "format": "products:1.0",
  "products": ["ironpool:os:debian:bookworm:amd64"]}}}
EOF
}
step "mirror" make_mirror
rm -rf "$R"
echo "$stamp" > "$OUT/.stamp"
log "done in $(awk -v a="$T_START" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }') s: $OUT/$NAME.tgz $OUT/$NAME.squashfs $OUT/mirror"
