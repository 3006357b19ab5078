"""Compare runs: machine against machine, or an A/B on one machine; where does the difference come from?

Works on saved reports (or Reports in memory) only: no TensorFlow. Runs are *repeats* only when
everything that changes the measurement agrees: the run's fingerprint (precision policy, XLA in the
loop and in fit, input dtype and path, batch size, steps, executor, versions, device) and the model
itself (name, parameter count, layers); the one list of these is
:data:`tfprof_m1.analysis.parity.CHECKS`, which the parity guard uses too. Otherwise runs are *sides*
of a comparison, named by ``--label`` where given, else by what differs (``mixed_float16`` against
``float32``). The same report given twice is counted once, and said.

Each run is a unit of the statistics. The first side is the reference; every other is described
by its ratio to it, with a 95 % interval from a hierarchical bootstrap (runs, then steady epochs,
then blocks of steps; see :mod:`tfprof_m1.analysis.compare_stats`), and by each phase's change, with
its interval, and its share of the difference. Every figure is of the unprofiled-equivalent epoch:
each side's profiling cost is taken out first (the profiler's cost is not the workload's), and the
workload's phases divide that epoch. With different batch sizes (or examples per epoch) the verdict
is on the time per example.

The verdict is read from the ratio it prints: "no clear difference" when its interval contains 1 or
lies within ±2 %; "too little data" when either side has fewer than three runs and fewer than three
steady epochs (also in docs/comparing.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from statistics import mean

import numpy as np

from tfprof_m1.analysis.bootstrap import SEED
from tfprof_m1.analysis.compare_stats import (
    EQUIVALENCE,
    MIN_UNITS,
    PROFILER_PHASES,
    RunValues,
    clear_ratio,
    difference_interval,
    epoch_time_draws,
    group_draws,
    independent_units,
    mean_interval,
    point_values,
    profiling_ms,
    ratio_interval,
    run_values,
    small_sample_factor,
)
from tfprof_m1.analysis.figures import too_few_probe_steps
from tfprof_m1.analysis.parity import (
    CHECKS,
    MACHINE,
    MODEL,
    STATE,
    checked_values,
    differences,
    differing_checks,
    same_side,
    side_names,
)
from tfprof_m1.analysis.steady import recorded_steady_epochs
from tfprof_m1.analysis.throughput import Throughput, achieved
from tfprof_m1.base.errors import UserError
from tfprof_m1.base.phases import EPOCH_LEVEL_PHASES, OTHER
from tfprof_m1.base.stats import Summary, summarize_array
from tfprof_m1.report.interval import Interval
from tfprof_m1.report.model import ModelRun, Report, check_consistency, load_report, run_name

__all__ = [
    "ModelComparison",
    "ModelFigures",
    "ReportSource",
    "compare",
    "epoch_interval",
    "fit_interval",
    "profiled_kind",
    "ratio_text",
]

#: Under this many independent units a side, a "no clear difference" verdict whose point is away from
#: 1 says that the few units widened its interval (a t factor of 1.4× at 6, 2.7× at 3).
FEW_UNITS = 6

#: A phase change smaller than this (ms per epoch) is rounding, never "clear".
NEGLIGIBLE_MS = 1e-6


@dataclass
class RunGroup:
    """One side of a comparison: runs that are repeats of one another (one run, or several pooled)."""

    label: str
    #: Per run: the name of the report it came from (its path, or ``report N`` in memory), the report
    #: and the run.
    paths: list[str]
    reports: list[Report]
    runs: list[ModelRun] = field(default_factory=list)
    #: What ran (the parity guard's values, see parity.py), from the side's first run.
    parity: dict[str, object] = field(default_factory=dict)
    #: Whether ``label`` was given (``--label``) rather than made from what differs.
    labelled: bool = False


def _group_label(report: Report, run: ModelRun) -> str:
    """The device label, and the strategy when there is one (``cpu, mirrored ×2``, ``cpu, multiworker
    worker 1``): what names a side when nothing else tells it apart."""
    label = report.environment.device_label
    distribution = run.distribution
    if distribution is None:
        return label
    if distribution.worker is not None:
        return f"{label}, multiworker worker {distribution.worker}"
    return f"{label}, {distribution.strategy} ×{distribution.replicas}"


ReportSource = str | Path | Report
"""A report file's path, or a Report in memory (from build_report, or a run of the benchmark)."""


