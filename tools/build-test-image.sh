#!/usr/bin/env bash
# Builds the small bootable raw disk image that Ironpool's end-to-end deploy
# test deploys (the "deployed OS"), from Debian packages, without root,
# following the verified recipe (shared reference ephemeral-env.md §6):
#
#   tools/build-test-image.sh OUTDIR
#
# OUTDIR/test-image.img     raw MBR disk, 24 MiB
# OUTDIR/test-image.img.gz  gzip -9n of it
#
# Layout (the contract with the deploy agent):
#   MBR boot code: syslinux's mbr.bin
#   p1: 1 MiB..17 MiB, type 0e, bootable, FAT16 "IPBOOT": syslinux
#       (ldlinux.sys, ldlinux.c32), syslinux.cfg, vmlinuz (Debian's
#       linux-image-amd64), initrd.gz (busybox + tools/test-image/init +
#       udhcpc script + a small module closure)
#   p2: 17 MiB..21 MiB, type 0e, empty FAT12 labelled "cidata" (cloud-init
#       NoCloud); the deploy agent writes meta-data, user-data and
#       reporting.cfg into it, and tools/test-image/init acts on them.
#
# Kernel and busybox: taken from EPHEMERAL_CACHE (the OUTDIR/cache of
# tools/build-ephemeral.sh, used read-only) when it holds the current kernel,
# else downloaded with apt-get download + dpkg -x into OUTDIR/cache.
# Idempotent: rebuilds only when an input changed.
#
# Host packages: syslinux syslinux-common mtools dosfstools fdisk
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/initramfs.sh
. "$ROOT/tools/lib/initramfs.sh"
OUT=${1:?usage: build-test-image.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
T0=$(date +%s.%N)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
log() { echo "build-test-image: $*"; }
die() { echo "build-test-image: $*" >&2; exit 1; }

# --- host tools ---------------------------------------------------------------
SL=/usr/lib/syslinux
MBR=$SL/mbr/mbr.bin
missing=()
command -v syslinux >/dev/null || missing+=(syslinux)
[ -r "$MBR" ] || missing+=(syslinux-common)
{ command -v mcopy >/dev/null && command -v mdir >/dev/null; } || missing+=(mtools)
command -v mkfs.vfat >/dev/null || missing+=(dosfstools)
command -v sfdisk >/dev/null || missing+=(fdisk)
for t in dpkg apt-get gzip sha256sum awk; do command -v $t >/dev/null || die "missing host tool: $t"; done
if [ ${#missing[@]} -gt 0 ]; then
  die "missing host packages: ${missing[*]}
  install with: apt-get install -y --no-install-recommends syslinux syslinux-common mtools dosfstools fdisk"
fi
export MTOOLS_SKIP_CHECK=1

# --- kernel + busybox ---------------------------------------------------------
KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)/\1/p' | head -n1 || true)
# Offline and no apt lists: fall back to the newest kernel already in a cache.
if [ -z "$KPKG" ]; then
  for c in "${EPHEMERAL_CACHE:-}" "$OUT/cache"; do
    [ -n "$c" ] || continue
    k=$(ls -d "$c"/kernel-*/.done 2>/dev/null | sort -V | tail -n1 || true)
    [ -n "$k" ] && { k=${k%/.done}; KPKG=linux-image-${k##*/kernel-}; break; }
  done
fi
if [ -z "$KPKG" ]; then
  as_root apt-get update -qq
  KPKG=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)/\1/p' | head -n1)
fi
[ -n "$KPKG" ] || die "cannot resolve linux-image-amd64"
KVER=${KPKG#linux-image-}

if [ -n "${EPHEMERAL_CACHE:-}" ] && [ -e "$EPHEMERAL_CACHE/kernel-$KVER/.done" ] &&
   [ -x "$EPHEMERAL_CACHE/busybox/bin/busybox" ]; then
  C=$(cd "$EPHEMERAL_CACHE" && pwd)
  log "using $C (kernel $KVER)"
else
  [ -n "${EPHEMERAL_CACHE:-}" ] && log "$EPHEMERAL_CACHE has no depmod'ed kernel-$KVER + busybox, using $OUT/cache"
  C="$OUT/cache"
  prepare_kernel "$C" "$KPKG"
fi
K="$C/kernel-$KVER"
BB="$C/busybox/bin/busybox"
VMLINUZ="$K/boot/vmlinuz-$KVER"
[ -r "$VMLINUZ" ] || die "no $VMLINUZ"

# --- up to date? --------------------------------------------------------------
INIT="$ROOT/tools/test-image/init"
UDHCPC="$ROOT/tools/test-image/udhcpc.script"
IMG="$OUT/test-image.img"
stamp=$(cat "$0" "$ROOT/tools/lib/initramfs.sh" "$INIT" "$UDHCPC" "$BB" "$MBR" "$(command -v syslinux)" "$VMLINUZ" | sha256sum | cut -c1-16)-$KVER
if [ -e "$IMG" ] && [ -e "$IMG.gz" ] && [ "$(cat "$OUT/.test-image.stamp" 2>/dev/null)" = "$stamp" ]; then
  log "up to date: $IMG ($(stat -c %s "$IMG") bytes), $IMG.gz ($(stat -c %s "$IMG.gz") bytes)"
  exit 0
fi

W=$(mktemp -d "$OUT/.test-image.XXXXXX")
trap 'rm -rf "$W"' EXIT

# --- initramfs of the deployed OS --------------------------------------------
log "building the initramfs"
MODS="virtio_pci virtio_net virtio_blk virtio_scsi e1000 e1000e ahci ata_piix sd_mod nvme vfat nls_cp437 nls_ascii nls_utf8"
R="$W/root"
mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,run,tmp,root,cidata,usr/bin,usr/sbin,lib/modules/"$KVER"}
cp "$BB" "$R/bin/busybox"
ln -s busybox "$R/bin/sh"
install -m 0755 "$INIT" "$R/init"
install -m 0755 "$UDHCPC" "$R/etc/udhcpc.script"
add_modules "$R" "$K/lib/modules/$KVER" "$KVER" $MODS || die "module closure failed"
pack_initramfs "$R" "$W/initrd.gz" 9
log "initrd.gz $(stat -c %s "$W/initrd.gz") bytes, $MODULE_COUNT modules"

# --- the disk -----------------------------------------------------------------
log "building the disk image"
cat > "$W/syslinux.cfg" <<'EOF'
SERIAL 0 115200
DEFAULT deployed
PROMPT 0
TIMEOUT 0
LABEL deployed
  LINUX /vmlinuz
  INITRD /initrd.gz
  APPEND console=ttyS0 quiet panic=10
EOF
cp "$VMLINUZ" "$W/vmlinuz"
# p1: FAT16 IPBOOT, 16 MiB, populated through mtools (no mount, no root).
truncate -s 16M "$W/p1.img"
mkfs.vfat -F 16 -n IPBOOT "$W/p1.img" >/dev/null
mcopy -i "$W/p1.img" "$W/syslinux.cfg" "$W/vmlinuz" "$W/initrd.gz" ::
syslinux --install "$W/p1.img"
mdir -a -i "$W/p1.img" :: | grep -qi '^ldlinux  *c32' || die "syslinux did not install ldlinux.c32"
# p2: empty FAT12 labelled cidata (lowercase, as NoCloud looks for it).
truncate -s 4M "$W/p2.img"
mkfs.vfat -F 12 -n cidata "$W/p2.img" >/dev/null 2>&1
# The disk: 24 MiB, MBR, p1 at 1 MiB (bootable), p2 at 17 MiB, both type 0e.
truncate -s 24M "$W/disk.img"
printf 'label: dos\nstart=2048, size=32768, type=e, bootable\nstart=34816, size=8192, type=e\n' | sfdisk -q "$W/disk.img"
dd if="$MBR" of="$W/disk.img" bs=440 count=1 conv=notrunc status=none
dd if="$W/p1.img" of="$W/disk.img" bs=1M seek=1 conv=notrunc status=none
dd if="$W/p2.img" of="$W/disk.img" bs=1M seek=17 conv=notrunc status=none
gzip -9nc "$W/disk.img" > "$W/disk.img.gz"
mv "$W/disk.img" "$IMG"
mv "$W/disk.img.gz" "$IMG.gz"
echo "$stamp" > "$OUT/.test-image.stamp"
log "done in $(echo "$(date +%s.%N) $T0" | awk '{ printf "%.1f", $1 - $2 }') s: $IMG ($(stat -c %s "$IMG") bytes), $IMG.gz ($(stat -c %s "$IMG.gz") bytes)"
