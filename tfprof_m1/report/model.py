"""The report: plain dataclasses, versioned JSON, atomic save, tolerant load.

Everything a renderer or ``compare`` needs is here, so they never import TensorFlow. Every field is
documented in ``docs/report-format.md``; change both together and bump :data:`SCHEMA_VERSION` when
a field changes meaning.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import statistics
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from tfprof_m1.base.errors import UserError
from tfprof_m1.base.files import write_atomic
from tfprof_m1.base.safe_io import read_bounded
from tfprof_m1.collection.environment import Environment
from tfprof_m1.collection.fence import FenceCost
from tfprof_m1.collection.loop import (
    DEFAULT_BUDGET,
    DEFAULT_MIN_SAMPLES,
    DEFAULT_REFERENCE_SHARE,
    DEFAULT_SAMPLE_EVERY,
)
from tfprof_m1.collection.memory import MemoryUse
from tfprof_m1.collection.profiler import FenceCheckSample
from tfprof_m1.collection.strategies import Distribution
from tfprof_m1.report.interval import Interval
from tfprof_m1.report.step_codec import (
    StepValues,
    is_packed,
    pack_kinds,
    pack_samples,
    pack_values,
    unpack_array,
    unpack_kinds,
    unpack_samples,
)
from tfprof_m1.report.validate import check_plausible, clean_json
from tfprof_m1.trace.xplane import TraceSummary

__all__ = [
    "MAX_REPORT_BYTES",
    "SCHEMA_VERSION",
    "DataInfo",
    "EpochReport",
    "Execution",
    "FenceCheck",
    "Fingerprint",
    "FitReport",
    "Headline",
    "LoopSummary",
    "ModelRun",
    "PartSummary",
    "PhaseSummary",
    "ProfilingCost",
    "Report",
    "RunConfig",
    "Scaling",
    "check_consistency",
    "load_report",
    "run_name",
]

SCHEMA_VERSION = 8
#: Schema 1 (tfprof_m1 0.1) timed forward/backward/optimizer as host dispatch; on an asynchronous
#: device its parts and ``sync`` mean something else, so it is refused rather than misread. Schema 2
#: reports are valid schema 3 reports (3 made the benchmark-only fields optional, for research code),
#: and schema 3 reports valid schema 4 ones (4 added ``interrupted``: a cut-short run says so), and
#: schema 4 reports valid schema 5 ones (5 added ``distribution`` and ``scaling``, for tf.distribute runs);
#: schema 6 moved the fence from the environment to each run (each model has its own): a schema 5
#: report's environment fence is given to every run on load. Schema 7 made every interval one
#: :class:`~tfprof_m1.report.interval.Interval` object (``{"point", "low", "high"}``) where schema 6
#: had flat ``x``/``x_low``/``x_high`` fields: older reports are upgraded on load (``_upgraded``).
#: Schema 8 writes the per-step values (``step_ms``, ``step_kinds``, probe ``samples``) packed
#: (:mod:`tfprof_m1.report.step_codec`); lists are read too.
OLDEST_READABLE_SCHEMA = 2


@dataclass
class PhaseSummary:
    """One phase over a set of steps. Times in ms."""

    phase: str
    #: Mean time per epoch spent in this phase (for one epoch: that epoch's total).
    total_ms: float
    #: total_ms / epoch wall time.
    share: float
    #: Per-step median and interquartile range; None for ``other`` (an epoch-level remainder).
    step_median_ms: float | None = None
    step_iqr_ms: float | None = None
    step_mean_ms: float | None = None
    #: Mean device wait per epoch inside this phase (fence waits it owned), where measured directly.
    wait_ms: float | None = None


@dataclass
class PartSummary:
    """One part of a training step (call, forward, backward, optimizer), from the probe samples.

    Times are medians per sampled step, in ms; ``host_ms + wait_ms`` is about ``ms`` (medians of
    sums and sums of medians differ a little). Shares carry 95 % bootstrap intervals.
    """

    part: str
    ms: float
    host_ms: float
    wait_ms: float
    #: Share of the step's compute (call, forward, backward, optimizer), with its interval.
    share: Interval
    #: Share of forward + backward + optimizer only, with its interval (None for the call).
    math_share: Interval | None = None


@dataclass
class ProfilingCost:
    """What profiling costs end to end: per-step time of blocks of profiled steps against the
    unprofiled stretches of the same epochs (:func:`~tfprof_m1.analysis.estimate.estimate_cost`),
    and what it means for the steady epoch."""

    profiled_step_ms: float
    unprofiled_step_ms: float
    #: profiled / unprofiled, with its 95 % bootstrap interval (blocks and stretches resampled).
    ratio: Interval
    blocks: int
    stretches: int
    #: The steady epoch as it would run unprofiled: its profiled steps scaled by 1/ratio.
    unprofiled_epoch_ms: float


@dataclass
class Execution:
    """How the device executed calls, judged from the sampled full steps."""

    #: "asynchronous" (calls return before the work is done) or "synchronous".
    mode: str
    #: Median device wait after a full step / its host plus wait time.
    wait_share: float
    #: Whether TensorFlow's eager executor was asynchronous (set_synchronous_execution(False)).
    executor_async: bool
    note: str | None = None


@dataclass
class FenceCheck:
    """The coverage check: what a second, independent fence (``fence``) still waited for after the
    first, on sampled steps (:func:`~tfprof_m1.analysis.estimate.fence_check`, from the epochs'
    ``fence_checks``). ``flagged``: the main fence left device work queued (median leftover above
    0.1 ms and 5 % of a sampled step). ``judged`` False: the run's calls could not leave work queued
    (a CPU under the synchronous executor), so the leftover is the host's noise and never flagged."""

    samples: int
    leftover_median_ms: float
    leftover_max_ms: float
    flagged: bool
    fence: str
    judged: bool = True


