#!/usr/bin/env bash
# serve-local.sh: a serving job of two timely processes on this machine (timely's cluster mode,
# with a hostfile), each with two worker threads, against the Kafka at $KAFKA_BOOTSTRAP.
#
#   KAFKA_BOOTSTRAP=127.0.0.1:9092 scripts/serve-local.sh --pipeline flat [more serve options]
#
# Ctrl-C (or SIGTERM) stops both processes: a timely job ends when every process has closed its
# inputs, and one process dying breaks the whole job (timely's process mesh is fail-stop).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
: "${KAFKA_BOOTSTRAP:?set KAFKA_BOOTSTRAP to the Kafka bootstrap servers}"

cargo build --release --quiet --bin serve
hostfile=target/serve-local-hosts.txt
python3 - > "$hostfile" <<'PY'
import socket
sockets = [socket.socket() for _ in range(2)]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print("\n".join(f"127.0.0.1:{s.getsockname()[1]}" for s in sockets))
PY
echo "serve-local.sh: processes at $(paste -sd' ' "$hostfile")" >&2

pids=()
stop() { kill -TERM "${pids[@]}" 2>/dev/null || true; }
trap stop INT TERM
for process in 0 1; do
    target/release/serve --bootstrap "$KAFKA_BOOTSTRAP" -w 2 -n 2 -p "$process" -h "$hostfile" "$@" &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do
    # `wait` returns early when a signal runs the trap: wait again until the process is gone.
    while kill -0 "$pid" 2>/dev/null; do
        wait "$pid" || status=$?
    done
done
exit "$status"
