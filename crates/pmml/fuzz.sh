#!/usr/bin/env bash
# Bounded-time fuzzing of the PMML loader (not part of CI): runs the never-panic properties of
# tests/malformed.rs (random bytes, byte-mutated, truncated and element-spliced fixtures)
# with many more cases, in release mode, for at most SECONDS (default 600).
#
#   crates/pmml/fuzz.sh [SECONDS] [CASES]
#
# A panic fails with the shrunk input printed by proptest; reaching the time limit is a pass.
set -euo pipefail
limit="${1:-600}"
cases="${2:-1000000}"
cd "$(dirname "$0")"
cargo test --release --test malformed --no-run
status=0
PMML_FUZZ_CASES="$cases" timeout "$limit" \
    cargo test --release --test malformed -- never_panic || status=$?
if [ "$status" -eq 124 ]; then
    echo "fuzz: no failure within ${limit}s"
    exit 0
fi
exit "$status"