def _load(source: ReportSource, position: int) -> tuple[Report, str]:
    """The report and the name it goes by: the file's path, or ``report N`` for one in memory
    (checked as a file is: a report built or edited in memory can be inconsistent too)."""
    if isinstance(source, Report):
        try:
            check_consistency(source)
        except ValueError as error:
            raise UserError(f"report {position + 1} (in memory): cannot be compared ({error})") from None
        return source, f"report {position + 1}"
    return load_report(source), str(source)


@dataclass
class Sides:
    """Every side the reports hold, and what was said while sorting them (duplicates, pooled labels)."""

    groups: list[RunGroup]
    notes: list[str] = field(default_factory=list)


def sort_runs(sources: Sequence[ReportSource], labels: Sequence[str] | None = None) -> Sides:
    """Load reports (paths, or Reports in memory) and sort their runs into sides: a run joins the
    first side whose runs it repeats (:func:`~tfprof_m1.analysis.parity.same_side`), keeping
    first-seen order; ``labels`` name the reports, in order. The same report given twice is
    counted once.

    Raises:
        UserError: more labels than reports, or a report that cannot be read.
    """
    labels = list(labels or [])
    if len(labels) > len(sources):
        raise UserError(
            f"{len(labels)} labels for {len(sources)} reports; give at most one --label per report"
        )
    result = Sides([])
    seen: list[tuple[Report, str]] = []
    for position, source in enumerate(sources):
        report, name = _load(source, position)
        label = labels[position] if position < len(labels) else None
        # equal records (compared field by field: no copy of a long run's per-step values)
        same = next((earlier for other, earlier in seen if other == report), None)
        if same is not None:
            result.notes.append(f"{name} is the same report as {same}: counted once")
            continue
        seen.append((report, name))
        for run in report.runs:
            values = checked_values(report, run)
            side = next((group for group in result.groups if same_side(group.parity, values)), None)
            if side is None:
                side = RunGroup(label or _group_label(report, run), [], [], parity=values)
                side.labelled = label is not None
                result.groups.append(side)
            elif label is not None and not side.labelled:
                side.label, side.labelled = label, True
            elif label is not None and label != side.label and run is report.runs[0]:
                result.notes.append(
                    f"{name} ({label}) ran as {side.label} did: everything that changes the "
                    f"measurement agrees, so its runs are repeats of {side.label}"
                )
            side.paths.append(name)
            side.reports.append(report)
            side.runs.append(run)
    return result


@dataclass
class ModelFigures:
    """One side's steady-state figures for one model: every run of it (repeats pooled)."""

    label: str
    model: str
    #: Steady complete epochs' measured wall times, pooled over runs (for display).
    epoch_ms: list[float]
    #: Every steady step's ms in each workload phase, pooled over epochs and runs.
    phase_step_ms: dict[str, np.ndarray]
    fit_steady_ms: list[float]
    fit_all_mean_ms: list[float]
    #: What ran (the parity guard's values, see parity.py), from the side's first run.
    parity: dict[str, object]
    repeats: int
    #: What the statistics resample: each run's steady epochs (unprofiled-equivalent, and probe
    #: samples), each run's steady fit epochs.
    runs: list[RunValues] = field(default_factory=list)
    fit_runs: list[list[float]] = field(default_factory=list)
    #: What the figures leave out or rest on (an interrupted report...), one line each.
    notes: list[str] = field(default_factory=list)
    #: Achieved FLOP/s of the first run against its device's measured peak (article models only).
    throughput: Throughput | None = None
    #: What the profiled epochs are, from the first run (``RunReport.source``): "fit" for a
    #: ``ProfileCallback`` report (Keras' fit, profiled), else a custom loop.
    source: str = "benchmark"
    #: The parts of compute (forward, backward...) not to be read: some run of this side rests them
    #: on fewer probe steps than one rotation of its probe calls (see ``too_few_probe_steps``).
    unread_parts: frozenset[str] = frozenset()

    @property
    def units(self) -> int:
        """Independent units the custom loop's intervals rest on (see compare_stats.independent_units)."""
        return independent_units([len(run.epochs) for run in self.runs])

    @property
    def fit_units(self) -> int:
        """Independent units of the fit figures: runs when there are several, else epochs."""
        return independent_units([len(times) for times in self.fit_runs])

    @property
    def epoch_mean_ms(self) -> float:
        """Mean over runs of each run's mean steady epoch, unprofiled-equivalent (ms)."""
        return point_values(self.runs, []).epoch_ms

    @property
    def example_us(self) -> float:
        """Mean over runs of each run's mean µs per example of the unprofiled-equivalent epoch."""
        return point_values(self.runs, []).example_us

    @property
    def profiling_ms(self) -> float:
        """What profiling cost a steady epoch (ms), taken out of every figure compared."""
        return profiling_ms(self.runs)

    @property
    def examples(self) -> float:
        """Mean examples per steady epoch."""
        return float(np.mean([epoch.examples for run in self.runs for epoch in run.epochs]))

    @property
    def phase_epoch_ms(self) -> dict[str, float]:
        """Every workload phase's ms of the unprofiled-equivalent epoch, mean over runs of means over
        epochs, in first-seen order (the profiler's own phases left out: see PROFILER_PHASES)."""
        names: list[str] = []
        for run in self.runs:
            for epoch in run.epochs:
                names += [name for name in [*epoch.outside_ms, *epoch.phases] if name not in names]
        return dict(zip(names, (float(value) for value in point_values(self.runs, names).phase_ms)))

    def phase_mean_ms(self, phase: str) -> float:
        """Mean per-epoch ms of ``phase`` over the side's runs (0 for a phase none of them has)."""
        return self.phase_epoch_ms.get(phase, 0.0)


