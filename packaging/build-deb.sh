#!/usr/bin/env bash
# Builds the ironpool Debian package from a built binary:
#
#   packaging/build-deb.sh BIN OUTDIR [REVISION]
#
# BIN       the `ironpool` binary (cargo build --release: target/release/ironpool)
# OUTDIR    where ironpool_<version>-<revision>_<arch>.deb is written
# REVISION  the Debian revision (default 1)
#
# One package, two units: ironpool-region.service (enabled at install) and
# ironpool-rack.service (enabled by the operator once /etc/ironpool/rack.env
# names a region). /usr/bin/ironpool, the units in /lib/systemd/system,
# conffiles in /etc/ironpool, the maintainer scripts of packaging/debian.
# Plain dpkg-deb: nothing to install first.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:?usage: build-deb.sh BIN OUTDIR [REVISION]}
OUT=${2:?usage: build-deb.sh BIN OUTDIR [REVISION]}
REV=${3:-1}
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n1)
ARCH=$(dpkg --print-architecture)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
S=$(mktemp -d)
trap 'rm -rf "$S"' EXIT

install -d "$S/DEBIAN" "$S/usr/bin" "$S/lib/systemd/system" "$S/etc/ironpool" "$S/usr/share/doc/ironpool"
install -m 0755 "$BIN" "$S/usr/bin/ironpool"
strip --strip-unneeded "$S/usr/bin/ironpool" 2>/dev/null || true
install -m 0644 "$ROOT/packaging/ironpool-region.service" "$ROOT/packaging/ironpool-rack.service" "$S/lib/systemd/system/"
install -m 0640 "$ROOT/packaging/region.toml" "$S/etc/ironpool/region.toml"
install -m 0640 "$ROOT/packaging/rack.env" "$S/etc/ironpool/rack.env"
install -m 0644 "$ROOT/README.md" "$S/usr/share/doc/ironpool/README.md"
for d in configuration.md operations.md security.md rack.md; do
  install -m 0644 "$ROOT/docs/$d" "$S/usr/share/doc/ironpool/$d"
done
cat > "$S/usr/share/doc/ironpool/copyright" <<COPY
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: ironpool
Files: *
License: $(sed -n 's/^license = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n1)
COPY
for f in postinst prerm postrm; do
  install -m 0755 "$ROOT/packaging/debian/$f" "$S/DEBIAN/$f"
done
printf '/etc/ironpool/region.toml\n/etc/ironpool/rack.env\n' > "$S/DEBIAN/conffiles"
# What the binary links against (glibc, libxml2 for XPath tags) and what the
# rack's power drivers run.
LIBXML=$(dpkg-query -W -f='${Package}' 'libxml2' 2>/dev/null || echo libxml2)
cat > "$S/DEBIAN/control" <<CTRL
Package: ironpool
Version: $VERSION-$REV
Architecture: $ARCH
Maintainer: Ironpool developers <ironpool@localhost>
Section: admin
Priority: optional
Depends: libc6, $LIBXML, adduser
Recommends: freeipmi-tools, ipmitool
Suggests: postgresql
Installed-Size: $(du -sk "$S" | cut -f1)
Homepage: https://github.com/ironpool/ironpool
Description: MAAS-compatible bare-metal cloud (region and rack controllers)
 Ironpool enlists, commissions, deploys and releases physical machines. It
 serves the MAAS REST API 2.0 so MAAS clients (Juju, Terraform, python-libmaas,
 the maas CLI) keep working. The region (ironpool-region.service) runs the API
 on SQLite or PostgreSQL; the rack (ironpool-rack.service) serves DHCP, TFTP,
 HTTP boot and BMC power.
CTRL
DEB="$OUT/ironpool_${VERSION}-${REV}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zxz --build "$S" "$DEB" >/dev/null
echo "$DEB"
