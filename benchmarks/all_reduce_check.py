"""The all-reduce three ways, on MirroredStrategy over two logical CPUs: does the probe estimate agree?

    .venv/bin/python benchmarks/all_reduce_check.py --model mnist --steps 200

1. **probe** (what reports print): forward+gradients+all-reduce less forward+gradients, median over
   probe steps of the article model (DistributedTrainSteps.probe, fenced on every replica).
2. **split**: the split step's all-reduce call, timed on its own and fenced, median over split steps.
3. **alone**: the same all-reduce on gradient-shaped tensors already on the replicas, no model
   around it, fenced, median of the calls.

2 and 3 are whole calls: each holds a call's dispatch and a fence besides the all-reduce, which the
probe estimate cancels (it is a difference of two calls). So an empty call of the same argument,
fenced alike, is timed too, and 2 and 3 are also given net of it.
4. **alone, one element out**: as 3, but the call returns one element of the summed gradients (as
   the probe variant does) instead of every summed tensor; handing a dozen full tensors back to
   Python turned out to cost more than the all-reduce (see docs/performance.md).

Timed with time.perf_counter; the first steps (tracing) are left out.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mnist")
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    from tfprof_m1.collection.strategies import make_strategy

    strategy = make_strategy("mirrored", 2, 32).strategy  # before any tensor
    import keras
    import tensorflow as tf

    from tfprof_m1.analysis.estimate import estimate_parts
    from tfprof_m1.collection.distributed import DistributedTrainSteps
    from tfprof_m1.collection.fence import HOST_READ, make_fence
    from tfprof_m1.collection.profiler import PhaseProfiler
    from tfprof_m1.workloads.datasets import synthetic
    from tfprof_m1.workloads.models import build_model, get_spec
    from tfprof_m1.workloads.pipeline import make_dataset

    spec = get_spec(args.model)
    dataset = make_dataset(synthetic(spec, seed=0, examples=args.steps * 64), 64, 0)
    with strategy.scope():
        model, optimizer = build_model(spec, seed=0), keras.optimizers.Adam()
    steps = DistributedTrainSteps(
        model, keras.losses.SparseCategoricalCrossentropy(from_logits=True), optimizer, strategy
    )
    profiler = PhaseProfiler(fence=make_fence(HOST_READ, steps.token))
    warmup = 10
    with profiler.epoch():
        for index, (x, y) in enumerate(steps.distribute(dataset)):
            kind = "probe" if index % 2 == 0 else "split"
            with profiler.step(kind, examples=64):
                if kind == "probe":
                    steps.probe(x, y, profiler, rotation=index // 2)
                else:
                    steps.split(x, y, profiler)
    timed = profiler.epochs[0].steps[warmup:]
    probe = estimate_parts([step.samples_ms for step in timed if step.kind == "probe"])
    split = statistics.median(step.phases_ms["all_reduce"] for step in timed if step.kind == "split")

    shapes = [variable.shape for variable in model.trainable_variables]
    gradients = strategy.experimental_distribute_values_from_function(
        lambda context: [tf.ones(shape) for shape in shapes]
    )
    fence = make_fence(HOST_READ, steps.token)

    def median_call_ms(call) -> float:
        """Median of ``call(gradients)`` fenced on its first output, after ``warmup`` untimed calls."""
        times = []
        for index in range(args.steps // 2 + warmup):
            start = time.perf_counter()
            output = call(gradients)
            fence(output[0])
            if index >= warmup:
                times.append((time.perf_counter() - start) * 1000.0)
        return statistics.median(times)

    def one_element(values: list) -> tf.Tensor:
        summed = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, values)
        return [tf.reshape(tf.add_n([tf.reshape(value, [-1])[0] for value in summed]), [1])]

    alone = median_call_ms(steps.all_reduce)
    alone_one = median_call_ms(tf.function(lambda values: strategy.run(one_element, args=(values,))))
    empty = median_call_ms(
        tf.function(lambda values: strategy.run(lambda value: [tf.zeros([1])], args=(values,)))
    )
    print(
        f"{args.model}: {sum(v.shape.num_elements() for v in model.trainable_variables):,} gradient values, "
        f"{len(timed)} steps after {warmup} of warm-up"
    )
    print(
        f"probe estimate: {probe.total_ms['all_reduce']:.3f} ms (share "
        f"of step compute {probe.shares['all_reduce'].point:.1%} "
        f"[{probe.shares['all_reduce'].low:.1%}–{probe.shares['all_reduce'].high:.1%}], "
        f"{probe.samples} probe steps)"
    )
    print(f"split step's all-reduce call: {split:.3f} ms median; net of an empty call {split - empty:.3f} ms")
    print(
        f"all-reduce alone: {alone:.3f} ms median of {args.steps // 2} "
        f"calls; net of an empty call {alone - empty:.3f} ms"
    )
    print(
        f"all-reduce alone, one element out: {alone_one:.3f} ms median; "
        f"net of an empty call {alone_one - empty:.3f} ms"
    )
    print(f"empty call of the same argument, fenced alike: {empty:.3f} ms median")


if __name__ == "__main__":
    main()
