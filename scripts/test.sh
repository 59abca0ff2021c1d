#!/usr/bin/env bash
# test.sh: the README's test command. Starts a real Kafka broker (scripts/kafka.sh), runs every
# test against it, and stops the broker whatever happens.
#
#   scripts/test.sh                 # all tests
#   scripts/test.sh --test kafka_pipelines   # extra arguments go to `cargo test`
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

trap 'scripts/kafka.sh stop' EXIT
KAFKA_BOOTSTRAP=$(scripts/kafka.sh start | tail -n 1)
export KAFKA_BOOTSTRAP
echo "test.sh: Kafka broker at $KAFKA_BOOTSTRAP" >&2

cargo test --release "$@"
