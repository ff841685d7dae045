#!/usr/bin/env bash
# Submits an overlin sweep to Slurm: a job array of K shards
# (scripts/slurm/sweep.sbatch) and the merge (scripts/slurm/merge.sbatch),
# which runs only when every shard succeeded (--dependency=afterok) and is
# cancelled otherwise. After a failure (a node lost, a task cancelled or out
# of time), submit the same command again: finished cells are skipped, the
# others run, and the merge follows.
#
#   scripts/slurm/submit.sh GRID OUT K [sbatch options...]
#
# e.g. `scripts/slurm/submit.sh grid.toml runs/ 8 --partition=short`. The
# sbatch options apply to both jobs. The overlin binary is $OVERLIN, or
# `overlin` on the PATH (sbatch passes the environment to the jobs).
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 GRID OUT K [sbatch options...]" >&2
  exit 2
fi
grid=$1
out=$2
k=$3
shift 3
if ! [[ $k =~ ^[0-9]+$ ]] || [ "$k" -lt 1 ]; then
  echo "$0: K must be a whole number of shards >= 1, got '$k'" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
array=$(sbatch --parsable --array="0-$((k - 1))" "$@" "$here/sweep.sbatch" "$grid" "$out" "$k")
array=${array%%;*}
merge=$(sbatch --parsable --dependency="afterok:$array" --kill-on-invalid-dep=yes "$@" \
  "$here/merge.sbatch" "$out")
merge=${merge%%;*}
echo "submitted: sweep $array (shards 1-$k of $grid into $out), merge $merge (after every shard succeeded)"