def epoch_interval(figures: ModelFigures) -> Interval:
    """A side's mean unprofiled-equivalent steady epoch (ms) with its 95 % interval (as compare's)."""
    return mean_interval(figures.epoch_mean_ms, group_draws(figures.runs, []).epoch_ms, figures.units)


def fit_interval(figures: ModelFigures) -> Interval | None:
    """A side's mean steady fit epoch (ms) with its 95 % interval, or None without steady fit epochs."""
    if not figures.fit_runs:
        return None
    point = mean(mean(times) for times in figures.fit_runs)
    return mean_interval(point, epoch_time_draws(figures.fit_runs), figures.fit_units)


def _cost_ratio(run: ModelRun) -> float | None:
    cost = run.steady.profiling_cost
    return cost.ratio.point if cost is not None else None


def model_figures(group: RunGroup, model: str | None = None) -> ModelFigures | None:
    """The figures of one side (of its runs of ``model``, by default all of them), or None when no
    run has a complete steady epoch."""
    chosen = [
        (name, report, run)
        for name, report, run in zip(group.paths, group.reports, group.runs)
        if model is None or run.model == model
    ]
    notes = [
        f"{name}: interrupted ({run.interrupted}); only its complete epochs are used"
        for name, _, run in chosen
        if run.interrupted
    ]
    chosen = [item for item in chosen if recorded_steady_epochs(item[2])]
    if not chosen:
        return None
    several = len(chosen) > 1
    few = [(name, run) for name, _, run in chosen if too_few_probe_steps(run.steady)]
    notes += [
        f"{name}{f' ({run_name(run)})' if several else ''}: the parts of compute rest on "
        f"{run.steady.samples} of its probe steps, fewer than one rotation of {len(run.steady.parts)} "
        "probe calls; its forward/backward/optimizer rows can read 0 % and are not to be read, nor "
        "named in the verdict (run more steps or epochs)"
        for name, run in few
    ]
    runs = [run for _, _, run in chosen]
    epochs = [epoch for run in runs for epoch in recorded_steady_epochs(run)]
    pooled: dict[str, list[np.ndarray]] = {}
    for epoch in epochs:
        for phase, values in epoch.step_ms.items():
            if phase not in PROFILER_PHASES:
                pooled.setdefault(phase, []).append(np.asarray(values, dtype=float))
    phase_step = {phase: np.concatenate(arrays) for phase, arrays in pooled.items()}
    # a phase timed once an epoch (fit's epoch_start, validation) sits on one step: per step its
    # median reads 0, so it is shown per epoch, as the report shows it (one list: EPOCH_LEVEL_PHASES)
    phase_step = {phase: values for phase, values in phase_step.items() if phase not in EPOCH_LEVEL_PHASES}
    _, first_report, first = chosen[0]
    fit_runs = [run.fit.steady_epoch_ms for run in runs if run.fit and run.fit.steady_epoch_ms]
    figures = ModelFigures(
        label=group.label,
        model=first.model,
        epoch_ms=[epoch.wall_ms for epoch in epochs],
        phase_step_ms=phase_step,
        fit_steady_ms=[ms for times in fit_runs for ms in times],
        fit_all_mean_ms=[run.fit.all_mean_ms for run in runs if run.fit],
        parity=checked_values(first_report, first),
        repeats=len(runs),
        runs=[run_values(recorded_steady_epochs(run), _cost_ratio(run)) for run in runs],
        fit_runs=fit_runs,
        notes=notes,
        throughput=achieved(first, first_report.environment),
        source=first.source,
        unread_parts=frozenset(part.part for _, run in few for part in run.steady.parts),
    )
    if figures.profiling_ms < 0:
        figures.notes.append(
            f"{group.label}: its profiling cost taken out is below 0 ({figures.profiling_ms:,.1f} ms an "
            "epoch): its profiled steps read faster than its unprofiled reference, a noisy reference "
            "(few stretches) read within its report's cost interval; the figures compared add it back"
        )
    return figures


