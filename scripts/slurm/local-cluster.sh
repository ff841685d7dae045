#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, all its state in one folder, to
# try the job-array scripts without a cluster (host/tests/slurm.rs uses it):
#
#   scripts/slurm/local-cluster.sh start DIR [PORT]   # then: export SLURM_CONF=DIR/slurm.conf
#   scripts/slurm/local-cluster.sh stop DIR
#
# `start` writes DIR/slurm.conf (this host's short name, its CPUs, ports
# PORT and PORT+1, default 16817) and starts munged, slurmctld and slurmd
# from Debian's `munge` and `slurm-wlm` (scripts/setup.sh installs them);
# it returns when the node takes jobs, or fails with the reason and the
# logs' last lines. `stop` ends the three daemons by the pids in their pid
# files, never by name. Needs root (slurmd starts jobs as their user).
set -euo pipefail
usage() {
  echo "usage: $0 start DIR [PORT] | stop DIR" >&2
  exit 2
}
[ $# -ge 2 ] || usage
cmd=$1
S=$(realpath -m "$2")
port=${3:-16817}

stop() {
  local f pid
  for f in "$S/run/slurmd.pid" "$S/run/slurmctld.pid" "$S/munge/munged.pid"; do
    [ -s "$f" ] || continue
    pid=$(cat "$f")
    if kill "$pid" 2>/dev/null; then
      for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
}

fail() {
  echo "local-cluster: $*" >&2
  for log in "$S/log/slurmctld.log" "$S/log/slurmd.log" "$S/munge/munged.log"; do
    [ -f "$log" ] && { echo "--- last lines of $log" >&2; tail -n 5 "$log" >&2; }
  done
  stop
  exit 1
}

case $cmd in
  start) ;;
  stop)
    stop
    exit 0
    ;;
  *) usage ;;
esac

for tool in munged slurmctld slurmd sbatch squeue sinfo scontrol; do
  command -v "$tool" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin"
  command -v "$tool" >/dev/null 2>&1 ||
    { echo "local-cluster: '$tool' not found; install Debian's slurm-wlm and munge (scripts/setup.sh does)" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "local-cluster: needs root (slurmd starts jobs as the submitting user)" >&2; exit 1; }
[[ $port =~ ^[0-9]+$ ]] || usage

mkdir -p "$S/munge" "$S/state" "$S/spool" "$S/log" "$S/run"
chmod 700 "$S/munge"
if [ ! -s "$S/munge/munge.key" ]; then
  head -c 1024 /dev/urandom >"$S/munge/munge.key"
  chmod 400 "$S/munge/munge.key"
fi
munged --key-file="$S/munge/munge.key" --socket="$S/munge/munge.sock" \
  --pid-file="$S/munge/munged.pid" --log-file="$S/munge/munged.log" \
  --seed-file="$S/munge/seed" --force || fail "munged did not start"

node=$(hostname -s)
cpus=$(nproc)
cat >"$S/slurm.conf" <<CONF
# Written by scripts/slurm/local-cluster.sh: one node, state under $S.
ClusterName=overlin-local
SlurmctldHost=$node
AuthType=auth/munge
AuthInfo=socket=$S/munge/munge.sock
CryptoType=crypto/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
SlurmctldPidFile=$S/run/slurmctld.pid
SlurmdPidFile=$S/run/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
SchedulerType=sched/builtin
NodeName=$node CPUs=$cpus State=UNKNOWN
PartitionName=main Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$S/slurm.conf"
slurmctld -f "$S/slurm.conf" || fail "slurmctld did not start"
slurmd -f "$S/slurm.conf" || fail "slurmd did not start"
for _ in $(seq 1 120); do
  state=$(sinfo -h -n "$node" -o %t 2>/dev/null || true)
  case $state in
    idle*) echo "local-cluster: node $node ($cpus CPUs) idle; export SLURM_CONF=$S/slurm.conf"; exit 0 ;;
  esac
  sleep 0.5
done
fail "node $node not idle after 60 s (sinfo says '${state:-nothing}')"
