#!/usr/bin/env bash
# test.sh: the README's test command. Starts a real Kafka broker (scripts/kafka.sh), runs every
# test of the workspace against it, and stops the broker whatever happens.
#
#   scripts/test.sh                          # all tests
#   scripts/test.sh --test kafka_pipelines   # extra arguments go to `cargo test`
#
# The tests of the original system's own files run when MODELSERVER_ORIGINAL_DIR names them, or
# when scripts/fetch-original.sh has put them in target/original/; otherwise they say they did
# not run, and pass.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ -z "${MODELSERVER_ORIGINAL_DIR:-}" ] && [ -d target/original ]; then
    export MODELSERVER_ORIGINAL_DIR=$PWD/target/original
fi

trap 'scripts/kafka.sh stop' EXIT
KAFKA_BOOTSTRAP=$(scripts/kafka.sh start | tail -n 1)
export KAFKA_BOOTSTRAP
echo "test.sh: Kafka broker at $KAFKA_BOOTSTRAP" >&2

cargo test --release "$@"
