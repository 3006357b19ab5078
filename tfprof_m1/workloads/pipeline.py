"""The tf.data input pipeline shared by the custom loop and Keras ``fit``.

Indices, not images, are shuffled: a shuffle buffer of 50 000 int64s fills in milliseconds, where
one of 50 000 images would take seconds and memory. Each batch of indices then gathers its images
in one vectorised op, scales them to [0, 1] float32, and the pipeline prefetches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tfprof_m1.workloads.datasets import TrainData

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

__all__ = ["make_dataset", "steps_per_epoch"]


#: Fixed pipeline settings used unless autotune is asked for: the gather is one vectorised op per
#: batch, so two parallel calls and two prefetched batches keep the step fed (input stays a small
#: share of the epoch, see docs/performance.md).
MAP_PARALLELISM = 2
PREFETCH_BATCHES = 2


def make_dataset(
    data: TrainData, batch_size: int, seed: int, steps: int | None = None, autotune: bool = False
) -> tf.data.Dataset:
    """Batches of ``(images float32 in [0, 1], labels int32)``, reshuffled every epoch.

    Args:
        data: the training set (uint8 images).
        batch_size: examples per batch; the last batch of an epoch may be smaller, as in ``fit``.
        seed: seeds the shuffle; the same seed gives the same order of epochs.
        steps: keep only the first ``steps`` batches of each epoch (None: all of them).
        autotune: let tf.data autotune parallelism and prefetching. Off by default: with autotune
            on, tearing down an epoch's iterator can block until the autotuner's next wake-up. Its
            period starts at 10 ms and doubles, so the wait ends 10·(2^k − 1) ms after the
            iterator was made; here CIFAR-10 epochs of ~13.5 s were stretched to exactly 20.47 s
            in about one epoch in three. Fixed settings make no autotune thread, so no such stall.
    """
    import tensorflow as tf

    with tf.device("/CPU:0"):
        images = tf.constant(data.images)
        labels = tf.constant(data.labels.astype(np.int32))
    count = data.examples

    def gather(indices: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        batch = tf.cast(tf.gather(images, indices), tf.float32) / 255.0
        return batch, tf.gather(labels, indices)

    dataset = tf.data.Dataset.range(count).shuffle(count, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if steps is not None:
        dataset = dataset.take(steps)
    parallel = tf.data.AUTOTUNE if autotune else MAP_PARALLELISM
    dataset = dataset.map(gather, num_parallel_calls=parallel, deterministic=True)
    dataset = dataset.prefetch(tf.data.AUTOTUNE if autotune else PREFETCH_BATCHES)
    options = tf.data.Options()
    options.autotune.enabled = autotune
    return dataset.with_options(options)


def steps_per_epoch(examples: int, batch_size: int, steps: int | None = None) -> int:
    """Batches in one epoch: ceil(examples / batch_size), capped at ``steps``."""
    full = -(-examples // batch_size)
    return full if steps is None else min(full, steps)
