#!/usr/bin/env bash
# Cargo runner: runs a firmware ELF under QEMU with semihosting and decodes
# its defmt output. Usage: qemu-run.sh MACHINE ELF
# The exit status is QEMU's, i.e. the firmware's semihosting exit code.
set -euo pipefail
machine=$1
elf=$2
case $machine in
  microbit) cpu=cortex-m0 ;;
  lm3s6965evb) cpu=cortex-m3 ;;
  mps2-an386) cpu=cortex-m4 ;;
  mps2-an505) cpu=cortex-m33 ;;
  *) echo "qemu-run.sh: unknown machine $machine" >&2; exit 64 ;;
esac
for tool in qemu-system-arm defmt-print; do
  if ! command -v "$tool" >/dev/null; then
    echo "qemu-run.sh: $tool not found; install: apt-get install -y qemu-system-arm; cargo install --locked defmt-print" >&2
    exit 127
  fi
done
timeout "${OVERLIN_QEMU_TIMEOUT:-120}" qemu-system-arm -cpu "$cpu" -machine "$machine" -nographic \
  -semihosting-config enable=on,target=native -kernel "$elf" \
  | defmt-print -e "$elf"
