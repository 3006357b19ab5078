"""From a profiler's timings to a :class:`~tfprof_m1.report.model.Report`: the one path every report takes.

The benchmark CLI, a research loop written with :class:`~tfprof_m1.collection.profiler.PhaseProfiler`, and a
Keras ``fit`` profiled by :class:`~tfprof_m1.run.fit_callback.ProfileCallback` all end here, so their reports
carry the same statistics, intervals, warnings and method text, and ``show``, ``compare`` and
``plot`` read them alike::

    report = build_report(profiler, model="my_gru")      # profiler: the one your loop used
    report.save("my_gru.json")
    print(render_text(report))

Assembly only: the figures come from :mod:`tfprof_m1.analysis.attribution` and
:mod:`tfprof_m1.analysis.figures`.
"""

from __future__ import annotations

import datetime as _dt
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar, cast

from tfprof_m1.analysis.attribution import EpochBreakdown, attribute_epochs, step_totals
from tfprof_m1.analysis.figures import (
    calls_return_early,
    epoch_report,
    fit_report,
    headline,
    loop_summary,
    too_few_probe_steps,
)
from tfprof_m1.base.errors import UserError
from tfprof_m1.base.phases import (
    ALL_REDUCE,
    BLOCK,
    DESCRIPTIONS,
    FUSED,
    INPUT,
    MATH_PHASES,
    OPTIMIZER,
    OTHER,
    PROBE,
    SPLIT,
    SYNC,
    UNPROFILED,
)
from tfprof_m1.base.progress import Progress
from tfprof_m1.base.stats import summarize
from tfprof_m1.collection.environment import Environment
from tfprof_m1.collection.fence import FenceCost
from tfprof_m1.collection.memory import MemoryUse, growth_warning
from tfprof_m1.collection.power import power_state
from tfprof_m1.collection.profiler import IDLE_FENCE_CALLS, MAX_BLOCK_STEPS, EpochTiming, PhaseProfiler
from tfprof_m1.collection.strategies import Distribution
from tfprof_m1.report.model import (
    DataInfo,
    EpochReport,
    Fingerprint,
    FitReport,
    LoopSummary,
    ModelRun,
    Report,
    RunConfig,
)
from tfprof_m1.report.step_codec import as_step_kinds
from tfprof_m1.trace.xplane import WHILE_LOOP_NOTE, TraceSummary, analyze_run_dir, find_runs

__all__ = [
    "build_report",
    "describe_method",
    "fence_cost",
    "build_model_run",
    "trace_summaries",
    "trace_timing",
]

if TYPE_CHECKING:
    from typing import TypeAlias

    from tfprof_m1.collection.fit import EpochTimer
    from tfprof_m1.collection.fit_run import FitRun
    from tfprof_m1.collection.loop import EpochResult, Sampling
    from tfprof_m1.trace.window import TraceWindow

    #: A loop's timings as ``build_model_run`` and ``build_report`` take them: the PhaseProfiler the loop
    #: used, its ``epochs``, or ``run_profiled_loop``'s results.
    Timings: TypeAlias = PhaseProfiler | Sequence[EpochTiming] | Sequence[EpochResult]
    #: A Keras ``fit``'s epochs: an EpochTimer (ProfileCallback is one), ``run_fit``'s FitRun, or a
    #: FitReport.
    FitSource: TypeAlias = EpochTimer | FitRun | FitReport

_Value = TypeVar("_Value")

#: Input time after an epoch's last step above this share of the epoch is flagged.
INPUT_STALL_SHARE = 0.05
#: Every phase name the library itself records; anything else is a research loop's own.
_BUILT_IN = frozenset(DESCRIPTIONS) | {OTHER}


def epoch_timings(timings: Timings) -> tuple[list[EpochTiming], list[float | None], list[float | None]]:
    """Epoch timings, losses and accuracies from a PhaseProfiler, a list of EpochTiming, or the
    EpochResults of :func:`~tfprof_m1.collection.loop.run_profiled_loop`."""
    if isinstance(timings, PhaseProfiler):
        epochs = list(timings.epochs)
        return epochs, [None] * len(epochs), [None] * len(epochs)
    items = list(timings)
    if items and all(hasattr(item, "timing") for item in items):
        results = cast("list[EpochResult]", items)
        return (
            [item.timing for item in results],
            [item.loss for item in results],
            [item.accuracy for item in results],
        )
    if not all(isinstance(item, EpochTiming) for item in items):
        raise TypeError(
            "timings must be a PhaseProfiler, EpochTiming records, or run_profiled_loop's results"
        )
    return cast("list[EpochTiming]", items), [None] * len(items), [None] * len(items)


