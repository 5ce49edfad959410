#!/usr/bin/env bash
# Installs the real peer programs the rack-controller integration tests run
# against. Idempotent: packages already present are not reinstalled, and the
# sushy-tools venv is only created once.
#
#   openipmi        ipmi_sim (BMC simulator)
#   freeipmi-tools  ipmipower, ipmi-chassis-config (what the ipmi driver runs)
#   ipmitool        a second IPMI client, for debugging
#   tftpd-hpa       reference TFTP server for the benchmark (needs root)
#   dnsmasq-base    reference DHCP server for the DHCP comparison
#   tftp-hpa        tftp client; atftp: client with blksize/windowsize
#   isc-dhcp-client dhclient; busybox: udhcpc
#   iproute2        ip netns / veth
#   python3-venv    the sushy-tools Redfish emulator venv
set -euo pipefail
cd "$(dirname "$0")"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

want=(openipmi freeipmi-tools ipmitool tftpd-hpa dnsmasq-base tftp-hpa atftp isc-dhcp-client busybox iproute2 python3-venv)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "peers-setup: installing ${missing[*]}"
  as_root apt-get update -qq
  # policy-rc.d on the reference image keeps tftpd-hpa from starting; on other
  # hosts stop it so it does not hold port 69.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if command -v systemctl >/dev/null 2>&1; then as_root systemctl disable --now tftpd-hpa >/dev/null 2>&1 || true; fi
fi

# sushy-tools (Redfish emulator) in a private venv next to the tests (gitignored).
if [ ! -x .venv/bin/sushy-emulator ] || ! .venv/bin/python -c 'import bcrypt' 2>/dev/null; then
  echo "peers-setup: creating tests/.venv with sushy-tools"
  python3 -m venv .venv
  .venv/bin/pip install -q sushy-tools bcrypt
fi
echo "peers-setup: ok"
