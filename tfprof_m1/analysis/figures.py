"""From raw timings to the report's figures: per-epoch phases, steady state, fit, headline.

Pure Python. Warm-up is kept apart: the first epoch (tracing, pipeline start) is reported but
excluded from every steady-state figure, and the report says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from statistics import mean

import numpy as np

from tfprof_m1.analysis.attribution import EpochBreakdown
from tfprof_m1.analysis.estimate import (
    classify_execution,
    estimate_cost,
    estimate_parts,
    fence_check,
    full_step_times,
)
from tfprof_m1.analysis.steady import recorded_steady_epochs, steady_epochs
from tfprof_m1.base.phases import COMPUTE, EPOCH_LEVEL_PHASES, OTHER, PROFILING, TRACE, UNPROFILED
from tfprof_m1.base.stats import OrderStatistics, Summary, order_statistics, summarize, summarize_array
from tfprof_m1.collection.profiler import FenceCheckSample
from tfprof_m1.report.model import (
    EpochReport,
    Execution,
    FenceCheck,
    FitReport,
    Headline,
    LoopSummary,
    ModelRun,
    PartSummary,
    PhaseSummary,
    ProfilingCost,
)
from tfprof_m1.report.step_codec import TICKS_PER_MS, ProbeSamples, StepValues, joined_samples, sample_columns

__all__ = [
    "calls_return_early",
    "epoch_report",
    "fit_report",
    "headline",
    "loop_summary",
    "overhead_bounds",
    "recorded_unprofiled_ms",
    "too_few_probe_steps",
    "unprofiled_equivalent_ms",
]


def _round(values: Sequence[float]) -> list[float]:
    """``values`` to the report's 4 decimals of a ms, as whole ticks of 0.1 µs (what schema 8 stores):
    one numpy pass, however many steps."""
    if len(values) < 64:  # a probe sample's pair: plain Python is quicker, and gives the same floats
        return [round(value * TICKS_PER_MS) / TICKS_PER_MS for value in values]
    return (np.rint(np.asarray(values, dtype=float) * TICKS_PER_MS) / TICKS_PER_MS).tolist()


def _round_steps(values: Sequence[float] | np.ndarray) -> StepValues:
    """Per-step values to the report's 4 decimals of a ms (as :func:`_round`), kept as one array."""
    scaled = np.multiply(np.asarray(values, dtype=float), TICKS_PER_MS)  # a new array: rounded in place
    np.rint(scaled, out=scaled)
    scaled /= TICKS_PER_MS
    return StepValues.holding(scaled)


def _rounded_samples(samples: Sequence[dict[str, list[float]]]) -> Sequence[dict[str, list[float]]]:
    """Probe samples rounded as :func:`_round`: as columns (:class:`ProbeSamples`) when they have the
    same variants, else one dict a sample."""
    columns = sample_columns(samples)
    if columns is None:
        return [{name: _round(values) for name, values in sample.items()} for sample in samples]
    rounded = {
        name: (_round_steps(host).array, _round_steps(wait).array) for name, (host, wait) in columns.items()
    }
    return ProbeSamples(rounded, len(samples))


def _step_totals(step_ms: Mapping[str, Sequence[float] | np.ndarray]) -> np.ndarray:
    """Each step's time over all its phases (ms), from per-phase per-step values: the phases added
    in order, as ``sum()`` over each step's values, for every step at once."""
    total = np.zeros(len(next(iter(step_ms.values()), ())))
    for values in step_ms.values():
        total = total + np.asarray(values, dtype=float)
    return total


