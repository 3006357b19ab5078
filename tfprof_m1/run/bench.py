"""One benchmark run: for each model, the profiled custom loop, then Keras ``fit``, into a Report."""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import TYPE_CHECKING, cast

from tfprof_m1.analysis.assemble import build_model_run, describe_method
from tfprof_m1.analysis.scaling import (
    efficiency_interval,
    replicas_text,
    scaling_efficiency,
    steady_throughputs,
)
from tfprof_m1.base.errors import UserError, required
from tfprof_m1.base.phases import PROBE, UNPROFILED
from tfprof_m1.base.progress import Progress
from tfprof_m1.base.safe_io import refuse_inputs
from tfprof_m1.base.tf_types import Dataset
from tfprof_m1.collection.environment import (
    DeviceChoice,
    collect_environment,
    configure_device,
    set_async_executor,
)
from tfprof_m1.collection.fence import VariablesFence, detect_fence_kind, make_fence
from tfprof_m1.collection.interrupt import (
    TrainingInterrupted,
    held,
    pending_signal,
    signal_name,
    signal_of,
    undeferred,
)
from tfprof_m1.collection.loop import (
    EpochResult,
    ProbePlan,
    Sampling,
    run_profiled_loop,
)
from tfprof_m1.collection.profiler import PhaseProfiler
from tfprof_m1.collection.strategies import (
    STRATEGIES,
    Distribution,
    StrategyChoice,
    make_strategy,
    parse_tf_config,
)
from tfprof_m1.report.model import DataInfo, Fingerprint, ModelRun, Report, RunConfig, Scaling
from tfprof_m1.run.baseline import run_baseline
from tfprof_m1.run.fit_headline import FIT_JIT_COMPILE, run_fit_headline
from tfprof_m1.run.outputs import OutputSettings, RunOutputs
from tfprof_m1.run.progress import EpochProgress, epoch_line, finished_epochs, placement, stopped_on_nan
from tfprof_m1.run.rundir import make_run_dir, run_dir_name
from tfprof_m1.trace.window import TraceWindow, check_within, default_step_range
from tfprof_m1.views.render import tensorboard_command
from tfprof_m1.views.width import counted
from tfprof_m1.workloads.datasets import DATA_MODES, TrainData, load_train_data
from tfprof_m1.workloads.models import ModelSpec, build_model, get_spec
from tfprof_m1.workloads.pipeline import make_dataset, steps_per_epoch

__all__ = ["LIMITS", "OutputSettings", "run_benchmark", "validate_config"]

if TYPE_CHECKING:
    from tfprof_m1.collection.steps import TrainSteps


#: Each whole-number setting's range (inclusive) and what the message says: the bounds keep a run
#: within what a machine can hold (``--repeats 1e9`` would plan a billion runs) and what numpy and
#: TensorFlow accept (a seed is 32 bits).
LIMITS: dict[str, tuple[float, float, str]] = {
    "epochs": (1, 100_000, "must be from 1 to 100,000"),
    "repeats": (1, 1_000, "must be from 1 to 1,000 (each repeat runs every model again)"),
    "steps": (1, 10**9, "must be from 1 to 10**9"),
    "batch_size": (1, 2**20, "must be from 1 to 1,048,576"),
    "sample_every": (1, 10**9, "must be from 1 to 10**9"),
    "min_samples": (0, 10**6, "must be from 0 to 1,000,000"),
    "seed": (0, 2**32 - 1, "must be from 0 to 4294967295 (numpy and TensorFlow take 32-bit seeds)"),
    "replicas": (1, 4_096, "must be from 1 to 4,096"),
    "fenced_share": (0.0, 1.0, "a share of the fused steps, from 0 to 1"),
}


