#!/usr/bin/env bash
# Builds Ironpool's ephemeral (commissioning) environment from Debian
# packages, following the verified recipe (shared reference ephemeral-env.md):
#
#   tools/build-ephemeral.sh OUTDIR
#
# OUTDIR/vmlinuz      Debian's linux-image-amd64 kernel
# OUTDIR/initrd.gz    busybox-static, a small module closure, /init, a
#                     static ironpool-agent, Debian's pci.ids and the
#                     installer's disk tools (sfdisk, mdadm, lvm, mkfs.*,
#                     unsquashfs, GNU tar, ...) with their libraries
# OUTDIR/mirror/      a simplestreams mirror (os "ironpool", release
#                     "bookworm", amd64, boot-kernel + boot-initrd) for
#                     `boot-sources/` + `boot-resources/?op=import`
#
# Idempotent: the debs, the unpacked kernel and its depmod are cached in
# OUTDIR/cache; the initramfs is rebuilt only when an input changed.
# Needs no root (apt-get download, dpkg -x, busybox cpio -R 0:0), except to
# apt-get install the disk tools' packages on the host when missing.
set -euo pipefail
# The disk tools live in sbin, which an ordinary user's PATH may lack.
PATH=$PATH:/usr/sbin:/sbin
T0=$(date +%s.%N)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/initramfs.sh
. "$ROOT/tools/lib/initramfs.sh"
OUT=${1:?usage: build-ephemeral.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
C="$OUT/cache"
mkdir -p "$C/debs"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
log() { echo "build-ephemeral: $*"; }

# --- packages -----------------------------------------------------------------
KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)/\1/p' | head -n1)
if [ -z "$KPKG" ]; then
  as_root apt-get update -qq
  KPKG=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)/\1/p' | head -n1)
fi
KVER=${KPKG#linux-image-}
prepare_kernel "$C" "$KPKG"
K="$C/kernel-$KVER"
BB="$C/busybox/bin/busybox"

# PCI vendor and device names for the agent's device inventory: Debian's
# pci.ids (what lspci reads), at the path the agent looks in.
if [ ! -e "$C/pci.ids/usr/share/misc/pci.ids" ]; then
  if ! ls "$C/debs"/pci.ids_*.deb >/dev/null 2>&1; then
    log "downloading pci.ids"
    (cd "$C/debs" && { apt-get download pci.ids >/dev/null 2>&1 ||
      { as_root apt-get update -qq && apt-get download pci.ids >/dev/null; }; })
  fi
  rm -rf "$C/pci.ids" && dpkg -x "$C"/debs/pci.ids_*.deb "$C/pci.ids"
fi

# --- the installer's disk tools -----------------------------------------------
# The agent's installer runs these by name (partition tables, md RAID, bcache,
# LVM, filesystems, swap, unpacking root images; GNU tar for --xattrs).
# busybox has none of them or reduced ones, so the host's Debian programs go
# into the initramfs with their libraries (add_binaries). pvcreate & co. are
# symlinks to lvm. Package:program pairs; apt-get install what is missing.
TOOLS="util-linux:wipefs util-linux:blockdev util-linux:blkid util-linux:mkswap util-linux:partx fdisk:sfdisk
  mdadm:mdadm bcache-tools:make-bcache
  lvm2:lvm lvm2:pvcreate lvm2:vgcreate lvm2:lvcreate lvm2:vgchange lvm2:pvs lvm2:vgs lvm2:lvs
  lvm2:pvscan lvm2:vgscan lvm2:pvremove lvm2:vgremove lvm2:lvremove
  e2fsprogs:mke2fs e2fsprogs:mkfs.ext4 xfsprogs:mkfs.xfs dosfstools:mkfs.fat dosfstools:mkfs.vfat
  squashfs-tools:unsquashfs tar:tar"
TOOL_PKGS=$(for t in $TOOLS; do echo "${t%%:*}"; done | sort -u)
missing=()
for t in $TOOLS; do
  command -v "${t#*:}" >/dev/null && continue
  case " ${missing[*]:-} " in *" ${t%%:*} "*) ;; *) missing+=("${t%%:*}") ;; esac
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Their versions go into the stamp: a host upgrade rebuilds the initramfs.
# shellcheck disable=SC2086 # one package per word
tool_versions=$(dpkg-query -W -f '${Package}=${Version}\n' $TOOL_PKGS)

# --- the agent ----------------------------------------------------------------
AGENT_TARGET=${AGENT_TARGET_DIR:-$ROOT/target-static}
AGENT="$AGENT_TARGET/x86_64-unknown-linux-gnu/debug/ironpool-agent"
log "building the static ironpool-agent"
(cd "$ROOT" && RUSTFLAGS='-C target-feature=+crt-static' CARGO_TARGET_DIR="$AGENT_TARGET" \
  cargo build --quiet -p ironpool-agent --target x86_64-unknown-linux-gnu)
if ldd "$AGENT" 2>&1 | grep -q '=>'; then
  echo "build-ephemeral: $AGENT is not static" >&2
  exit 1
fi

