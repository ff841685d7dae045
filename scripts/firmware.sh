#!/usr/bin/env bash
# Builds, runs (under QEMU) and measures the Cortex-M firmware.
#
#   scripts/firmware.sh build  TARGET [--config small|large] [--out FILE] [-- CARGO_ARGS...]
#   scripts/firmware.sh run    TARGET [--config small|large] [--elf FILE] [--timeout SECONDS]
#   scripts/firmware.sh size   TARGET [--config small|large] [--elf FILE]
#   scripts/firmware.sh cost   TARGET [--config small|large]  (instructions per certified step)
#   scripts/firmware.sh route         (which toolchain route would be used)
#
# --board stm32f411 (with TARGET m4f) builds for an STM32F411CE "Black Pill"
# instead of QEMU: memory layout memory/stm32f411.x, defmt over RTT; `run`
# then flashes and runs it with `probe-rs run --chip STM32F411CEUx`.
#
# TARGET: m0  = thumbv6m-none-eabi,        QEMU -machine microbit    (16 KiB RAM; small only)
#         m3  = thumbv7m-none-eabi,        QEMU -machine lm3s6965evb (default config small)
#         m4f = thumbv7em-none-eabihf,     QEMU -machine mps2-an386  (default config large)
#         m33 = thumbv8m.main-none-eabihf, QEMU -machine mps2-an505  (default config large)
#
# Build-time settings are read from the environment by the firmware:
# OVERLIN_SEED, OVERLIN_LOG_EVERY (default 10), OVERLIN_CONSTANT_STEP,
# OVERLIN_FAULT=panic|hardfault, OVERLIN_BOARD (memory layout).
#
# Toolchain routes, tried in this order:
#   1. rustup with the target installed: cargo build --release --target T
#   2. Debian's rustc/cargo with the library source:
#      RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 /usr/bin/cargo build -Zbuild-std=core
#      linked by arm-none-eabi-ld (Debian's rust-lld is a link to lld-NN,
#      which is not installed with rustc-web).
# `run` exits with the firmware's semihosting exit code (0 = converged and
# every certificate held), 124 on timeout, 127 when a tool is missing.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
fw="$here/firmware"

install_hint() {
  cat >&2 <<'EOF'
To build and run the firmware, install either
  - rustup's targets: rustup target add thumbv6m-none-eabi thumbv7m-none-eabi
                                          thumbv7em-none-eabihf thumbv8m.main-none-eabihf
  - or Debian's toolchain and tools:
      apt-get install -y rustc-web cargo-web rust-web-src binutils-arm-none-eabi qemu-system-arm
and, to decode the logs:
      cargo install --locked defmt-print
(scripts/setup.sh installs all of the Debian route.)
EOF
}

die() {
  echo "firmware.sh: $*" >&2
  exit "${code:-2}"
}

usage() {
  sed -n '2,18p' "$0" >&2
  exit 2
}

[ $# -ge 1 ] || usage
cmd=$1
shift

triple_of() {
  case $1 in
    m0 | thumbv6m-none-eabi) echo thumbv6m-none-eabi ;;
    m3 | thumbv7m-none-eabi) echo thumbv7m-none-eabi ;;
    m4f | thumbv7em-none-eabihf) echo thumbv7em-none-eabihf ;;
    m33 | thumbv8m.main-none-eabihf) echo thumbv8m.main-none-eabihf ;;
    *) die "unknown target '$1' (m0, m3, m4f or m33)" ;;
  esac
}

# Prints the route: "rustup" or "debian", or fails with what to install.
route() {
  local triple=$1
  if command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -qx "$triple"; then
    echo rustup
    return
  fi
  if [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ]; then
    local sysroot
    sysroot=$(/usr/bin/rustc --print sysroot 2>/dev/null || true)
    if [ -d "$sysroot/lib/rustlib/src/rust/library/core" ]; then
      if command -v arm-none-eabi-ld >/dev/null 2>&1; then
        echo debian
        return
      fi
      echo "firmware.sh: Debian's rustc is there but not the ARM linker: apt-get install -y binutils-arm-none-eabi" >&2
      install_hint
      return 127
    fi
    echo "firmware.sh: Debian's rustc is there but not the library source: apt-get install -y rust-web-src" >&2
  else
    echo "firmware.sh: no Cortex-M toolchain: rustup has no $triple target and Debian's rustc/cargo are not installed" >&2
  fi
  install_hint
  return 127
}

if [ "$cmd" = route ]; then
  for t in thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf thumbv8m.main-none-eabihf; do
    r=$(route "$t") || exit 127
    echo "$t: $r"
  done
  exit 0
fi

[ $# -ge 1 ] || usage
triple=$(triple_of "$1")
shift
config=""
board=""
out=""
elf=""
timeout_s=${OVERLIN_QEMU_TIMEOUT:-120}
cargo_extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --config) config=$2; shift 2 ;;
    --board) board=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --elf) elf=$2; shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --) shift; cargo_extra=("$@"); break ;;
    *) die "unknown option '$1'" ;;
  esac
done
if [ -z "$config" ]; then
  case $triple in
    thumbv6m-none-eabi | thumbv7m-none-eabi) config=small ;;
    *) config=large ;;
  esac
