"""Estimates from the raw samples, with 95 % bootstrap intervals. No TensorFlow.

- **Parts of a step** from probe samples (see steps.py): per sampled step, the device-inclusive
  time of each prefix call; call = empty call, forward = forward-only − empty, backward =
  forward+gradients − forward-only, optimizer = full step − forward+gradients (under tf.distribute,
  all-reduce = forward+gradients+all-reduce − forward+gradients, and the optimizer is the full step
  less that). Each part is the
  median of its per-sample (paired) differences, so slow drifts cancel within a sample and one
  slow sample does not tilt the estimate.
- **Profiling cost end to end**: per-step time of blocks of profiled steps against per-step time
  of the unprofiled stretches of the same epochs.
- **Execution mode**: whether calls returned before the device work was done.

Intervals resample the samples (or blocks and stretches) with replacement, 1,000 times, with a
fixed seed so a report is reproducible from its raw values: the one engine,
:mod:`~tfprof_m1.analysis.bootstrap`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from statistics import median

import numpy as np

from tfprof_m1.analysis.blocks import group_medians, summed_blocks
from tfprof_m1.analysis.bootstrap import REPLICATES, generator, percentile_interval, resample
from tfprof_m1.base.phases import (
    ALL_REDUCE,
    BACKWARD,
    CALL,
    EMPTY_CALL,
    FORWARD,
    FORWARD_BACKWARD,
    FORWARD_BACKWARD_ALL_REDUCE,
    FORWARD_ONLY,
    FULL_STEP,
    OPTIMIZER,
    PROBE_VARIANTS,
)
from tfprof_m1.base.stats import resampled_medians
from tfprof_m1.collection.profiler import FenceCheckSample
from tfprof_m1.report.interval import Interval
from tfprof_m1.report.model import FenceCheck, ProfilingCost
from tfprof_m1.report.step_codec import ProbeSamples, sample_columns

__all__ = [
    "FEW_STRETCHES",
    "MIN_FENCE_CHECKS",
    "classify_execution",
    "column_parts",
    "estimate_cost",
    "estimate_parts",
    "fence_check",
    "full_step_times",
    "is_probe_sample",
    "part_medians",
    "proportions",
    "sample_parts",
]

#: A part's (prefix, minus) variants: part = variant[prefix] − variant[minus].
PART_VARIANTS: dict[str, tuple[str, str | None]] = {
    CALL: (EMPTY_CALL, None),
    FORWARD: (FORWARD_ONLY, EMPTY_CALL),
    BACKWARD: (FORWARD_BACKWARD, FORWARD_ONLY),
    OPTIMIZER: (FULL_STEP, FORWARD_BACKWARD),
}
#: The same under tf.distribute, where a fifth variant stops after the gradients' all-reduce.
DISTRIBUTED_PART_VARIANTS: dict[str, tuple[str, str | None]] = {
    CALL: (EMPTY_CALL, None),
    FORWARD: (FORWARD_ONLY, EMPTY_CALL),
    BACKWARD: (FORWARD_BACKWARD, FORWARD_ONLY),
    ALL_REDUCE: (FORWARD_BACKWARD_ALL_REDUCE, FORWARD_BACKWARD),
    OPTIMIZER: (FULL_STEP, FORWARD_BACKWARD_ALL_REDUCE),
}
#: Device wait below this share of a sampled full step: the calls behaved synchronously.
SYNCHRONOUS_WAIT_SHARE = 0.05
#: A coverage-fence leftover (median over samples) is flagged above this many ms and above this
#: share of a sampled full step. On a synchronous CPU, where nothing can be left queued, the first
#: call after a step still measured 0.1-0.3 ms slower than the next (caches, waking threads: 1-3 %
#: of a step); a fence that misses real work leaves far more.
FENCE_LEFTOVER_MS = 0.1
FENCE_LEFTOVER_SHARE = 0.05
#: Fewer coverage checks than this flag a fence only when every one of them is above the bounds (the
#: budget's short runs pool one or two probe steps; one 1.4 ms moment of a shared host was flagged).
MIN_FENCE_CHECKS = 3

Sample = Mapping[str, Sequence[float]]


def is_probe_sample(sample: Mapping[str, object]) -> bool:
    """Whether ``sample`` has every probe variant (a probe step's sample, not a split step's)."""
    return all(variant in sample for variant in PROBE_VARIANTS)


def part_variants(samples: Sequence[Sample]) -> dict[str, tuple[str, str | None]]:
    """The parts these samples measure, in order: with the all-reduce when every sample has it."""
    distributed = bool(samples) and all(FORWARD_BACKWARD_ALL_REDUCE in sample for sample in samples)
    return DISTRIBUTED_PART_VARIANTS if distributed else PART_VARIANTS


def _part_values(samples: Sequence[Sample], part: str, index: int | None) -> list[float]:
    """Per-sample value of ``part``: device-inclusive (index None), host (0) or device wait (1)."""
    prefix, minus = part_variants(samples)[part]

    def value(sample: Sample, variant: str) -> float:
        host, wait = sample[variant][0], sample[variant][1]
        return host + wait if index is None else (host, wait)[index]

    return [value(s, prefix) - (value(s, minus) if minus else 0.0) for s in samples]


def sample_parts(samples: Sequence[Sample], index: int | None = None) -> dict[str, list[float]]:
    """The one rule turning probe samples into parts: each part's per-sample (paired) value, in
    order, device-inclusive (index None), host (0) or device wait (1). Under tf.distribute (every
    sample has the all-reduce variant) the all-reduce is a part of its own and the optimizer is the
    full step less it. Used by :func:`estimate_parts` and by compare's bootstrap alike."""
    if not samples:
        return {}
    return {part: _part_values(samples, part, index) for part in part_variants(samples)}