def profiled_kind(sides: Sequence[ModelFigures]) -> str:
    """What the compared profiled epochs are, as a row's first words: "custom-loop", "profiled fit"
    (every side a ``ProfileCallback`` report) or "profiled (custom loop or fit)" (some of each)."""
    fit = [side.source == "fit" for side in sides]
    if all(fit):
        return "profiled fit"
    return "profiled (custom loop or fit)" if any(fit) else "custom-loop"


@dataclass
class PhaseDifference:
    """How one workload phase differs between the reference and another side, with an interval:
    in ms per (unprofiled-equivalent) epoch, or µs per example when the verdict is per example."""

    phase: str
    #: Per-step medians and spread on each side, for display (None for epoch-level phases).
    reference: Summary | None
    other: Summary | None
    #: The phase on each side (ms per epoch, or µs per example), the ratio other/reference, and the
    #: change with its interval.
    reference_ms: float
    other_ms: float
    ratio: float | None
    delta_ms: Interval
    #: The change's interval excludes 0.
    clear: bool
    #: This phase's share of the difference (epoch time, or time per example); shares add up to 1.
    share_of_difference: float | None


@dataclass
class RunDifference:
    """One side against the reference, for one model."""

    label: str
    #: The unprofiled-equivalent epoch, other/reference.
    epoch_ratio: Interval
    #: A clear difference in the judged ratio (the epoch's, or per example's): its interval excludes
    #: 1 and leaves the ±2 % band.
    epoch_clear: bool
    #: Time per training example, other/reference (differs from the epoch ratio when batch sizes
    #: or example counts differ).
    example_ratio: Interval
    fit_ratio: Interval | None
    fit_clear: bool
    #: Enough steady fit epochs (or runs) a side to judge the fit ratio.
    fit_judged: bool
    phases: list[PhaseDifference]
    #: Every difference in what ran between the two sides, worst first (see parity.py).
    confounds: list[str]
    verdict: str
    #: Why no conclusion can be drawn (too few steady epochs), or None.
    too_little_data: str | None = None
    #: The verdict and the phases are per example (batch sizes or examples per epoch differ).
    per_example: bool = False
    #: The sides differ in one setting only, on one machine: an A/B of that setting, not a confound.
    ab: bool = False

    @property
    def judged_ratio(self) -> Interval:
        """The ratio the verdict is read from: per example, or per epoch."""
        return self.example_ratio if self.per_example else self.epoch_ratio


@dataclass
class RunSpread:
    """One side on its own: the mean steady epoch and how much its runs differ."""

    runs: int
    epoch_ms: Interval
    #: Coefficient of variation of the runs' mean epochs (None with one run).
    between_runs_cv: float | None


@dataclass
class ModelComparison:
    """One model (or, for a model A/B, several) compared across sides: ratios with intervals, phase
    differences, parity notes."""

    model: str
    figures: list[ModelFigures]
    differences: list[RunDifference] = field(default_factory=list)
    #: With one side only (repeats of one machine and configuration): its mean epoch and the spread
    #: between its runs.
    spread: RunSpread | None = None
    #: What was said while sorting the reports (the same report twice, a side left out), one line each.
    notes: list[str] = field(default_factory=list)


