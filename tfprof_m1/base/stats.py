"""Robust summaries of raw samples: median and interquartile range, never a bare mean."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Summary", "quantile", "row_medians", "sequential_sum", "summarize", "summarize_array"]

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
    return _at_position(sorted_values, (len(sorted_values) - 1) * q)


def summarize(values: Sequence[float]) -> Summary | None:
    """Summary of ``values``, or None when there are none: :func:`summarize_array`, the one rule for
    every form the values are held in (a list, an array, a report's per-step values)."""
    if not len(values):
        return None
    return summarize_array(values)


def sequential_sum(values: Sequence[float] | np.ndarray) -> float:
    """Python's ``sum(values)`` (0.0 for none) in one numpy pass: the values added one at a time from
    0, in order (``np.sum`` adds pairwise, which can differ in the last bit), so a figure is the
    same float whichever form its per-step values were held in."""
    values = np.asarray(values, dtype=float)
    return float(np.cumsum(np.concatenate(([0.0], values)))[-1])


def summarize_array(values: Sequence[float] | np.ndarray) -> Summary | None:
    """Order statistics of ``values`` (ms, or any one unit) in O(n): the median and quartiles are
    numpy's default (linear) quantiles, read at the order statistics they need after a few
    selections (``np.partition``: the same floats a full sort gives, NaN last as in a sort); the
    mean is ``np.mean`` of the values as
    float64 in their own order (numpy's pairwise sum over n); None when there are none.

    One rule for every form: a list, a float32 or float64 array, a view, all give the same floats
    (the values are copied to one contiguous float64 array first, so numpy's summation order is
    the same).
    """
    array = np.ascontiguousarray(values, dtype=np.float64)
    n = array.size
    if not n:
        return None
    positions = [(n - 1) * q for q in (0.25, 0.5, 0.75)]
    lowers = [math.floor(position) for position in positions]
    ordered = array.copy()  # put in order where it is read: the order statistics the quartiles need
    _select(ordered, sorted({0, n - 1, *lowers, *(min(lower + 1, n - 1) for lower in lowers)}))
    return Summary(
        n=n,
        median=float(_at_position(ordered, positions[1])),
        q1=float(_at_position(ordered, positions[0])),
        q3=float(_at_position(ordered, positions[2])),
        mean=float(np.mean(array)),
        min=float(ordered[0]),
        max=float(ordered[-1]),
    )


def _select(values: np.ndarray, ranks: Sequence[int]) -> None:
    """Partly order ``values`` in place so that ``values[k]`` is its k-th smallest for every k in
    ``ranks`` (ascending): one selection at the middle rank, then each side for the ranks in it (a
    few O(n) passes; numpy's ``partition`` with many ranks at once is slower)."""
    if not ranks or len(values) < 2:
        return
    middle = len(ranks) // 2
    rank = ranks[middle]
    values.partition(rank)
    _select(values[:rank], ranks[:middle])
    _select(values[rank + 1 :], [k - rank - 1 for k in ranks[middle + 1 :]])


def _at_position(ordered: Sequence[float] | np.ndarray, position: float) -> float:
    """:func:`quantile`'s interpolation at ``position`` (as ``(n - 1) * q``) of values whose order
    statistics there and one above are in place."""
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def row_medians(rows: np.ndarray) -> np.ndarray:
    """``np.median(rows, axis=-1)``, the same floats (the mean of the two middle values for an even
    count), by one selection a row rather than numpy's gather of both middles: a bootstrap's
    (replicates × resampled units) medians at a third of the cost.

    Raises:
        ValueError: no values along the last axis.
    """
    rows = np.asarray(rows, dtype=np.float64)
    count = rows.shape[-1]
    if not count:
        raise ValueError("median of no values")
    if np.isnan(rows).any():
        return np.median(rows, axis=-1)  # numpy's NaN rule
    middle = count // 2
    ordered = np.partition(rows, middle, axis=-1)  # a copy: the caller's rows are left as they were
    upper = ordered[..., middle]
    if count % 2:
        return upper
    return (ordered[..., :middle].max(axis=-1) + upper) / 2
