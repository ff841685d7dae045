#!/usr/bin/env bash
# Sweep and merge at scale (issue 17): grids of small cells, (n,m,h,N) =
# (4,4,16,8) x seeds x 4 rules, at 10^4 and 10^5 cells. For each size it
# prints cells per second (wall and CPU: on a shared machine the CPU time
# is the figure that does not depend on the other processes), peak memory (GNU time's maximum resident set),
# the size of the output folder, and the time and peak memory of `merge`;
# the per-cell figures of the two sizes show whether any step grows faster
# than the number of cells.
#
#   bench/sweep_scale.sh [OVERLIN] [JOBS]   # default: target/release/overlin, all cores
#
# SWEEP_SCALE_SIZES="1000 10000" chooses other sizes (multiples of 4).
#
# Needs /usr/bin/time (Debian package `time`). Work folder: $TMPDIR (removed).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-${CARGO_TARGET_DIR:-target}/release/overlin}
jobs=${2:-$(nproc)}
[ -x "$bin" ] || { echo "sweep_scale: $bin not found; cargo build --release -p overlin" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "sweep_scale: /usr/bin/time not found; apt-get install time" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "overlin $("$bin" --version | cut -d' ' -f2), $jobs jobs, $(lscpu | sed -n 's/^Model name: *//p'), load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %-8s %-8s %-9s %-12s %-10s %-9s %-9s %-8s %-10s %-8s\n' cells "sweep s" "cells/s" "CPU s" "cells/CPU-s" "sweep RSS" "out size" "rerun s" "merge s" "merge RSS" "merged"
for cells in ${SWEEP_SCALE_SIZES:-10000 100000}; do
  seeds=$((cells / 4))
  grid=$work/grid-$cells.toml
  {
    printf 'n = 4\nm = 4\nh = 16\nsamples = 8\n'
    printf 'rule = ["local", "rate-optimal", "xu2023", "armijo"]\n'
    printf 'seed = [%s]\n' "$(seq -s ', ' 0 $((seeds - 1)))"
  } >"$grid"
  out=$work/out-$cells
  /usr/bin/time -f '%e %M %U %S' -o "$work/t-sweep" "$bin" sweep --grid "$grid" --out "$out" --jobs "$jobs" 2>"$work/sweep.err" || true
  tail -n 1 "$work/sweep.err" | grep -q "$cells finished now" ||
    { echo "sweep_scale: the sweep did not finish every cell:" >&2; tail -n 3 "$work/sweep.err" >&2; exit 1; }
  # A rerun finds every cell done: the cost of the resume check alone.
  /usr/bin/time -f '%e %M' -o "$work/t-rerun" "$bin" sweep --grid "$grid" --out "$out" --jobs "$jobs" 2>"$work/rerun.err" || true
  tail -n 1 "$work/rerun.err" | grep -q "$cells already done" ||
    { echo "sweep_scale: the rerun did not find every cell done:" >&2; tail -n 3 "$work/rerun.err" >&2; exit 1; }
  /usr/bin/time -f '%e %M' -o "$work/t-merge" "$bin" merge "$out" 2>"$work/merge.err" ||
    { echo "sweep_scale: merge failed:" >&2; cat "$work/merge.err" >&2; exit 1; }
  read -r st sm su ss <"$work/t-sweep"
  read -r mt mm <"$work/t-merge"
  read -r rt _ <"$work/t-rerun"
  du_cells=$(du -sh "$out/cells" | cut -f1)
  merged=$(du -ch "$out/merged.csv" "$out/merged.json" | tail -n 1 | cut -f1)
  cpu=$(awk -v u="$su" -v s="$ss" 'BEGIN { printf "%.2f", u + s }')
  printf '%-8s %-8s %-8s %-9s %-12s %-10s %-9s %-9s %-8s %-10s %-8s\n' "$cells" "$st" \
    "$(awk -v c="$cells" -v t="$st" 'BEGIN { printf "%.0f", c / t }')" "$cpu" \
    "$(awk -v c="$cells" -v t="$cpu" 'BEGIN { printf "%.0f", c / t }')" "$((sm / 1024)) MB" "$du_cells" \
    "$rt" "$mt" "$((mm / 1024)) MB" "$merged"
  rm -rf "$out"
done