def finite_or_none(
    values: Sequence[float | None], what: str, label: str = "epoch"
) -> tuple[list[float | None], list[str]]:
    """Values with NaN and infinities replaced by None (a report is JSON and never holds them), and
    one warning per replaced value naming the epoch: a diverged training run still gets its report."""
    kept: list[float | None] = []
    warnings = []
    for index, value in enumerate(values):
        if value is not None and not math.isfinite(value):
            warnings.append(f"{label} {index + 1}: {what} was {value} (training diverged?); recorded as null")
            value = None
        kept.append(value)
    return kept, warnings


def _fit_report(fit: FitSource | None) -> tuple[FitReport | None, list[str]]:
    """A FitReport from an EpochTimer/ProfileCallback (or anything with ``epoch_ms``), and warnings."""
    if fit is None or isinstance(fit, FitReport):
        return fit, []
    if not getattr(fit, "epoch_ms", None):
        return None, []
    jit = bool(getattr(fit, "jit_compile", False))  # EpochTimer and FitRun both say
    losses, warnings = finite_or_none(fit.losses, "the loss", label="fit epoch")
    accuracies, _ = finite_or_none(fit.accuracies, "the accuracy", label="fit epoch")
    report = fit_report(fit.epoch_ms, losses, accuracies, jit)
    report.memory = list(getattr(fit, "memory", []))
    return report, warnings


def _batch_size(epochs: Sequence[EpochTiming]) -> int | None:
    sizes = [step.examples for epoch in epochs for step in epoch.steps if step.examples > 0]
    return int(median(sizes)) if sizes else None


def custom_phases(breakdowns: Sequence[EpochBreakdown]) -> list[str]:
    """Phases a research loop named itself, in the order first seen."""
    names: list[str] = []
    for breakdown in breakdowns:
        names += [name for name in breakdown.totals_ms if name not in _BUILT_IN and name not in names]
    return names


def run_warnings(breakdowns: Sequence[EpochBreakdown], distributed: bool = False) -> list[str]:
    """What a reader must know about the run: an input pipeline that stalls at the epoch's end (its
    likely cause named: tf.data's autotuner, or under tf.distribute the distributed iterator)."""
    if distributed:  # the benchmark's autotune is off, and this iterator stalls without it
        cause = (
            "under tf.distribute the distributed dataset's iterator stalls "
            "at its end with autotuning off too (its "
            "cause is not known yet, see docs/distributed.md#the-input-under-a-strategy)"
        )
    else:
        cause = (
            "a tf.data pipeline with autotuning on (tf.data's default) "
            "is the likely cause: its teardown waits for "
            "the autotuner's next wake-up. Set options.autotune.enabled "
            "= False with fixed parallelism and prefetch, "
            "see docs/how-it-measures.md#the-input-pipeline-and-an-autotune-stall"
        )
    warnings = []
    for breakdown in breakdowns:
        end_input = breakdown.outside_steps_ms.get(INPUT, 0.0)
        if breakdown.wall_ms > 0 and end_input > INPUT_STALL_SHARE * breakdown.wall_ms:
            warnings.append(
                f"epoch {breakdown.index + 1}: the input pipeline took {end_input / 1000:.2f} "
                "s to finish and tear down "
                f"after the last step ({end_input / breakdown.wall_ms:.0%} "
                f"of the epoch, counted as input); {cause}"
            )
    return warnings


def few_probe_samples(steady: LoopSummary) -> list[str]:
    """The run's warning when :func:`too_few_probe_steps`."""
    if not too_few_probe_steps(steady):
        return []
    steps = "probe step" if steady.samples == 1 else "probe steps"
    return [
        f"the parts of compute rest on {steady.samples} {steps}, fewer than one rotation of its "
        f"{len(steady.parts)} probe calls: a part can read 0 % and the intervals are wide; run more steps or "
        "epochs (or a floor of probe steps an epoch: --min-samples, or Sampling(min_samples=N) in a loop of "
        "your own)"
    ]


