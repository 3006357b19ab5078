"""DistributedTrainSteps on MirroredStrategy over two logical CPUs against one device, in a process of
its own (logical devices must be set before TensorFlow starts), for test_distributed.py to run under
each executor. Prints the figures as JSON on the last line.

    python tests/distributed_steps.py [--async-executor]

Under the asynchronous executor only the timing paths run (split and probe steps); the fused step
and a plain loss function are the same math under either executor.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

STEPS, GLOBAL_BATCH = 6, 64


def main() -> None:
    from tfprof_m1.collection.environment import set_async_executor
    from tfprof_m1.collection.strategies import make_strategy

    set_async_executor("--async-executor" in sys.argv)
    choice = make_strategy("mirrored", 2, GLOBAL_BATCH // 2)  # before any tensor
    import keras
    import numpy as np
    import tensorflow as tf

    from tfprof_m1 import PhaseProfiler, build_report
    from tfprof_m1.collection.distributed import DistributedTrainSteps
    from tfprof_m1.collection.fence import HOST_READ, make_fence
    from tfprof_m1.collection.steps import TrainSteps

    rng = np.random.default_rng(0)
    images = rng.random((STEPS * GLOBAL_BATCH, 16, 16, 1), dtype=np.float32)
    labels = (np.arange(len(images)) % 10).astype(np.int32)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(GLOBAL_BATCH)
    strategy = choice.strategy

    def model() -> keras.Model:
        keras.utils.set_random_seed(1)
        return keras.Sequential(
            [
                keras.Input((16, 16, 1)),
                keras.layers.Conv2D(8, 3, activation="relu"),
                keras.layers.Flatten(),
                keras.layers.Dense(10),
            ]
        )

    keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def plain_loss(y, logits):  # a loss function of one's own: the mean over the examples it is given
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))

    reference = model()
    initial = reference.get_weights()
    single = TrainSteps(reference, keras_loss, keras.optimizers.Adam(), dataset.element_spec)
    for x, y in dataset:
        single.fused(x, y)
    figures = {
        "executor_async": not tf.config.experimental.get_synchronous_execution(),
        "single_metrics": single.read_metrics(),
        "modes": {},
    }
    modes = [("split", keras_loss), ("probe", keras_loss)]
    if not figures["executor_async"]:
        modes += [("fused", keras_loss), ("split_plain_loss", plain_loss)]
    for mode, loss in modes:
        with strategy.scope():
            distributed_model = model()
            distributed_model.set_weights(initial)  # weights made in a scope draw differently: start equal
            optimizer = keras.optimizers.Adam()
        steps = DistributedTrainSteps(distributed_model, loss, optimizer, strategy)
        profiler = PhaseProfiler(fence=make_fence(HOST_READ, steps.token))
        with profiler.epoch():
            for x, y in profiler.timed(steps.distribute(dataset)):
                kind = "probe" if mode == "probe" else "fused" if mode == "fused" else "split"
                with profiler.step(kind, examples=steps.examples(x)):
                    if mode == "fused":
                        profiler.call("compute", steps.fused, x, y)
                    elif mode == "probe":
                        steps.probe(x, y, profiler)
                    else:
                        steps.split(x, y, profiler)
        differences = [
            float(np.max(np.abs(a.numpy() - b.numpy())))
            for a, b in zip(reference.trainable_variables, distributed_model.trainable_variables)
        ]
        replicas_apart = [
            float(np.max(np.abs(copies[0].numpy() - copies[1].numpy())))
            for copies in (steps._local(variable) for variable in distributed_model.trainable_variables)
        ]
        run = build_report(profiler, model=mode).runs[0]
        epoch = run.epochs[0]
        figures["modes"][mode] = {
            "max_weight_difference": max(differences),
            "replicas_apart": max(replicas_apart),
            "metrics": steps.read_metrics(),
            "examples": [step.examples for step in profiler.epochs[0].steps],
            "step_phases": [dict(step.phases_ms) for step in profiler.epochs[0].steps],
            "step_wall_ms": [step.wall_ms for step in profiler.epochs[0].steps],
            "sample_variants": sorted(
                {variant for step in profiler.epochs[0].steps for variant in step.samples_ms}
            ),
            "parts_ms": {part.part: part.ms for part in run.steady.parts},
            "epoch_phases_ms": {phase.phase: phase.total_ms for phase in epoch.phases},
            "epoch_wall_ms": epoch.wall_ms,
        }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
