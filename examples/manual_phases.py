"""Time phases of a loop you write yourself, with names of your own.

    python examples/manual_phases.py

``PhaseProfiler`` only needs to be told where phases begin and end; ``attribute_epochs`` then
checks the phases add up to the epoch and shows what is left over as ``other``.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfprof_m1 import PhaseProfiler, make_fence
from tfprof_m1.analysis.attribution import attribute_epochs


def main() -> None:
    images = np.random.default_rng(0).random((512, 28, 28), dtype=np.float32)
    labels = np.arange(512) % 10
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(32)
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10)])
    optimizer = keras.optimizers.SGD(0.1)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        optimizer.apply_gradients(
            zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        )
        return loss

    profiler = PhaseProfiler(fence=make_fence("host_read", lambda: model.trainable_variables[-1]))
    for _ in range(2):
        with profiler.epoch():
            for x, y in profiler.timed(dataset):  # next() is timed as "input"
                with profiler.step(examples=int(x.shape[0])):
                    with profiler.phase("augment"):  # a phase of your own
                        x = tf.clip_by_value(x + 0.01, 0.0, 1.0)
                    with profiler.phase("compute"):  # the fused step
                        loss = train_step(x, y)
                    profiler.sync(loss)  # wait for the device: "sync"

    for breakdown in attribute_epochs(profiler.epochs):
        print(
            f"epoch {breakdown.index + 1}: "
            + ", ".join(f"{k} {v:.1f} ms" for k, v in breakdown.totals_ms.items())
        )


if __name__ == "__main__":
    main()