@dataclass
class EpochReport:
    """One epoch of the profiled custom loop, with its raw per-step values.

    ``step_ms`` holds each phase's per-step ms: as :class:`~tfprof_m1.report.step_codec.StepValues`
    (one float64 array) in a report read from a file or built by ``build_report``, or any sequence
    of floats a caller puts there; analysis takes ``np.asarray`` of either. ``step_kinds`` likewise:
    a :class:`~tfprof_m1.report.step_codec.StepKinds` (a code a step) there, or a list of names."""

    index: int
    warmup: bool
    complete: bool
    wall_ms: float
    steps: int
    sampled_steps: int
    examples: int
    examples_per_s: float
    loss: float | None
    accuracy: float | None
    phases: list[PhaseSummary]
    proportions: dict[str, float] | None
    proportions_source: str
    step_kinds: Sequence[str]
    step_ms: dict[str, Sequence[float]]
    notes: list[str] = field(default_factory=list)
    gc_ms: float = 0.0
    gc_collections: int = 0
    outside_steps_ms: dict[str, float] = field(default_factory=dict)
    #: Raw probe samples: variant -> [host ms, device wait ms], one per sampled step (read from a
    #: file: :class:`~tfprof_m1.report.step_codec.ProbeSamples`, columns that read as such a list).
    samples: Sequence[dict[str, list[float]]] = field(default_factory=list)
    #: Raw coverage checks, one per sampled step that ran one: ``first_ms``, ``leftover_ms``.
    fence_checks: list[FenceCheckSample] = field(default_factory=list)
    #: Unprofiled stretches: [steps, wall ms, closing fence wait ms] each ([steps, wall ms] before
    #: 2026-11-30).
    stretches: list[list[float]] = field(default_factory=list)
    #: One fence call on the idle device, measured before the epoch (ms).
    fence_idle_ms: float = 0.0
    #: Host resident set and device memory after the epoch (outside its timing).
    memory: MemoryUse | None = None


@dataclass
class LoopSummary:
    """Steady state of the custom loop: the epochs after the first (all, if there is only one)."""

    epochs: list[int]
    excludes_first_epoch: bool
    epoch_mean_ms: float
    epoch_median_ms: float
    epoch_iqr_ms: float
    step_median_ms: float
    step_iqr_ms: float
    examples_per_s: float
    phases: list[PhaseSummary]
    noisy: bool = False
    #: Mean Python garbage-collection pause time per epoch.
    gc_ms: float = 0.0
    #: Call/forward/backward/optimizer from the probe samples pooled over these epochs.
    parts: list[PartSummary] = field(default_factory=list)
    samples: int = 0
    profiling_cost: ProfilingCost | None = None
    execution: Execution | None = None
    fence_check: FenceCheck | None = None


@dataclass
class FitReport:
    """Keras ``fit`` on the same model, data and batch size (the article's measurement): what the
    run measured (:class:`~tfprof_m1.collection.fit_run.FitRun`) as reported (times rounded, a
    non-finite loss None), and its summaries, computed from ``epoch_ms`` (never read from a file, so
    they always agree)."""

    #: Each epoch's wall time (ms), the first (warm-up) included.
    epoch_ms: list[float]
    losses: list[float | None]
    accuracies: list[float | None]
    #: Whether fit compiled its step with XLA (Keras' ``jit_compile``).
    jit_compile: bool
    #: Host and device memory after each epoch.
    memory: list[MemoryUse] = field(default_factory=list)

    first_epoch_ms: float = field(init=False)
    #: Mean over epochs after the first; None with a single epoch.
    steady_mean_ms: float | None = field(init=False)
    #: Mean over all epochs, first included: the number the article reported.
    all_mean_ms: float = field(init=False)

    def __post_init__(self) -> None:
        if not self.epoch_ms:
            raise ValueError("fit.epoch_ms is empty")
        self.first_epoch_ms = self.epoch_ms[0]
        self.steady_mean_ms = statistics.mean(self.steady_epoch_ms) if self.steady_epoch_ms else None
        self.all_mean_ms = statistics.mean(self.epoch_ms)

    @property
    def steady_epoch_ms(self) -> list[float]:
        """The steady epochs' times (ms): all but the first (warm-up); empty with a single epoch."""
        return self.epoch_ms[1:]


