"""The device's measured matmul peak: the figure achieved FLOP/s is judged against."""

from __future__ import annotations

import time
from statistics import median

__all__ = ["measure_matmul_peak"]


def measure_matmul_peak(device: str, size: int = 1024, repeats: int = 10) -> float:
    """float32 ``size``×``size`` matmul throughput on ``device``, in GFLOP/s (median of ``repeats``).

    Each timed call is fenced by reading one element of its result back to the host.
    """
    import tensorflow as tf

    with tf.device(device):
        left = tf.random.normal((size, size), seed=1)
        right = tf.random.normal((size, size), seed=2)
        matmul = tf.function(tf.linalg.matmul)
        matmul(left, right)[0, 0].numpy()  # trace and warm up, untimed
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            matmul(left, right)[0, 0].numpy()  # the read is the fence: it waits for the product
            seconds.append(time.perf_counter() - start)
    return 2.0 * size**3 / median(seconds) / 1e9