def _phase_summaries(breakdowns: Sequence[EpochBreakdown]) -> list[PhaseSummary]:
    """Phases over one or more epochs: mean total per epoch, share of wall time, per-step spread."""
    wall = sum(b.wall_ms for b in breakdowns)
    names: list[str] = []
    for breakdown in breakdowns:
        names += [name for name in breakdown.totals_ms if name not in names]
    names = [name for name in names if name != OTHER] + [OTHER]
    summaries = []
    compute: dict[str, tuple[np.ndarray, OrderStatistics] | None] = {}  # the fused compute, read once
    for name in names:
        total = sum(b.totals_ms.get(name, 0.0) for b in breakdowns)
        columns = [np.asarray(b.step_ms.get(name, ()), dtype=float) for b in breakdowns]
        per_step = columns[0] if len(columns) == 1 else np.concatenate(columns)
        # epoch-level phases (not on every step: probes, stretches, the trace session) and phases
        # met only outside steps have no per-step figure
        measured = name not in EPOCH_LEVEL_PHASES and bool(per_step.any())  # any value != 0
        spread = None
        if measured:
            spread = _part_spread(breakdowns, name, per_step, compute) or summarize_array(per_step)
        waits = [b.waits_ms[name] for b in breakdowns if name in b.waits_ms]
        summaries.append(
            PhaseSummary(
                phase=name,
                total_ms=total / len(breakdowns),
                share=total / wall if wall > 0 else 0.0,
                step_median_ms=spread.median if spread else None,
                step_iqr_ms=spread.iqr if spread else None,
                step_mean_ms=spread.mean if spread else None,
                wait_ms=sum(waits) / len(breakdowns) if waits else None,
            )
        )
    return summaries


def _part_spread(
    breakdowns: Sequence[EpochBreakdown],
    name: str,
    per_step: np.ndarray,
    compute: dict[str, tuple[np.ndarray, OrderStatistics] | None],
) -> Summary | None:
    """The per-step Summary of a part of compute (``name``) whose values are every step's fused
    compute times the part's share (the steps of a run whose parts come from probe samples: no step
    records the part itself), from the compute's order statistics, selected once for every part
    (``compute`` keeps them); None when the values are not exactly those products (checked value by
    value), for :func:`~tfprof_m1.base.stats.summarize_array`. The same figures as that, whose three
    selections a part it saves (:meth:`~tfprof_m1.base.stats.OrderStatistics.summary`)."""
    shares = {(b.proportions or {}).get(name) for b in breakdowns}
    share = shares.pop() if len(shares) == 1 else None
    if share is None or not share > 0:
        return None
    if COMPUTE not in compute:
        columns = [b.timing.steps.column(COMPUTE) for b in breakdowns]
        compute[COMPUTE] = None
        if all(column is not None for column in columns):
            fused = np.concatenate([np.asarray(column, dtype=float) for column in columns])
            fused = np.where(np.isnan(fused), 0.0, fused)  # steps without fused compute: 0, as the parts
            statistics = order_statistics(fused)
            compute[COMPUTE] = None if statistics is None else (fused, statistics)
    held = compute[COMPUTE]
    if held is None or len(held[0]) != len(per_step) or not np.array_equal(held[0] * share, per_step):
        return None
    return held[1].summary(float(np.mean(np.ascontiguousarray(per_step, dtype=np.float64))), share)


def epoch_report(
    breakdown: EpochBreakdown, loss: float | None, accuracy: float | None, warmup: bool
) -> EpochReport:
    """One epoch's figures for the report, from its breakdown (``warmup``: the epoch is warm-up)."""
    seconds = breakdown.wall_ms / 1000.0
    return EpochReport(
        index=breakdown.index,
        warmup=warmup,
        complete=breakdown.complete,
        wall_ms=breakdown.wall_ms,
        steps=breakdown.steps,
        sampled_steps=breakdown.sampled_steps,
        examples=breakdown.examples,
        examples_per_s=breakdown.examples / seconds if seconds > 0 else 0.0,
        loss=loss,
        accuracy=accuracy,
        phases=_phase_summaries([breakdown]),
        proportions=breakdown.proportions,
        proportions_source=breakdown.proportions_source,
        step_kinds=breakdown.step_kinds,  # codes, read-only: shared, not copied
        step_ms={name: _round_steps(values) for name, values in breakdown.step_ms.items()},
        notes=list(breakdown.notes),
        gc_ms=breakdown.gc_ms,
        gc_collections=breakdown.gc_collections,
        outside_steps_ms=dict(breakdown.outside_steps_ms),
        samples=_rounded_samples(breakdown.samples),
        fence_checks=[
            FenceCheckSample(round(check.first_ms, 4), round(check.leftover_ms, 4))
            for check in breakdown.fence_checks
        ],
        stretches=[
            [stretch.steps, round(stretch.wall_ms, 4), round(stretch.wait_ms, 4)]
            for stretch in breakdown.stretches
        ],
        fence_idle_ms=breakdown.fence_idle_ms,
    )