@dataclass
class Headline:
    """The numbers printed first."""

    fit_epoch_mean_ms: float | None
    fit_epoch_mean_all_ms: float | None
    fit_first_epoch_ms: float | None
    loop_epoch_mean_ms: float
    loop_first_epoch_ms: float
    #: Steady fit epoch minus the steady custom-loop epoch as it runs *unprofiled* (see
    #: ProfilingCost; the profiled epoch where that was not measured): what Keras fit adds.
    framework_overhead_ms: float | None
    framework_overhead_ratio: float | None
    basis: str
    #: The loop epoch fit was compared with: "unprofiled" (estimated) or "profiled".
    overhead_against: str = "profiled"


@dataclass
class DataInfo:
    """The data a benchmark run trained on: real or synthetic, why, where, and how many examples."""

    source: str
    reason: str
    path: str | None
    examples: int
    published_examples: int
    notes: list[str] = field(default_factory=list)


@dataclass
class Fingerprint:
    """What actually ran, for the parity guard of ``compare`` (None where not known)."""

    #: dtype of the model's input batches (``uint8`` for the article models' pipeline).
    input_dtype: str | None = None
    #: How batches were made: ``tf.data from memory, fixed parallelism``, ``... autotuned``, ``own``.
    input_path: str | None = None
    #: Whether the custom loop's steps were compiled with XLA.
    loop_jit_compile: bool | None = None
    #: The model's mixed-precision policy as it trained (``float32``, ``mixed_float16``...); Keras'
    #: global policy when the report was built, for runs that did not say.
    mixed_precision: str | None = None
    #: Compute ops the trace found on host threads only during a GPU run (CPU fallbacks), by name.
    cpu_fallback_ops: list[str] = field(default_factory=list)
    #: Thermal and power state where the OS exposes it (``power: ac``, ``cpu_speed_limit: 100 %``...).
    power: dict[str, str] = field(default_factory=dict)
    #: Batches per call of the training step (Keras' ``steps_per_execution``; 1 for the loop).
    steps_per_execution: int | None = None
    #: The model's weights, counted, and its layer kinds with counts (``2 Conv2D, 1 Dense``): with
    #: its name, what tells two models apart (compare never pools runs of different models).
    parameters: int | None = None
    layers: str | None = None


@dataclass
class Scaling:
    """Throughput of a distributed run against a single-replica run of the same model and
    per-replica batch on one of its devices, measured in the same process just after it."""

    replicas: int
    #: Steady examples/s of the distributed run (this worker's; ``merge`` adds the workers') and of
    #: the single-replica run, each the mean over steady epochs.
    examples_per_s: float
    baseline_examples_per_s: float
    #: examples_per_s / (replicas × baseline) (1.0: perfect scaling), and its 95 % interval; no
    #: interval (None) when a side has a single steady epoch: one value has no spread to show.
    efficiency: float
    efficiency_interval: Interval | None
    #: Steady examples/s of each epoch of the single-replica run (for merged views and re-analysis).
    baseline_epoch_examples_per_s: list[float] = field(default_factory=list)
    baseline_step_median_ms: float | None = None


@dataclass
class ModelRun:
    """Everything measured for one model."""

    model: str
    batch_size: int | None
    steps_per_epoch: int
    epochs: list[EpochReport]
    steady: LoopSummary
    fit: FitReport | None
    headline: Headline
    #: "benchmark" (the CLI's article models), "loop" (a research loop) or "fit" (ProfileCallback).
    source: str = "benchmark"
    #: The article's dataset and data files (benchmark runs only).
    dataset: str | None = None
    data: DataInfo | None = None
    #: Forward FLOPs of one example, counted from the model's layers (article models only).
    forward_flops_per_example: int | None = None
    #: Backward FLOPs of one example, counted the same way (None: taken as 2 × forward).
    backward_flops_per_example: int | None = None
    #: Probe sampling (1 step in ``sample_every``, at least ``min_samples`` per epoch), when used.
    sample_every: int | None = None
    min_samples: int | None = None
    #: Probe sampling by budget (schema 8): the probe steps' extra time is at most this share of the
    #: epoch's steps' (``sample_every`` and ``min_samples`` are then None); None: the fixed rule.
    sample_budget: float | None = None
    #: The run's directory (TensorBoard events, trace, report.json), if one was written.
    run_dir: str | None = None
    trace: TraceSummary | None = None
    #: Why there is no trace (--no-trace, profiler busy, collection failed), if there is none.
    trace_problem: str | None = None
    #: Phases a research loop defined itself, in the order first seen.
    custom_phases: list[str] = field(default_factory=list)
    #: Warnings about the run (input pipeline stalls...), one line each.
    warnings: list[str] = field(default_factory=list)
    #: Why the run ended early (a stop signal, a non-finite loss), what was kept; None if it ran to
    #: the end. Its cut-short epoch, if any, has ``complete`` False and is left out of ``steady``.
    interrupted: str | None = None
    #: Which run of the model this is (1, 2, ...) when ``--repeats`` ran it several times; None otherwise.
    repeat: int | None = None
    #: Why device memory figures are missing (a CPU's allocator keeps no stats; Metal reports zeros).
    memory_note: str | None = None
    #: What actually ran (input, XLA, precision, CPU fallbacks, power), for comparing like with like.
    fingerprint: Fingerprint | None = None
    #: tf.distribute runs: the strategy, replicas and devices; and the scaling against one replica.
    distribution: Distribution | None = None
    scaling: Scaling | None = None
    #: The device fence the run's steps used and its own cost on the idle device (None: no fence).
    fence: FenceCost | None = None