def _locate(breakdowns: Sequence[EpochBreakdown], global_step: int) -> tuple[int, int] | None:
    """(epoch, index among its profiled steps) of a global step number; None inside an unprofiled
    stretch or past the run. Global steps count every step, the unprofiled ones included."""
    first = 0
    for position, breakdown in enumerate(breakdowns):
        size = breakdown.steps + sum(stretch.steps for stretch in breakdown.stretches)
        if global_step < first + size:
            index, skipped = global_step - first, 0
            for stretch in sorted(breakdown.stretches, key=lambda stretch: stretch.before_step):
                start = stretch.before_step + skipped
                if index < start:
                    break
                if index < start + stretch.steps:
                    return None
                skipped += stretch.steps
            return position, index - skipped
        first += size
    return None


def _traced_probe_steps(breakdowns: Sequence[EpochBreakdown], traced_steps: Sequence[int]) -> list[int]:
    """The traced steps (global step numbers) that were probe steps."""
    probes = []
    for global_step in traced_steps:
        located = _locate(breakdowns, global_step)
        if located is not None and breakdowns[located[0]].step_kinds[located[1]] == PROBE:
            probes.append(global_step)
    return probes


def trace_timing(
    breakdowns: Sequence[EpochBreakdown], traced_steps: Sequence[int]
) -> tuple[dict[str, float] | None, float | None]:
    """The timing-based forward/backward/optimizer shares and mean step time of the traced steps
    (global step numbers), for the cross-check against the trace's op time. Under tf.distribute the
    all-reduce counts as optimizer here: Keras sums the gradients inside ``apply_gradients``, so the
    trace finds its ops under the optimizer's name scope."""
    totals = {name: 0.0 for name in MATH_PHASES}
    step_times = []
    for global_step in traced_steps:
        located = _locate(breakdowns, global_step)
        if located is None:
            continue
        epoch, index = located
        values = breakdowns[epoch].step_ms
        for name in totals:
            totals[name] += values.get(name, [0.0] * (index + 1))[index]
        totals[OPTIMIZER] += values.get(ALL_REDUCE, [0.0] * (index + 1))[index]
        step_times.append(step_totals(values)[index])
    compute = sum(totals.values())
    shares = {name: value / compute for name, value in totals.items()} if compute > 0 else None
    return shares, (sum(step_times) / len(step_times) if step_times else None)


#: Said on a distributed run's trace, where the cross-check's two columns measure different things.
DISTRIBUTED_TRACE_NOTE = (
    "under tf.distribute the trace's op time adds up every replica's ops (they run side by side) "
    "while the timing shares are wall time, and Keras' all-reduce ops sit under the optimizer's "
    "name scope: the two columns are not expected to agree"
)


def trace_summary(
    run_dir: str | Path,
    device_kind: str,
    scope_phases: Mapping[str, str] | None = None,
    timing_shares: dict[str, float] | None = None,
    timing_step_ms_mean: float | None = None,
    distribution: Distribution | None = None,
) -> TraceSummary:
    """A run's trace summary, the one place it is assembled: the trace's op time per phase
    (:func:`~tfprof_m1.trace.xplane.analyze_run_dir`), the timing figures of the same steps for the
    cross-check, and what the cross-check means under a strategy.

    Raises:
        UserError: no trace in ``run_dir``.
    """
    summary = analyze_run_dir(run_dir, device_kind, scope_phases=scope_phases)
    summary.timing_shares, summary.timing_step_ms_mean = timing_shares, timing_step_ms_mean
    if distribution is not None:
        summary.notes.append(DISTRIBUTED_TRACE_NOTE)
    return summary