def steady_breakdowns(breakdowns: Sequence[EpochBreakdown]) -> tuple[list[EpochBreakdown], bool]:
    """The epochs steady-state figures use, and whether the first epoch was excluded."""
    steady = steady_epochs(breakdowns)
    return steady, bool(steady) and any(b.is_warmup and b not in steady for b in breakdowns)


def part_summaries(breakdowns: Sequence[EpochBreakdown]) -> list[PartSummary]:
    """Call, forward, backward (all-reduce) and optimizer from the probe samples of ``breakdowns``, with
    intervals.
    """
    estimate = estimate_parts(joined_samples([b.samples for b in breakdowns]))
    if estimate is None:
        return []
    return [
        PartSummary(
            part=name,
            ms=estimate.total_ms[name],
            host_ms=estimate.host_ms[name],
            wait_ms=estimate.wait_ms[name],
            share=estimate.shares[name],
            math_share=estimate.math_shares.get(name),
        )
        for name in estimate.total_ms
    ]


def unprofiled_equivalent_ms(
    wall_ms: float, unprofiled_ms: float, trace_ms: float, profiling_ms: float, cost_ratio: float | None
) -> float:
    """An epoch as it would run unprofiled (ms): its unprofiled stretches as they ran, plus its
    profiled part (the rest, less the tf.profiler session's start and stop) divided by the measured
    profiled/unprofiled per-step ratio. Without a ratio (no unprofiled stretches), the profiler's own
    work (``profiling``) and the trace session are taken out. The one rule the report's
    ``unprofiled_epoch_ms`` and ``compare`` use."""
    if cost_ratio is None or cost_ratio <= 0:
        return wall_ms - trace_ms - profiling_ms
    profiled = wall_ms - unprofiled_ms - trace_ms
    return unprofiled_ms + profiled / cost_ratio


def recorded_unprofiled_ms(epoch: EpochReport, cost_ratio: float | None) -> float:
    """:func:`unprofiled_equivalent_ms` of an epoch as its report recorded it (its phases' totals):
    what ``compare`` resamples and the headline's overhead range are taken from."""
    totals = {summary.phase: summary.total_ms for summary in epoch.phases}
    return unprofiled_equivalent_ms(
        epoch.wall_ms,
        totals.get(UNPROFILED, 0.0),
        totals.get(TRACE, 0.0),
        totals.get(PROFILING, 0.0),
        cost_ratio,
    )


def overhead_bounds(run: ModelRun) -> tuple[float, float] | None:
    """The framework overhead (fit's steady epoch − the unprofiled loop's, ms) at the two ends of
    the profiling cost's 95 % interval: the unprofiled loop epoch taken again from each steady
    epoch's recorded phases (:func:`unprofiled_equivalent_ms`, the rule that gave the point) at the
    ratio's low and high ends, lowest overhead first; None where the overhead was not taken against
    the unprofiled loop. The headline's overhead rests on the cost's point: with a reference of few
    stretches its interval is wide, and so is the overhead's."""
    cost, fit = run.steady.profiling_cost, run.fit
    if cost is None or fit is None or fit.steady_mean_ms is None:
        return None
    if run.headline.framework_overhead_ms is None or run.headline.overhead_against != UNPROFILED:
        return None
    steady = recorded_steady_epochs(run)
    if not steady:
        return None
    ends = sorted(
        fit.steady_mean_ms - mean(recorded_unprofiled_ms(epoch, ratio) for epoch in steady)
        for ratio in (cost.ratio.low, cost.ratio.high)
    )
    return ends[0], ends[1]


