#!/usr/bin/env bash
# Runs every test of overlin: formatting, clippy (warnings are errors), the
# no_std core cross-built for Cortex-M0, M3, M4F and M33 with no allocator,
# and `cargo test` for the whole workspace, which includes the firmware run
# under QEMU and compared bit for bit with the host.
#
# Missing tools are installed first by scripts/setup.sh (Debian; it prints
# what it installs); nothing is skipped. OVERLIN_SETUP names another
# installer; OVERLIN_NO_SETUP=1 only reports what is missing and stops.
# `scripts/test.sh --prereqs` makes sure of the prerequisites and stops.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# Property tests and fuzz suites draw from a fixed seed so a run is
# reproducible; set PROPTEST_RNG_SEED to another u64 to explore new cases.
export PROPTEST_RNG_SEED="${PROPTEST_RNG_SEED:-20261128}"

missing=0
need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "test.sh: '$1' not found: $2" >&2
    missing=1
  fi
}
check_prereqs() {
  missing=0
  need cargo "install Rust with rustup (https://rustup.rs)"
  need qemu-system-arm "apt-get install -y qemu-system-arm"
  need defmt-print "cargo install --locked defmt-print"
  need sbatch "apt-get install -y slurm-wlm munge (host/tests/slurm.rs starts a one-node cluster)"
  if [ ! -x /usr/sbin/munged ] || [ ! -x /usr/sbin/slurmctld ]; then
    echo "test.sh: munged or slurmctld not found: apt-get install -y slurm-wlm munge" >&2
    missing=1
  fi
  need python3 "apt-get install -y python3 python3-venv"
  if ! python3 -c 'import numpy, pytest, maturin, venv' >/dev/null 2>&1; then
    echo "test.sh: the Python package's tests need numpy, pytest and maturin: python3 -m pip install maturin pytest numpy" >&2
    missing=1
  fi
  if ! scripts/firmware.sh route >/dev/null; then
    missing=1
  fi
  return "$missing"
}
if ! check_prereqs; then
  if [ "${OVERLIN_NO_SETUP:-0}" = 1 ]; then
    echo "test.sh: prerequisites missing; run scripts/setup.sh (Debian) or install the above" >&2
    exit 1
  fi
  setup="${OVERLIN_SETUP:-scripts/setup.sh}"
  echo "test.sh: prerequisites missing; installing them with $setup" >&2
  "$setup"
  if ! check_prereqs; then
    echo "test.sh: prerequisites still missing after $setup (see above)" >&2
    exit 1
  fi
fi
if [ "${1:-}" = "--prereqs" ]; then
  echo "test.sh: prerequisites present"
  exit 0
fi

step() { printf '\n== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (workspace, all targets, warnings denied)"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "no_std core for Cortex-M (no allocator, warnings denied)"
# `cargo rustc ... -- -D warnings` denies warnings in the core only (code
# compiled only off x86-64 is not seen by the host's clippy run).
for triple in thumbv6m-none-eabi thumbv7m-none-eabi thumbv7em-none-eabihf thumbv8m.main-none-eabihf; do
  route=$(scripts/firmware.sh route | sed -n "s/^$triple: //p")
  case $route in
    rustup)
      (cd core && cargo rustc --quiet --lib --target "$triple" -- -D warnings)
      ;;
    debian)
      (cd core && CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-../target}/cross" RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
        /usr/bin/cargo rustc --quiet --lib -Zbuild-std=core --target "$triple" -- -D warnings)
      ;;
    *)
      echo "test.sh: no route for $triple" >&2
      exit 1
      ;;
  esac
  echo "overlin-core builds for $triple ($route route)"
done

step "cargo test (workspace, including the firmware under QEMU)"
cargo test --workspace

step "Python package: pip install ./python (in a venv under target/), pytest"
# The venv sees the interpreter's maturin, pytest, numpy (and optional
# pandas, matplotlib); the package is built and installed by the README's
# command, then tested against the CLI built from the same checkout.
target_dir="${CARGO_TARGET_DIR:-target}"
venv="$target_dir/python-venv"
[ -x "$venv/bin/python" ] || python3 -m venv --system-site-packages "$venv"
"$venv/bin/python" -m pip install --quiet --no-build-isolation ./python
cargo build --quiet -p overlin --bin overlin
OVERLIN_BIN="$(cd "$target_dir" && pwd)/debug/overlin" "$venv/bin/python" -m pytest -q python/tests
echo
echo "test.sh: all tests passed"