fi
features=()
case $config in
  small) ;;
  large) features=(--features large) ;;
  *) die "unknown config '$config' (small or large)" ;;
esac
# `cost` builds with the step counter and runs QEMU in instruction-counting
# mode: every instruction advances the virtual clock by 1 ns (shift 0).
qemu_extra=()
if [ "$cmd" = cost ]; then
  [ -z "$board" ] || die "cost counts instructions under QEMU; it takes no --board"
  [ -z "$elf" ] || die "cost builds its own ELF (feature step-cost); it takes no --elf"
  features+=(--features step-cost)
  qemu_extra=(-icount shift=0)
fi
case $triple in
  thumbv6m-none-eabi) machine=microbit cpu=cortex-m0 ;;
  thumbv7m-none-eabi) machine=lm3s6965evb cpu=cortex-m3 ;;
  thumbv7em-none-eabihf) machine=mps2-an386 cpu=cortex-m4 ;;
  thumbv8m.main-none-eabihf) machine=mps2-an505 cpu=cortex-m33 ;;
esac
# The large configuration's trainer alone (26 KiB of .bss) is larger than
# the micro:bit's 16 KiB of RAM: say so before building instead of failing
# at the link.
if [ "$triple" = thumbv6m-none-eabi ] && [ "$config" = large ]; then
  die "the large configuration does not fit the micro:bit's 16 KiB of RAM: use --config small on m0"
fi
case $board in
  "") ;;
  stm32f411)
    [ "$triple" = thumbv7em-none-eabihf ] || die "board stm32f411 is a Cortex-M4F: use target m4f"
    if [ "$config" = large ]; then
      features=(--no-default-features --features rtt,large)
    else
      features=(--no-default-features --features rtt)
    fi
    export OVERLIN_BOARD=stm32f411
    ;;
  *) die "unknown board '$board' (known: stm32f411; QEMU needs no board)" ;;
esac
# A RUSTFLAGS meant for the host would replace the firmware's link arguments
# (.cargo/config.toml); the firmware's own settings are all in that file.
unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_TARGET
target_dir=${CARGO_TARGET_DIR:-$fw/target}
default_elf="$target_dir/$triple/release/overlin-firmware"

build() {
  local r
  r=$(route "$triple") || exit 127
  cd "$fw"
  case $r in
    rustup)
      cargo build --release --target "$triple" "${features[@]}" "${cargo_extra[@]}"
      ;;
    debian)
      local var
      var="CARGO_TARGET_$(echo "$triple" | tr 'a-z.-' 'A-Z__')_LINKER"
      env "$var=arm-none-eabi-ld" RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
        /usr/bin/cargo build --release -Zbuild-std=core --target "$triple" \
        "${features[@]}" "${cargo_extra[@]}"
      ;;
  esac
  if [ -n "$out" ]; then
    mkdir -p "$(dirname "$out")"
    cp "$default_elf" "$out.tmp.$$"
    mv "$out.tmp.$$" "$out"
  fi
}

case $cmd in
  build)
    build
    ;;
  run | cost)
    [ -n "$elf" ] || { build >&2; elf=$default_elf; }
    [ -f "$elf" ] || die "no ELF at $elf"
    if [ -n "$board" ]; then
      command -v probe-rs >/dev/null 2>&1 || {
        echo "firmware.sh: probe-rs not found: cargo install --locked probe-rs-tools" >&2
        exit 127
      }
      exec probe-rs run --chip STM32F411CEUx "$elf"
    fi
    for tool in qemu-system-arm defmt-print; do
      command -v "$tool" >/dev/null 2>&1 || {
        echo "firmware.sh: $tool not found (needed to run the firmware under QEMU and decode its log)" >&2
        install_hint
        exit 127
      }
    done
    set +e
    timeout --kill-after=5 "$timeout_s" qemu-system-arm -cpu "$cpu" -machine "$machine" -nographic \
      "${qemu_extra[@]}" -semihosting-config enable=on,target=native -kernel "$elf" \
      | defmt-print -e "$elf"
    status=("${PIPESTATUS[@]}")
    set -e
    if [ "${status[0]}" -eq 124 ] || [ "${status[0]}" -eq 137 ]; then
      echo "firmware.sh: QEMU did not finish within ${timeout_s}s (the firmware hung)" >&2
      exit 124
    fi
    if [ "${status[1]}" -ne 0 ]; then
      echo "firmware.sh: defmt-print failed with status ${status[1]}" >&2
      exit 125
    fi
    exit "${status[0]}"
    ;;
  size)
    [ -n "$elf" ] || { build >&2; elf=$default_elf; }
    command -v arm-none-eabi-size >/dev/null 2>&1 || {
      echo "firmware.sh: arm-none-eabi-size not found: apt-get install -y binutils-arm-none-eabi" >&2
      exit 127
    }
    arm-none-eabi-size -A "$elf" | awk '
      $1 == ".vector_table" || $1 == ".text" || $1 == ".rodata" { flash += $2 }
      $1 == ".data" { data = $2 }
      $1 == ".bss" || $1 == ".uninit" { bss += $2 }
      END { printf "flash=%d static_ram=%d data=%d bss=%d\n", flash + data, data + bss, data, bss }'
    ;;
  *) usage ;;
esac
