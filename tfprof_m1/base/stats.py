"""Robust summaries of raw samples: median and interquartile range, never a bare mean."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "OrderStatistics",
    "Summary",
    "order_statistics",
    "quantile",
    "resampled_medians",
    "row_medians",
    "pairwise_sum",
    "summarize",
    "summarize_array",
]

#: A spread above this fraction of the median marks a figure as noisy (as torch.utils.benchmark).
NOISY_IQR_FRACTION = 0.10
#: :func:`resampled_medians` counts draws over the rows within this many standard deviations of a
#: resample's middle position (a binomial count's: ``rows / (2 √draws)``); the rare resample whose
#: middle lies further out is taken whole.
MEDIAN_WINDOW_SDS = 5.0
#: :func:`order_statistics` reads values in runs of equal ones from their runs when there are at least
#: this many values and they repeat this many times on average (else three selections are quicker).
RUN_LENGTH_MIN_VALUES = 64
RUN_LENGTH_MIN_REPEATS = 4


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
    """Summary of ``values``, or None when there are none: :func:`summarize_array`, the one rule for
    every form the values are held in (a list, an array, a report's per-step values)."""
    if not len(values):
        return None
    return summarize_array(values)


def pairwise_sum(values: Sequence[float] | np.ndarray) -> float:
    """The sum of ``values`` (0.0 for none) as numpy adds a contiguous float64 array (pairwise:
    more accurate than adding one value at a time, and one quick pass): the same float whichever
    form the values are held in (a list, an array of any float type, a view)."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    return float(np.add.reduce(values)) if values.size else 0.0


def summarize_array(values: Sequence[float] | np.ndarray) -> Summary | None:
    """Order statistics of ``values`` (ms, or any one unit) in O(n): the median and quartiles are
    numpy's default (linear) quantiles, read at the order statistics they need after three
    selections (``np.partition``; the same floats a full sort gives); the mean is ``np.mean`` of the
    values as float64 in their own order (numpy's pairwise sum); None when there are none.

    One rule for every form: a list, a float32 or float64 array, a view, all give the same floats
    (the values are copied to one contiguous float64 array first, so numpy's summation order is
    the same). Values holding NaN are sorted (NaN last), as before.
    """
    array = np.ascontiguousarray(values, dtype=np.float64)
    if not array.size:
        return None
    statistics = order_statistics(array)
    if statistics is None:  # NaN: sorted, NaN last
        ordered = np.sort(array)
        q1, median, q3 = (quantile(ordered, q) for q in (0.25, 0.5, 0.75))
        return Summary(
            n=array.size,
            median=float(median),
            q1=float(q1),
            q3=float(q3),
            mean=float(np.mean(array)),
            min=float(ordered[0]),
            max=float(ordered[-1]),
        )
    return statistics.summary(float(np.mean(array)))


@dataclass(frozen=True)
class OrderStatistics:
    """What a :class:`Summary` reads of n values, apart from their mean: the least, the greatest, and
    at each quartile's position (``(n - 1) * q``, q = 0.25, 0.5, 0.75) the order statistics either
    side of it with the fraction between them."""

    n: int
    least: float
    greatest: float
    #: (below, above, fraction) at the first quartile, the median and the third quartile.
    quartiles: tuple[tuple[float, float, float], ...]

    def summary(self, mean: float, scale: float = 1.0) -> Summary:
        """The Summary of these values, or of these values times ``scale`` (> 0) given that
        product's ``mean``: multiplying by a positive number keeps the values' order (IEEE
        rounding is monotone), so the order statistics of the products are these order statistics
        times ``scale`` and each figure is the float it would be from the products themselves
        (a zero's sign aside). ``scale`` 1 is the values' own Summary.

        Raises:
            ValueError: ``scale`` not positive.
        """
        if not scale > 0:
            raise ValueError(f"order statistics scale by a positive number, not {scale}")
        q1, median, q3 = (
            below * scale + (above * scale - below * scale) * fraction
            for below, above, fraction in self.quartiles
        )
        return Summary(
            n=self.n,
            median=float(median),
            q1=float(q1),
            q3=float(q3),
            mean=mean,
            min=float(self.least * scale),
            max=float(self.greatest * scale),
        )


def order_statistics(values: np.ndarray) -> OrderStatistics | None:
    """The :class:`OrderStatistics` of a float64 array, None when it is empty or holds NaN.

    Values that come in runs of equal ones (a block of steps shares its block's compute; most
    steps wait 0 ms at a fence) are read from their runs: the order statistics are the runs' values,
    each counted as often as it repeats (:func:`_run_quartiles`, a sort of the runs); other values
    by three selections on a copy (:func:`_quartiles`). Both give the floats a full sort gives
    (``tests/test_stats.py``), in O(n) passes that are cheap where the values repeat.
    """
    n = values.size
    if not n:
        return None
    positions = [(n - 1) * q for q in (0.25, 0.5, 0.75)]
    runs = _runs(values) if n >= RUN_LENGTH_MIN_VALUES else None
    distinct = values if runs is None else runs[0]  # the runs' values hold the least and the greatest
    low, high = distinct.min(), distinct.max()
    if math.isnan(low):
        return None
    pairs = _quartiles(values.copy(), positions) if runs is None else _run_quartiles(*runs, positions)
    return OrderStatistics(n, float(low), float(high), tuple(pairs))


def _runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Each run of equal ``values``' value and length, when they repeat at least
    :data:`RUN_LENGTH_MIN_REPEATS` times on average; else None. NaN differs from itself: a run of
    its own."""
    changes = np.flatnonzero(values[1:] != values[:-1])
    if (len(changes) + 1) * RUN_LENGTH_MIN_REPEATS > values.size:
        return None
    starts = np.concatenate(([0], changes + 1))
    return values[starts], np.diff(np.append(starts, values.size))


def _run_quartiles(
    run_values: np.ndarray, repeats: np.ndarray, positions: Sequence[float]
) -> list[tuple[float, float, float]]:
    """(below, above, fraction) at each of ``positions`` (as ``(n - 1) * q``) of the values that
    ``run_values`` repeated ``repeats`` times each make up (n in all, no NaN): the runs sorted by
    value, the order statistic of rank r is the value of the first run whose running count passes r."""
    order = np.argsort(run_values, kind="stable")
    ordered = run_values[order]
    through = np.cumsum(repeats[order])  # values at or before each sorted run
    n = int(through[-1])
    pairs = []
    for position in positions:
        rank = math.floor(position)
        below, above = ordered[np.searchsorted(through, [rank, min(rank + 1, n - 1)], side="right")]
        pairs.append((below, above, position - rank))
    return pairs


def _quartiles(values: np.ndarray, positions: Sequence[float]) -> list[tuple[float, float, float]]:
    """(below, above, fraction) at three ascending ``positions`` (as ``(n - 1) * q``) of ``values``
    (no NaN), which are partly reordered in place: a selection at each position's order statistic
    (the middle one over all values, the outer ones in each half), and the statistic one above each
    read as the least value between it and the next one selected. :func:`quantile` is
    ``below + (above - below) * fraction``."""
    n = len(values)
    lower = [math.floor(position) for position in positions]
    values.partition(lower[1])
    if lower[0] < lower[1]:
        values[: lower[1]].partition(lower[0])
    if lower[2] > lower[1]:
        values[lower[1] + 1 :].partition(lower[2] - lower[1] - 1)
    pairs = []
    for rank, position in zip(lower, positions):
        below = values[rank]
        above = below
        if rank + 1 < n:
            following = min((other for other in lower if other > rank), default=n - 1)
            above = values[rank + 1 : following + 1].min()
        pairs.append((below, above, position - rank))
    return pairs


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


def resampled_medians(units: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """Each column's median over every resample of ``units``: ``np.median(units[picks], axis=1)``, a
    (resamples × columns) array, the same floats (a zero's sign aside), from ``units`` (rows × columns)
    and ``picks`` (resamples × draws, row indices, as :func:`~tfprof_m1.analysis.bootstrap.resample`
    draws them).

    By counts rather than selections: how often each row is drawn in each resample (one count a row,
    whatever the column); then per column, with the rows in ascending order of its values, the
    running count of draws tells where a resample passes its middle draw, and the median is the
    value there (the mean of the two middle values for an even number of draws, as numpy). The
    running count is taken over a window of the middle rows, :data:`MEDIAN_WINDOW_SDS` standard
    deviations of the middle's position either side, with the draws below it added first; a resample
    whose middle falls outside the window (about one in a million) takes ``np.median`` of its own
    values. A few passes over (window × resamples) small integers a column instead of a selection
    over each resample's floats: a bootstrap of 200 units in about a fifth of :func:`row_medians`'
    time. Values holding NaN take :func:`row_medians` (numpy's NaN rule).

    Raises:
        ValueError: no draws (``picks`` has no columns).
    """
    units = np.asarray(units, dtype=np.float64)
    resamples, draws = picks.shape
    if not draws:
        raise ValueError("median of no values")
    if np.isnan(units).any() or draws > np.iinfo(np.int16).max:  # NaN, or counts past int16
        return np.stack([row_medians(column[picks]) for column in np.ascontiguousarray(units.T)], axis=1)
    count = len(units)
    index = picks * resamples  # a draw's (unit, resample) cell, one large array, added to in place
    index += np.arange(resamples)[:, None]
    index = index.ravel()
    counts = np.bincount(index, minlength=count * resamples).astype(np.int16).reshape(count, resamples)
    middle = draws // 2  # the 0-based rank of the upper middle draw
    # the middle's position among the sorted rows, and a window around it
    centre = count * (middle + 0.5) / draws
    spread = MEDIAN_WINDOW_SDS * count / (2 * math.sqrt(draws)) + 2
    low, high = max(0, int(centre - spread)), min(count, int(math.ceil(centre + spread)))
    medians = np.empty((resamples, units.shape[1]))
    for column, values in enumerate(np.ascontiguousarray(units.T)):
        order = np.argsort(values, kind="stable")
        ordered, drawn = values[order], counts[order]  # (rows × resamples), rows in ascending order
        below = drawn[:low].sum(axis=0, dtype=np.int16)
        running = np.cumsum(drawn[low:high], axis=0, dtype=np.int16) + below  # draws at or below a row
        ranks = [middle] if draws % 2 else [middle - 1, middle]
        found = []
        missed = np.zeros(resamples, dtype=bool)
        for rank in ranks:
            found.append(
                low + (running <= rank).sum(axis=0, dtype=np.int16).astype(np.intp)
            )  # the row holding the draw of this rank
            missed |= (below > rank) | (running[-1] <= rank) if high > low else below <= rank
        chosen = [ordered[np.minimum(position, count - 1)] for position in found]
        medians[:, column] = chosen[0] if draws % 2 else (chosen[0] + chosen[1]) / 2
        if missed.any():
            medians[missed, column] = np.median(values[picks[missed]], axis=1)
    return medians