def profiling_cost(breakdowns: Sequence[EpochBreakdown]) -> ProfilingCost | None:
    """Profiled against unprofiled per-step time, and the epoch as it would run unprofiled."""
    blocks = [block for b in breakdowns for block in b.profiled_blocks]
    # a stretch's steps as the loop runs them: its start on an idle device and its closing fence out
    stretches = [(stretch.steps, stretch.steady_ms) for b in breakdowns for stretch in b.stretches]

    def unprofiled_epoch_ms(ratio: float) -> float:
        return mean(
            unprofiled_equivalent_ms(
                b.wall_ms,
                b.totals_ms.get(UNPROFILED, 0.0),
                b.totals_ms.get(TRACE, 0.0),
                b.totals_ms.get(PROFILING, 0.0),
                ratio,
            )
            for b in breakdowns
        )

    return estimate_cost(blocks, stretches, unprofiled_epoch_ms)


def execution(
    breakdowns: Sequence[EpochBreakdown], device_kind: str, executor_async: bool
) -> Execution | None:
    """Whether calls returned before their device work was done, and what that means here."""
    host, wait = full_step_times(joined_samples([b.samples for b in breakdowns]))
    judged = classify_execution(host.tolist(), wait.tolist())
    if judged is None:
        return None
    mode, share = judged
    note = None
    if device_kind == "gpu" and mode == "synchronous":
        note = (
            f"the GPU backend behaved synchronously: calls returned only after their work (device wait "
            f"{share:.1%} of a step); every part is still device-inclusive, "
            "but host and device cannot be told apart"
        )
    elif executor_async and device_kind == "cpu":
        note = (
            "asynchronous eager executor (--async-executor): a rehearsal of GPU-style asynchrony on the CPU"
        )
    return Execution(mode=mode, wait_share=share, executor_async=executor_async, note=note)


def calls_return_early(device_kind: str, executor_async: bool) -> bool:
    """Whether a call can return before its device work is done: on a GPU, or under the asynchronous
    executor; a CPU ("cpu") under the synchronous executor returns with its work done."""
    return device_kind != "cpu" or executor_async


def fence_check_summary(
    breakdowns: Sequence[EpochBreakdown], fence_name: str, can_queue: bool = True
) -> FenceCheck | None:
    """The coverage fence's leftover waits over the checks of ``breakdowns``, or None without any
    (``can_queue``: whether the run's calls could leave device work queued at all)."""
    return fence_check(
        [check for b in breakdowns for check in b.fence_checks],
        joined_samples([b.samples for b in breakdowns]),
        fence_name,
        can_queue,
    )


def loop_summary(
    breakdowns: Sequence[EpochBreakdown],
    device_kind: str = "cpu",
    executor_async: bool = False,
    coverage_fence: str = "variables_read",
) -> LoopSummary:
    """The custom loop's steady state: epoch and step spreads, phases, parts with intervals, profiling cost,
    execution mode."""
    steady_ones, excluded = steady_breakdowns(breakdowns)
    # No epoch finished (a stop in epoch 1): the figures are the cut-short epoch's, and no epoch is
    # named steady (``epochs`` empty), so views say so and compare leaves the run out.
    steady = steady_ones or list(breakdowns)
    walls = summarize([b.wall_ms for b in steady])
    step_walls = summarize_array(np.concatenate([_step_totals(b.step_ms) for b in steady]))
    examples = sum(b.examples for b in steady)
    seconds = sum(b.wall_ms for b in steady) / 1000.0
    assert walls is not None
    return LoopSummary(
        epochs=[b.index for b in steady_ones],
        excludes_first_epoch=excluded,
        epoch_mean_ms=walls.mean,
        epoch_median_ms=walls.median,
        epoch_iqr_ms=walls.iqr,
        step_median_ms=step_walls.median if step_walls else 0.0,
        step_iqr_ms=step_walls.iqr if step_walls else 0.0,
        examples_per_s=examples / seconds if seconds > 0 else 0.0,
        phases=_phase_summaries(steady),
        noisy=walls.noisy,
        gc_ms=mean(b.gc_ms for b in steady),
        parts=part_summaries(steady),
        samples=sum(len(b.samples) for b in steady),
        profiling_cost=profiling_cost(steady),
        execution=execution(steady, device_kind, executor_async),
        fence_check=fence_check_summary(
            steady, coverage_fence, can_queue=calls_return_early(device_kind, executor_async)
        ),
    )