def validate_config(config: RunConfig) -> None:
    """Raise UserError for settings no run can use (before TensorFlow is imported); the one check
    of a RunConfig, made by :func:`run_benchmark`."""
    for name in config.models:
        get_spec(name)
    checks = [
        *(
            (
                low <= getattr(config, name) <= high,
                f"--{name.replace('_', '-')} {getattr(config, name)}: {why}",
            )
            for name, (low, high, why) in LIMITS.items()
            if getattr(config, name) is not None
        ),
        (
            0.0 <= config.reference_share < 0.5,
            f"--reference-share {config.reference_share}: must be from 0 up to (not including) 0.5",
        ),
        (config.data in DATA_MODES, f"--data {config.data!r}: choose one of {', '.join(DATA_MODES)}"),
        (
            config.fit_jit_compile in FIT_JIT_COMPILE,
            f"--fit-jit-compile {config.fit_jit_compile!r}: choose one of {', '.join(FIT_JIT_COMPILE)}",
        ),
        (
            config.strategy in STRATEGIES,
            f"--strategy {config.strategy!r}: choose one of {', '.join(STRATEGIES)}",
        ),
        (
            config.replicas == 1 or config.strategy == "mirrored",
            f"--replicas {config.replicas}: only --strategy mirrored takes "
            "a replica count (multiworker: one "
            "process per worker, each with its own devices)",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise UserError(message)


def _check_trace_steps(config: RunConfig, output_settings: OutputSettings, steps: int) -> None:
    """``--trace-steps`` must lie within the run (checked with the data, before any run directory)."""
    window = output_settings.trace_steps
    if output_settings.trace and window is not None:
        check_within(window, required(config.epochs, "epochs"), steps, "--trace-steps", "steps", "the run")


def _trace_window(
    config: RunConfig,
    output_settings: OutputSettings,
    steps: int,
    run_dir: Path | None,
    profiler: PhaseProfiler,
    plan: list[str] | None = None,
) -> TraceWindow | None:
    if run_dir is None or not output_settings.trace:
        return None
    _check_trace_steps(config, output_settings, steps)
    probes = [index for index, kind in enumerate(plan or []) if kind == PROBE]
    unprofiled = [index for index, kind in enumerate(plan or []) if kind == UNPROFILED]
    return TraceWindow(
        run_dir,
        output_settings.trace_steps or default_step_range(steps, config.epochs, probes, unprofiled),
        profiler,
    )


def _SILENT(message: str) -> None:  # noqa: N802 (a constant: the progress of --quiet)
    """Progress under ``--quiet``: nothing is shown, not even inside epochs."""


def run_model(
    spec: ModelSpec,
    data: TrainData,
    config: RunConfig,
    progress: Progress,
    run_dir: Path | None = None,
    output_settings: OutputSettings = OutputSettings(),
    device_kind: str = "cpu",
    executor_async: bool = False,
    distributed: StrategyChoice | None = None,
) -> ModelRun:
    """Profile ``spec`` on ``data``: the custom loop, then (unless disabled) Keras fit; under a
    strategy, then one replica alone for the scaling efficiency (worker 0 only, when multi-worker).

    Raises:
        TrainingInterrupted: a stop signal; ``partial`` is the run, marked interrupted, or nothing when the
        loop had not timed a step.
    """
    distributed = distributed or StrategyChoice(None, None)
    distribution = distributed.distribution
    batch_size = required(config.batch_size, "batch-size") * (
        distribution.replicas if distribution else 1
    )  # the global batch
    steps = steps_per_epoch(data.examples, batch_size, config.steps)
    seed = required(config.seed, "seed")
    dataset = make_dataset(data, batch_size, seed, config.steps, config.autotune)
    train_steps = _train_steps(spec, seed, dataset, distributed)
    fence = make_fence(detect_fence_kind(), train_steps.token)
    sampling = Sampling.from_options(
        config.sample_every, config.min_samples, config.reference_share, config.fenced_share
    )
    # the loop's own plans of its first two epochs: the second's costs are still the assumed ones
    # (the warm-up measures none), so these are the plans it will run
    planner = ProbePlan(sampling)
    plans = [planner.next_epoch(steps) for _ in range(min(2, config.epochs))]
    across = (
        f" ({distribution.replicas} replicas × {config.batch_size}, {placement(distribution)})"
        if distribution
        else ""
    )
    first = plans[0]
    progress(
        f"[{spec.name}] custom loop: {config.epochs} epochs × {steps} steps of {batch_size}{across}, "
        f"fence {fence.name}; epoch 1: {counted(first.count(PROBE), 'probe step')}, "
        f"{counted(first.count(UNPROFILED), 'unprofiled step')}"
    )
    progress(f"[{spec.name}] sampling: {_sampling_line(sampling)}")
    line = epoch_line(spec, config.epochs)
    shown = EpochProgress(spec.name, config.epochs) if progress is not _SILENT else None

    def epoch_done(result: EpochResult) -> None:
        if shown is not None:
            shown.clear()
        progress(line(result))

    coverage = VariablesFence(train_steps.written_variables)
    profiler = PhaseProfiler(fence=fence, coverage_fence=coverage)
    window = _trace_window(config, output_settings, steps, run_dir, profiler, plans[-1])
    stop: TrainingInterrupted | None = None
    notes: list[str] = []  # why the run ended early, if it did
    try:
        results = run_profiled_loop(  # closes the trace window however it ends
            train_steps,
            dataset,
            epochs=config.epochs,
            steps_per_epoch=steps,
            profiler=profiler,
            sampling=sampling,
            on_epoch_end=epoch_done,
            trace=window,
            stop_on_non_finite=bool(config.stop_on_nan),
            on_step=shown,
        )
        if len(results) < config.epochs:  # only --stop-on-nan ends the loop early without an exception
            notes.append(stopped_on_nan("loop", results[-1].loss, len(results), config.epochs))
    except TrainingInterrupted as error:
        stop, results = error, cast("list[EpochResult]", error.partial)
        finished = sum(result.timing.complete for result in results)
        where = (
            f"in loop epoch {finished + 1} of {config.epochs}"
            if finished < config.epochs
            else "as the loop ended"
        )
        notes.append(
            f"{signal_name(error.signum)} {where}: "
            f"{finished_epochs(finished)} kept"
            + (", the cut-short one marked incomplete" if len(results) > finished else "")
            + ("; fit not run" if config.fit else "")
        )
    fit, fit_note = None, None
    late = pending_signal()  # a stop after the loop, held by run_benchmark: fit is not started
    if config.fit and stop is None and late is not None:
        notes.append(f"{signal_name(late)} after the loop: the loop is complete, fit not run")
    elif config.fit and stop is None:
        headline = run_fit_headline(spec, data, config, progress, distributed, batch_size)
        fit, fit_note, stop = headline.fit, headline.note, headline.stop
        notes += headline.notes
    interrupted = "; ".join(notes) or None
    if not results:
        assert stop is not None
        raise TrainingInterrupted(stop.signum, None) from stop  # no step timed: nothing to report

    run = build_model_run(
        results,
        model=spec.name,
        batch_size=batch_size,
        fit=fit,
        trace=window,
        device_kind=device_kind,
        executor_async=executor_async,
        coverage_fence=coverage.name,
        source="benchmark",
        data=DataInfo(
            source=data.source,
            reason=data.reason,
            path=data.path,
            examples=data.examples,
            published_examples=spec.train_examples,
            notes=list(data.notes),
        ),
        dataset=spec.dataset,
        forward_flops_per_example=spec.forward_flops_per_example,
        backward_flops_per_example=spec.backward_flops_per_example,
        sampling=sampling,
        run_dir=None if run_dir is None else str(run_dir),
        progress=progress,
        interrupted=interrupted,
        fingerprint=Fingerprint(
            input_dtype=dataset.element_spec[0].dtype.name,
            input_path="tf.data from memory, " + ("autotuned" if config.autotune else "fixed parallelism"),
            loop_jit_compile=train_steps.jit_compile,
        ),
        distribution=distribution,
    )
    if window is None:
        run.trace_problem = (
            "not traced (--no-trace)" if run_dir is not None else "not traced (no run directory)"
        )
    if fit_note is not None:
        run.warnings.append(fit_note)
    if stop is not None:
        raise TrainingInterrupted(stop.signum, run) from stop
    if distribution is not None and config.baseline and not distribution.worker:
        try:
            with undeferred():  # the baseline's process is stopped and waited for when a stop arrives
                run.scaling = _scaling(spec, config, progress, run, run_dir, distribution)
        except KeyboardInterrupt as error:  # the distributed run is kept; only its scaling is missing
            run.interrupted = (
                f"{signal_name(signal_of(error))} during the single-replica baseline: no scaling efficiency"
            )
            raise TrainingInterrupted(signal_of(error), run) from error
    return run


def _train_steps(spec: ModelSpec, seed: int, dataset: Dataset, distributed: StrategyChoice) -> TrainSteps:
    """The article's model and its steps (Adam, cross-entropy from logits), under the strategy if any."""
    import keras

    from tfprof_m1.collection.steps import TrainSteps

    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if distributed.strategy is None:
        return TrainSteps(build_model(spec, seed=seed), loss, keras.optimizers.Adam(), dataset.element_spec)
    from tfprof_m1.collection.distributed import DistributedTrainSteps

    with distributed.scope():
        model, optimizer = build_model(spec, seed=seed), keras.optimizers.Adam()
    return DistributedTrainSteps(model, loss, optimizer, distributed.strategy)


def _scaling(
    spec: ModelSpec,
    config: RunConfig,
    progress: Progress,
    run: ModelRun,
    run_dir: Path | None,
    distribution: Distribution,
) -> Scaling | None:
    """Run one replica alone in a fresh process (see tfprof_m1.run.baseline) and compare its steady
    throughput with the distributed run's; None, said in the run's warnings, if it failed."""
    progress(
        f"[{spec.name}] single-replica baseline: {config.epochs} epochs × {config.steps or 'all'} steps of "
        f"{config.batch_size} on one device, in a process of its own, for the scaling efficiency"
    )
    try:
        baseline = run_baseline(
            spec.name, config, run.data.source if run.data else config.data, run_dir, progress
        )
    except (RuntimeError, OSError, UserError) as error:
        run.warnings.append(f"no scaling efficiency: {error}")
        progress(f"[{spec.name}] {run.warnings[-1]}")
        return None
    result = scaling_efficiency(
        steady_throughputs(run),
        steady_throughputs(baseline),
        len(distribution.devices),  # this process's replicas
        baseline.steady.step_median_ms,
    )
    if result is not None:
        progress(
            f"[{spec.name}] scaling efficiency {result.efficiency:.0%} {efficiency_interval(result)}: "
            f"{result.examples_per_s:,.0f} examples/s on {replicas_text(len(distribution.devices))} against "
            f"{result.baseline_examples_per_s:,.0f} on one"
        )
    return result


def run_benchmark(
    config: RunConfig,
    progress: Progress | None = None,
    outputs: RunOutputs | None = None,
    output_settings: OutputSettings = OutputSettings(),
) -> Report:
    """Run every model in ``config`` and return the report; ``output_settings`` says where run directories
    and traces go.

    Each model's results are handed to ``outputs`` as soon as that model is done (by default a
    :class:`~tfprof_m1.run.outputs.RunOutputs` that writes the run directories), so a later failure or
    a stop signal never costs a finished model's figures. From a model's start until its outputs are
    written, a stop signal is held (:class:`~tfprof_m1.collection.interrupt.held`): the loop and fit take
    it at a step boundary, and one that lands after the loop (building the fit model, reading the
    trace, writing files) waits until the model's report is written; the last run written then says
    which models were not run.

    Raises:
        UserError: bad config, missing or damaged data, or an unavailable device (before any training).
        TrainingInterrupted: a stop signal; ``partial`` is the Report of what was measured (None if
            nothing was), already handed to ``outputs``.
    """
    say = progress or _SILENT
    outputs = outputs if outputs is not None else RunOutputs(say=say)
    validate_config(config)
    specs = [get_spec(name) for name in config.models]
    batch_size = required(config.batch_size, "batch-size")
    # The data is read and checked before TensorFlow starts (it is numpy and files, and a download
    # imports Keras without initialising TensorFlow's devices): a missing file or a batch too large
    # for it is answered in a second, not after TensorFlow's start-up.
    if config.strategy == "multiworker":  # TF_CONFIG is read before TensorFlow starts, too
        parse_tf_config(os.environ.get("TF_CONFIG"))
    datasets = _load_all(specs, config, say, quiet=progress is None)
    if outputs.json_path is not None:  # before training: --json must not replace the data it trains on
        refuse_inputs(
            "--json", outputs.json_path, [file for data in datasets.values() for file in data.files]
        )
    known = _replicas_before_tensorflow(config)
    if known is not None:
        _check_sizes(specs, datasets, config, output_settings, batch_size * known)
    if config.async_executor:
        set_async_executor(True)
    device: DeviceChoice = configure_device(config.device)
    distributed = make_strategy(
        config.strategy, required(config.replicas, "replicas"), batch_size
    )  # before any tensor
    environment = collect_environment(device, peak=bool(config.peak))
    executor = ", asynchronous executor (GPU-style rehearsal)" if environment.executor_async else ""
    say(
        f"TensorFlow {environment.tensorflow}, Keras {environment.keras}, "
        f"device {device.name} ({environment.device_label}){executor}"
    )
    replicas = distributed.distribution.replicas if distributed.distribution else 1
    if replicas != known:
        _check_sizes(specs, datasets, config, output_settings, batch_size * replicas)
    runs: list[ModelRun] = []
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")

    def report_so_far() -> Report:
        fence = next((run.fence.name for run in runs if run.fence is not None), None)
        return Report(
            config=config,
            environment=environment,
            runs=list(runs),
            created=created,
            method=describe_method(
                runs, fence, device.kind, environment.executor_async, config.reference_share
            ),
        )

    report = None
    order = [(repeat, spec) for repeat in range(1, config.repeats + 1) for spec in specs]
    for position, (repeat, spec) in enumerate(order):
        data = datasets[spec.name]
        if config.repeats > 1:
            say(f"[{spec.name}] run {repeat} of {config.repeats}")
        signum: int | None = None
        run: ModelRun | None = None
        # From here until this model's outputs are written, a stop waits: the loop and fit take it at
        # a step boundary; after the loop it is held until the report is built and written.
        with held() as hold:
            try:
                run_dir = _run_dir(spec, environment.device_label, distributed, output_settings, outputs, say)
                run = run_model(
                    spec,
                    data,
                    config,
                    say,
                    run_dir,
                    output_settings,
                    device.kind,
                    environment.executor_async,
                    distributed,
                )
            except TrainingInterrupted as stop:
                run, signum = cast("ModelRun | None", stop.partial), stop.signum
            except KeyboardInterrupt as stop:  # no guard installed: raised where it landed
                signum = signal_of(stop)
            if run is not None:
                run.repeat = repeat if config.repeats > 1 else None
                runs.append(run)
                report = report_so_far()
                outputs.save(report)
        signum = signum or hold.signum
        if signum is None:
            continue
        # What was not run is said on the last run measured (and in --json).
        not_run = [
            other.name + (f" (run {r})" if config.repeats > 1 else "")
            for r, other in order[position + (1 if run is not None else 0) :]
        ]
        if runs and not_run:
            last = runs[-1]
            if last is not run:
                first = f"{signal_name(signum)} before {not_run[0]} had timed a step"
            else:
                first = last.interrupted or f"{signal_name(signum)} after this run was measured"
            last.interrupted = f"{first}; not run: {', '.join(not_run)}"
            with held():  # only --json changes: the run directories hold each model's own report
                report = report_so_far()
                outputs.save(report)
        raise TrainingInterrupted(signum, report)
    assert report is not None
    return report


def _run_dir(
    spec: ModelSpec,
    device_label: str,
    distributed: StrategyChoice,
    output_settings: OutputSettings,
    outputs: RunOutputs,
    say: Progress,
) -> Path | None:
    """A new run directory for ``spec`` under ``--logdir`` (None without one, or when it cannot be made:
    said, and the run goes on without it)."""
    if output_settings.logdir is None:
        return None
    try:
        name = run_dir_name(spec.name, device_label, _dt.datetime.now())
        distribution = distributed.distribution
        # workers may share a logdir (and a second): each gets its own directory
        if distribution is not None and distribution.worker is not None:
            name += f"-worker{distribution.worker}"
        run_dir = make_run_dir(output_settings.logdir, name)
    except OSError as error:  # the disk filled or the folder changed since it was checked
        outputs.fail(Path(output_settings.logdir), error, "measuring on without a run directory (no trace)")
        return None
    say(f"[{spec.name}] run directory {run_dir} ({tensorboard_command(str(run_dir))})")
    return run_dir


def _load_all(
    specs: list[ModelSpec], config: RunConfig, say: Progress, quiet: bool = False
) -> dict[str, TrainData]:
    """Every model's data, read and checked before any model trains: with `all`, a damaged file of
    the last model must not cost the first two models' training time."""
    datasets = {}
    for spec in specs:
        data = load_train_data(
            spec,
            config.data,
            config.data_dir,
            required(config.seed, "seed"),
            bool(config.download),
            quiet=quiet,
        )
        say(f"[{spec.name}] {data.source} data: {data.reason}")
        for note in data.notes:
            say(f"[{spec.name}] note: {note}")
        datasets[spec.name] = data
    return datasets


def _replicas_before_tensorflow(config: RunConfig) -> int | None:
    """How many replicas share the global batch, where the settings alone say (one device, or
    ``--strategy mirrored --replicas N``); None where TensorFlow must be asked (multi-worker)."""
    if config.strategy in (None, "one"):
        return 1
    if config.strategy == "mirrored":
        return config.replicas
    return None


def _check_sizes(
    specs: list[ModelSpec],
    datasets: dict[str, TrainData],
    config: RunConfig,
    output_settings: OutputSettings,
    global_batch: int,
) -> None:
    """Refuse a batch (or a replica count) larger than a model's data, and ``--trace-steps`` past
    the run's last step."""
    batch_size = required(config.batch_size, "batch-size")
    for spec in specs:
        data = datasets[spec.name]
        replicas = global_batch // batch_size
        if replicas > data.examples:
            raise UserError(
                f"--replicas {replicas}: more replicas than the {data.examples:,} examples of "
                f"{spec.name}'s data (each replica takes at least one example a step); "
                f"use at most {data.examples}"
            )
        if global_batch > data.examples:
            per_replica = f" (× {global_batch // batch_size} replicas)" if global_batch != batch_size else ""
            raise UserError(
                f"--batch-size {batch_size}{per_replica}: larger "
                f"than the {data.examples:,} examples of "
                f"{spec.name}'s data; use at most {data.examples // (global_batch // batch_size)}"
            )
        steps = steps_per_epoch(data.examples, global_batch, config.steps)
        _check_trace_steps(config, output_settings, steps)


def _sampling_line(sampling: Sampling) -> str:
    """The progress line's account of the sampling rule. Probe steps (under the budget) and
    unprofiled stretches (short epochs) are pooled over epochs, so their counts vary from epoch to
    epoch: the run's first line names the first epoch's."""
    share = f"{sampling.reference_share * 100:g} % of steps unprofiled, pooled over epochs"
    if sampling.fenced_share is not None:
        share += f", {sampling.fenced_share * 100:g} % of fused steps fenced one by one"
    if sampling.budget is not None:
        return f"probe steps and fences by a {sampling.budget * 100:g} % budget, {share}"
    return f"1 step in {sampling.every} a probe step (at least {sampling.min_samples} an epoch), {share}"
