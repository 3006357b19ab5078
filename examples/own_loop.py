"""Profile your own model in the built-in profiled loop, and get the CLI's report.

    python examples/own_loop.py                       # 3 epochs of 300 steps
    python examples/own_loop.py --steps 20 --json gru.json

The model is not one of the article's: a small Embedding + GRU text classifier. Any Keras model,
loss and optimizer work; ``TrainSteps`` builds the fused and probe steps from them.
"""

from __future__ import annotations

import argparse

import keras
import numpy as np
import tensorflow as tf

from tfprof_m1 import (
    PhaseProfiler,
    Sampling,
    TrainSteps,
    build_report,
    detect_fence_kind,
    make_fence,
    render,
    run_profiled_loop,
)


def gru_dataset(steps: int, batch: int = 32, seed: int = 0) -> tf.data.Dataset:
    """Token sequences of length 40 over a 1,000-word vocabulary; the label depends on the first token."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, 1000, size=(steps * batch, 40)).astype("int32")
    labels = (tokens[:, 0] % 2).astype("int32")
    return (
        tf.data.Dataset.from_tensor_slices((tokens, labels)).shuffle(4096, seed=seed).batch(batch).prefetch(2)
    )


def gru_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((40,), dtype="int32"),
            keras.layers.Embedding(1000, 32),
            keras.layers.GRU(64),
            keras.layers.Dense(2),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--json", help="also save the report here (python -m tfprof_m1 show FILE reads it)")
    args = parser.parse_args()

    dataset = gru_dataset(args.steps)
    steps = TrainSteps(
        gru_model(),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        keras.optimizers.Adam(),
        input_signature=dataset.element_spec,
    )
    # A fence that blocks on this machine's device, and the profiler that uses it.
    profiler = PhaseProfiler(fence=make_fence(detect_fence_kind(), lambda: steps.variables[-1]))
    results = run_profiled_loop(
        steps,
        dataset,
        epochs=args.epochs,
        steps_per_epoch=args.steps,
        profiler=profiler,
        sampling=Sampling(every=20),
        on_epoch_end=lambda r: print(f"epoch {r.timing.index + 1} done"),
    )
    report = build_report(results, model="gru")  # the results carry each epoch's loss and accuracy
    print(render(report))
    if args.json:
        print(f"saved {report.save(args.json)}")


if __name__ == "__main__":
    main()