def column_parts(
    samples: Sequence[Sequence[Sample]], index: int | None = None
) -> dict[str, np.ndarray] | None:
    """:func:`sample_parts` of groups of probe samples (an epoch's each) that can be held as columns
    (:func:`~tfprof_m1.report.step_codec.sample_columns`; a report read from a file holds them so),
    pooled in order: each part one array, computed for every sample at once (the same floats).
    None unless every group has the same probe variants (then :func:`sample_parts` takes the
    samples one by one)."""
    columns = [sample_columns(group) for group in samples if len(group)]
    held = [c for c in columns if c is not None]
    if not held or len(held) < len(columns) or any(c.keys() != held[0].keys() for c in held):
        return None
    if not all(variant in held[0] for variant in PROBE_VARIANTS):
        return None  # split steps' samples (no probe variants), for the per-sample rule

    def value(variant: str) -> np.ndarray:
        return np.concatenate(
            [c[variant][0] + c[variant][1] if index is None else c[variant][index] for c in held]
        )

    distributed = FORWARD_BACKWARD_ALL_REDUCE in held[0]
    variants = DISTRIBUTED_PART_VARIANTS if distributed else PART_VARIANTS
    return {
        part: value(prefix) - value(minus) if minus else value(prefix) - 0.0
        for part, (prefix, minus) in variants.items()
    }


def part_medians(samples: Sequence[Sample], index: int | None = None) -> dict[str, float]:
    """Median per-sample value of every part (device-inclusive, host or wait); may be negative.
    Probe samples that can be held as columns are taken a whole column at a time (the same floats)."""
    columns = column_parts([samples], index) if len(samples) else None
    if columns is not None:
        return _medians(columns)
    return {part: median(values) for part, values in sample_parts(samples, index).items()}


def math_parts(parts: Sequence[str]) -> list[str]:
    """The model's math among ``parts``: everything but the call."""
    return [part for part in parts if part != CALL]


def proportions(parts_ms: Mapping[str, float], names: Sequence[str] | None = None) -> dict[str, float] | None:
    """Shares of ``names`` (default: every part in ``parts_ms``) in ``parts_ms``; a negative
    estimate (noise around zero) counts as 0."""
    names = list(parts_ms) if names is None else names
    clipped = {name: max(0.0, parts_ms.get(name, 0.0)) for name in names}
    total = sum(clipped.values())
    return {name: value / total for name, value in clipped.items()} if total > 0 else None


@dataclass
class PartsEstimate:
    """Call, forward, backward and optimizer of one step, from probe samples (ms per step)."""

    samples: int
    total_ms: dict[str, float]
    host_ms: dict[str, float]
    wait_ms: dict[str, float]
    #: Shares of the step's compute (call included), with 95 % intervals (a single sample: no spread,
    #: low = high = point).
    shares: dict[str, Interval]
    #: Shares of forward+backward+optimizer only (the model's math, call left out), with intervals.
    math_shares: dict[str, Interval]


