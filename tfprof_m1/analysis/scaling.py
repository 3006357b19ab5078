"""Scaling efficiency: a distributed run's steady throughput against one replica's, with its interval.

efficiency = examples/s on N replicas / (N × examples/s on one replica), from the steady epochs of
each run (the same model and per-replica batch). The interval resamples each run's steady epochs
(compare_stats' bootstrap) and is widened for the few epochs a run has; with one steady epoch on a
side there is no interval (one value shows no spread; run 3 epochs or more).
"""

from __future__ import annotations

from tfprof_m1.analysis.compare_stats import epoch_time_draws, independent_units, ratio_interval
from tfprof_m1.analysis.steady import recorded_steady_epochs
from tfprof_m1.report.interval import Interval
from tfprof_m1.report.model import ModelRun, Scaling

__all__ = ["efficiency_interval", "replicas_text", "scaling_efficiency", "steady_throughputs"]


def steady_throughputs(run: ModelRun) -> list[float]:
    """Examples/s of each steady epoch (:func:`~tfprof_m1.analysis.steady.recorded_steady_epochs`)."""
    return [epoch.examples_per_s for epoch in recorded_steady_epochs(run) if epoch.examples_per_s > 0]


def scaling_efficiency(
    epoch_examples_per_s: list[float],
    baseline_epoch_examples_per_s: list[float],
    replicas: int,
    baseline_step_median_ms: float | None = None,
) -> Scaling | None:
    """Scaling of a distributed run from the examples/s of its steady epochs (a merged multi-worker
    view: the workers' summed epoch by epoch) and of the single-replica run's steady epochs; None
    without steady epochs on both sides."""
    single = list(baseline_epoch_examples_per_s)
    if not epoch_examples_per_s or not single or replicas < 1:
        return None
    point = sum(epoch_examples_per_s) / len(epoch_examples_per_s)
    base = sum(single) / len(single)
    efficiency, interval = point / (replicas * base), None
    if len(epoch_examples_per_s) > 1 and len(single) > 1:
        units = min(independent_units([len(epoch_examples_per_s)]), independent_units([len(single)]))
        drawn = ratio_interval(
            replicas * base,
            point,
            replicas * epoch_time_draws([single]),
            epoch_time_draws([epoch_examples_per_s], seed=1),
            units,
        )
        interval = Interval(efficiency, min(drawn.low, efficiency), max(drawn.high, efficiency))
    return Scaling(
        replicas=replicas,
        examples_per_s=point,
        baseline_examples_per_s=base,
        efficiency=efficiency,
        efficiency_interval=interval,
        baseline_epoch_examples_per_s=single,
        baseline_step_median_ms=baseline_step_median_ms,
    )


def efficiency_interval(scaling: Scaling) -> str:
    """The efficiency's interval as text, or why there is none."""
    interval = scaling.efficiency_interval
    if interval is None:
        return "(no interval: one steady epoch on a side; run 3 epochs or more)"
    return f"[95 % CI {interval.low * 100:.1f} %–{interval.high * 100:.1f} %]"


def replicas_text(count: int) -> str:
    """``1 replica``, ``2 replicas``."""
    return f"{count} replica{'s' if count != 1 else ''}"