def trace_summaries(root: str | Path, scope_phases: Mapping[str, str] | None = None) -> list[TraceSummary]:
    """The trace summary of every run under ``root`` (``trace RUN_DIR``), each analysed apart: a run
    directory, a folder of runs (``tensorboard --logdir`` layout), or Keras's callback log folder.
    A run's ``report.json``, where there is one, gives its device kind, the cross-check's timing
    figures and its strategy.

    Raises:
        UserError: no trace under ``root``; a report.json that cannot be read.
    """
    from tfprof_m1.report.model import load_report

    summaries = []
    for run_dir in find_runs(root) or [Path(root)]:  # no trace: analyze_run_dir says so in one line
        saved = load_report(run_dir / "report.json") if (run_dir / "report.json").is_file() else None
        run = saved.runs[0] if saved and saved.runs else None
        timing = run.trace if run is not None and run.trace is not None else None
        summaries.append(
            trace_summary(
                run_dir,
                saved.environment.device_kind if saved else "cpu",
                scope_phases,
                timing.timing_shares if timing else None,
                timing.timing_step_ms_mean if timing else None,
                run.distribution if run is not None else None,
            )
        )
    return summaries


def attach_trace(
    run: ModelRun,
    window: TraceWindow | None,
    breakdowns: Sequence[EpochBreakdown],
    device_kind: str,
    progress: Progress,
    scope_phases: Mapping[str, str] | None = None,
) -> None:
    """Put a TraceWindow's analysis (and the timing figures of the same steps) into the run."""
    if window is None:
        return
    if window.problem or not window.files:
        run.trace_problem = window.problem or "the profiler wrote no trace"
        progress(f"[{run.model}] {run.trace_problem}")
        return
    shares, step_ms = trace_timing(breakdowns, window.traced_steps)
    run.trace = trace_summary(window.logdir, device_kind, scope_phases, shares, step_ms, run.distribution)
    probes = _traced_probe_steps(breakdowns, window.traced_steps)
    if probes:
        which = (
            f"step {probes[0]} is a probe step"
            if len(probes) == 1
            else (f"steps {', '.join(map(str, probes))} are probe steps")
        )
        run.trace.notes.append(
            f"traced {which} (the default window holds one on purpose): its probe calls (empty call, "
            "forward, forward and backward, full step) show as spans in the trace viewer, and the "
            "traced op time and the timing mean above include them"
        )
    progress(
        f"[{run.model}] traced steps {window.traced_steps[0]}–{window.traced_steps[-1]} into {window.logdir}"
    )