def run_name(run: ModelRun) -> str:
    """The model's name, with the run's number when the model was run several times (``mnist (run 2)``)."""
    return run.model if run.repeat is None else f"{run.model} (run {run.repeat})"


@dataclass(frozen=True)
class RunConfig:
    """What was measured: the one record of a run's settings, built once (from the CLI's flags, whose
    defaults are these, or by research code), checked once (``run_benchmark`` calls
    :func:`~tfprof_m1.run.bench.validate_config`) and stored once in the report. Where output goes
    (run directories, the trace window, formats) is not here: see
    :class:`~tfprof_m1.run.outputs.OutputSettings`.

    Each field's metadata holds its command-line ``flag`` and ``help`` (argparse's ``%(default)s``
    is the field's default): the run command's parser (:mod:`tfprof_m1.cli.run`) and the argv of a
    child run (:mod:`tfprof_m1.run.child`) are both built from it. A ``--no-X`` flag stores False.

    A research-code report fills the fields that apply (``data`` is "own": the user's pipeline;
    ``seed`` None: not known).
    """

    models: list[str] = field(
        default_factory=lambda: ["cifar10"],
        metadata={"help": "mnist, fashion_mnist, cifar10 or all", "metavar": "MODEL"},
    )
    epochs: int = field(
        default=3,
        metadata={
            "flag": "--epochs",
            "help": "epochs for the loop and for fit (default %(default)s; the article used 10)",
        },
    )
    #: Cap on steps per epoch (None: whole epochs).
    steps: int | None = field(
        default=None,
        metadata={"flag": "--steps", "help": "cap steps per epoch, for quick runs (default: whole epoch)"},
    )
    #: Examples per step; per replica under a strategy (the run's ``batch_size`` is then the global batch).
    batch_size: int | None = field(
        default=32,
        metadata={"flag": "--batch-size", "help": "examples per batch (default %(default)s, as Keras fit)"},
    )
    #: auto, real, synthetic; "own" in research-code reports.
    data: str = field(
        default="auto",
        metadata={
            "flag": "--data",
            "help": "auto: real data if found or downloadable, else synthetic (said so); "
            "real: fail without it; synthetic: seeded random data of the same shapes",
        },
    )
    data_dir: str | None = field(
        default=None,
        metadata={
            "flag": "--data-dir",
            "help": "look for the dataset files here first, then in the Keras cache",
        },
    )
    device: str = field(
        default="auto",
        metadata={"flag": "--device", "help": "cpu hides GPUs; gpu fails when there is none (default auto)"},
    )
    seed: int | None = field(
        default=0,
        metadata={
            "flag": "--seed",
            "help": "seeds weights, data shuffling and synthetic data (default %(default)s)",
        },
    )
    #: Whether Keras fit ran for the headline.
    fit: bool = field(default=True, metadata={"flag": "--no-fit", "help": "skip the Keras fit headline run"})
    #: One step in ``sample_every`` is a probe step, at least ``min_samples`` per epoch (the fixed
    #: rule, once either is given); both None: the default sampling, by budget.
    sample_every: int | None = field(
        default=None,
        metadata={
            "flag": "--sample-every",
            "help": "one step in N is a probe step, timing call/forward/backward/optimizer apart; given "
            "(or --min-samples), instead of the default budget (probe steps and fences cost at most "
            f"{DEFAULT_BUDGET * 100:g} %% of the epoch), with --min-samples {DEFAULT_MIN_SAMPLES} "
            "unless that is given too",
        },
    )
    min_samples: int | None = field(
        default=None,
        metadata={
            "flag": "--min-samples",
            "help": "with --sample-every's rule: at least this many probe steps per epoch "
            f"(--sample-every {DEFAULT_SAMPLE_EVERY} unless that is given too)",
        },
    )
    #: Whether tf.data autotuned the pipeline (--autotune); fixed settings otherwise.
    autotune: bool = field(
        default=False,
        metadata={
            "flag": "--autotune",
            "help": "let tf.data autotune the input pipeline "
            "(default: fixed settings; see docs/how-it-measures.md)",
        },
    )
    #: --async-executor: TensorFlow's eager executor made asynchronous (a GPU-style rehearsal on CPU).
    async_executor: bool = field(
        default=False,
        metadata={
            "flag": "--async-executor",
            "help": "make TensorFlow's eager executor asynchronous: calls return before the work is done, "
            "as on a GPU (a rehearsal of GPU-style asynchrony on a CPU; see docs/how-it-measures.md)",
        },
    )
    #: Share of steps run unprofiled as the profiling-cost reference.
    reference_share: float = field(
        default=DEFAULT_REFERENCE_SHARE,
        metadata={
            "flag": "--reference-share",
            "help": "share of steps run unprofiled, to measure what profiling costs "
            "(default %(default)s; 0 turns it off)",
        },
    )
    #: Share of the fused steps fenced one by one (None: the step before each probe step only).
    fenced_share: float | None = field(
        default=None,
        metadata={
            "flag": "--fenced-share",
            "help": "share of the fused steps fenced one by one, each with its own device-true time "
            "(default: the step before each probe step; the others run in blocks, one fence a block; "
            "1 fences every step, which costs more where host and device overlap: see "
            "docs/how-it-measures.md)",
        },
    )
    #: Runs of each model (--repeats), interleaved across models.
    repeats: int = field(
        default=1,
        metadata={
            "flag": "--repeats",
            "help": "run each model this many times, interleaved (m1, m2, m1, m2...), each a run in the "
            "report: compare then treats the run as its unit (default %(default)s; 3 or more for "
            "comparing machines)",
        },
    )
    #: --fit-jit-compile: XLA for fit, "auto" (Keras' default), "on" or "off".
    fit_jit_compile: str = field(
        default="auto",
        metadata={
            "flag": "--fit-jit-compile",
            "help": "XLA for fit: auto is Keras' default (on whenever a GPU is present; the custom loop "
            "never uses it), off removes that confound from the headline",
        },
    )
    #: --strategy (one, mirrored, multiworker) and --replicas (None: 2 for mirrored, else 1).
    strategy: str = field(
        default="one",
        metadata={
            "flag": "--strategy",
            "help": "tf.distribute: one (no strategy), mirrored (--replicas devices in this process: GPUs, "
            "or logical CPU devices when there are not enough) or multiworker (one process per worker, "
            "from TF_CONFIG; rehearse with the launch command). --batch-size is then per replica "
            "(see docs/distributed.md)",
        },
    )
    replicas: int | None = field(
        default=None,
        metadata={"flag": "--replicas", "help": "replicas for --strategy mirrored (default 2)"},
    )
    #: Whether a missing dataset could be downloaded (--no-download turns it off).
    #: These four were first recorded in schema 6: None in an older report (not known).
    download: bool | None = field(
        default=True, metadata={"flag": "--no-download", "help": "never try to download a dataset"}
    )
    #: Whether the device's matmul peak was measured for the environment.
    peak: bool | None = field(
        default=True, metadata={"flag": "--no-peak", "help": "skip measuring the device's matmul peak"}
    )
    #: --stop-on-nan: a model's loop and fit end after the epoch whose loss is NaN or infinite.
    stop_on_nan: bool | None = field(
        default=False,
        metadata={
            "flag": "--stop-on-nan",
            "help": "end a model's loop and its fit after the epoch whose loss is NaN or infinite "
            "(default: warn and go on)",
        },
    )
    #: Under a strategy: a single-replica run for the scaling efficiency (--no-baseline turns it off).
    baseline: bool | None = field(
        default=True,
        metadata={
            "flag": "--no-baseline",
            "help": "under a strategy, skip the single-replica run that the scaling efficiency is measured "
            "against",
        },
    )

    def __post_init__(self) -> None:
        if self.replicas is None:
            object.__setattr__(self, "replicas", 2 if self.strategy == "mirrored" else 1)


