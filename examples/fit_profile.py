"""Profile a Keras ``fit``: per-batch times, epochs, a trace of a few batches, and a report.

    python examples/fit_profile.py                    # 3 epochs of 300 batches
    python examples/fit_profile.py --steps 20 --logdir runs/fit-example

A tiny residual CNN (not one of the article's models) under ``fit``; ``ProfileCallback`` times every
batch device-true, traces batches 10-19 of the second epoch (fewer and earlier in a short one), and
at the end writes ``report.json``, TensorBoard scalars and the Markdown summary into ``--logdir``.
"""

from __future__ import annotations

import argparse

import keras
import numpy as np
import tensorflow as tf

from tfprof_m1 import ProfileCallback, StepRange, render


def residual_cnn() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    y = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = keras.layers.Add()([x, y])
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--logdir", default="runs/fit-example")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    images = rng.random((args.steps * 32, 16, 16, 3), dtype=np.float32)
    dataset = tf.data.Dataset.from_tensor_slices((images, np.arange(len(images)) % 10)).batch(32).prefetch(2)
    model = residual_cnn()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    # ten batches of the second epoch from its 10th, within the epoch when it is shorter (a window
    # past the fit's last batch is refused before training)
    length = min(10, args.steps)
    skip = min(10, args.steps - length)
    window = (
        StepRange(args.steps + skip, args.steps + skip + length) if args.epochs > 1 else StepRange(0, length)
    )
    callback = ProfileCallback(args.logdir, trace_steps=window, batch_size=32, model_name="residual_cnn")
    model.fit(dataset, epochs=args.epochs, verbose=0, callbacks=[callback])
    print(render(callback.report()))
    print(f"wrote {args.logdir}/report.json (tensorboard --logdir {args.logdir})")


if __name__ == "__main__":
    main()