def _ratio(reference: float, other: float) -> float | None:
    return other / reference if reference > 0 else None


def ratio_text(interval: Interval | None, clear: bool = True) -> str:
    """``1.54× slower [1.50–1.58]``, ``1.25× faster [...]`` or ``no clear difference (1.01× [...])``."""
    if interval is None:
        return "—"
    bounds = f"[{interval.low:.2f}–{interval.high:.2f}]"
    if not clear:
        return f"no clear difference ({interval.point:.2f}× {bounds})"
    if interval.point >= 1:
        return f"{interval.point:.2f}× slower {bounds}"
    return f"{1 / interval.point:.2f}× faster [{1 / interval.high:.2f}–{1 / interval.low:.2f}]"


def _verdict(
    model: str,
    ref: ModelFigures,
    other: ModelFigures,
    difference: RunDifference,
) -> str:
    ratio, clear, too_little = difference.judged_ratio, difference.epoch_clear, difference.too_little_data
    if difference.per_example:
        basis = f"time per example {other.example_us:,.1f} µs against {ref.example_us:,.1f} µs"
    else:
        basis = (
            f"{profiled_kind([ref, other])} epoch {other.epoch_mean_ms / 1000:.2f} s against "
            f"{ref.epoch_mean_ms / 1000:.2f} s"
        )
    if any(side.profiling_ms > 0 for side in (ref, other)):
        basis += ", profiling cost taken out"
    if too_little:
        return f"{model}: too little data to compare {other.label} with {ref.label} ({too_little})."
    if not clear:
        units = min(ref.units, other.units)
        few = ""
        if units < FEW_UNITS and max(abs(ratio.point - 1), abs(1 / ratio.point - 1)) > EQUIVALENCE:
            # a point well away from 1 with an interval holding it: say what widened the interval
            unit = "runs" if min(len(ref.runs), len(other.runs)) >= MIN_UNITS else "steady epochs"
            few = (
                f"; the interval rests on {units} {unit} a side, which widens it "
                f"{small_sample_factor(units):.1f}×: more {unit} narrow it"
            )
        return (
            f"{model}: no clear difference between {other.label} and {ref.label} ({basis}; ratio "
            f"{ratio.point:.2f}× [{ratio.low:.2f}–{ratio.high:.2f}]{few})."
        )
    speed, bounds = ratio_text(ratio).split(" [")
    if difference.per_example:
        speed += " per example"
    # only a phase whose own change is clear, and no part resting on too few probe steps on a side,
    # is named as what explains the difference (the table still shows every phase's share)
    unread = ref.unread_parts | other.unread_parts
    ranked = sorted(
        (
            (p.phase, p.share_of_difference)
            for p in difference.phases
            if p.share_of_difference is not None and p.clear and p.phase not in unread
        ),
        key=lambda pair: -pair[1],
    )
    named = [f"{phase} {share * 100:.0f} %" for phase, share in ranked[:2] if share >= 0.15] or [
        f"{phase} {share * 100:.0f} %" for phase, share in ranked[:1] if share > 0
    ]
    explained = (
        f"; of the difference, {', '.join(named)}" if named else "; no one phase's own change is clear"
    )
    return (
        f"{model}: {other.label} is {speed} than {ref.label} (95 % CI {bounds.rstrip(']')}×; {basis})"
        f"{explained}."
    )


def _too_little(reference: ModelFigures, other: ModelFigures) -> str | None:
    units = [side.units for side in (reference, other)]
    if min(units) >= MIN_UNITS:
        return None
    return (
        f"{units[1]} against {units[0]} steady epochs or runs; at least "
        f"{MIN_UNITS} a side are needed (3 runs × 5 "
        "steady epochs give a useful interval: --repeats 3 --epochs 6)"
    )


def _per_example(reference: ModelFigures, other: ModelFigures) -> bool:
    """Whether the sides are judged per example: their batch sizes or examples per epoch differ."""
    batches = reference.parity.get("batch_size"), other.parity.get("batch_size")
    return (None not in batches and batches[0] != batches[1]) or abs(
        reference.examples - other.examples
    ) > 0.005 * max(reference.examples, other.examples)


