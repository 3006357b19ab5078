"""One seeded model with BatchNorm, Dropout, a ``keras.random`` draw through Keras' global seed
generator and a LossScaleOptimizer, trained the same steps plainly (fused steps only) and under
``run_profiled_loop`` with probes on every other step; prints, as JSON, the largest difference of
every variable of model and optimizer (trainable and not) and of the seed-generator states, for
test_keras_conventions.py to run under each executor.

    python tests/probe_state.py [--async-executor]
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

    from tfprof_m1 import (
        PhaseProfiler,
        Sampling,
        TrainSteps,
        detect_fence_kind,
        make_fence,
        run_profiled_loop,
    )

    class Jitter(keras.layers.Layer):
        """Noise from keras.random without a generator of its own: Keras' global seed generator."""

        def call(self, inputs, training=False):
            return inputs + 0.01 * keras.random.normal(keras.ops.shape(inputs)) if training else inputs

    rng = np.random.default_rng(0)
    x = (rng.normal(size=(16 * 32, 12)) * 3 + 1).astype("float32")
    y = (x[:, 0] > 1).astype("int32")
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def steps() -> TrainSteps:
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((12,)),
                keras.layers.Dense(32),
                keras.layers.BatchNormalization(momentum=0.8),
                keras.layers.Dropout(0.3, seed=1),
                Jitter(),
                keras.layers.Dense(2),
            ]
        )
        optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(1e-2))
        return TrainSteps(model, loss_fn, optimizer, dataset.element_spec)

    def state(train_steps: TrainSteps) -> dict[str, np.ndarray]:
        from keras.src.backend.common import global_state

        # keyed by position (the two models' variables are named apart: dense, dense_2...); the
        # optimizer's slots carry the model's name in theirs, so only its last part is kept
        values = {f"model {i} {v.name}": np.asarray(v) for i, v in enumerate(train_steps.model.variables)}
        for i, v in enumerate(train_steps.optimizer.variables):
            values[f"optimizer {i} {v.name.rsplit('_', 1)[-1] if 'sequential' in v.name else v.name}"] = (
                np.asarray(v)
            )
        generator = global_state.get_global_attribute("global_seed_generator")
        if generator is not None:
            values["keras global seed generator"] = np.asarray(generator.state)
        return values

    plain = steps()
    for images, labels in dataset:
        plain.fused(images, labels)
    plain_state = state(plain)
    plain_metrics = plain.read_metrics()

    profiled = steps()
    fence = make_fence(detect_fence_kind(), profiled.token)
    results = run_profiled_loop(
        profiled,
        dataset,
        epochs=1,
        steps_per_epoch=16,
        profiler=PhaseProfiler(fence=fence),
        sampling=Sampling(every=2, min_samples=8, reference_share=0.0),
    )
    profiled_state = state(profiled)
    print(
        json.dumps(
            {
                "executor_async": not tf.config.experimental.get_synchronous_execution(),
                "probe_steps": sum(step.kind == "probe" for step in results[0].timing.steps),
                "restored": len(profiled.probe_state()),
                "names": sorted(plain_state),
                "missing": sorted(set(plain_state) ^ set(profiled_state)),
                "max_difference": {
                    name: float(np.max(np.abs(plain_state[name] - profiled_state[name])))
                    for name in plain_state
                    if name in profiled_state
                },
                "loss": [plain_metrics[0], results[0].loss],
            }
        )
    )


if __name__ == "__main__":
    main()