def build_model_run(
    timings: Timings,
    *,
    model: str = "model",
    batch_size: int | None = None,
    losses: Sequence[float | None] | None = None,
    accuracies: Sequence[float | None] | None = None,
    fit: FitSource | None = None,
    trace: TraceWindow | None = None,
    device_kind: str = "cpu",
    executor_async: bool = False,
    coverage_fence: str = "variables_read",
    source: str = "loop",
    data: DataInfo | None = None,
    dataset: str | None = None,
    forward_flops_per_example: int | None = None,
    backward_flops_per_example: int | None = None,
    sampling: Sampling | None = None,
    run_dir: str | None = None,
    progress: Progress | None = None,
    scope_phases: Mapping[str, str] | None = None,
    interrupted: str | None = None,
    fingerprint: Fingerprint | None = None,
    distribution: Distribution | None = None,
) -> ModelRun:
    """One model's figures: epochs, steady state with intervals, fit, headline, warnings, trace.

    Args:
        timings: the PhaseProfiler the loop used, its ``epochs``, or run_profiled_loop's results.
        model: the name the report, tables and ``compare`` use.
        batch_size: examples per step; by default the median of the steps' ``examples``.
        losses, accuracies: per epoch, if the loop tracked them (run_profiled_loop's results carry them).
        fit: an EpochTimer or ProfileCallback that timed a Keras ``fit`` of the same model (the headline).
        trace: the TraceWindow of the run, if one traced steps.
        device_kind: "cpu" or "gpu"; executor_async: whether the eager executor was asynchronous.
        source: "loop" (research code), "fit" (ProfileCallback) or "benchmark" (the CLI).
        data, dataset, forward_flops_per_example, backward_flops_per_example, sampling: what the
            benchmark knows of its models (FLOPs: counted per example; backward None is taken as 2 × forward).
        run_dir: the run's directory, if one was written.
        progress: receives one line per noteworthy event (trace written or missing).
        scope_phases: the loop's own name scopes mapped to phases for the trace's op attribution
            (for example ``{"generator": "generator"}``); built-in rules otherwise.
        interrupted: why the run ended early, if it did; a run whose last epoch is cut short (as
            after Ctrl-C) is marked interrupted anyway.
        fingerprint: what ran (input dtype and path, XLA...), for compare's parity guard; the
            mixed-precision policy, power state and the trace's CPU fallbacks are filled in here.
        distribution: the tf.distribute strategy and replicas the run used (None: one device).

    Raises:
        UserError: no epoch was timed.
    """
    epochs, epoch_losses, epoch_accuracies = epoch_timings(timings)
    if not epochs:
        raise UserError(
            f"{model}: no epoch was timed; run the loop inside profiler.epoch() before building a report"
        )
    losses = list(losses) if losses is not None else epoch_losses
    accuracies = list(accuracies) if accuracies is not None else epoch_accuracies
    losses, loss_warnings = finite_or_none(losses, "the training loss")
    accuracies, _ = finite_or_none(accuracies, "the accuracy")
    breakdowns = attribute_epochs(epochs)
    reports = [
        epoch_report(breakdown, _at(losses, i), _at(accuracies, i), warmup=breakdown.is_warmup)
        for i, breakdown in enumerate(breakdowns)
    ]
    steady = loop_summary(breakdowns, device_kind, executor_async, coverage_fence)
    memory, memory_note = _epoch_memory(timings, len(reports))
    for report, used in zip(reports, memory):
        report.memory = used
    fit_figures, fit_warnings = _fit_report(fit)
    memory_warnings = _memory_warnings(reports, steady.epochs, fit_figures)
    run = ModelRun(
        model=model,
        batch_size=batch_size if batch_size is not None else _batch_size(epochs),
        steps_per_epoch=max(len(epoch.steps) + sum(s.steps for s in epoch.stretches) for epoch in epochs),
        epochs=reports,
        steady=steady,
        fit=fit_figures,
        headline=headline(breakdowns, steady, fit_figures, fit_is_the_loop=source == "fit"),
        source=source,
        dataset=dataset,
        data=data,
        forward_flops_per_example=forward_flops_per_example,
        backward_flops_per_example=backward_flops_per_example,
        sample_every=None if getattr(sampling, "budget", None) else getattr(sampling, "every", None),
        min_samples=None if getattr(sampling, "budget", None) else getattr(sampling, "min_samples", None),
        sample_budget=getattr(sampling, "budget", None),
        run_dir=run_dir,
        custom_phases=custom_phases(breakdowns),
        warnings=loss_warnings
        + _non_finite_steps(timings)
        + _loop_notes(timings, epochs)
        + fit_warnings
        + run_warnings(breakdowns, distribution is not None)
        + few_probe_samples(steady)
        + memory_warnings,
        interrupted=interrupted or _cut_short(epochs),
        memory_note=memory_note or getattr(fit, "memory_note", None),
        distribution=distribution,
        fence=fence_cost(epochs),
    )
    attach_trace(run, trace, breakdowns, device_kind, progress or (lambda line: None), scope_phases)
    run.fingerprint = complete_fingerprint(_with_facts(fingerprint or Fingerprint(), timings), run)
    calls_of = run.fingerprint.steps_per_execution or 1
    if run.trace is not None and source == "fit" and calls_of > 1:
        mark_batches_per_marker(run.trace, calls_of)
    return run


#: The while-loop note's words for a trace whose loop is Keras's own steps_per_execution loop.
KERAS_LOOP_NOTE = (
    "the traced calls run a tf.while_loop: Keras's steps_per_execution loop of {n} batches a call "
    "(each step marker is one call); XProf's overview may show no step time for it"
)


def mark_batches_per_marker(trace: TraceSummary, batches: int) -> None:
    """Say that each of the trace's step markers is one call of ``batches`` batches (Keras's
    ``steps_per_execution``): the traced batches run to the last marker's call's end, and the
    while-loop the trace found is Keras's, not a recurrent layer's."""
    trace.batches_per_marker = batches
    trace.notes = [
        KERAS_LOOP_NOTE.format(n=batches) if note == WHILE_LOOP_NOTE else note for note in trace.notes
    ]