def _one_setting(reference: ModelFigures, other: ModelFigures) -> bool:
    """An A/B: one machine, and one thing that differs in what ran (the model counts as one)."""
    differing = [check for check in differing_checks(reference.parity, other.parity) if check.kind != STATE]
    if any(check.kind == MACHINE for check in differing):
        return False
    return len({check.key if check.kind != MODEL else MODEL for check in differing}) == 1


def compare_model(model: str, figures: list[ModelFigures]) -> ModelComparison:
    """Compare one model's sides (or, for a model A/B, the models' sides), the first the reference."""
    reference, others = figures[0], figures[1:]
    comparison = ModelComparison(model, figures)
    seen = list(dict.fromkeys(name for side in figures for name in side.phase_epoch_ms))
    phases = [name for name in seen if name != OTHER] + ([OTHER] if OTHER in seen else [])
    ref_draws = group_draws(reference.runs, phases)
    ref_points = point_values(reference.runs, phases)
    ref_fit = epoch_time_draws(reference.fit_runs) if reference.fit_runs else None
    if not others:
        run_means = [mean(epoch.wall_ms for epoch in run.epochs) for run in reference.runs]
        cv = float(np.std(run_means, ddof=1) / np.mean(run_means)) if len(run_means) > 1 else None
        comparison.spread = RunSpread(
            len(run_means), mean_interval(ref_points.epoch_ms, ref_draws.epoch_ms, reference.units), cv
        )
    for position, other in enumerate(others, start=1):
        draws = group_draws(other.runs, phases, seed=SEED + position)  # independent of the reference's draws
        points = point_values(other.runs, phases)
        too_little = _too_little(reference, other)
        per_example = _per_example(reference, other)
        units = min(reference.units, other.units)
        epoch_ratio = ratio_interval(
            ref_points.epoch_ms, points.epoch_ms, ref_draws.epoch_ms, draws.epoch_ms, units
        )
        example_ratio = ratio_interval(
            ref_points.example_us, points.example_us, ref_draws.example_us, draws.example_us, units
        )
        judged = example_ratio if per_example else epoch_ratio
        # the judged measure: µs per example across batch sizes, else ms per epoch (points or draws)
        total_of = attrgetter("example_us" if per_example else "epoch_ms")
        phases_of = attrgetter("phase_us" if per_example else "phase_ms")
        total = total_of(points) - total_of(ref_points)
        ref_phase, other_phase = phases_of(ref_points), phases_of(points)
        ref_phase_draws, other_phase_draws = phases_of(ref_draws), phases_of(draws)
        rows = []
        for column, phase in enumerate(phases):
            delta = difference_interval(
                ref_phase[column],
                other_phase[column],
                ref_phase_draws[:, column],
                other_phase_draws[:, column],
                units,
            )
            rows.append(
                PhaseDifference(
                    phase=phase,
                    reference=summarize_array(reference.phase_step_ms.get(phase, ())),
                    other=summarize_array(other.phase_step_ms.get(phase, ())),
                    reference_ms=float(ref_phase[column]),
                    other_ms=float(other_phase[column]),
                    ratio=_ratio(float(ref_phase[column]), float(other_phase[column])),
                    delta_ms=delta,
                    clear=not delta.contains(0.0) and abs(delta.point) > NEGLIGIBLE_MS and too_little is None,
                    share_of_difference=delta.point / total if total else None,
                )
            )
        fit_ratio, fit_clear, fit_judged = None, False, False
        if ref_fit is not None and other.fit_runs:
            fit_ratio = ratio_interval(
                mean(mean(r) for r in reference.fit_runs),
                mean(mean(r) for r in other.fit_runs),
                ref_fit,
                epoch_time_draws(other.fit_runs, seed=SEED + position),
                min(reference.fit_units, other.fit_units),
            )
            if per_example and reference.examples > 0 and other.examples > 0:
                # judged as the loop is: per example (each side's fit epoch over its examples)
                scale = reference.examples / other.examples
                fit_ratio = Interval(fit_ratio.point * scale, fit_ratio.low * scale, fit_ratio.high * scale)
            fit_judged = min(reference.fit_units, other.fit_units) >= MIN_UNITS
            fit_clear = fit_judged and clear_ratio(fit_ratio)
        confounds = differences(reference.parity, other.parity)
        difference = RunDifference(
            label=other.label,
            epoch_ratio=epoch_ratio,
            epoch_clear=clear_ratio(judged) and too_little is None,
            example_ratio=example_ratio,
            fit_ratio=fit_ratio,
            fit_clear=fit_clear,
            fit_judged=fit_judged,
            phases=rows,
            confounds=confounds,
            verdict="",
            too_little_data=too_little,
            per_example=per_example,
            ab=_one_setting(reference, other),
        )
        difference.verdict = _verdict(model, reference, other, difference)
        comparison.differences.append(difference)
    return comparison


