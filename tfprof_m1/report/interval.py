"""The one record of an estimate with its 95 % interval, used by every figure that has one.

A report's part shares, profiling-cost ratio and scaling efficiency, and compare's and the sweep's
figures are all :class:`Interval`\\ s; in JSON an object ``{"point": ..., "low": ..., "high": ...}``
(schema 7; older reports' flat ``x``/``x_low``/``x_high`` fields are upgraded on load).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Interval"]


@dataclass(frozen=True)
class Interval:
    """A point estimate with its 95 % interval, all three in the point's unit (ms, a share, a ratio).

    How the bounds were found is the producer's to say: a percentile bootstrap
    (:func:`~tfprof_m1.analysis.bootstrap.percentile_interval`), widened for few units in compare
    (:func:`~tfprof_m1.analysis.compare_stats.ratio_interval`). ``low <= high``; the point usually
    lies between them.
    """

    point: float
    low: float
    high: float

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies within the interval, bounds included."""
        return self.low <= value <= self.high
