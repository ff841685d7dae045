#!/usr/bin/env bash
# Installs what a fresh Debian machine of this kind lacks for the full test
# suite: Debian's rustc/cargo with the library source (to build the
# Cortex-M firmware with -Zbuild-std where rustup cannot add targets), the
# ARM linker, QEMU, defmt-print, Slurm and munge (the job-array test starts a
# one-node cluster), and NumPy for the benchmark cross-check.
# Safe to rerun: it only installs what is missing.
set -euo pipefail

need_apt=()
command -v /usr/bin/rustc >/dev/null 2>&1 || need_apt+=(rustc-web cargo-web)
[ -d /usr/lib/rustlib/src/rust/library ] || ls -d /usr/lib/rust-web*/lib/rustlib/src/rust/library >/dev/null 2>&1 \
  || /usr/bin/rustc --print sysroot 2>/dev/null | xargs -I{} test -d {}/lib/rustlib/src/rust/library \
  || need_apt+=(rust-web-src)
command -v arm-none-eabi-ld >/dev/null 2>&1 || need_apt+=(binutils-arm-none-eabi)
command -v qemu-system-arm >/dev/null 2>&1 || need_apt+=(qemu-system-arm)
{ [ -x /usr/sbin/slurmctld ] && [ -x /usr/sbin/slurmd ] && command -v sbatch >/dev/null 2>&1; } || need_apt+=(slurm-wlm)
[ -x /usr/sbin/munged ] || need_apt+=(munge)

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q rustc-web cargo-web rust-web-src binutils-arm-none-eabi qemu-system-arm slurm-wlm munge
fi

if ! command -v defmt-print >/dev/null 2>&1; then
  echo "setup: installing defmt-print"
  cargo install --locked defmt-print
fi

if ! python3 -c 'import numpy' >/dev/null 2>&1; then
  echo "setup: installing numpy (benchmark cross-check)"
  python3 -m pip install --quiet numpy || echo "setup: numpy could not be installed; the NumPy benchmark will say so"
fi
echo "setup: done"
