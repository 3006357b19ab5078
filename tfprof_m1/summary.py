"""From raw timings to the report's figures: per-epoch phases, steady state, fit, headline.

Pure Python. Warm-up is kept apart: the first epoch (tracing, autotuning, first shuffle) is
reported but excluded from every steady-state figure, and the report says so.
"""

from __future__ import annotations

from statistics import mean
from typing import Sequence

from tfprof_m1.attribution import EpochBreakdown, step_totals
from tfprof_m1.phases import OTHER
from tfprof_m1.report import EpochReport, FitReport, Headline, LoopSummary, PhaseSummary
from tfprof_m1.stats import summarize


def _round(values: Sequence[float]) -> list[float]:
    return [round(value, 4) for value in values]


def _phase_summaries(breakdowns: Sequence[EpochBreakdown]) -> list[PhaseSummary]:
    """Phases over one or more epochs: mean total per epoch, share of wall time, per-step spread."""
    wall = sum(b.wall_ms for b in breakdowns)
    names: list[str] = []
    for breakdown in breakdowns:
        names += [name for name in breakdown.totals_ms if name not in names]
    names = [name for name in names if name != OTHER] + [OTHER]
    summaries = []
    for name in names:
        total = sum(b.totals_ms.get(name, 0.0) for b in breakdowns)
        per_step = [value for b in breakdowns for value in b.per_step_ms.get(name, [])]
        # a phase met only outside steps (the trace session's start/stop) has no per-step figure
        spread = summarize(per_step) if name != OTHER and any(per_step) else None
        summaries.append(
            PhaseSummary(
                phase=name,
                total_ms=total / len(breakdowns),
                share=total / wall if wall > 0 else 0.0,
                step_median_ms=spread.median if spread else None,
                step_iqr_ms=spread.iqr if spread else None,
                step_mean_ms=spread.mean if spread else None,
            )
        )
    return summaries


def epoch_report(breakdown: EpochBreakdown, loss: float | None, accuracy: float | None, warmup: bool) -> EpochReport:
    seconds = breakdown.wall_ms / 1000.0
    return EpochReport(
        index=breakdown.index,
        warmup=warmup,
        complete=breakdown.complete,
        wall_ms=breakdown.wall_ms,
        steps=breakdown.steps,
        split_steps=breakdown.split_steps,
        examples=breakdown.examples,
        examples_per_s=breakdown.examples / seconds if seconds > 0 else 0.0,
        loss=loss,
        accuracy=accuracy,
        phases=_phase_summaries([breakdown]),
        proportions=breakdown.proportions,
        proportions_source=breakdown.proportions_source,
        split_overhead_ms=breakdown.split_overhead_ms,
        step_kinds=list(breakdown.step_kinds),
        step_ms={name: _round(values) for name, values in breakdown.per_step_ms.items()},
        notes=list(breakdown.notes),
        gc_ms=breakdown.gc_ms,
        gc_collections=breakdown.gc_collections,
        outside_steps_ms=dict(breakdown.outside_steps_ms),
    )


def steady_breakdowns(breakdowns: Sequence[EpochBreakdown]) -> tuple[list[EpochBreakdown], bool]:
    """The epochs steady-state figures use, and whether the first epoch was excluded."""
    complete = [b for b in breakdowns if b.complete] or list(breakdowns)
    if len(complete) > 1 and complete[0].index == 0:
        return complete[1:], True
    return complete, False


def loop_summary(breakdowns: Sequence[EpochBreakdown]) -> LoopSummary:
    steady, excluded = steady_breakdowns(breakdowns)
    walls = summarize([b.wall_ms for b in steady])
    step_walls = summarize([total for b in steady for total in step_totals(b.per_step_ms)])
    overheads = [b.split_overhead_ms for b in steady if b.split_overhead_ms is not None]
    examples = sum(b.examples for b in steady)
    seconds = sum(b.wall_ms for b in steady) / 1000.0
    assert walls is not None
    return LoopSummary(
        epochs=[b.index for b in steady],
        excludes_first_epoch=excluded,
        epoch_mean_ms=walls.mean,
        epoch_median_ms=walls.median,
        epoch_iqr_ms=walls.iqr,
        step_median_ms=step_walls.median if step_walls else 0.0,
        step_iqr_ms=step_walls.iqr if step_walls else 0.0,
        examples_per_s=examples / seconds if seconds > 0 else 0.0,
        phases=_phase_summaries(steady),
        split_overhead_ms=mean(overheads) if overheads else None,
        noisy=walls.noisy,
        gc_ms=mean(b.gc_ms for b in steady),
    )


def fit_report(epoch_ms: Sequence[float], losses: Sequence[float | None], accuracies: Sequence[float | None], jit_compile: bool) -> FitReport:
    return FitReport(
        epoch_ms=_round(epoch_ms),
        losses=list(losses),
        accuracies=list(accuracies),
        jit_compile=jit_compile,
        first_epoch_ms=epoch_ms[0],
        steady_mean_ms=mean(epoch_ms[1:]) if len(epoch_ms) > 1 else None,
        all_mean_ms=mean(epoch_ms),
    )


def headline(breakdowns: Sequence[EpochBreakdown], steady: LoopSummary, fit: FitReport | None) -> Headline:
    fit_steady = fit.steady_mean_ms if fit else None
    overhead = fit_steady - steady.epoch_mean_ms if fit_steady is not None and steady.excludes_first_epoch else None
    if steady.excludes_first_epoch:
        first, last = steady.epochs[0] + 1, steady.epochs[-1] + 1
        span = f"epoch {first}" if first == last else f"epochs {first}–{last}"
        basis = f"mean of {span}; epoch 1 (warm-up: tracing, pipeline start) is excluded and shown apart"
    else:
        basis = "single epoch: includes warm-up (tracing, autotuning); run --epochs 2 or more for steady state"
    return Headline(
        fit_epoch_mean_ms=fit_steady,
        fit_epoch_mean_all_ms=fit.all_mean_ms if fit else None,
        fit_first_epoch_ms=fit.first_epoch_ms if fit else None,
        loop_epoch_mean_ms=steady.epoch_mean_ms,
        loop_first_epoch_ms=breakdowns[0].wall_ms,
        framework_overhead_ms=overhead,
        framework_overhead_ratio=(fit_steady / steady.epoch_mean_ms) if overhead is not None and steady.epoch_mean_ms > 0 else None,
        basis=basis,
    )