def estimate_parts(samples: Sequence[Sample], replicates: int = REPLICATES) -> PartsEstimate | None:
    """The parts of a step from probe samples (those without every variant are skipped).

    Point figures are medians of every sample; past :data:`~tfprof_m1.analysis.blocks.MAX_BLOCKS`
    samples the intervals resample medians of consecutive groups of them (a long run's cost bound).
    """
    probes: Sequence[Sample]
    if isinstance(samples, ProbeSamples) and is_probe_sample(samples.columns):
        probes = samples  # columns of the probe variants: every sample is a probe sample
    else:
        probes = [sample for sample in samples if is_probe_sample(sample)]
    if not probes:
        return None
    columns = [column_parts([probes], index) for index in (None, 0, 1)]
    if columns[0] is None:  # samples of different variants: one by one
        columns = [
            {part: np.asarray(v, dtype=float) for part, v in sample_parts(probes, index).items()}
            for index in (None, 0, 1)
        ]
    measured, host, wait = (column for column in columns if column is not None)
    totals = _medians(measured)
    parts = list(totals)
    shares = proportions(totals)
    math = proportions(totals, math_parts(parts))
    if shares is None or math is None:
        return None

    draws: dict[str, np.ndarray] = {}
    if len(probes) > 1:
        rows = np.stack([measured[part] for part in parts], axis=1)  # (samples × parts)
        # past MAX_BLOCKS samples (a long run), the medians of consecutive groups of them are resampled
        draws = _share_draws(group_medians(rows), parts, replicates)
    point = {**shares, **{f"math:{name}": value for name, value in math.items()}}
    intervals = {
        key: _honest(value, percentile_interval(value, draws[key]) if key in draws else None, len(probes))
        for key, value in point.items()
    }
    return PartsEstimate(
        samples=len(probes),
        total_ms=totals,
        host_ms=_medians(host),
        wait_ms=_medians(wait),
        shares={name: intervals[name] for name in parts},
        math_shares={name: intervals[f"math:{name}"] for name in math_parts(parts)},
    )


