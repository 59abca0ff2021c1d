"""onnxruntime's cost per record of the project's ONNX models in batches, for the side-by-side
comparison in `cargo bench --bench serving` (which runs this script and reads its output).

    python scripts/onnxruntime_batch.py BATCH MODEL...   # MODEL: a name under data/onnx/

Prints one line per model: `name ns_per_record`. The batch is the first BATCH rows of the
bundled wine data (repeated if needed), as float32; one thread, as tract runs on one; warmed up,
then timed for about half a second.
"""

import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime

ROOT = Path(__file__).resolve().parent.parent


def rows(batch):
    data = np.genfromtxt(ROOT / "data" / "winequality-red.csv", delimiter=",", skip_header=1)
    features = data[:, :11].astype(np.float32)
    return np.resize(features, (batch, 11))


def ns_per_record(model, batch):
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        str(ROOT / "data" / "onnx" / f"{model}.onnx"), options, providers=["CPUExecutionProvider"]
    )
    feed = {session.get_inputs()[0].name: rows(batch)}
    for _ in range(20):
        session.run(None, feed)
    runs, started = 0, time.perf_counter()
    while time.perf_counter() - started < 0.5:
        session.run(None, feed)
        runs += 1
    return (time.perf_counter() - started) * 1e9 / (runs * batch)


def main():
    batch = int(sys.argv[1])
    for model in sys.argv[2:]:
        print(f"{model} {ns_per_record(model, batch):.1f}", flush=True)


if __name__ == "__main__":
    main()
