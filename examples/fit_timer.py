"""Time Keras fit epochs the way tfprof_m1's headline does, in your own fit call.

python examples/fit_timer.py
"""

from __future__ import annotations

import keras
import numpy as np

from tfprof_m1.collection.fit import EpochTimer


def main() -> None:
    x = np.random.default_rng(0).random((2048, 28, 28), dtype=np.float32)
    y = np.arange(2048) % 10
    model = keras.Sequential(
        [
            keras.Input((28, 28)),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    timer = EpochTimer(settle_garbage=True)
    model.fit(x, y, epochs=3, batch_size=32, verbose=0, callbacks=[timer])
    first, *rest = timer.epoch_ms
    print(f"epoch 1 (warm-up): {first:.0f} ms; later epochs: {', '.join(f'{ms:.0f} ms' for ms in rest)}")
    print(
        f"steady mean: {sum(rest) / len(rest):.0f} ms; all-epochs mean "
        f"(the article's figure): {sum(timer.epoch_ms) / 3:.0f} ms"
    )


if __name__ == "__main__":
    main()