def _medians(parts: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Each part's median (numpy's: the mean of the two middle values, as :func:`statistics.median`)."""
    return {part: float(np.median(values)) for part, values in parts.items()}


def _share_draws(units: np.ndarray, parts: Sequence[str], replicates: int) -> dict[str, np.ndarray]:
    """Bootstrap replicates of the parts' shares of the step (``part``) and of the math
    (``math:part``) from ``units`` (rows: samples or group medians; columns: ``parts``): each
    replicate's medians of resampled rows, clipped at 0 (:func:`proportions`' rule). A replicate whose
    step or math total is not positive adds nothing, as in :func:`~tfprof_m1.analysis.bootstrap.bootstrap`.
    One numpy pass over (replicates × rows × parts); the same draws (seed, order of sums) as the
    per-replicate statistic it replaces."""
    picks = resample(generator(), len(units), replicates)
    # (replicates × parts): each part's median in each resample of the rows
    medians = resampled_medians(units, picks)
    clipped = np.where(medians > 0, medians, 0.0)  # max(0.0, median): -0.0 and NaN count as 0.0
    math = [column for column, part in enumerate(parts) if part != CALL]
    total, math_total = np.zeros(replicates), np.zeros(replicates)
    for column in range(len(parts)):  # added in order, as Python's sum() over the parts
        total = total + clipped[:, column]
        if column in math:
            math_total = math_total + clipped[:, column]
    kept = (total > 0) & (math_total > 0)
    if not kept.any():
        return {}
    draws = {part: clipped[kept, column] / total[kept] for column, part in enumerate(parts)}
    draws.update({f"math:{parts[column]}": clipped[kept, column] / math_total[kept] for column in math})
    return draws


#: Fewer probe samples than this: a percentile bootstrap is too narrow (a budget's short run pools few).
FEW_SAMPLES = 10


def _honest(point: float, interval: Interval | None, samples: int) -> Interval:
    """A share's interval as wide as its samples allow: one sample says nothing of the spread (0-1),
    and under :data:`FEW_SAMPLES` the bootstrap's is widened to a t interval's on their number."""
    if samples < 2 or interval is None:
        return Interval(point, 0.0, 1.0)
    if samples >= FEW_SAMPLES:
        return interval
    from tfprof_m1.analysis.compare_stats import small_sample_factor  # it imports this module

    factor = small_sample_factor(samples)
    return Interval(
        point,
        max(0.0, point - factor * (point - interval.low)),
        min(1.0, point + factor * (interval.high - point)),
    )


# -- profiling cost ---------------------------------------------------------------------------
def estimate_cost(
    blocks: Sequence[tuple[int, float]],
    stretches: Sequence[tuple[int, float]],
    unprofiled_epoch_ms: Callable[[float], float],
    replicates: int = REPLICATES,
) -> ProfilingCost | None:
    """The profiling cost: ratio of mean per-step times from (steps, ms) blocks of profiled steps
    and unprofiled stretches, with its 95 % bootstrap interval (blocks and stretches resampled
    independently; under :data:`FEW_STRETCHES` stretches the reference's noise is drawn from the
    profiled units' spread: :func:`_few_stretches_references`), or None without a block or a
    stretch of one step or more.

    Past :data:`~tfprof_m1.analysis.blocks.MAX_BLOCKS` blocks, consecutive ones are added up first,
    and so are the stretches past as many stretches: the ratio of sums (the point) is that of every
    block and stretch, and the bootstrap's cost stops growing with the run.

    Args:
        unprofiled_epoch_ms: the steady epoch as it would run unprofiled (ms), given the ratio
            (:func:`~tfprof_m1.analysis.figures.unprofiled_equivalent_ms` over the epochs).
    """
    blocks = summed_blocks([b for b in blocks if b[0] > 0])
    measured = [s for s in stretches if s[0] > 0]
    stretches = summed_blocks(measured)
    if not blocks or not stretches:
        return None

    def per_step(items: Sequence[tuple[int, float]]) -> float:
        return sum(ms for _, ms in items) / sum(steps for steps, _ in items)

    profiled, unprofiled = per_step(blocks), per_step(stretches)
    rng = generator()
    block_steps, block_ms = np.array(blocks, dtype=float).T
    stretch_steps, stretch_ms = np.array(stretches, dtype=float).T
    picked_blocks = resample(rng, len(blocks), replicates)
    picked_stretches = resample(rng, len(stretches), replicates)  # drawn on either path: one stream
    if len(stretches) < FEW_STRETCHES:
        references = _few_stretches_references(
            unprofiled, block_steps, block_ms, stretch_steps, stretch_ms, rng, replicates
        )
    else:
        references = _resampled_sums(stretch_ms, picked_stretches) / _step_counts(
            stretch_steps, picked_stretches
        )
    profiled_draws = _resampled_sums(block_ms, picked_blocks) / _step_counts(block_steps, picked_blocks)
    ratios = profiled_draws / references
    return ProfilingCost(
        profiled,
        unprofiled,
        percentile_interval(profiled / unprofiled, ratios),
        len(blocks),
        len(measured),  # the stretches the run measured, however many units they were resampled as
        unprofiled_epoch_ms(profiled / unprofiled),
    )


#: Under this many unprofiled stretches, resampling them says too little of the reference's noise
#: (one stretch: nothing), and :func:`estimate_cost` draws it from the profiled units' spread instead.
FEW_STRETCHES = 10


def _few_stretches_references(
    unprofiled: float,
    block_steps: np.ndarray,
    block_ms: np.ndarray,
    stretch_steps: np.ndarray,
    stretch_ms: np.ndarray,
    rng: np.random.Generator,
    replicates: int,
) -> np.ndarray:
    """Replicates of the reference's per-step time (ms) when it rests on fewer than
    :data:`FEW_STRETCHES` stretches.

    Resampling k stretches gives a spread of their mean that is too narrow for small k, and none
    for one stretch: every replicate draws the same value, so the cost's interval held only the
    profiled side's noise (a trial's run of 5 × 60 steps stated 0.948× [0.931–0.982] on one stretch).
    A stretch's per-step time varies as a profiled unit's of the same length does (the same fused
    steps on the same input pipeline, without the timing), so its relative spread is taken from the
    profiled units: 1.4826 × the median absolute deviation of the units' per-step times over their
    median, each unit weighing its steps (robust: the few short units holding a probe step do not
    set it), scaled from the units' mean
    length to the stretches' (√ of the ratio), and at least the stretches' own relative standard
    deviation where there are two or more; the reference's spread is that over √k. (Units differ by
    more than their steps' independent noise, drift between epochs included, so a unit's deviation
    is not scaled down to one step's.) Its replicates are log-normal about its point with that
    spread (a per-step time stays positive, and a slower and a faster reference are equally likely
    by ratio): a parametric bootstrap of the reference, independent of the profiled side's
    resampling.
    """
    per_unit = block_ms / block_steps
    middle = _weighted_median(per_unit, block_steps)
    spread = 0.0
    if middle > 0 and len(per_unit) >= 2:
        mad = _weighted_median(np.abs(per_unit / middle - 1.0), block_steps)
        spread = 1.4826 * mad * float(np.sqrt(block_steps.mean() / stretch_steps.mean()))
    if len(stretch_ms) >= 2:
        own = stretch_ms / stretch_steps
        spread = max(spread, float(np.std(own, ddof=1) / np.mean(own)))
    return unprofiled * np.exp(rng.standard_normal(replicates) * spread / np.sqrt(len(stretch_ms)))


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value at half the total weight (the mean of the two either side where half falls between
    them, as the median of an even count): a unit counts by its steps, so a one-step unit (a probe
    step between two fences) weighs what one step does."""
    order = np.argsort(values, kind="stable")
    ordered, cumulative = values[order], np.cumsum(weights[order])
    half = cumulative[-1] / 2.0
    at = int(np.searchsorted(cumulative, half))
    if cumulative[at] == half and at + 1 < len(ordered):
        return float((ordered[at] + ordered[at + 1]) / 2.0)
    return float(ordered[at])


