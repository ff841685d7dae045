#!/usr/bin/env bash
# Installs what a fresh Debian machine of this kind lacks for the full test
# suite: Debian's rustc/cargo with the library source (to build the
# Cortex-M firmware with -Zbuild-std where rustup cannot add targets), the
# ARM linker, QEMU, defmt-print, Slurm and munge (the job-array test starts a
# one-node cluster), and for the Python package (python/) and its tests:
# venv support, maturin, pytest and NumPy (pandas and matplotlib for the
# optional to_pandas()/plot() tests).
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
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need_apt[@]}"
fi

if ! command -v defmt-print >/dev/null 2>&1; then
  echo "setup: installing defmt-print"
  cargo install --locked defmt-print
fi

if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  echo "setup: installing python3-venv (the Python package is tested in a venv under target/)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q python3-venv python3-pip
fi

# pip install into the interpreter's own site-packages; where the system
# Python refuses that (PEP 668, Debian's own python3), it is told to go ahead:
# these are test tools, and the package itself is tested in a venv.
pip_install() {
  python3 -m pip install --quiet "$@" 2>/dev/null || python3 -m pip install --quiet --break-system-packages "$@"
}
if ! python3 -c 'import numpy, pytest, maturin' >/dev/null 2>&1; then
  echo "setup: installing maturin, pytest and numpy (Python package and its tests)"
  pip_install maturin pytest numpy
fi
if ! python3 -c 'import pandas, matplotlib' >/dev/null 2>&1; then
  echo "setup: installing pandas and matplotlib (optional: RunResult.to_pandas() and plot() tests)"
  pip_install pandas matplotlib || echo "setup: pandas/matplotlib could not be installed; their tests will be skipped"
fi
echo "setup: done"
