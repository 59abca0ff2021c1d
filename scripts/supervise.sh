#!/usr/bin/env bash
# supervise.sh: runs a serving job of several timely processes on this machine, and restarts
# every process of it whenever one fails. A timely job is fail-stop: when one process dies, the
# others stop with an error (having committed nothing beyond what was delivered), and the job
# resumes, losing nothing, once all of them are started again; this script does that.
#
#   KAFKA_BOOTSTRAP=127.0.0.1:9092 scripts/supervise.sh [-n PROCESSES] [-w WORKERS] -- [serve options]
#
# -n PROCESSES     processes of the job (default 2)
# -w WORKERS       worker threads per process (default 2)
# --max-restarts N give up after N restarts in a row that lived less than a minute (default 20)
#
# SIGTERM or Ctrl-C stops every process and then the script. Environment:
#   SERVE              the serve binary (default target/release/serve, built when missing)
#   SUPERVISE_HOSTFILE where the hostfile goes (default target/supervise-hosts.txt)
#   SUPERVISE_PIDFILE  if set, the current processes' pids are written there, one per line
#   SUPERVISE_BACKOFF_MAX  the longest wait, in seconds, before a restart (default 30; the wait
#                      starts at 1 s and doubles while restarts keep failing within a minute)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
: "${KAFKA_BOOTSTRAP:?set KAFKA_BOOTSTRAP to the Kafka bootstrap servers}"

processes=2 workers=2 max_restarts=20
while [ $# -gt 0 ]; do
    case $1 in
        -n) processes=$2; shift 2 ;;
        -w) workers=$2; shift 2 ;;
        --max-restarts) max_restarts=$2; shift 2 ;;
        --) shift; break ;;
        *) break ;;
    esac
done

serve=${SERVE:-target/release/serve}
[ -x "$serve" ] || cargo build --release --quiet --bin serve
hostfile=${SUPERVISE_HOSTFILE:-target/supervise-hosts.txt}
mkdir -p "$(dirname "$hostfile")"
python3 - "$processes" > "$hostfile" <<'PY'
import socket, sys
sockets = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print("\n".join(f"127.0.0.1:{s.getsockname()[1]}" for s in sockets))
PY

say() { echo "supervise.sh: $*" >&2; }

pids=()
stopping=0
on_signal() { stopping=1; kill -TERM "${pids[@]}" 2>/dev/null || true; }
trap on_signal INT TERM

start_all() {
    pids=()
    for ((p = 0; p < processes; p++)); do
        "$serve" --bootstrap "$KAFKA_BOOTSTRAP" -w "$workers" -n "$processes" -p "$p" -h "$hostfile" "$@" &
        pids+=($!)
    done
    [ -z "${SUPERVISE_PIDFILE:-}" ] || printf '%s\n' "${pids[@]}" > "$SUPERVISE_PIDFILE"
    say "started processes ${pids[*]}"
}

# Stops the processes still running: SIGTERM, then SIGKILL after 15 s.
stop_rest() {
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        local alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" -eq 1 ] || break
        sleep 0.1
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
}

restarts=0 backoff=1
[ "${SUPERVISE_BACKOFF_MAX:-30}" -ge 1 ] || backoff=0
while true; do
    started=$SECONDS
    start_all "$@"
    status=0
    # The first process to exit decides: 0 (the job ended, e.g. --exit-when-idle) or a failure.
    wait -n "${pids[@]}" || status=$?
    if [ "$stopping" -eq 1 ]; then
        stop_rest
        say "stopped"
        exit 0
    fi
    if [ "$status" -eq 0 ]; then
        for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
        [ "$status" -eq 0 ] && { say "the job ended"; exit 0; }
    fi
    say "a process exited with status $status: restarting every process of the job"
    stop_rest
    if (( SECONDS - started >= 60 )); then restarts=0 backoff=1; fi
    restarts=$((restarts + 1))
    if [ "$restarts" -gt "$max_restarts" ]; then
        say "giving up after $max_restarts restarts in a row"
        exit 1
    fi
    sleep "$backoff"
    max_backoff=${SUPERVISE_BACKOFF_MAX:-30}
    backoff=$(( backoff * 2 < max_backoff ? backoff * 2 : max_backoff ))
done
