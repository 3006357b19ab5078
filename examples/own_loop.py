"""Profile your own model in your own training loop with tfprof_m1's public API.

    python examples/own_loop.py            # 3 epochs of 100 steps
    python examples/own_loop.py --steps 10 # quicker

The model here is not one of the article's: any Keras model, loss and optimizer work.
"""

from __future__ import annotations

import argparse

import keras
import numpy as np
import tensorflow as tf

from tfprof_m1 import PhaseProfiler, Sampling, TrainSteps, attribute_epochs, detect_fence_kind, make_fence, run_profiled_loop


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    # Your data: any tf.data pipeline of (inputs, integer labels).
    rng = np.random.default_rng(0)
    features = rng.normal(size=(args.steps * 64, 20)).astype("float32")
    labels = (features[:, 0] > 0).astype("int32")
    dataset = tf.data.Dataset.from_tensor_slices((features, labels)).shuffle(4096, seed=0).batch(64).prefetch(2)

    # Your model, loss and optimizer.
    model = keras.Sequential([keras.Input((20,)), keras.layers.Dense(256, activation="relu"), keras.layers.Dense(2)])
    steps = TrainSteps(model, keras.losses.SparseCategoricalCrossentropy(from_logits=True), keras.optimizers.Adam(),
                       input_signature=dataset.element_spec)

    # A fence that blocks on this machine's device, and the profiler that uses it.
    fence = make_fence(detect_fence_kind(), lambda: steps.variables[-1])
    profiler = PhaseProfiler(fence=fence)

    # The built-in loop; or write your own with profiler.epoch(), .timed(), .step(), .phase(), .sync().
    results = run_profiled_loop(steps, dataset, epochs=args.epochs, steps_per_epoch=args.steps,
                                profiler=profiler, sampling=Sampling(every=10))

    print(f"fence: {fence.name}")
    for result, breakdown in zip(results, attribute_epochs(profiler.epochs)):
        shares = ", ".join(f"{name} {ms / breakdown.wall_ms:.0%}" for name, ms in breakdown.totals_ms.items())
        print(f"epoch {breakdown.index + 1}: {breakdown.wall_ms:.0f} ms, loss {result.loss:.3f} | {shares}")


if __name__ == "__main__":
    main()
