"""The one bootstrap engine: seeded resampling with replacement and 95 % percentile bounds. numpy only.

Every interval in a report and a comparison is drawn here: the estimate's part shares and profiling
cost (:mod:`~tfprof_m1.analysis.estimate`), compare's hierarchical resampling of runs, epochs and
blocks of steps (:mod:`~tfprof_m1.analysis.compare_stats`), the scaling efficiency and the sweep's
points. Each caller asks one generator (:func:`generator`, a fixed seed: a figure is reproducible
from its raw values) for rows of indices (:func:`resample`), computes its statistic on each row, and
turns the replicates into bounds (:func:`percentile_interval`). :func:`bootstrap` does all three for
a statistic of a list of items.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import numpy as np

from tfprof_m1.report.interval import Interval

__all__ = ["REPLICATES", "SEED", "bootstrap", "generator", "percentile_interval", "resample"]

#: Replicates drawn for every interval.
REPLICATES = 1000
#: The seed of every draw (compare gives each further side ``SEED + position``, to keep sides independent).
SEED = 0
#: Two-sided 95 %: the 2.5th and 97.5th percentiles of the replicates.
TAILS = (0.025, 0.975)

T = TypeVar("T")


def generator(seed: int = SEED) -> np.random.Generator:
    """The seeded random generator every draw comes from (numpy's default bit generator, PCG64)."""
    return np.random.default_rng(seed)


def resample(rng: np.random.Generator, count: int, replicates: int = REPLICATES) -> np.ndarray:
    """Indices of ``replicates`` resamples with replacement of ``count`` items: an int array of
    shape (replicates × count), one resample per row."""
    return rng.integers(0, count, size=(replicates, count))


def percentile_interval(point: float, draws: Sequence[float] | np.ndarray) -> Interval:
    """``point`` with the 2.5th and 97.5th percentiles of its replicates ``draws`` (linear
    interpolation, numpy's default). Raises ValueError on no draws."""
    values = np.asarray(draws, dtype=float)
    if not values.size:
        raise ValueError("percentile interval of no draws")
    low, high = np.quantile(values, TAILS)
    return Interval(float(point), float(low), float(high))


def bootstrap(
    items: Sequence[T],
    statistic: Callable[[Sequence[T]], Mapping[str, float] | None],
    replicates: int = REPLICATES,
    seed: int = SEED,
) -> dict[str, np.ndarray]:
    """Replicates of each figure of ``statistic`` over resamples of ``items``: figure name → the
    values it took (a resample on which ``statistic`` returns None, or lacks a figure, adds nothing
    to it). Feed each to :func:`percentile_interval` with the figure computed on ``items`` itself."""
    rng = generator(seed)
    draws: dict[str, list[float]] = {}
    for row in resample(rng, len(items), replicates):
        for key, value in (statistic([items[index] for index in row]) or {}).items():
            draws.setdefault(key, []).append(value)
    return {key: np.asarray(values, dtype=float) for key, values in draws.items()}