def too_few_probe_steps(steady: LoopSummary) -> bool:
    """Whether the steady epochs pooled fewer probe steps than a probe step has calls (one part a
    call: call, forward, backward[, all-reduce], optimizer).

    Each probe step runs its calls starting one call later than the step before, so that whatever
    the first call of a probe step pays (the batch's first use, caches) is shared by every part over
    a full rotation. With fewer samples than calls it is not: the part after the first call is
    under-read and can show 0 %, and the parts' intervals are as wide as 0-100 %. Seen with a
    budget's few probes in short runs (about 20-40 steps an epoch)."""
    return bool(steady.parts) and steady.samples < len(steady.parts)


def fit_report(
    epoch_ms: Sequence[float],
    losses: Sequence[float | None],
    accuracies: Sequence[float | None],
    jit_compile: bool,
) -> FitReport:
    """Keras fit's figures: every epoch, the first apart, the steady mean and the article's all-epoch mean."""
    return FitReport(
        epoch_ms=_round(epoch_ms),
        losses=list(losses),
        accuracies=list(accuracies),
        jit_compile=jit_compile,
    )


def headline(
    breakdowns: Sequence[EpochBreakdown],
    steady: LoopSummary,
    fit: FitReport | None,
    fit_is_the_loop: bool = False,
) -> Headline:
    """The numbers printed first.

    Args:
        fit_is_the_loop: the profiled "loop" is that same ``fit`` (ProfileCallback): there is no
            separate loop to take a framework overhead against.
    """
    fit_steady = fit.steady_mean_ms if fit else None
    cost = steady.profiling_cost
    loop_epoch = cost.unprofiled_epoch_ms if cost is not None else steady.epoch_mean_ms
    compared = fit_steady is not None and steady.excludes_first_epoch and not fit_is_the_loop
    overhead = fit_steady - loop_epoch if compared and fit_steady is not None else None
    if steady.excludes_first_epoch:
        first, last = steady.epochs[0] + 1, steady.epochs[-1] + 1
        span = f"epoch {first}" if first == last else f"epochs {first}–{last}"
        basis = f"mean of {span}; epoch 1 (warm-up: tracing, pipeline start) is excluded and shown apart"
    else:
        basis = (
            "single epoch: includes warm-up (tracing, pipeline start); run --epochs "
            "2 or more for steady state"
        )
    return Headline(
        fit_epoch_mean_ms=fit_steady,
        fit_epoch_mean_all_ms=fit.all_mean_ms if fit else None,
        fit_first_epoch_ms=fit.first_epoch_ms if fit else None,
        loop_epoch_mean_ms=steady.epoch_mean_ms,
        loop_first_epoch_ms=breakdowns[0].wall_ms,
        framework_overhead_ms=overhead,
        framework_overhead_ratio=(fit_steady / loop_epoch)
        if overhead is not None and fit_steady is not None and loop_epoch > 0
        else None,
        basis=basis,
        overhead_against=UNPROFILED if cost is not None else "profiled",
    )
