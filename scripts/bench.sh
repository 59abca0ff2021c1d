#!/usr/bin/env bash
# bench.sh: the end-to-end benchmark (jobs/benches/end_to_end.rs and end_to_end/) on a broker of
# its own, stopped whatever happens. Sections, all by default, in this order:
#
#   throughput  the broker's passthrough ceiling and `serve` per model × pipeline × layout on a
#               pre-loaded backlog: records/s, × passthrough, start-up, CPU per million records
#   monitoring  records/s with the monitoring dataflow (the default) and without (--no-monitor),
#               two models, keyed and flat, alternating runs, median of three, and the ratio
#   startup     process start → first result with a backlog, keyed and flat, median of 5 runs
#   idle        CPU of a job with its model loaded and nothing to read, keyed and flat, over 10 s
#   scaling     records/s vs forest size (10, 100, 500 generated trees), keyed and flat
#   latency     produce → result p50/p99/p99.9/max at 25/50/90 % of the measured maximum,
#               through the passthrough (the floor) and each pipeline
#   swap        publish → first result by a new model version under 50 % load, 20 swaps, and
#               the longest output gap; again with a ~50 MB model (3 swaps)
#   memory      peak RSS with 1, 100, 1,000 keys of 100-tree forests; RSS over 10,000 swaps
#   scoring     in memory, no broker (benches/serving.rs): each model one row at a time and in
#               batches of 1,024, ONNX beside onnxruntime 1.32 (from PyPI, in a venv under
#               target/bench/ made on first use; without Python it says so)
#
# Tables on standard output, JSON in target/bench/<section>.json (throughput: end_to_end.json).
# About 15 minutes on 2 cores.
#
#   scripts/bench.sh                                   # everything (300,000 records)
#   scripts/bench.sh --only latency,swap               # some sections
#   scripts/bench.sh --records 100000 --filter forest  # a smaller throughput table
#
# Further options (defaults): --scaling-records 100000, --startup-runs 5, --level-seconds 4,
# --swaps 20, --big-swaps 3, --big-mb 50, --keys 1,100,1000, --memory-swaps 10000.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# `scoring` is run here; the other sections by the end-to-end benchmark.
args=() scoring=yes end_to_end=yes
while [ $# -gt 0 ]; do
    if [ "$1" = --only ] && [ $# -gt 1 ]; then
        sections=",$2,"
        case "$sections" in *,scoring,*) scoring=yes ;; *) scoring=no ;; esac
        rest=$(echo "$sections" | sed 's/,scoring,/,/g; s/^,//; s/,$//')
        if [ -n "$rest" ]; then args+=(--only "$rest"); else end_to_end=no; fi
        shift 2
    else
        args+=("$1")
        shift
    fi
done

if [ "$scoring" = yes ]; then
    venv=target/bench/onnxruntime-venv
    if [ ! -x "$venv/bin/python" ] && command -v python3 >/dev/null; then
        python3 -m venv "$venv" && "$venv/bin/pip" install -q onnxruntime==1.32.0 numpy==2.4.6 ||
            echo "bench.sh: no onnxruntime venv; ONNX runs without it" >&2
    fi
    ONNXRUNTIME_PYTHON=$PWD/$venv/bin/python cargo bench -p modelserver --bench serving -- wine_ tensorflow
fi
[ "$end_to_end" = yes ] || exit 0

cargo build --release -p modelserver-jobs --bin serve
cargo bench -p modelserver-jobs --bench end_to_end --no-run
trap 'scripts/kafka.sh stop' EXIT
KAFKA_BOOTSTRAP=$(scripts/kafka.sh start | tail -n 1)
export KAFKA_BOOTSTRAP
echo "bench.sh: Kafka broker at $KAFKA_BOOTSTRAP" >&2
started=$(date +%s)
cargo bench -p modelserver-jobs --bench end_to_end -- "${args[@]}"
echo "bench.sh: $(($(date +%s) - started)) s with the broker up" >&2