# --- initramfs ----------------------------------------------------------------
# vfat: the image's cidata seed; ext4 (+ crc32c, a soft dependency): root
# filesystems that take the seed in /var/lib/cloud. ipmi_*: the BMC's host
# interface, for the agent's BMC configuration (30-maas-01-bmc-config).
# The installer's storage: md RAID levels (mdadm --create loads them through
# their md-level-N aliases; linear is md's), device mapper (LVM), bcache, and
# the filesystems it makes (ext4, xfs, vfat for the ESP); squashfs + loop +
# overlay to mount a squashfs root instead of unpacking it; bonding + 8021q
# for the machine's bonds/VLANs.
MODS="virtio_pci virtio_net virtio_blk virtio_scsi e1000 e1000e ahci ata_piix sd_mod nvme vfat nls_cp437 nls_ascii nls_utf8 ext4 crc32c_generic ipmi_msghandler ipmi_devintf ipmi_si ipmi_ssif
  md_mod linear raid0 raid1 raid10 raid456 dm_mod bcache xfs squashfs loop overlay bonding 8021q"
INIT="$ROOT/tools/ephemeral/init"
UDHCPC="$ROOT/tools/ephemeral/udhcpc.script"
stamp=$( (cat "$INIT" "$UDHCPC" "$AGENT" "$0" "$ROOT/tools/lib/initramfs.sh"; echo "$tool_versions") | sha256sum | cut -c1-16)-$KVER
if [ -e "$OUT/initrd.gz" ] && [ "$(cat "$OUT/.stamp" 2>/dev/null)" = "$stamp" ] && [ -e "$OUT/mirror/streams/v1/index.json" ]; then
  log "up to date ($OUT)"
  exit 0
fi
log "building the initramfs"
R=$(mktemp -d "$OUT/.root.XXXXXX")
trap 'rm -rf "$R"' EXIT
mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,run,tmp,usr/bin,usr/sbin,lib/modules/"$KVER"}
cp "$BB" "$R/bin/busybox"
ln -s busybox "$R/bin/sh"
install -m 0755 "$INIT" "$R/init"
install -m 0755 "$UDHCPC" "$R/etc/udhcpc.script"
install -m 0755 "$AGENT" "$R/bin/ironpool-agent"
mkdir -p "$R/usr/share/misc"
cp "$C/pci.ids/usr/share/misc/pci.ids" "$R/usr/share/misc/pci.ids"
# Debug symbols are most of a debug build: leave them out of the initramfs.
strip "$R/bin/ironpool-agent" 2>/dev/null || true
# shellcheck disable=SC2086 # one module per word
add_modules "$R" "$K/lib/modules/$KVER" "$KVER" $MODS
# shellcheck disable=SC2046 # one program per word
add_binaries "$R" $(for t in $TOOLS; do echo "${t#*:}"; done)
# mke2fs reads its defaults (features, inode sizes) from here: the same
# filesystems as the host's Debian makes.
cp /etc/mke2fs.conf "$R/etc/mke2fs.conf"
# LVM without udev (the initramfs has none): lvm must neither wait for udev
# to create /dev nodes (udev_sync) nor leave that to udev rules (udev_rules),
# and must scan /dev itself instead of asking udev for the device list. No
# dmeventd monitoring, no metadata backups (they would only land in this
# RAM disk), no devices file (the machine's system.devices is not here).
# Run directories for their locks and maps (the initramfs's /run is kept).
mkdir -p "$R/etc/lvm" "$R/run/lvm" "$R/run/lock/lvm" "$R/run/mdadm"
cat > "$R/etc/lvm/lvm.conf" <<'EOF'
# Ironpool ephemeral environment: no udev, no dmeventd, nothing to keep.
devices {
	obtain_device_list_from_udev = 0
	external_device_info_source = "none"
	use_devicesfile = 0
}
activation {
	udev_sync = 0
	udev_rules = 0
	monitoring = 0
}
backup {
	backup = 0
	archive = 0
}
EOF
pack_initramfs "$R" "$OUT/initrd.gz.tmp" 6
mv "$OUT/initrd.gz.tmp" "$OUT/initrd.gz"
cp "$K/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
log "initrd.gz $(stat -c %s "$OUT/initrd.gz") bytes, $MODULE_COUNT modules, disk tools $((BINARY_BYTES / 1024)) KiB unpacked"

# --- simplestreams mirror -----------------------------------------------------
M="$OUT/mirror"
rm -rf "$M" && mkdir -p "$M/bookworm/amd64/$KVER" "$M/streams/v1"
cp "$OUT/vmlinuz" "$M/bookworm/amd64/$KVER/boot-kernel"
cp "$OUT/initrd.gz" "$M/bookworm/amd64/$KVER/boot-initrd"
version=$(date -u +%Y%m%d.%H%M%S)
item() {
  local f=$1 p="bookworm/amd64/$KVER/$1"
  printf '"%s": {"ftype": "%s", "path": "%s", "sha256": "%s", "size": %s}' \
    "$f" "$f" "$p" "$(sha256sum "$M/$p" | cut -d' ' -f1)" "$(stat -c %s "$M/$p")"
}
cat > "$M/streams/v1/products.json" <<EOF
{"content_id": "ironpool:ephemeral", "datatype": "image-downloads", "format": "products:1.0",
 "products": {"ironpool:ephemeral:bookworm:amd64": {
   "os": "ironpool", "release": "bookworm", "arch": "amd64", "subarch": "generic", "subarches": "generic",
   "kflavor": "generic", "label": "stable",
   "versions": {"$version": {"items": {$(item boot-kernel), $(item boot-initrd)}}}}}}
EOF
cat > "$M/streams/v1/index.json" <<EOF
{"format": "index:1.0", "index": {"ironpool:ephemeral": {
  "datatype": "image-downloads", "path": "streams/v1/products.json", "format": "products:1.0",
  "products": ["ironpool:ephemeral:bookworm:amd64"]}}}
EOF
echo "$stamp" > "$OUT/.stamp"
log "done in $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s: $OUT/vmlinuz $OUT/initrd.gz $M"
