"""Independent cross-check of the step parts: a subtractive estimate in its own process.

    .venv/bin/python benchmarks/subtractive.py cifar10 --reps 300 [--report report.json]

Four tf.functions of the same signature, written here and not taken from tfprof_m1's TrainSteps:
an empty call, forward only, forward + gradients (every gradient used in the output, so graph
optimisation cannot prune any), and the full training step. Each call is fenced by a host read of
its one-element output and timed from dispatch to the end of the read. The four are interleaved
(rotating order) for ``--reps`` rounds over real batches; a low percentile (20th) of each stands
for its time without interference from the shared machine. Then

    forward = f - empty,  backward = fb - f,  optimizer = fbo - fb

and the shares over those three. With ``--report``, the report's probe-based shares of the same
model are printed beside them (the agreement the project holds itself to: within 10 points).
Prints a Markdown table for docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PERCENTILE = 0.2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default="cifar10")
    parser.add_argument("--reps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--async-executor", action="store_true")
    parser.add_argument(
        "--report", default=None, help="a tfprof_m1 report.json of the same model, to set beside"
    )
    args = parser.parse_args()

    import tensorflow as tf

    if args.async_executor:
        tf.config.experimental.set_synchronous_execution(False)
    import keras

    from tfprof_m1.workloads.datasets import synthetic
    from tfprof_m1.workloads.models import build_model, get_spec
    from tfprof_m1.workloads.pipeline import make_dataset

    spec = get_spec(args.model)
    dataset = make_dataset(synthetic(spec, seed=0, examples=args.batch_size * 50), args.batch_size, seed=0)
    batches = [batch for batch in dataset if int(batch[0].shape[0]) == args.batch_size]
    model = build_model(spec, seed=0)
    optimizer = keras.optimizers.Adam()
    variables = model.trainable_variables
    optimizer.build(variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    signature = list(dataset.element_spec)

    @tf.function(input_signature=signature)
    def empty(images, labels):
        return tf.zeros([1])

    @tf.function(input_signature=signature)
    def forward(images, labels):
        return tf.reshape(loss_fn(labels, model(images, training=True)), [1])

    @tf.function(input_signature=signature)
    def forward_backward(images, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(images, training=True))
        gradients = tape.gradient(loss, variables)
        return tf.reshape(tf.add_n([tf.reduce_sum(gradient) for gradient in gradients]), [1])

    @tf.function(input_signature=signature)
    def full(images, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(images, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return tf.reshape(tf.convert_to_tensor(variables[-1]), [-1])[:1]

    calls = {"empty": empty, "f": forward, "fb": forward_backward, "fbo": full}
    for function in calls.values():  # trace and warm up
        for _ in range(3):
            function(*batches[0]).numpy()
    times: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    started = time.perf_counter()
    for rep in range(args.reps):
        images, labels = batches[rep % len(batches)]
        for offset in range(len(names)):
            name = names[(rep + offset) % len(names)]
            start = time.perf_counter()
            calls[name](images, labels).numpy()
            times[name].append((time.perf_counter() - start) * 1000.0)
    print(
        f"{spec.name}: {args.reps} interleaved rounds in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )

    def low(values: list[float]) -> float:
        ordered = sorted(values)
        return ordered[int(PERCENTILE * (len(ordered) - 1))]

    t = {name: low(values) for name, values in times.items()}
    parts = {"forward": t["f"] - t["empty"], "backward": t["fb"] - t["f"], "optimizer": t["fbo"] - t["fb"]}
    total = sum(max(0.0, value) for value in parts.values())
    shares = {name: max(0.0, value) / total for name, value in parts.items()}
    reported = {}
    if args.report:
        with open(args.report, encoding="utf-8") as stream:
            report = json.load(stream)
        run = next(run for run in report["runs"] if run["model"] == spec.name)
        reported = {part["part"]: part for part in run["steady"]["parts"]}
    print(
        f"| part | subtractive ms ({PERCENTILE:.0%} percentile) | subtractive "
        "share | report share [95 % CI] | difference (points) |"
    )
    print("|---|---|---|---|---|")
    print(f"| empty call | {t['empty']:.3f} | — | — | — |")
    for name, value in parts.items():
        row = f"| {name} | {value:.3f} | {shares[name]:.1%} |"
        if name in reported:
            share = reported[name]["math_share"]
            row += (
                f" {share['point']:.1%} [{share['low']:.1%}–{share['high']:.1%}] |"
                f" {(share['point'] - shares[name]) * 100:+.1f} |"
            )
        else:
            row += " — | — |"
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
