#!/usr/bin/env bash
# Debian packages tvm-sepnet needs beyond Python: for the ARM targets cross compilers (export_library for
# arm64 / armv7) and qemu-user (running ARM code here, CPU pinned); for the accelerator's RTL Verilator
# (co-simulation, fpga-rtl targets; it compiles with g++ and make) and Yosys (fpga-synth). Installs only
# what is missing; about a minute when it does.
set -euo pipefail
PACKAGES="qemu-user-static gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross gcc-arm-linux-gnueabihf g++-arm-linux-gnueabihf libc6-dev-armhf-cross mmdebstrap llvm-19 verilator yosys g++ make"
need=0
for tool in qemu-aarch64-static qemu-arm-static aarch64-linux-gnu-g++ arm-linux-gnueabihf-g++ mmdebstrap llvm-mca-19 verilator yosys g++ make; do
  command -v "$tool" >/dev/null 2>&1 || need=1
done
if [ "$need" = 0 ]; then
  echo "== system packages: present"
  exit 0
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
echo "== system packages: installing $PACKAGES"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null
qemu-aarch64-static --version | head -1
