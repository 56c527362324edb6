#!/usr/bin/env bash
# Start a one-node Slurm cluster on this host (tests/study/test_slurm.py, benchmarks/bench_slurm.py, CI).
#
# Idempotent: a cluster already up is left as it is. As root it installs slurm-wlm and munge with apt when
# missing, writes /etc/slurm/slurm.conf from ci/slurm/slurm.conf.in (this host's name, CPUs and memory),
# then starts munged, slurmctld and slurmd and waits until `sinfo` shows the node idle.
# Prints one line; exits non-zero with one line on stderr when it cannot.
# State, spool, logs and PID files go under $GAN_SLURM_DIR (default /var/lib/gan-ci-slurm).
set -uo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
DIR="${GAN_SLURM_DIR:-/var/lib/gan-ci-slurm}"
PARTITION="${GAN_SLURM_PARTITION:-debug}"
CONF=/etc/slurm/slurm.conf
HOST="$(hostname -s)"

fail() { echo "ci/slurm/start.sh: $*" >&2; exit 1; }

node_state() { timeout 10 sinfo -h -N -n "$HOST" -o '%T' 2>/dev/null | head -1; }

if command -v sinfo >/dev/null && [[ "$(node_state)" =~ ^(idle|mixed|allocated|completing)$ ]]; then
    echo "slurm: already up: node $HOST $(node_state), partitions: $(sinfo -h -o '%P' | tr '\n' ' ')"
    exit 0
fi

[ "$(id -u)" = 0 ] || fail "cannot start Slurm: needs root (to install slurm-wlm and munge and run the daemons)"

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q slurm-wlm munge >"$DIR.apt.log" 2>&1 \
        || { apt-get update -q >>"$DIR.apt.log" 2>&1 && apt-get install -y -q slurm-wlm munge >>"$DIR.apt.log" 2>&1; } \
        || fail "apt-get install slurm-wlm munge failed (see $DIR.apt.log)"
fi

mkdir -p "$DIR"/{state,spool,log,run} /etc/slurm || fail "cannot create $DIR"
CPUS="$(nproc)"
MEM_MB=$(( $(awk '/^MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))  # below the real size, or slurmd drains the node
sed -e "s|@HOST@|$HOST|g" -e "s|@DIR@|$DIR|g" -e "s|@CPUS@|$CPUS|g" -e "s|@MEM_MB@|$MEM_MB|g" \
    -e "s|@PARTITION@|$PARTITION|g" "$HERE/slurm.conf.in" >"$CONF.new" || fail "cannot write $CONF"
mv "$CONF.new" "$CONF"

# munge: the package made /etc/munge/munge.key; make one if it did not (e.g. a key removed by hand)
if [ ! -s /etc/munge/munge.key ]; then
    (mungekey -c 2>/dev/null || create-munge-key -f) >/dev/null 2>&1 || fail "cannot create /etc/munge/munge.key"
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
fi
mkdir -p /run/munge /var/log/munge /var/lib/munge && chown munge:munge /run/munge /var/log/munge /var/lib/munge
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
if ! alive /run/munge/munged.pid; then
    runuser -u munge -- /usr/sbin/munged || fail "munged did not start (see /var/log/munge/munged.log)"
fi
alive "$DIR/run/slurmctld.pid" || slurmctld || fail "slurmctld did not start (see $DIR/log/slurmctld.log)"
alive "$DIR/run/slurmd.pid" || slurmd || fail "slurmd did not start (see $DIR/log/slurmd.log)"

for _ in $(seq 60); do
    state="$(node_state)"
    case "$state" in
        idle|mixed|allocated)
            echo "slurm: up: node $HOST ($CPUS CPUs, ${MEM_MB} MB) idle in partition $PARTITION; conf $CONF, logs $DIR/log"
            exit 0 ;;
        down*|drain*|drained*)  # e.g. "unexpectedly rebooted" after a restart with old state: bring it back
            scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 ;;
    esac
    sleep 1
done
fail "the node $HOST is not idle after 60 s (sinfo says '${state:-nothing}'); see $DIR/log/slurmctld.log and slurmd.log"