def complete_fingerprint(fingerprint: Fingerprint, run: ModelRun) -> Fingerprint:
    """Add what this process can tell of any run: Keras' mixed-precision policy (when Keras is
    loaded), the OS's power state, and the compute ops the trace found only on the host of a GPU run."""
    keras = sys.modules.get("keras")
    if fingerprint.mixed_precision is None and keras is not None:
        try:
            fingerprint.mixed_precision = keras.mixed_precision.global_policy().name
        except Exception:  # an old or partial Keras: the guard then does not check precision
            pass
    if not fingerprint.power:
        fingerprint.power = power_state()
    if run.trace is not None and not fingerprint.cpu_fallback_ops:
        fingerprint.cpu_fallback_ops = sorted({op.name for op in run.trace.host_ops_on_gpu_run})
    return fingerprint


def _epoch_memory(timings: Timings, count: int) -> tuple[list[MemoryUse | None], str | None]:
    """Memory after each epoch, as run_profiled_loop's results carry it (None for other timings)."""
    results = list(timings) if isinstance(timings, (list, tuple)) else []
    memory = [getattr(result, "memory", None) for result in results][:count]
    notes = [getattr(result, "memory_note", None) for result in results]
    return memory + [None] * (count - len(memory)), next((note for note in notes if note), None)


def _memory_warnings(
    reports: Sequence[EpochReport], steady: Sequence[int], fit: FitReport | None
) -> list[str]:
    """Memory that grows epoch after epoch, over the steady epochs of the loop and of fit."""
    kept = [report for report in reports if report.index in steady and report.memory is not None]
    indices = [report.index for report in kept]
    lines = [
        growth_warning("loop: host memory (RSS)", [r.memory.host_rss_mb for r in kept if r.memory], indices),
        growth_warning(
            "loop: device memory", [r.memory.device_current_mb for r in kept if r.memory], indices
        ),
    ]
    if fit is not None and len(fit.memory) > 1:
        fit_indices = list(range(1, len(fit.memory)))
        lines += [
            growth_warning("fit: host memory (RSS)", [m.host_rss_mb for m in fit.memory[1:]], fit_indices),
            growth_warning("fit: device memory", [m.device_current_mb for m in fit.memory[1:]], fit_indices),
        ]
    return [line for line in lines if line]


def _with_facts(fingerprint: Fingerprint, timings: Timings) -> Fingerprint:
    """The fingerprint with what run_profiled_loop's steps recorded of themselves filled in where
    the caller said nothing (the model's own policy, XLA, input dtype and path, its parameter count
    and layers)."""
    facts = next((r.facts for r in timings if getattr(r, "facts", None)), None) if _results(timings) else None
    if facts is None:
        return fingerprint
    for name, value in (
        ("mixed_precision", facts.mixed_precision),
        ("loop_jit_compile", facts.jit_compile),
        ("input_dtype", facts.input_dtype),
        ("input_path", facts.input_path),
        ("steps_per_execution", facts.steps_per_execution),
        ("parameters", facts.parameters),
        ("layers", facts.layers),
    ):
        if getattr(fingerprint, name) is None:
            setattr(fingerprint, name, value)
    return fingerprint


def _results(timings: Timings) -> TypeGuard[Sequence[EpochResult]]:
    return isinstance(timings, (list, tuple)) and any(hasattr(item, "timing") for item in timings)


def _loop_notes(timings: Timings, epochs: Sequence[EpochTiming]) -> list[str]:
    """What the loop said of the run: epochs that ran out of data, why accuracy is not measured,
    and a profiler that holds several runs."""
    lines = []
    results = list(timings) if _results(timings) else []
    for result in results:
        if getattr(result, "ran_out_of_data", False):
            lines.append(
                f"epoch {result.timing.index + 1}: the input ran out of data after "
                f"{result.timing.examples} examples, before steps_per_epoch batches (as Keras' fit "
                "says: use repeat() or fewer steps_per_epoch × epochs)"
            )
    note = next((r.accuracy_note for r in results if getattr(r, "accuracy_note", None)), None)
    if note is not None:
        lines.append(note)
    runs = sum(epoch.is_warmup for epoch in epochs)
    if runs > 1:
        lines.append(
            f"the timings hold {runs} runs (one profiler used {runs} times): each run's first epoch is "
            "warm-up, and the steady state pools the runs' other epochs; use a PhaseProfiler per run "
            "to report them apart"
        )
    return lines