def _machine(side: RunGroup) -> tuple:
    return tuple(side.parity.get(check.key) for check in CHECKS if check.kind == MACHINE)


def _matched(sides: list[RunGroup]) -> tuple[list[tuple[str, list[RunGroup]]], list[str]]:
    """Which sides are compared with which: the sides of each model that more than one side ran;
    else, when every report holds one model and all ran on one machine, the models against one
    another (a model A/B); else each side on its own. Returns the (title, sides) pairs and notes.

    Raises:
        UserError: different models on different machines only: nothing can be compared.
    """
    names = list(dict.fromkeys(str(side.parity.get("model")) for side in sides))
    by_name = {name: [side for side in sides if side.parity.get("model") == name] for name in names}
    shared = [name for name in names if len(by_name[name]) > 1]
    if shared:
        alone = [f"{name} ({by_name[name][0].label})" for name in names if name not in shared]
        notes = [f"not compared, only one side ran it: {', '.join(alone)}"] if alone else []
        return [(name, by_name[name]) for name in shared], notes
    single_model_reports = all(
        len({run.model for run in report.runs}) == 1 for side in sides for report in side.reports
    )
    if len(sides) == 1 or not single_model_reports:
        notes = (
            ["no model was run by more than one side: each is summarized on its own"]
            if len(sides) > 1
            else []
        )
        return [(name, by_name[name]) for name in names], notes
    if len({_machine(side) for side in sides}) > 1:
        where = ", ".join(f"{side.parity.get('model')} on {side.label}" for side in sides)
        raise UserError(
            f"the reports have no model in common ({where}): different models are compared on one "
            "machine only; run the same model on each machine"
        )
    return [(" vs ".join(names), sides)], []


def _name_sides(sides: list[RunGroup]) -> None:
    """Name the sides given no --label by what differs between them (the device label where nothing
    names them apart, with the report's file name where two sides would share a name)."""
    named = side_names([side.parity for side in sides])
    for index, side in enumerate(sides):
        if not side.labelled:
            side.label = named[index] if named is not None else _group_label(side.reports[0], side.runs[0])
    labels = [side.label for side in sides]
    for side in sides:
        if labels.count(side.label) > 1 and not side.labelled:
            side.label = f"{side.label} ({Path(side.paths[0]).stem})"


def compare(paths: Sequence[ReportSource], labels: Sequence[str] | None = None) -> list[ModelComparison]:
    """Compare reports (paths, or Reports in memory); the first side is the reference.

    Args:
        labels: names for the reports, in order (for example ``["batch 32", "batch 128"]``); a side
            of repeats takes its first labelled report's label. Default: what differs between the
            sides (``mixed_float16`` / ``float32``, ``batch 32`` / ``batch 64``, the device label).

    A side alone (one report, or repeats of one machine and configuration) is compared with
    nothing: each model then gets its mean steady epoch with its interval and the spread between
    its runs (``ModelComparison.spread``), which says how many runs a comparison needs.

    Raises:
        UserError: different models on different machines only, no complete steady epoch, more
            labels than reports, or a report that cannot be read (one line each).
    """
    sorted_runs = sort_runs(paths, labels)
    matched, notes = _matched(sorted_runs.groups)
    comparisons = []
    for title, sides in matched:
        _name_sides(sides)
        figures = [(side, model_figures(side)) for side in sides]
        kept = [f for _, f in figures if f is not None]
        left = [side.label for side, f in figures if f is None]
        if not kept:
            continue
        comparison = compare_model(title, kept)
        comparison.notes = list(sorted_runs.notes) + notes
        if left:
            comparison.notes.append(
                f"left out, no complete steady epoch: {', '.join(left)} (an interrupted run keeps only "
                "the epochs it finished)"
            )
        comparisons.append(comparison)
    if not comparisons:
        raise UserError(
            "the reports have no model in common with complete steady epochs; run the same model on each "
            "machine (an interrupted run keeps only the epochs it finished)"
        )
    return comparisons
