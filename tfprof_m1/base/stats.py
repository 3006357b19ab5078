"""Robust summaries of raw samples: median and interquartile range, never a bare mean."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Summary", "quantile", "sequential_sum", "summarize", "summarize_array"]

#: A spread above this fraction of the median marks a figure as noisy (as torch.utils.benchmark).
NOISY_IQR_FRACTION = 0.10


@dataclass(frozen=True)
class Summary:
    """Order statistics of one set of samples (all in the samples' unit)."""

    n: int
    median: float
    q1: float
    q3: float
    mean: float
    min: float
    max: float

    @property
    def iqr(self) -> float:
        """Interquartile range, q3 − q1."""
        return self.q3 - self.q1

    @property
    def noisy(self) -> bool:
        """True when the IQR exceeds 10 % of the median: the median is not to be trusted alone."""
        return self.n > 1 and self.median > 0 and self.iqr / self.median > NOISY_IQR_FRACTION


def quantile(sorted_values: Sequence[float] | np.ndarray, q: float) -> float:
    """Linear-interpolated quantile (numpy's default method) of already sorted values."""
    if not len(sorted_values):
        raise ValueError("quantile of no values")
    position = (len(sorted_values) - 1) * q
    lower = math.floor(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    fraction = position - lower
    return sorted_values[lower] + (sorted_values[upper] - sorted_values[lower]) * fraction


def summarize(values: Sequence[float]) -> Summary | None:
    """Summary of ``values``, or None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return Summary(
        n=len(ordered),
        median=quantile(ordered, 0.5),
        q1=quantile(ordered, 0.25),
        q3=quantile(ordered, 0.75),
        mean=sum(ordered) / len(ordered),
        min=ordered[0],
        max=ordered[-1],
    )


def sequential_sum(values: Sequence[float] | np.ndarray) -> float:
    """Python's ``sum(values)`` (0.0 for none) in one numpy pass: the values added one at a time from
    0, in order (``np.sum`` adds pairwise, which can differ in the last bit), so a figure is the
    same float whichever form its per-step values were held in."""
    values = np.asarray(values, dtype=float)
    return float(np.cumsum(np.concatenate(([0.0], values)))[-1])


def summarize_array(values: Sequence[float] | np.ndarray) -> Summary | None:
    """:func:`summarize` of many values (per-step times) in numpy: the same :class:`Summary`, float for
    float (a stable sort, the same quantile rule, the mean as :func:`sequential_sum` / n)."""
    ordered = np.sort(np.asarray(values, dtype=float), kind="stable")
    if not ordered.size:
        return None
    return Summary(
        n=len(ordered),
        median=float(quantile(ordered, 0.5)),
        q1=float(quantile(ordered, 0.25)),
        q3=float(quantile(ordered, 0.75)),
        mean=sequential_sum(ordered) / len(ordered),
        min=float(ordered[0]),
        max=float(ordered[-1]),
    )
