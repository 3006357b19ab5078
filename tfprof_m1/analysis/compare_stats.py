"""Intervals for comparing runs, with the run as the unit. numpy only: no TensorFlow.

A comparison's figures are means over *runs* (a report, or one repeat of ``--repeats``) of means
over each run's steady, complete epochs. Their 95 % intervals come from a hierarchical bootstrap:
each replicate resamples the runs, then the steady epochs within each chosen run, then (for
per-phase figures) blocks of consecutive steps within each chosen epoch, so that the spread between
runs, between epochs and between steps all count, and slow drifts inside an epoch stay together.
Phases split from fused compute by the probe samples' proportions (call, forward, backward,
optimizer) are re-split in every replicate with proportions from resampled probe samples, so the
uncertainty of the split is in their intervals too. Replicates are drawn with a fixed seed per side
(a different one for each, so the two sides' draws are independent): a comparison is reproducible
from its reports.

With few units (3 runs, or 5 epochs of one run) a percentile interval is too narrow: the bootstrap
spreads like a normal interval with the variance divided by n. Every interval is therefore widened
around its point to the width of a t interval on the number of independent units (the runs, or one
run's epochs), :func:`small_sample_factor`; the coverage this gives is measured by
``benchmarks/compare_coverage.py``.

The verdict is computed on the quantity that is printed: the ratio of the mean steady epoch times,
other over reference. Its interval decides: "no clear difference" when it contains 1 or lies
entirely within ±2 % (:data:`EQUIVALENCE`); otherwise faster or slower.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tfprof_m1.analysis.blocks import block_length, group_medians
from tfprof_m1.analysis.bootstrap import REPLICATES, SEED, generator, percentile_interval, resample
from tfprof_m1.analysis.estimate import column_parts, is_probe_sample, sample_parts
from tfprof_m1.analysis.figures import recorded_unprofiled_ms
from tfprof_m1.base.phases import PROFILING, SPLIT, TRACE, UNPROFILED
from tfprof_m1.base.stats import resampled_medians
from tfprof_m1.report.interval import Interval
from tfprof_m1.report.model import EpochReport
from tfprof_m1.report.step_codec import as_step_kinds

__all__ = [
    "EQUIVALENCE",
    "MIN_UNITS",
    "PROFILER_PHASES",
    "RunValues",
    "clear_ratio",
    "difference_interval",
    "epoch_time_draws",
    "group_draws",
    "independent_units",
    "mean_interval",
    "point_values",
    "profiling_ms",
    "ratio_interval",
    "run_values",
    "small_sample_factor",
]

#: Ratios within ±2 % of 1 are "no clear difference" even when their interval excludes 1.
EQUIVALENCE = 0.02
#: Consecutive steps resampled together (a step's time drifts; neighbours are alike).
BLOCK_STEPS = 10
#: Fewer independent units than this on either side (runs, or steady epochs when there are fewer
#: runs): too little data for any conclusion. With 2, a t interval is 9× a bootstrap's width.
MIN_UNITS = 3
#: The profiler's own phases: taken out of every figure compare judges (the tool's cost, not the
#: workload's): its extra work on probe steps, the unprofiled reference stretches (counted as the
#: workload they ran) and the tf.profiler session.
PROFILER_PHASES = (PROFILING, UNPROFILED, TRACE)


@dataclass
class EpochValues:
    """What the bootstrap needs of one steady epoch."""

    #: The epoch's unprofiled equivalent (ms): its wall time less the profiler's cost, see
    #: :func:`~tfprof_m1.analysis.figures.unprofiled_equivalent_ms`. Every figure compare judges uses it.
    wall_ms: float
    examples: int
    #: Per-step ms of every step-level phase of the workload (rows: phases; columns: steps).
    phases: list[str]
    per_step: np.ndarray
    #: Each phase's epoch total minus the sum of its per-step values (time outside steps; all of an
    #: epoch-level phase such as ``other``).
    outside_ms: dict[str, float]
    #: Phases split from fused compute by proportions, and the steps whose compute was split.
    split_phases: list[str]
    split_steps: np.ndarray
    #: The workload's phases are measured on the profiled steps; scaled by this factor they divide
    #: the unprofiled-equivalent epoch (the unprofiled stretches divided like the profiled steps).
    scale: float = 1.0
    #: What profiling cost in this epoch (ms): measured wall time less ``wall_ms``.
    profiling_ms: float = 0.0


def epoch_values(epoch: EpochReport, cost_ratio: float | None = None) -> EpochValues:
    """The figures ``compare`` resamples from one epoch: its unprofiled-equivalent time, examples, and
    the workload's phases (the profiler's own, :data:`PROFILER_PHASES`, left out).

    Args:
        cost_ratio: the run's profiled/unprofiled per-step time (``steady.profiling_cost.ratio``),
            or None where it was not measured (then only the profiler's own phases are taken out).
    """
    ordered = [summary.phase for summary in epoch.phases if summary.phase not in PROFILER_PHASES]
    steps = [name for name in epoch.step_ms if name not in PROFILER_PHASES]
    phases = [name for name in ordered if name in steps] + [name for name in steps if name not in ordered]
    rows = [np.asarray(epoch.step_ms[name], dtype=float) for name in phases]
    per_step = np.stack(rows) if rows else np.zeros((0, len(epoch.step_kinds)))
    totals = {summary.phase: summary.total_ms for summary in epoch.phases}
    outside = {
        name: total - (float(per_step[phases.index(name)].sum()) if name in phases else 0.0)
        for name, total in totals.items()
        if name not in PROFILER_PHASES
    }
    split = [name for name in (epoch.proportions or {}) if name in phases]
    split_steps = ~as_step_kinds(epoch.step_kinds).mask(SPLIT)  # codes: no string a step
    equivalent = recorded_unprofiled_ms(epoch, cost_ratio)
    measured = sum(total for name, total in totals.items() if name not in PROFILER_PHASES)
    scale = equivalent / measured if measured > 0 else 1.0
    return EpochValues(
        equivalent,
        epoch.examples,
        phases,
        per_step,
        outside,
        split,
        split_steps,
        scale,
        epoch.wall_ms - equivalent,
    )


@dataclass
class RunValues:
    """One run's steady epochs and its probe samples' part values (rows: samples; columns: parts)."""

    epochs: list[EpochValues]
    parts: list[str]
    part_values: np.ndarray


def run_values(epochs: Sequence[EpochReport], cost_ratio: float | None = None) -> RunValues:
    """One run's epoch values and its probe samples' part times, for the hierarchical bootstrap.

    The parts come from the samples by the estimate's own rule
    (:func:`~tfprof_m1.analysis.estimate.sample_parts`: under tf.distribute, the all-reduce apart
    from the optimizer), so compare's re-split and the report's split agree.
    """
    values = [epoch_values(epoch, cost_ratio) for epoch in epochs]
    split = values[0].split_phases if values else []
    measured = column_parts([epoch.samples for epoch in epochs])
    if measured is None:  # samples of different variants: one by one
        samples = [sample for epoch in epochs for sample in epoch.samples if is_probe_sample(sample)]
        measured = {part: np.asarray(column, dtype=float) for part, column in sample_parts(samples).items()}
    parts = [part for part in split if part in measured]
    rows = np.stack([measured[part] for part in parts], axis=1) if parts else np.zeros((0, 0))
    return RunValues(values, parts, rows.reshape(len(rows), len(parts)))


def _proportion_draws(run: RunValues, rng: np.random.Generator, replicates: int) -> np.ndarray | None:
    """(replicates × parts) shares of compute from resampled probe samples (negative medians count as 0)."""
    if not run.parts or len(run.part_values) < 2:
        return None
    units = group_medians(run.part_values)  # a long run: medians of consecutive groups of samples
    picks = resample(rng, len(units), replicates)
    # (replicates × parts): each part's median in each resample of the units, np.median's floats
    medians = resampled_medians(units, picks)
    medians = np.clip(medians, 0.0, None)
    totals = medians.sum(axis=1, keepdims=True)
    return np.divide(medians, totals, out=np.full_like(medians, np.nan), where=totals > 0)


def _epoch_draws(
    epoch: EpochValues,
    wanted: Sequence[str],
    shares: np.ndarray | None,
    parts: Sequence[str],
    rng: np.random.Generator,
    replicates: int,
) -> np.ndarray:
    """(replicates × wanted phases) epoch totals with the epoch's steps resampled in blocks."""
    steps = epoch.per_step.shape[1]
    out = np.zeros((replicates, len(wanted)))
    if steps:
        length = block_length(steps, BLOCK_STEPS)  # longer blocks past MAX_EPOCH_BLOCKS of them
        starts = np.arange(0, steps, length)
        lengths = np.minimum(length, steps - starts)
        sums = (
            np.add.reduceat(epoch.per_step, starts, axis=1)
            if epoch.per_step.size
            else np.zeros((0, len(starts)))
        )
        picks = resample(rng, len(starts), replicates)
        counts = lengths[picks].sum(axis=1)
        resplit = shares is not None and bool(epoch.split_phases)
        # (phases × replicates) per-step means, of the rows read below: a phase re-split from the
        # shares' draws is not resampled itself (each row's sums are the same floats either way)
        used = [
            row
            for row, name in enumerate(epoch.phases)
            if name in wanted and not (resplit and name in epoch.split_phases and name in parts)
        ]
        means = np.zeros((len(epoch.phases), replicates))
        means[used] = sums[used][:, picks].sum(axis=2) / counts
        if shares is not None and resplit:
            split_rows = [epoch.phases.index(name) for name in epoch.split_phases]
            compute = epoch.per_step[split_rows] * epoch.split_steps  # the fused compute that was divided
            compute_sums = np.add.reduceat(compute.sum(axis=0), starts)
            compute_means = compute_sums[picks].sum(axis=1) / counts
            # parts measured directly (split steps); none (all zeros) on a run of fused and probe steps
            direct_means = np.zeros((len(split_rows), 1))
            if not epoch.split_steps.all():
                direct = epoch.per_step[split_rows] * ~epoch.split_steps
                direct_means = np.add.reduceat(direct, starts, axis=1)[:, picks].sum(axis=2) / counts
            for row, name in zip(split_rows, epoch.split_phases):
                if name in parts:
                    share = shares[:, list(parts).index(name)]
                    means[row] = (
                        compute_means * np.nan_to_num(share) + direct_means[epoch.split_phases.index(name)]
                    )
        for column, name in enumerate(wanted):
            if name in epoch.phases:
                out[:, column] = means[epoch.phases.index(name)] * steps
    for column, name in enumerate(wanted):
        out[:, column] += epoch.outside_ms.get(name, 0.0)
    return out * epoch.scale


@dataclass
class GroupDraws:
    """Bootstrap replicates of one side's figures (each a mean over runs of means over epochs)."""

    epoch_ms: np.ndarray
    example_us: np.ndarray
    phase_ms: np.ndarray  # (replicates × phases), ms per epoch
    phase_us: np.ndarray  # (replicates × phases), µs per example


def group_draws(
    runs: Sequence[RunValues], phases: Sequence[str], replicates: int = REPLICATES, seed: int = SEED
) -> GroupDraws:
    """Bootstrap draws of a group of runs: runs, then epochs, then blocks of steps, resampled."""
    rng = generator(seed)
    per_run = []
    for run in runs:
        shares = _proportion_draws(run, rng, replicates)
        epoch_stats = []
        for epoch in run.epochs:
            phase_ms = _epoch_draws(epoch, phases, shares, run.parts, rng, replicates)
            per_example = 1000.0 / max(epoch.examples, 1)
            epoch_stats.append((epoch.wall_ms, epoch.wall_ms * per_example, phase_ms, phase_ms * per_example))
        per_run.append(epoch_stats)
    sums = [np.zeros(replicates), np.zeros(replicates), np.zeros((replicates, len(phases)))]
    sums.append(np.zeros((replicates, len(phases))))
    run_picks = resample(rng, len(per_run), replicates)
    rows = np.arange(replicates)
    for slot in range(len(per_run)):
        for run_index, epochs in enumerate(per_run):
            chosen = run_picks[:, slot] == run_index
            if not chosen.any():
                continue
            picks = resample(rng, len(epochs), replicates)
            for figure in range(2):  # scalars per epoch: epoch ms, µs per example
                values = np.array([stat[figure] for stat in epochs])
                sums[figure][chosen] += values[picks].mean(axis=1)[chosen]
            for figure in (2, 3):  # (epochs × replicates × phases)
                stacked = np.stack([stat[figure] for stat in epochs])
                sums[figure][chosen] += stacked[picks, rows[:, None]].mean(axis=1)[chosen]
    count = len(per_run)
    return GroupDraws(*(total / count for total in sums))


@dataclass
class Points:
    """A side's figures themselves: means over runs of means over steady epochs."""

    epoch_ms: float
    example_us: float
    #: Per phase (in the order asked): ms per epoch, and µs per example.
    phase_ms: np.ndarray
    phase_us: np.ndarray


def point_values(runs: Sequence[RunValues], phases: Sequence[str]) -> Points:
    """The figures themselves: mean over runs of means over epochs (the unprofiled-equivalent epoch
    in ms, µs per example, each phase's ms per epoch and µs per example)."""
    epoch_ms = np.mean([np.mean([e.wall_ms for e in run.epochs]) for run in runs])
    example_us = np.mean(
        [np.mean([e.wall_ms * 1000.0 / max(e.examples, 1) for e in run.epochs]) for run in runs]
    )
    totals, per_example = [], []
    for run in runs:
        per_epoch = []
        for epoch in run.epochs:
            row = []
            for name in phases:
                inside = (
                    float(epoch.per_step[epoch.phases.index(name)].sum()) if name in epoch.phases else 0.0
                )
                row.append((inside + epoch.outside_ms.get(name, 0.0)) * epoch.scale)
            per_epoch.append(row)
        per_epoch_array = np.array(per_epoch, dtype=float).reshape(len(run.epochs), len(phases))
        examples = np.array([max(e.examples, 1) for e in run.epochs], dtype=float)[:, None]
        totals.append(per_epoch_array.mean(axis=0))
        per_example.append((per_epoch_array * 1000.0 / examples).mean(axis=0))
    return Points(float(epoch_ms), float(example_us), np.mean(totals, axis=0), np.mean(per_example, axis=0))


def profiling_ms(runs: Sequence[RunValues]) -> float:
    """What profiling cost a steady epoch, mean over runs of means over epochs (ms): taken out of
    every figure compare judges."""
    return float(np.mean([np.mean([e.profiling_ms for e in run.epochs]) for run in runs]))


#: Student's t 0.975 quantiles for 1-10 degrees of freedom; beyond, a Cornish-Fisher expansion.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)
_Z975 = 1.959964


def small_sample_factor(units: int) -> float:
    """How much wider than a bootstrap percentile interval a 95 % interval must be when it rests on
    ``units`` independent units (runs, or one run's epochs): the bootstrap's spread is that of a
    normal interval with the variance divided by n instead of n − 1; a t interval with n − 1
    degrees of freedom corrects both. With 5 units it is 1.58× wider; with 30, 1.06×.
    (Measured: benchmarks/compare_coverage.py; docs/comparing.md.)"""
    if units < 2:
        return 1.0
    df = units - 1
    t = _T975[df - 1] if df <= len(_T975) else _Z975 + (_Z975**3 + _Z975) / (4 * df)
    return t / _Z975 * math.sqrt(units / df)


def _widened(interval: Interval, factor: float) -> Interval:
    """``interval`` widened around its point by ``factor`` on each side."""
    point = interval.point
    return Interval(point, point - factor * (point - interval.low), point + factor * (interval.high - point))


def ratio_interval(
    reference_point: float, other_point: float, reference: np.ndarray, other: np.ndarray, units: int = 0
) -> Interval:
    """other/reference with its interval: percentile bounds of the replicates' log ratio around the
    point, widened for ``units`` independent units per side (see :func:`small_sample_factor`)."""
    point = other_point / reference_point
    logs = _widened(
        percentile_interval(math.log(point), np.log(other / reference)), small_sample_factor(units)
    )
    return Interval(point, math.exp(logs.low), math.exp(logs.high))


def difference_interval(
    reference_point: float, other_point: float, reference: np.ndarray, other: np.ndarray, units: int = 0
) -> Interval:
    """other − reference with its interval, widened as :func:`ratio_interval`'s."""
    return _widened(
        percentile_interval(other_point - reference_point, other - reference), small_sample_factor(units)
    )


def mean_interval(point: float, draws: np.ndarray, units: int) -> Interval:
    """A positive mean (an epoch time) with its interval, widened in log space as :func:`ratio_interval`'s."""
    logs = _widened(percentile_interval(math.log(point), np.log(draws)), small_sample_factor(units))
    return Interval(point, math.exp(logs.low), math.exp(logs.high))


def independent_units(epochs_per_run: Sequence[int]) -> int:
    """What the spread rests on, given each run's number of steady epochs: the runs when there are
    :data:`MIN_UNITS` or more, else the steady epochs (fewer runs say too little about the spread
    between runs to stand alone)."""
    return len(epochs_per_run) if len(epochs_per_run) >= MIN_UNITS else sum(epochs_per_run)


def clear_ratio(interval: Interval) -> bool:
    """A ratio shows a clear difference when its interval excludes 1 and leaves the ±2 % band."""
    return not interval.contains(1.0) and not (
        interval.low >= 1 - EQUIVALENCE and interval.high <= 1 + EQUIVALENCE
    )


def epoch_time_draws(
    runs: Sequence[Sequence[float]], replicates: int = REPLICATES, seed: int = SEED
) -> np.ndarray:
    """Replicates of the mean over runs of mean epoch times (for fit, timed per epoch only)."""
    rng = generator(seed)
    total = np.zeros(replicates)
    run_picks = resample(rng, len(runs), replicates)
    for slot in range(len(runs)):
        for run_index, times in enumerate(runs):
            chosen = run_picks[:, slot] == run_index
            values = np.asarray(times, dtype=float)
            picks = resample(rng, len(values), replicates)
            total[chosen] += values[picks].mean(axis=1)[chosen]
    return total / len(runs)
