#!/usr/bin/env bash
# Stop the one-node cluster ci/slurm/start.sh started: slurmctld and slurmd (scontrol shutdown), then munged
# by its PID file. Jobs still in the queue are lost with it. Prints one line; a cluster already down is fine.
set -uo pipefail
DIR="${GAN_SLURM_DIR:-/var/lib/gan-ci-slurm}"

stop_pid() {  # SIGTERM to the PID in file $1, then wait up to 10 s for it to exit
    [ -s "$1" ] || return 0
    local pid; pid="$(cat "$1")"
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
}

if command -v scontrol >/dev/null; then
    timeout 15 scontrol shutdown >/dev/null 2>&1  # both daemons, cleanly (slurmctld saves its state)
fi
stop_pid "$DIR/run/slurmd.pid"
stop_pid "$DIR/run/slurmctld.pid"
stop_pid /run/munge/munged.pid
echo "slurm: stopped (state kept in $DIR)"
