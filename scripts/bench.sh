#!/usr/bin/env bash
# bench.sh: the end-to-end benchmark (jobs/benches/end_to_end.rs) on a broker of its own: the
# broker's passthrough ceiling and `serve` on the same pre-loaded topics in one run, a table of
# records/s, ratios to passthrough, start-up and CPU per million records, also written to
# target/bench/end_to_end.json. The broker is stopped whatever happens.
#
#   scripts/bench.sh                        # 500,000 records, every model
#   scripts/bench.sh --records 100000 --filter forest
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo build --release -p modelserver-jobs --bin serve
cargo bench -p modelserver-jobs --bench end_to_end --no-run
trap 'scripts/kafka.sh stop' EXIT
KAFKA_BOOTSTRAP=$(scripts/kafka.sh start | tail -n 1)
export KAFKA_BOOTSTRAP
echo "bench.sh: Kafka broker at $KAFKA_BOOTSTRAP" >&2
cargo bench -p modelserver-jobs --bench end_to_end -- "$@"
