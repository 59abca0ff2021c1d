#!/usr/bin/env bash
# fuzz.sh: bounded-time fuzzing of what arrives from Kafka (not part of CI): the properties of
# tests/fuzz_inputs.rs (random bytes as data records of both types and formats, as model
# descriptors and as models of every kind; mutated and truncated model files) with many more
# cases, in release mode, for at most SECONDS (default 600). The PMML evaluator has its own:
# crates/pmml/fuzz.sh.
#
#   scripts/fuzz.sh [SECONDS] [CASES]
#
# A failure prints the shrunk input (proptest); reaching the time limit is a pass.
set -euo pipefail
limit="${1:-600}"
cases="${2:-1000000}"
cd "$(dirname "$0")/.."
cargo test --release --test fuzz_inputs --no-run
status=0
MODELSERVER_FUZZ_CASES="$cases" timeout "$limit" \
    cargo test --release --test fuzz_inputs || status=$?
if [ "$status" -eq 124 ]; then
    echo "fuzz: no failure within ${limit}s"
    exit 0
fi
exit "$status"