@dataclass
class Report:
    """A saved run: what was measured (config), where (environment), one ModelRun per model run, and how
    (method)."""

    config: RunConfig
    environment: Environment
    runs: list[ModelRun]
    created: str
    method: dict[str, str] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    tool: str = "tfprof_m1"

    def to_dict(self) -> dict[str, Any]:
        """The report as plain dicts and lists (what ``to_json`` writes, per-step values unpacked)."""
        return _epochs_mapped(dataclasses.asdict(self), _listed)

    def to_json(self) -> str:
        """The report as JSON; NaN and infinity are refused (a report never holds them)."""
        return json.dumps(_packed(dataclasses.asdict(self)), indent=1, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """Rebuild a report from parsed JSON, upgrading older schemas (the result's ``schema_version``
        is then the current one); ValueError names what is wrong."""
        version = data.get("schema_version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValueError("no schema_version: not a tfprof_m1 report")
        if data.get("tool", "tfprof_m1") != "tfprof_m1":
            raise ValueError(
                f"tool is {data.get('tool')!r}: written by another program, not a tfprof_m1 report"
            )
        if version < 1:
            raise ValueError(f"schema_version {version} is not one tfprof_m1 ever wrote")
        if version > SCHEMA_VERSION:
            raise ValueError(
                f"schema_version {version} is newer than this tfprof_m1 "
                f"reads ({SCHEMA_VERSION}); upgrade tfprof-m1"
            )
        if version < OLDEST_READABLE_SCHEMA:
            raise ValueError(
                f"schema_version {version} (tfprof_m1 0.1) timed forward/backward/optimizer "
                "as host dispatch, which "
                "is not comparable with device-inclusive phases; record the run again with this version"
            )
        report = _build(cls, _unpacked(_upgraded(data, version)))
        check_consistency(report)
        return report

    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically: a temporary file in the same directory, then a rename."""
        return write_atomic(Path(path), self.to_json() + "\n")

    def _repr_markdown_(self) -> str:
        """Jupyter shows a report as its Markdown tables."""
        from tfprof_m1.views.render import render_text

        return render_text(self, markdown=True)

    def run(self, model: str) -> ModelRun:
        """The first run of ``model`` (with ``--repeats``, there are more: filter ``runs`` by ``model``)."""
        for run in self.runs:
            if run.model == model:
                return run
        raise KeyError(model)


#: Largest report file read (a default cifar10 report is about 0.4 MB; ``all`` with 10 epochs ~5 MB).
MAX_REPORT_BYTES = 256 * 1024 * 1024


def check_consistency(report: Report) -> None:
    """Refuse a report whose figures cannot describe a run, naming the first bad field.

    Raises:
        ValueError: no runs, a run without epochs or steady epochs, per-step lists that do not match
            the steps, a wall time that is not positive.
    """
    if not report.runs:
        raise ValueError("runs is empty")
    for run in report.runs:
        where = f"runs[{run.model}]"
        if not run.epochs:
            raise ValueError(f"{where}.epochs is empty")
        indices = {epoch.index for epoch in run.epochs}
        unfinished = run.interrupted is not None and not any(epoch.complete for epoch in run.epochs)
        if (not run.steady.epochs and not unfinished) or not set(run.steady.epochs) <= indices:
            raise ValueError(f"{where}.steady.epochs {run.steady.epochs} does not name epochs of the run")
        for epoch in run.epochs:
            if not epoch.wall_ms > 0:
                raise ValueError(
                    f"{where}.epochs[{epoch.index}].wall_ms is {epoch.wall_ms}, not a positive time"
                )
            for phase, values in epoch.step_ms.items():
                if len(values) != len(epoch.step_kinds):
                    raise ValueError(
                        f"{where}.epochs[{epoch.index}].step_ms[{phase}] has {len(values)} values for "
                        f"{len(epoch.step_kinds)} steps"
                    )
    check_plausible(report)


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a report holds")


def load_report(path: str | os.PathLike) -> Report:
    """Read a report written by :meth:`Report.save`.

    Raises:
        UserError: missing file, too large, not JSON, not a tfprof_m1 report, or inconsistent (one line
            naming the file and the problem).
    """
    path = Path(path)
    try:
        raw = read_bounded(path, MAX_REPORT_BYTES, "report")
    except FileNotFoundError:
        raise UserError(f"{path}: no such report file; pass the path a run wrote with --json") from None
    except OSError as error:
        raise UserError(
            f"{path}: cannot be read ({error.__class__.__name__}: {error.strerror or error})"
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        kind = _binary_kind(path, raw)
        raise UserError(f"{path}: not a tfprof_m1 report ({kind}, not JSON text)") from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant)  # NaN/Infinity: never in a report
    except json.JSONDecodeError as error:
        raise UserError(
            f"{path}: not valid JSON (line {error.lineno}: {error.msg}); is it a tfprof_m1 report?"
        ) from None
    except ValueError as error:
        raise UserError(f"{path}: not a readable tfprof_m1 report ({error})") from None
    except RecursionError:
        raise UserError(f"{path}: JSON nested too deeply for a report; is it a tfprof_m1 report?") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: not a tfprof_m1 report (the JSON is not an object)")
    try:
        return Report.from_dict(clean_json(data))
    except (ValueError, TypeError, KeyError) as error:
        raise UserError(f"{path}: not a readable tfprof_m1 report ({error})") from None


def _binary_kind(path: Path, raw: bytes) -> str:
    """What a binary file given as a report most likely is, for the refusal's one line."""
    if "tfevents" in path.name:
        return "a TensorBoard event file: open its folder with tensorboard --logdir"
    if path.suffix == ".pb" or path.name.endswith(".xplane.pb"):
        return "a protocol buffer, such as a trace: read traces with the trace command"
    if raw[:2] == b"\x1f\x8b" or raw[:4] == b"PK\x03\x04":
        return "a compressed archive"
    return "binary data"


def _upgraded(data: dict[str, Any], version: int) -> dict[str, Any]:
    """``data`` (a parsed report of schema ``version``) brought up to :data:`SCHEMA_VERSION`, one
    schema at a time, and marked as such (a loaded report is held in the current schema, so saving
    it again writes a current report). Returns a new dict; the caller's ``data`` is left as it was.
    What is not shaped as the old schema said is passed on unchanged, for :func:`_build` to name."""
    for last, step in ((5, _to_schema_6), (6, _to_schema_7)):
        if version <= last:
            data = step(data)
    return {**data, "schema_version": SCHEMA_VERSION} if version < SCHEMA_VERSION else data


def _to_schema_6(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 5 and older kept one fence on the environment: give it to every run; and did not
    record the settings schema 6 added to the config: they are None (not known), never a default
    that may be false."""
    data = dict(data)
    if isinstance(data.get("config"), dict):
        data["config"] = {**dict.fromkeys(("download", "peak", "stop_on_nan", "baseline")), **data["config"]}
    fence = (data.get("environment") or {}).get("fence")
    if isinstance(fence, dict) and isinstance(data.get("runs"), list):
        moved = {
            "name": fence.get("name"),
            "calls": fence.get("calls"),
            "median_ms": fence.get("cost_median_ms"),
            "iqr_ms": fence.get("cost_iqr_ms"),
        }
        data["runs"] = [
            {**run, "fence": moved} if isinstance(run, dict) and run.get("fence") is None else run
            for run in data["runs"]
        ]
    return data


def _folded(fields: dict[str, Any], name: str, into: str | None = None) -> dict[str, Any]:
    """``fields`` with the flat ``name``, ``name_low``, ``name_high`` of schema 6 and older folded
    into one interval object at ``into`` (default ``name``; ``name`` itself is kept when ``into``
    differs). A point without bounds (a null interval) becomes null."""
    low, high = fields.get(f"{name}_low"), fields.get(f"{name}_high")
    folded = {key: value for key, value in fields.items() if key not in (f"{name}_low", f"{name}_high")}
    into = into or name
    point = fields.get(name)
    if point is None or (into != name and low is None and high is None):
        folded[into] = None
    else:
        folded[into] = {"point": point, "low": low, "high": high}
    return folded


def _fence_checks_apart(epoch: dict[str, Any]) -> dict[str, Any]:
    """Schema 6 and older kept each coverage check inside its step's probe sample, as
    ``"fence_check": [first ms, leftover ms]`` (the one slot whose pair was not [host, wait]):
    schema 7 keeps them apart, in ``fence_checks``."""
    if not isinstance(epoch.get("samples"), list):
        return epoch
    samples, checks = [], []
    for sample in epoch["samples"]:
        if isinstance(sample, dict) and "fence_check" in sample:
            sample = dict(sample)
            pair = sample.pop("fence_check")
            if isinstance(pair, list) and len(pair) == 2:
                checks.append({"first_ms": pair[0], "leftover_ms": pair[1]})
        samples.append(sample)
    return {**epoch, "samples": samples, "fence_checks": checks}


def _to_schema_7(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 6 and older stored intervals as flat fields; schema 7 as one object each: a part's
    ``share`` and ``math_share``, the profiling cost's ``ratio`` and the scaling's
    ``efficiency_interval`` (``efficiency`` stays the point). And the coverage checks move out of
    the probe samples (:func:`_fence_checks_apart`)."""
    if not isinstance(data.get("runs"), list):
        return data
    runs = []
    for run in data["runs"]:
        if isinstance(run, dict):
            run = dict(run)
            if isinstance(run.get("epochs"), list):
                run["epochs"] = [
                    _fence_checks_apart(epoch) if isinstance(epoch, dict) else epoch
                    for epoch in run["epochs"]
                ]
            steady = run.get("steady")
            if isinstance(steady, dict):
                steady = dict(steady)
                if isinstance(steady.get("parts"), list):
                    steady["parts"] = [
                        _folded(_folded(part, "share"), "math_share") if isinstance(part, dict) else part
                        for part in steady["parts"]
                    ]
                if isinstance(steady.get("profiling_cost"), dict):
                    steady["profiling_cost"] = _folded(steady["profiling_cost"], "ratio")
                run["steady"] = steady
            if isinstance(run.get("scaling"), dict):
                run["scaling"] = _folded(run["scaling"], "efficiency", into="efficiency_interval")
        runs.append(run)
    return {**data, "runs": runs}


def _epochs_mapped(data: dict[str, Any], change: Any) -> dict[str, Any]:
    """``data`` with ``change(epoch)`` applied to every run's every epoch dict (a new dict; ``data``
    is left as it was)."""
    runs = data.get("runs")
    if not isinstance(runs, list):
        return data
    return {
        **data,
        "runs": [
            {**run, "epochs": [change(e) if isinstance(e, dict) else e for e in run["epochs"]]}
            if isinstance(run, dict) and isinstance(run.get("epochs"), list)
            else run
            for run in runs
        ],
    }


def _packed(data: dict[str, Any]) -> dict[str, Any]:
    """Per-step values packed for writing (schema 8): each ``step_ms`` list as one encoded string,
    ``step_kinds`` as runs, probe ``samples`` as columns. Summaries stay JSON."""

    def pack(epoch: dict[str, Any]) -> dict[str, Any]:
        return {
            **epoch,
            "step_kinds": pack_kinds(epoch["step_kinds"]),
            "step_ms": {name: pack_values(values) for name, values in epoch["step_ms"].items()},
            "samples": pack_samples(epoch["samples"]),
        }

    return _epochs_mapped(data, pack)


def _listed(epoch: dict[str, Any]) -> dict[str, Any]:
    """An epoch dict with its per-step arrays (:class:`StepValues`, :class:`ProbeSamples`) as lists."""
    listed = {**epoch, "samples": list(epoch.get("samples", []))}
    if "step_kinds" in epoch:
        listed["step_kinds"] = list(epoch["step_kinds"])
    if isinstance(epoch.get("step_ms"), dict):
        listed["step_ms"] = {name: list(values) for name, values in epoch["step_ms"].items()}
    return listed


def _unpacked(data: dict[str, Any]) -> dict[str, Any]:
    """Per-step values as lists again, whichever form they were written in (lists up to schema 7)."""

    def unpack(epoch: dict[str, Any]) -> dict[str, Any]:
        epoch = dict(epoch)
        if isinstance(epoch.get("step_kinds"), list):
            epoch["step_kinds"] = _Decoded(unpack_kinds(epoch["step_kinds"]))
        samples = epoch.get("samples", [])
        epoch["samples"] = _Decoded(unpack_samples(samples)) if isinstance(samples, dict) else samples
        if isinstance(epoch.get("step_ms"), dict):
            epoch["step_ms"] = {
                name: StepValues(unpack_array(values)) if is_packed(values) else values
                for name, values in epoch["step_ms"].items()
            }
        return epoch

    return _epochs_mapped(data, unpack)


@dataclass(frozen=True)
class _Decoded:
    """Per-step values a decoder of :mod:`~tfprof_m1.report.step_codec` built, typed as the field
    needs (kinds as strings, samples as float pairs): :func:`_build` takes them as they are."""

    value: Any


# -- loading nested dataclasses -------------------------------------------------------------------
@functools.cache
def _record_fields(kind: type) -> tuple[dict[str, Any], frozenset[str], tuple[str, ...]]:
    """A report dataclass's field types (its annotations evaluated), the fields a record may give
    (the rest is computed, never read) and those it must give, read once a class: evaluating
    string annotations is most of the time of loading a short run's report."""
    hints = typing.get_type_hints(kind)
    fields = [f for f in dataclasses.fields(kind) if f.init]
    required = tuple(
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )
    return hints, frozenset(f.name for f in fields), required


def _build(kind: Any, value: Any) -> Any:
    """Rebuild ``value`` (parsed JSON) as type ``kind``; unknown keys are ignored, so older readers
    skip fields that newer writers add. Per-step values come as
    :class:`~tfprof_m1.report.step_codec.StepValues` (a list of numbers is made one)."""
    if isinstance(value, _Decoded):
        return value.value
    if kind == Sequence[float]:
        if isinstance(value, StepValues):
            return value
        return StepValues(_build(list[float], value))
    origin = typing.get_origin(kind)
    if origin in (Union, types.UnionType):
        options = [option for option in typing.get_args(kind) if option is not type(None)]
        if value is None:
            return None
        return _build(options[0], value)
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise TypeError(f"expected an object for {kind.__name__}, got {type(value).__name__}")
        hints, known, required = _record_fields(kind)
        missing = [name for name in required if name not in value]
        if missing:
            raise KeyError(f"{kind.__name__} lacks {', '.join(missing)}")
        return kind(**{name: _build(hints[name], item) for name, item in value.items() if name in known})
    if origin in (list, Sequence):
        (item_kind,) = typing.get_args(kind)
        if not isinstance(value, list):
            raise TypeError(f"expected a list, got {type(value).__name__}")
        if item_kind in (float, str) and set(map(type, value)) <= {item_kind}:
            return list(value)  # per-step values and kinds: thousands, nothing to rebuild
        return [_build(item_kind, item) for item in value]
    if origin is dict:
        _, item_kind = typing.get_args(kind)
        if not isinstance(value, dict):
            raise TypeError(f"expected an object, got {type(value).__name__}")
        if item_kind == list[float] and all(
            type(item) is list and set(map(type, item)) <= {float} for item in value.values()
        ):
            return {key: list(item) for key, item in value.items()}  # a probe sample: nothing to rebuild
        return {key: _build(item_kind, item) for key, item in value.items()}
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind in (int, float, str, bool) and not isinstance(value, kind):
        raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
    return value
