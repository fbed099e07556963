#!/usr/bin/env bash
# Installs what vimana needs to build and run on Debian/Ubuntu, idempotently:
# libseccomp (seccomp filters), iptables and iproute2 (spacecore networking),
# Debian's runc (only as the comparison in bench/), QEMU and e2fsprogs (microvm
# provider; its guest kernel is fetched with apt-get download on first use),
# runsc (gvisor provider).
# Needs root.
set -euo pipefail
need=()
dpkg -s libseccomp-dev >/dev/null 2>&1 || need+=(libseccomp-dev)
dpkg -s pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v gcc >/dev/null 2>&1 || need+=(gcc)
command -v runc >/dev/null 2>&1 || need+=(runc)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)  # microvm provider
command -v mkfs.ext4 >/dev/null 2>&1 || need+=(e2fsprogs)                   # microvm rootfs disks
command -v cpio >/dev/null 2>&1 || need+=(cpio)                             # microvm initramfs test cross-check
command -v runsc >/dev/null 2>&1 || need+=(runsc)                           # gvisor provider
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to install: ${need[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
command -v go >/dev/null 2>&1 || { echo "setup: Go 1.26+ is required (https://go.dev/dl)" >&2; exit 1; }
echo "setup: ok" >&2
