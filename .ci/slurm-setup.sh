#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for tests/test_slurm.py and CI.
#
# Installs Debian's slurmctld, slurmd, slurm-client and munge, writes /etc/slurm/slurm.conf for one node
# (this host, its real CPUs, RealMemory a bit below the available memory) in one partition `debug`,
# starts munged, slurmctld and slurmd as plain daemons (no systemd) and waits until the node is idle.
# Idempotent: a second run keeps running daemons and an unchanged config; a changed config restarts them.
# Needs root (apt-get, daemons).  No cgroups needed: proctrack/linuxproc, task/none, no accounting.
# Jobs' status is read with squeue (no slurmdbd, so no sacct): MinJobAge keeps finished jobs visible.
set -euo pipefail

say() { echo "slurm-setup: $*"; }
die() { echo "slurm-setup: ERROR: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (installs packages and starts daemons); try: sudo bash $0"

CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
LOG_DIR=/var/log/slurm
STATE_DIR=/var/spool/slurmctld
SPOOL_DIR=/var/spool/slurmd
RUN_DIR=/run/slurm
PARTITION=${SLURM_SETUP_PARTITION:-debug}

# --- packages ---------------------------------------------------------------------------------------------
pkgs=(slurmctld slurmd slurm-client munge)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt_install() { apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/slurm-setup-apt.log 2>&1; }
    if ! apt_install; then
        apt-get update -qq >/tmp/slurm-setup-apt.log 2>&1 || die "apt-get update failed (see /tmp/slurm-setup-apt.log)"
        apt_install || die "apt-get install ${missing[*]} failed (see /tmp/slurm-setup-apt.log)"
    fi
fi
for b in munged slurmctld slurmd sinfo sbatch squeue scontrol; do
    command -v "$b" >/dev/null || die "$b not found after installing ${pkgs[*]}"
done

# --- munge ------------------------------------------------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
    say "creating /etc/munge/munge.key"
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /etc/munge /etc/munge/munge.key /run/munge /var/log/munge /var/lib/munge
chmod 0700 /etc/munge /var/log/munge /var/lib/munge
chmod 0400 /etc/munge/munge.key
chmod 0755 /run/munge
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    say "starting munged"
    rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n </dev/null | unmunge >/dev/null || die "munged does not answer (see /var/log/munge/munged.log)"
fi

# --- slurm.conf -------------------------------------------------------------------------------------------
NODE=$(hostname -s)
[ -n "$NODE" ] || die "hostname -s is empty: set a host name"
# slurmd -C prints this machine's node line (CPUs, sockets, cores, threads, RealMemory = total memory)
node_line=$(slurmd -C | head -1)
case "$node_line" in NodeName=*) ;; *) die "unexpected output of 'slurmd -C': $node_line" ;; esac
avail_mb=$(awk '/^MemAvailable:/ {print int($2 / 1024)}' /proc/meminfo)
total_mb=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node_line")
real_mb=$(( avail_mb * 9 / 10 ))
[ "$real_mb" -lt "$total_mb" ] || real_mb=$(( total_mb * 9 / 10 ))
# a rerun keeps the RealMemory already configured for this node (free memory moves; slurmd only needs
# RealMemory <= the total), so an unchanged machine never restarts the daemons
old_mb=$(sed -n "s/^NodeName=$NODE .*RealMemory=\([0-9]*\).*/\1/p" "$CONF" 2>/dev/null | head -1 || true)
if [ -n "$old_mb" ] && [ "$old_mb" -le "$total_mb" ]; then real_mb=$old_mb; fi
node_hw=$(sed -e 's/^NodeName=[^ ]* //' -e 's/ RealMemory=[0-9]*//' <<<"$node_line")

mkdir -p "$CONF_DIR"
new_conf=$(mktemp)
trap 'rm -f "$new_conf"' EXIT
cat >"$new_conf" <<EOF
# Written by .ci/slurm-setup.sh: one node ($NODE), one partition, no cgroups, no accounting database.
ClusterName=tlspipe
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=$STATE_DIR
SlurmdSpoolDir=$SPOOL_DIR
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups in containers: track processes by parent id, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
# finished jobs stay visible to squeue for 10 min (the Snakemake executor polls squeue without sacct)
MinJobAge=600
ReturnToService=2
SlurmdTimeout=120
InactiveLimit=0
KillWait=10
Waittime=0
NodeName=$NODE NodeAddr=127.0.0.1 $node_hw RealMemory=$real_mb State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

restart=0
if [ ! -f "$CONF" ] || ! cmp -s "$new_conf" "$CONF"; then
    say "writing $CONF (node $NODE: $node_hw RealMemory=$real_mb, partition $PARTITION)"
    cp "$new_conf" "$CONF"
    chmod 0644 "$CONF"
    restart=1
fi

mkdir -p "$LOG_DIR" "$STATE_DIR" "$SPOOL_DIR" "$RUN_DIR"
chown slurm:slurm "$LOG_DIR" "$STATE_DIR"
chmod 0755 "$LOG_DIR" "$STATE_DIR" "$SPOOL_DIR" "$RUN_DIR"

# --- daemons ----------------------------------------------------------------------------------------------
pid_alive() {  # pidfile -> true if it names a live process of that program
    local f=$1 prog=$2 pid
    [ -s "$f" ] || return 1
    pid=$(cat "$f")
    [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$prog" ]
}
stop_daemon() {  # pidfile program
    local f=$1 prog=$2 pid
    if pid_alive "$f" "$prog"; then
        pid=$(cat "$f")
        say "stopping $prog ($pid) for the new config"
        kill "$pid"
        for _ in $(seq 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
    fi
}
if [ "$restart" = 1 ]; then
    stop_daemon "$RUN_DIR/slurmd.pid" slurmd
    stop_daemon "$RUN_DIR/slurmctld.pid" slurmctld
fi
if ! pid_alive "$RUN_DIR/slurmctld.pid" slurmctld; then
    say "starting slurmctld"
    /usr/sbin/slurmctld || die "slurmctld did not start (see $LOG_DIR/slurmctld.log)"
fi
for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q "is UP" && break; sleep 0.2; done
scontrol ping 2>/dev/null | grep -q "is UP" || die "slurmctld does not answer 'scontrol ping' (see $LOG_DIR/slurmctld.log)"
if ! pid_alive "$RUN_DIR/slurmd.pid" slurmd; then
    say "starting slurmd"
    /usr/sbin/slurmd || die "slurmd did not start (see $LOG_DIR/slurmd.log)"
fi

# --- wait for the node ------------------------------------------------------------------------------------
state=""
for i in $(seq 120); do
    state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null | head -1 || true)
    case "$state" in
        idle | mixed | allocated | completing) break ;;
        drain* | down* | fail* | inval*)
            # a node left down or drained by an earlier run (e.g. a killed slurmd): bring it back
            [ $((i % 10)) = 1 ] && scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true ;;
    esac
    sleep 0.5
done
case "$state" in
    idle | mixed | allocated | completing) ;;
    *) die "node $NODE is '$state', not idle after 60 s: $(sinfo -h -n "$NODE" -o '%T %E' 2>&1 | head -1); see $LOG_DIR/slurmd.log and $LOG_DIR/slurmctld.log" ;;
esac
say "node $NODE is $state in partition $PARTITION ($(sinfo -h -n "$NODE" -o '%c CPUs, %m MB'))"