def _non_finite_steps(timings: Timings) -> list[str]:
    """Where run_profiled_loop's probe steps saw the loss turn NaN or infinite, one line per epoch."""
    lines = []
    for result in timings if isinstance(timings, (list, tuple)) else []:
        where = getattr(result, "non_finite_steps", None)
        if where is not None:
            last_finite, first_bad = where
            since = f" (still finite at step {last_finite})" if last_finite is not None else ""
            lines.append(
                f"epoch {result.timing.index + 1}: the loss was first seen "
                f"non-finite at global step {first_bad}, "
                f"a probe step{since}"
            )
    return lines


def _cut_short(epochs: Sequence[EpochTiming]) -> str | None:
    last = epochs[-1]
    if last.complete:
        return None
    steps = len(last.steps) + sum(stretch.steps for stretch in last.stretches)
    return f"stopped in epoch {last.index + 1} after {steps} steps; that epoch is marked incomplete"


def _at(values: Sequence[_Value | None], index: int) -> _Value | None:
    return values[index] if index < len(values) else None


def describe_method(
    runs: Sequence[ModelRun],
    fence_name: str | None,
    device_kind: str,
    executor_async: bool,
    reference_share: float | None,
) -> dict[str, str]:
    """How every figure in the report was measured, for the runs it holds (a line per phase)."""
    asynchronous = calls_return_early(device_kind, executor_async)
    # each epoch's kinds as codes, counted once: no string a step
    counted = [as_step_kinds(epoch.step_kinds) for run in runs for epoch in run.epochs]
    kinds = {name for epoch_kinds in counted for name in epoch_kinds.names if epoch_kinds.count(name)}
    method = {
        "clock": "time.perf_counter on the host, in ms",
        "epoch": "wall time between a device fence at epoch start and one at epoch end"
        if fence_name
        else "wall time of profiler.epoch() (no fence: queued device work may spill into the next epoch)",
        INPUT: "host time blocked in next() on the input iterator, measured on every step",
    }
    if PROBE in kinds:
        sampled = [run for run in runs if run.sample_every]
        budgeted = [run for run in runs if run.sample_budget]
        rate = (
            f" (1 in {sampled[0].sample_every}, at least {sampled[0].min_samples} per epoch)"
            if sampled
            else f" (by a budget: their extra time at most {budgeted[0].sample_budget:.0%} of the epoch's, "
            "pooled over the epochs)"
            if budgeted
            else ""
        )
        method["call/forward/backward/optimizer"] = (
            f"probe steps{rate} time four prefix calls of the same signature, "
            "each fenced and device-inclusive: an "
            "empty call, forward only, forward+gradients, the real fused "
            "step; call = empty, forward/backward/optimizer "
            "= differences of consecutive calls (per-sample medians, pooled "
            "over the steady epochs, 95 % bootstrap "
            "intervals); each fused step's compute (dispatch to the end "
            "of its device work) is divided by those proportions"
        )
    if SPLIT in kinds:
        method["split steps"] = (
            "steps marked split time each part directly (its own phases); "
            "the median of each part over the steady "
            "epochs' split steps, as a share of their sum, divides every "
            "other step's compute. Split parts run one "
            "after another, each with its own call and fence, so their proportions lean towards each part's "
            "standalone cost where a fused step overlaps parts (docs/performance.md)"
        )
    if any(run.source == "fit" for run in runs):
        method["compute (fit)"] = (
            "each call of Keras' train function (timed itself, whatever the callback order) and a "
            "fence after it: Keras fetches the batch inside its train function, so input is included; "
            "with steps_per_execution N, a call is N batches, each an equal share"
        )
    if BLOCK in kinds:
        fenced = sum(epoch_kinds.count(FUSED) for epoch_kinds in counted)
        blocked = sum(epoch_kinds.count(BLOCK) for epoch_kinds in counted)
        method["compute (blocks)"] = (
            f"{blocked} of {fenced + blocked} fused steps ran in blocks: dispatched without a fence, one "
            "fence closing each block (before any other kind of step, an unprofiled stretch or the epoch's "
            f"last step, or after {MAX_BLOCK_STEPS} steps); a block's compute (its dispatches and the "
            "closing fence's wait) is shared equally over its steps, so their per-step compute is the "
            f"block's mean; the other {fenced} were fenced one by one (each its own device-true time)"
        )
    custom = [name for run in runs for name in run.custom_phases]
    if custom:
        method["own phases"] = (
            f"{', '.join(dict.fromkeys(custom))}: timed where the loop put profiler.phase()"
        )
    if fence_name:
        method["device"] = (
            "calls return before the device work is done: each part owns "
            "the fence wait that follows it, less the "
            "fence's idle cost; host and device-wait columns say which side was busy"
            if asynchronous
            else (
                "calls return when the work is done (synchronous): parts are host "
                "time and device waits are near zero"
            )
        )
        method[SYNC] = (
            f"the fence's ({fence_name}) own cost on an idle device, measured before every epoch, per fence"
        )
    if PROBE in kinds:
        method["profiling"] = (
            "the probe calls' extra time and the fence-coverage check "
            "(a second fence reading every written variable)"
        )
    if any(epoch.stretches for run in runs for epoch in run.epochs):
        share = f"{reference_share:.0%} of the steps" if reference_share else "some steps"
        method[UNPROFILED] = (
            f"{share} run in stretches with no instrumentation (short epochs pool theirs: "
            "a stretch every few epochs); profiled "
            "against unprofiled per-step time "
            "(blocks and stretches bootstrapped) is the profiling cost, "
            "and fit's framework overhead is taken "
            "against the epoch as it would run unprofiled"
        )
    method[OTHER] = "epoch wall time minus the sum of the phases above"
    method["warm-up"] = (
        "epoch 1 (tracing, pipeline start) is reported apart and excluded from steady-state figures"
    )
    if any(run.fit is not None for run in runs):
        method["fit"] = "Keras model.fit, timed per epoch by the EpochTimer callback"
    return method


