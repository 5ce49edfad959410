# shellcheck shell=bash
# Helpers shared by tools/build-ephemeral.sh and tools/build-test-image.sh
# (bash; source it). The callers define log and as_root; add_modules and
# pack_initramfs expect $BB to be a static busybox.

# prepare_kernel CACHE KPKG: the Debian kernel package KPKG unpacked in
# CACHE/kernel-KVER with its modules.dep (marked .done) and busybox-static
# in CACHE/busybox, downloading into CACHE/debs what is missing.
prepare_kernel() {
  local c=$1 kpkg=$2
  local k="$c/kernel-${kpkg#linux-image-}" pkg
  mkdir -p "$c/debs"
  for pkg in "$kpkg" busybox-static; do
    ls "$c/debs/${pkg}"_*.deb >/dev/null 2>&1 && continue
    [ "$pkg" = "$kpkg" ] && [ -e "$k/.done" ] && continue
    [ "$pkg" = busybox-static ] && [ -x "$c/busybox/bin/busybox" ] && continue
    log "downloading $pkg"
    (cd "$c/debs" && { apt-get download "$pkg" >/dev/null 2>&1 ||
      { as_root apt-get update -qq && apt-get download "$pkg" >/dev/null; }; })
  done
  if [ ! -e "$k/.done" ]; then
    log "unpacking $kpkg"
    rm -rf "$k" && dpkg -x "$c/debs/${kpkg}"_*.deb "$k"
  fi
  if [ ! -x "$c/busybox/bin/busybox" ]; then
    rm -rf "$c/busybox" && dpkg -x "$c"/debs/busybox-static_*.deb "$c/busybox"
  fi
  if [ ! -e "$k/.done" ]; then
    log "depmod ${kpkg#linux-image-}"
    "$c/busybox/bin/busybox" depmod -b "$k" "${kpkg#linux-image-}"
    touch "$k/.done"
  fi
}

# add_modules ROOT MD KVER MODULE...: copies each module and everything
# modules.dep says it needs from MD (an unpacked kernel's
# lib/modules/KVER) into ROOT/lib/modules/KVER, then runs depmod there.
# Sets MODULE_COUNT.
add_modules() {
  local root=$1 md=$2 kver=$3
  shift 3
  local -A seen=()
  local queue=() m n line f d
  for m in "$@"; do
    n=${m//-/_}
    line=$(awk -F: -v n="$n" '{ b = $1; sub(/.*\//, "", b); sub(/\.ko(\.[a-z]+)?$/, "", b); gsub(/-/, "_", b); if (b == n) { print $1; exit } }' "$md/modules.dep")
    [ -n "$line" ] || { echo "module $m not found in $md" >&2; return 1; }
    queue+=("$line")
  done
  while [ ${#queue[@]} -gt 0 ]; do
    f=${queue[0]}
    queue=("${queue[@]:1}")
    [ -n "${seen[$f]:-}" ] && continue
    seen[$f]=1
    mkdir -p "$root/lib/modules/$kver/$(dirname "$f")"
    cp "$md/$f" "$root/lib/modules/$kver/$f"
    # shellcheck disable=SC2013 # modules.dep lists words
    for d in $(awk -F: -v f="$f" '$1 == f { print $2; exit }' "$md/modules.dep"); do queue+=("$d"); done
  done
  cp "$md"/modules.order "$md"/modules.builtin "$root/lib/modules/$kver/" 2>/dev/null || true
  "$BB" depmod -b "$root" "$kver"
  # shellcheck disable=SC2034 # for the caller
  MODULE_COUNT=${#seen[@]}
}

# pack_initramfs ROOT OUT GZIP_LEVEL: a newc cpio of ROOT owned by root,
# in a stable order, gzipped into OUT.
pack_initramfs() {
  (cd "$1" && find . | LC_ALL=C sort | "$BB" cpio -o -H newc -R 0:0 2>/dev/null) | gzip "-$3n" > "$2"
}

# add_binaries ROOT PROGRAM...: copies host programs (names on PATH) with
# the shared libraries they load into ROOT, so that they run there:
# - each program into ROOT/usr/sbin or ROOT/usr/bin, as on the host; a
#   program that is a symlink to another (pvcreate -> lvm, mkfs.ext4 ->
#   mke2fs) stays a symlink next to a copy of its target, since those
#   programs act on the name they are called by;
# - every library ldd lists, and the dynamic loader, at the path ldd gives
#   (/lib/x86_64-linux-gnu/..., /lib64/ld-linux-x86-64.so.2: the loader's
#   path is compiled into each program), plus an ld.so.cache for them.
# Libraries a program dlopen()s are not seen by ldd: add those by hand.
# Sets BINARY_BYTES to the bytes added.
add_binaries() {
  local root=$1
  shift
  local -A libs=()
  local prog p real dir lib before
  before=$(du -sb "$root" | cut -f1)
  for prog in "$@"; do
    p=$(command -v "$prog") || { echo "add_binaries: $prog is not installed" >&2; return 1; }
    real=$(readlink -f "$p")
    case "$real" in */sbin/*) dir=usr/sbin ;; *) dir=usr/bin ;; esac
    mkdir -p "$root/$dir"
    [ -e "$root/$dir/${real##*/}" ] || cp "$real" "$root/$dir/${real##*/}"
    [ "${real##*/}" = "$prog" ] || ln -sfn "${real##*/}" "$root/$dir/$prog"
    # "\tlibfoo.so.1 => /lib/x86_64-linux-gnu/libfoo.so.1 (0x...)" and
    # "\t/lib64/ld-linux-x86-64.so.2 (0x...)"; linux-vdso has no file.
    for lib in $(ldd "$real" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
      libs[$lib]=1
    done
  done
  for lib in "${!libs[@]}"; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
  # The loader finds libraries through ld.so.cache (or its built-in default
  # directories, which differ between glibc builds): make the cache.
  mkdir -p "$root/etc"
  printf '/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n' > "$root/etc/ld.so.conf"
  "$(command -v ldconfig || echo /sbin/ldconfig)" -r "$root"
  # shellcheck disable=SC2034 # for the caller
  BINARY_BYTES=$(($(du -sb "$root" | cut -f1) - before))
}
