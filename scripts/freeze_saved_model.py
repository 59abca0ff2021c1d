#!/usr/bin/env python3
"""Freeze a TensorFlow SavedModel into a GraphDef that the model server serves as `tensorflow`.

The server serves SavedModels itself (publish the directory by location as `tensorflow-saved`);
this script remains an alternative, e.g. for a SavedModel whose signature the server would not
choose, or to inspect the graph it freezes.

    /tmp/tfvenv/bin/python scripts/freeze_saved_model.py SAVED_MODEL_DIR model.pb [--signature NAME]
    target/release/client publish-model model.pb --name my-model --type tensorflow

The server takes the graph's single Placeholder as the input (one row of float32 features) and
its single terminal node as the output, so the signature must have exactly one input and one
output. The signature defaults to the only one the SavedModel has, or `serving_default`. The
variables become constants (convert_variables_to_constants_v2); TF1 SavedModels (graph and
checkpoint) and TF2 ones both load through tf.saved_model.load. The script checks that TensorFlow
running the frozen graph gives what the SavedModel's signature gives on a few random rows.

Packages: scripts/requirements-tensorflow.txt.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2


def pick_signature(loaded, name: str | None):
    names = sorted(loaded.signatures.keys())
    if name is None:
        name = names[0] if len(names) == 1 else "serving_default"
    if name not in loaded.signatures:
        sys.exit(f"no signature `{name}`; the SavedModel has {names}")
    return name, loaded.signatures[name]


def single(kind: str, specs: dict) -> tuple[str, tf.TensorSpec]:
    if len(specs) != 1:
        sys.exit(f"the signature has {len(specs)} {kind}s ({sorted(specs)}); the server takes exactly one")
    return next(iter(specs.items()))


def terminal_nodes(graph_def) -> list[str]:
    read = {name.lstrip("^").split(":")[0] for node in graph_def.node for name in node.input}
    return [n.name for n in graph_def.node if n.name not in read and n.op not in ("Placeholder", "Const", "NoOp")]


def check(signature, frozen, input_name: str, input_spec: tf.TensorSpec, output_key: str) -> float:
    """The largest difference between the SavedModel and the frozen graph on random rows."""
    width = input_spec.shape[-1]
    rows = np.random.default_rng(0).normal(size=(8, width)).astype(input_spec.dtype.as_numpy_dtype)
    expected = signature(**{input_name: tf.constant(rows)})[output_key].numpy()
    got = frozen(tf.constant(rows))
    got = (got[0] if isinstance(got, (list, tuple)) else got).numpy()
    return float(np.abs(expected - got).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("saved_model_dir")
    parser.add_argument("output")
    parser.add_argument("--signature", help="the signature to freeze (default: the only one, or serving_default)")
    args = parser.parse_args()

    loaded = tf.saved_model.load(args.saved_model_dir)
    name, signature = pick_signature(loaded, args.signature)
    input_name, input_spec = single("input", signature.structured_input_signature[1])
    output_key, output_spec = single("output", signature.structured_outputs)
    frozen = convert_variables_to_constants_v2(signature)
    graph_def = frozen.graph.as_graph_def()

    placeholders = [n.name for n in graph_def.node if n.op == "Placeholder"]
    terminals = terminal_nodes(graph_def)
    if len(placeholders) != 1 or len(terminals) != 1:
        sys.exit(f"the frozen graph has Placeholders {placeholders} and terminal nodes {terminals}; "
                 "the server needs exactly one of each")
    difference = check(signature, frozen, input_name, input_spec, output_key)
    if difference > 1e-5:
        sys.exit(f"the frozen graph differs from the SavedModel by {difference}")
    with open(args.output, "wb") as f:
        f.write(graph_def.SerializeToString(deterministic=True))
    ops = sorted({n.op for n in graph_def.node})
    print(f"signature `{name}`: input `{input_name}` {input_spec.dtype.name} {input_spec.shape} "
          f"(Placeholder `{placeholders[0]}`), output `{output_key}` {output_spec.dtype.name} "
          f"{output_spec.shape} (node `{terminals[0]}`)")
    print(f"ops: {', '.join(ops)}; max difference from the SavedModel on 8 random rows: {difference:.2g}")
    print(f"wrote {args.output} ({os.path.getsize(args.output)} bytes)")


if __name__ == "__main__":
    main()
