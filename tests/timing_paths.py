"""The research-code timing paths in one process, for test_async_executor.py to run under each
executor: a profiled Keras ``fit`` (ProfileCallback) and a loop of its own with nested phases that
fence after themselves (``phase(name, sync=True)``). Prints their figures as JSON.

    python tests/timing_paths.py [--async-executor]
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    from tfprof_m1.collection.environment import set_async_executor

    set_async_executor("--async-executor" in sys.argv)  # before any TensorFlow work
    import keras
    import numpy as np
    import tensorflow as tf

    from tfprof_m1 import PhaseProfiler, ProfileCallback, build_report, detect_fence_kind, make_fence

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(24 * 64, 256)).astype("float32")
    y = np.arange(len(x)) % 10
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(64)

    def model() -> keras.Model:
        return keras.Sequential(
            [keras.Input((256,)), keras.layers.Dense(512, activation="relu"), keras.layers.Dense(10)]
        )

    fitted = model()
    fitted.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    callback = ProfileCallback(batch_size=64)
    fitted.fit(dataset, epochs=2, verbose=0, callbacks=[callback])
    fit_run = callback.report(model="fit").runs[0]

    own = model()
    optimizer, loss_fn = keras.optimizers.Adam(), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer.build(own.trainable_variables)
    forward = tf.function(lambda images, labels: loss_fn(labels, own(images, training=True)))
    apply = tf.function(lambda grads: optimizer.apply_gradients(zip(grads, own.trainable_variables)))
    profiler = PhaseProfiler(fence=make_fence(detect_fence_kind(), lambda: own.trainable_variables[-1]))
    for _ in range(2):
        with profiler.epoch():
            for images, labels in profiler.timed(dataset):
                with profiler.step(kind="split", examples=64), profiler.phase("model"):
                    with profiler.phase("forward", sync=True) as part:
                        with tf.GradientTape() as tape:
                            part.outputs = loss = forward(images, labels)
                    with profiler.phase("backward", sync=True) as part:
                        part.outputs = grads = tape.gradient(loss, own.trainable_variables)
                    with profiler.phase("optimizer", sync=True):
                        apply(grads)
    own_run = build_report(profiler, model="own").runs[0]

    def summary(run) -> dict:
        steady = run.epochs[-1]
        waits = {}
        for step in profiler.epochs[-1].steps if run is own_run else callback.profiler.epochs[-1].steps:
            for name, value in step.waits_ms.items():
                waits[name] = waits.get(name, 0.0) + value
        return {
            "phases": {p.phase: p.total_ms for p in steady.phases},
            "wall_ms": steady.wall_ms,
            "waits_ms": waits,
        }

    print(
        json.dumps(
            {
                "executor_async": not tf.config.experimental.get_synchronous_execution(),
                "fit": summary(fit_run),
                "own": summary(own_run),
            }
        )
    )


if __name__ == "__main__":
    main()