def _resampled_sums(values: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """``values[picks].sum(axis=1)``, the same floats: ``np.take`` gathers a (resamples × draws) array
    in about half the time of fancy indexing."""
    return np.take(values, picks).sum(axis=1)


def _step_counts(steps: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """Steps in each resample (a row of ``picks``): ``steps[picks].sum(axis=1)``, and without the
    gather when every item has the same whole number of steps (stretches do): sums of whole numbers
    are exact in any order, so the same floats."""
    if len(steps) and (steps == steps[0]).all() and steps[0] == round(steps[0]):
        return np.full(len(picks), steps[0] * picks.shape[1])
    return _resampled_sums(steps, picks)


# -- execution mode and fence coverage ----------------------------------------------------------
def classify_execution(
    full_step_host_ms: Sequence[float], full_step_wait_ms: Sequence[float]
) -> tuple[str, float] | None:
    """``("asynchronous" | "synchronous", wait share)`` from sampled full steps' host and wait times.

    A call that returns before its work is done leaves a device wait after it; when the wait is
    under 5 % of the step, the calls behaved synchronously (the CPU's default executor, or a GPU
    backend that blocks in its calls, as some tensorflow-metal builds are reported to).
    """
    if not len(full_step_host_ms):
        return None
    host, wait = median(full_step_host_ms), median(full_step_wait_ms)
    share = wait / (host + wait) if host + wait > 0 else 0.0
    return ("synchronous" if share < SYNCHRONOUS_WAIT_SHARE else "asynchronous"), share


def full_step_times(samples: Sequence[Sample]) -> tuple[np.ndarray, np.ndarray]:
    """Host and device-wait ms of the full step in each of ``samples`` that timed one, in order:
    two arrays of equal length (whole columns when the samples are held so)."""
    columns = sample_columns(samples)
    if columns is not None:
        return columns.get(FULL_STEP, (np.zeros(0), np.zeros(0)))
    full = [sample[FULL_STEP] for sample in samples if FULL_STEP in sample]
    return np.array([host for host, _ in full], dtype=float), np.array(
        [wait for _, wait in full], dtype=float
    )


def fence_check(
    checks: Sequence[FenceCheckSample], samples: Sequence[Sample], fence: str, can_queue: bool = True
) -> FenceCheck | None:
    """Summarise the coverage fence (``fence``)'s leftover waits ``checks``; flag one that could move
    a share by a point (against the median full step of the probe ``samples``): the median leftover
    above :data:`FENCE_LEFTOVER_MS` and :data:`FENCE_LEFTOVER_SHARE` of the step, over at least
    :data:`MIN_FENCE_CHECKS` checks (fewer are not judged: one or two checks are one noisy moment of
    a shared host, and a trial's synchronous CPU run was flagged on one).

    ``can_queue`` False: the run's calls returned with their work done (a CPU under the synchronous
    executor), so no fence can have left work queued and the leftover is the host's own noise (0.1-0.3
    ms on a busy 2-core host, the first call after a step slower than the next): shown, never
    flagged (``judged`` False). Long CPU runs were flagged on most runs by that noise alone."""
    leftovers = [check.leftover_ms for check in checks]
    if not leftovers:
        return None
    middle = median(leftovers)
    host, wait = full_step_times(samples)
    step_ms = median((host + wait).tolist()) if len(host) else 0.0  # each as sum([host, wait])

    def above(leftover: float) -> bool:
        return leftover > FENCE_LEFTOVER_MS and leftover > FENCE_LEFTOVER_SHARE * step_ms

    flagged = can_queue and above(middle) and len(leftovers) >= MIN_FENCE_CHECKS
    return FenceCheck(len(leftovers), middle, max(leftovers), flagged, fence, judged=can_queue)