def fence_cost(epochs: Sequence[EpochTiming]) -> FenceCost | None:
    """The fence's own cost on an idle device, as the profiler measured it before every epoch."""
    fenced = [epoch for epoch in epochs if epoch.fence is not None]
    spread = summarize([epoch.fence_idle_ms for epoch in fenced])
    if spread is None:
        return None
    return FenceCost(str(fenced[0].fence), IDLE_FENCE_CALLS * len(fenced), spread.median, spread.iqr)


def _unprofiled_share(epochs: Sequence[EpochTiming]) -> float:
    unprofiled = sum(stretch.steps for epoch in epochs for stretch in epoch.stretches)
    total = unprofiled + sum(len(epoch.steps) for epoch in epochs)
    return round(unprofiled / total, 3) if total else 0.0


def build_report(
    timings: Timings,
    *,
    model: str = "model",
    environment: Environment | None = None,
    peak: bool = False,
    **run_options: Any,
) -> Report:
    """A Report of one research loop (or a profiled ``fit``), exactly as the CLI builds its own.

    Args:
        timings: the PhaseProfiler the loop used (or its epochs, or run_profiled_loop's results).
        model: the model's name in tables and comparisons.
        environment: the machine's facts; collected here (TensorFlow, devices, versions) by default.
        peak: measure the device's matmul peak for the environment (a fraction of a second).
        **run_options: passed to :func:`build_model_run` (batch_size, losses, fit, trace, source, ...).

    Returns:
        A report that ``render_text``, ``compare``, ``plot`` and ``show`` accept, and ``save`` writes.
    """
    if environment is None:
        from tfprof_m1.collection.environment import collect_environment, default_device

        environment = collect_environment(default_device(), peak=peak)
    run_options.setdefault("device_kind", environment.device_kind)
    run_options.setdefault("executor_async", environment.executor_async)
    run = build_model_run(timings, model=model, **run_options)
    epochs, _, _ = epoch_timings(timings)
    config = RunConfig(
        models=[model],
        epochs=len(run.epochs),
        steps=None,
        batch_size=run.batch_size,
        data="own",
        seed=None,
        peak=peak,
        device=environment.device_used,
        fit=run.fit is not None,
        sample_every=run.sample_every,
        min_samples=run.min_samples,
        reference_share=_unprofiled_share(epochs),
    )
    return Report(
        config=config,
        environment=environment,
        runs=[run],
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        method=describe_method(
            [run],
            run.fence.name if run.fence else None,
            environment.device_kind,
            environment.executor_async,
            config.reference_share,
        ),
    )
