"""Compare runs across machines: where does the epoch-time difference come from?

Works on saved reports (or Reports in memory) only: no TensorFlow. Reports from the same machine
with the same configuration are repeats, and so are the repeated runs of one report
(``--repeats``): each is a *run*, the unit of the statistics. The first group is the reference;
every other is described by its ratio to it, with a 95 % interval from a hierarchical bootstrap
(runs, then steady epochs, then blocks of steps; see :mod:`tfprof_m1.report.compare_stats`), and by each
phase's change per epoch, with its interval, and its share of the epoch-time difference.

The verdict is read from the epoch-time ratio it prints: "no clear difference" when its interval
contains 1 or lies within ±2 %; "too little data" when either side has fewer than three runs and
fewer than three steady epochs (also in docs/comparing.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean

import numpy as np

from tfprof_m1.base.errors import UserError
from tfprof_m1.base.phases import OTHER
from tfprof_m1.base.stats import Summary, summarize
from tfprof_m1.report.compare_stats import (
    MIN_UNITS,
    SEED,
    Interval,
    RunValues,
    clear_ratio,
    difference_interval,
    epoch_time_draws,
    group_draws,
    independent_units,
    mean_interval,
    point_values,
    ratio_interval,
    run_values,
)
from tfprof_m1.report.model import ModelRun, Report, check_consistency, load_report
from tfprof_m1.report.parity import describe, differences
from tfprof_m1.report.throughput import Throughput, achieved

#: A phase change smaller than this (ms per epoch) is rounding, never "clear".
NEGLIGIBLE_MS = 1e-6


@dataclass
class RunGroup:
    """One machine and configuration: one report, or several repeats pooled."""

    label: str
    paths: list[str]
    reports: list[Report]


def _machine_key(report: Report) -> tuple:
    env = report.environment
    config = report.config
    # Runs differing in anything the parity guard checks from the config are not repeats of one another.
    workers = tuple(run.distribution.worker for run in report.runs if run.distribution is not None)
    return (
        env.device_label,
        env.cpu_model,
        env.platform,
        env.tensorflow,
        tuple(sorted({run.batch_size or 0 for run in report.runs})),  # what the parity guard checks too
        config.steps,
        config.data,
        config.autotune,
        config.async_executor,
        config.fit_jit_compile,
        config.strategy,
        config.replicas,
        workers,
    )


def _group_label(report: Report) -> str:
    """The device label, and the strategy when there is one (``cpu, mirrored ×2``, ``cpu, multiworker worker
    1``).
    """
    label = report.environment.device_label
    spread = next((run.distribution for run in report.runs if run.distribution is not None), None)
    if spread is None:
        return label
    if spread.worker is not None:
        return f"{label}, multiworker worker {spread.worker}"
    return f"{label}, {spread.strategy} ×{spread.replicas}"


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


def group_reports(sources: Sequence[ReportSource], labels: Sequence[str] | None = None) -> list[RunGroup]:
    """Load reports (paths, or Reports in memory) and pool repeats (same machine, same
    configuration), keeping first-seen order; ``labels`` name the reports, in order."""
    labels = list(labels or [])
    if len(labels) > len(sources):
        raise UserError(
            f"{len(labels)} labels for {len(sources)} reports; give at most one --label per report"
        )
    groups: dict[tuple, RunGroup] = {}
    chosen: set[tuple] = set()
    for position, source in enumerate(sources):
        report, name = _load(source, position)
        key = _machine_key(report)
        if key in groups:
            groups[key].paths.append(name)
            groups[key].reports.append(report)
        else:
            groups[key] = RunGroup(_group_label(report), [name], [report])
        if position < len(labels) and key not in chosen:
            groups[key].label = labels[position]
            chosen.add(key)
    result = list(groups.values())
    names = [group.label for group in result]
    for key, group in zip(
        groups, result
    ):  # two groups with one label (two CPUs, two batch sizes): add the file name
        if names.count(group.label) > 1 and key not in chosen:
            group.label = f"{group.label} ({Path(group.paths[0]).stem})"
    return result


@dataclass
class ModelFigures:
    """One model's steady-state figures in one group: every run of it (repeats pooled)."""

    label: str
    model: str
    #: Steady complete epochs' wall times, pooled over runs (for display).
    epoch_ms: list[float]
    phase_step_ms: dict[str, list[float]]
    fit_steady_ms: list[float]
    fit_all_mean_ms: list[float]
    #: What ran (the parity guard's values, see parity.py), from the group's first run.
    parity: dict[str, object]
    repeats: int
    #: What the statistics resample: each run's steady epochs (and probe samples), each run's
    #: steady fit epochs.
    runs: list[RunValues] = field(default_factory=list)
    fit_runs: list[list[float]] = field(default_factory=list)
    #: What the figures leave out or rest on (an interrupted report...), one line each.
    notes: list[str] = field(default_factory=list)
    #: Achieved FLOP/s of the first run against its device's measured peak (article models only).
    throughput: Throughput | None = None

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
        """Mean over runs of each run's mean steady epoch."""
        return point_values(self.runs, [])[0]

    @property
    def phase_epoch_ms(self) -> dict[str, float]:
        """Every phase's ms per epoch, mean over runs of means over epochs, in first-seen order."""
        names: list[str] = []
        for run in self.runs:
            for epoch in run.epochs:
                names += [name for name in [*epoch.outside_ms, *epoch.phases] if name not in names]
        return dict(zip(names, (float(value) for value in point_values(self.runs, names)[2])))

    def phase_mean_ms(self, phase: str) -> float:
        """Mean per-epoch ms of ``phase`` over the group's runs (0 for a phase none of them has)."""
        return self.phase_epoch_ms.get(phase, 0.0)


def _steady_epochs(run: ModelRun) -> list:
    """The run's steady epochs that ran to the end (an interrupted run's cut-short epoch never counts)."""
    indices = set(run.steady.epochs)
    return [epoch for epoch in run.epochs if epoch.index in indices and epoch.complete]


def model_figures(group: RunGroup, model: str) -> ModelFigures | None:
    """The figures of one model in a group of runs of one machine."""
    runs = [run for report in group.reports for run in report.runs if run.model == model]
    notes = [
        f"{name}: interrupted ({run.interrupted}); only its complete epochs are used"
        for name, report in zip(group.paths, group.reports)
        for run in report.runs
        if run.model == model and run.interrupted
    ]
    runs = [run for run in runs if _steady_epochs(run)]
    if not runs:
        return None
    epochs = [epoch for run in runs for epoch in _steady_epochs(run)]
    phase_step: dict[str, list[float]] = {}
    for epoch in epochs:
        for phase, values in epoch.step_ms.items():
            phase_step.setdefault(phase, []).extend(values)
    first = runs[0]
    fit_runs = [run.fit.epoch_ms[1:] for run in runs if run.fit and len(run.fit.epoch_ms) > 1]
    return ModelFigures(
        label=group.label,
        model=model,
        epoch_ms=[epoch.wall_ms for epoch in epochs],
        phase_step_ms=phase_step,
        fit_steady_ms=[ms for times in fit_runs for ms in times],
        fit_all_mean_ms=[run.fit.all_mean_ms for run in runs if run.fit],
        parity=describe(next(r for r in group.reports if first in r.runs), first),
        repeats=len(runs),
        runs=[run_values(_steady_epochs(run)) for run in runs],
        fit_runs=fit_runs,
        notes=notes,
        throughput=achieved(first, next(r for r in group.reports if first in r.runs).environment),
    )


@dataclass
class PhaseDifference:
    """How one phase differs between the reference and another machine, in ms per epoch with an interval."""

    phase: str
    #: Per-step medians and spread on each side, for display (None for epoch-level phases).
    reference: Summary | None
    other: Summary | None
    #: Mean ms per epoch on each side, the ratio other/reference, and the change with its interval.
    reference_ms: float
    other_ms: float
    ratio: float | None
    delta_ms: Interval
    #: The change's interval excludes 0.
    clear: bool
    #: This phase's share of the epoch-time difference (per-epoch totals); shares add up to 1.
    share_of_difference: float | None


@dataclass
class RunDifference:
    """One run against the reference, for one model."""

    label: str
    epoch_ratio: Interval
    #: A clear difference: the ratio's interval excludes 1 and leaves the ±2 % band.
    epoch_clear: bool
    #: Time per training example, other/reference (differs from the epoch ratio when batch sizes
    #: or example counts differ).
    example_ratio: Interval
    fit_ratio: Interval | None
    fit_clear: bool
    #: Enough steady fit epochs (or runs) a side to judge the fit ratio.
    fit_judged: bool
    phases: list[PhaseDifference]
    #: Every difference in what ran that confounds the comparison, worst first (see parity.py).
    confounds: list[str]
    verdict: str
    #: Why no conclusion can be drawn (too few steady epochs), or None.
    too_little_data: str | None = None


@dataclass
class RunSpread:
    """One machine's repeats on their own: the mean steady epoch and how much the runs differ."""

    runs: int
    epoch_ms: Interval
    #: Coefficient of variation of the runs' mean epochs (None with one run).
    between_runs_cv: float | None


@dataclass
class ModelComparison:
    """One model compared across machines: ratios with intervals, phase differences, parity notes."""

    model: str
    figures: list[ModelFigures]
    differences: list[RunDifference] = field(default_factory=list)
    #: With one group only (repeats of one machine): its mean epoch and the spread between runs.
    spread: RunSpread | None = None


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
    ratio: Interval,
    clear: bool,
    phases: list[PhaseDifference],
    too_little: str | None,
) -> str:
    epochs = f"custom-loop epoch {other.epoch_mean_ms / 1000:.2f} s against {ref.epoch_mean_ms / 1000:.2f} s"
    if too_little:
        return f"{model}: too little data to compare {other.label} with {ref.label} ({too_little})."
    if not clear:
        return (
            f"{model}: no clear difference between {other.label} and {ref.label} ({epochs}; ratio "
            f"{ratio.point:.2f}× [{ratio.low:.2f}–{ratio.high:.2f}])."
        )
    speed, bounds = ratio_text(ratio).split(" [")
    ranked = sorted(
        (p for p in phases if p.share_of_difference is not None), key=lambda p: -p.share_of_difference
    )
    named = [
        f"{p.phase} {p.share_of_difference * 100:.0f} %" for p in ranked[:2] if p.share_of_difference >= 0.15
    ] or [f"{ranked[0].phase} {ranked[0].share_of_difference * 100:.0f} %"]
    return (
        f"{model}: {other.label} is {speed} than {ref.label} (95 % CI {bounds.rstrip(']')}×; {epochs}); "
        f"of the difference, {', '.join(named)}."
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


def compare_model(model: str, figures: list[ModelFigures]) -> ModelComparison:
    """Compare one model's groups of runs, the first group the reference."""
    reference, others = figures[0], figures[1:]
    comparison = ModelComparison(model, figures)
    seen = list(dict.fromkeys(name for side in figures for name in side.phase_epoch_ms))
    phases = [name for name in seen if name != OTHER] + [OTHER]
    ref_draws = group_draws(reference.runs, phases)
    ref_epoch, ref_example, ref_phase = point_values(reference.runs, phases)
    ref_fit = epoch_time_draws(reference.fit_runs) if reference.fit_runs else None
    if not others:
        run_means = [mean(epoch.wall_ms for epoch in run.epochs) for run in reference.runs]
        cv = float(np.std(run_means, ddof=1) / np.mean(run_means)) if len(run_means) > 1 else None
        comparison.spread = RunSpread(
            len(run_means), mean_interval(ref_epoch, ref_draws.epoch_ms, reference.units), cv
        )
    for position, other in enumerate(others, start=1):
        draws = group_draws(other.runs, phases, seed=SEED + position)  # independent of the reference's draws
        epoch_ms, example_us, phase_ms = point_values(other.runs, phases)
        too_little = _too_little(reference, other)
        units = min(reference.units, other.units)
        epoch_ratio = ratio_interval(ref_epoch, epoch_ms, ref_draws.epoch_ms, draws.epoch_ms, units)
        example_ratio = ratio_interval(ref_example, example_us, ref_draws.example_us, draws.example_us, units)
        epoch_clear = clear_ratio(epoch_ratio) and too_little is None
        delta_epoch = epoch_ms - ref_epoch
        rows = []
        for column, phase in enumerate(phases):
            delta = difference_interval(
                ref_phase[column],
                phase_ms[column],
                ref_draws.phase_ms[:, column],
                draws.phase_ms[:, column],
                units,
            )
            rows.append(
                PhaseDifference(
                    phase=phase,
                    reference=summarize(reference.phase_step_ms.get(phase, [])),
                    other=summarize(other.phase_step_ms.get(phase, [])),
                    reference_ms=float(ref_phase[column]),
                    other_ms=float(phase_ms[column]),
                    ratio=_ratio(float(ref_phase[column]), float(phase_ms[column])),
                    delta_ms=delta,
                    clear=not delta.contains(0.0) and abs(delta.point) > NEGLIGIBLE_MS and too_little is None,
                    share_of_difference=delta.point / delta_epoch if delta_epoch else None,
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
            fit_judged = min(reference.fit_units, other.fit_units) >= MIN_UNITS
            fit_clear = fit_judged and clear_ratio(fit_ratio)
        confounds = differences(reference.parity, other.parity)
        comparison.differences.append(
            RunDifference(
                label=other.label,
                epoch_ratio=epoch_ratio,
                epoch_clear=epoch_clear,
                example_ratio=example_ratio,
                fit_ratio=fit_ratio,
                fit_clear=fit_clear,
                fit_judged=fit_judged,
                phases=rows,
                confounds=confounds,
                verdict=_verdict(model, reference, other, epoch_ratio, epoch_clear, rows, too_little),
                too_little_data=too_little,
            )
        )
    return comparison


def compare(paths: Sequence[ReportSource], labels: Sequence[str] | None = None) -> list[ModelComparison]:
    """Compare reports (paths, or Reports in memory); the first is the reference.

    Args:
        labels: names for the reports, in order (for example ``["batch 32", "batch 128"]`` for a
            sweep on one machine); a group of repeats takes its first report's label. Default: the
            device label (with the file name where two groups share one).

    Repeats of one machine and configuration alone (several reports, or one report of ``--repeats``)
    are compared with nothing: each model then gets its mean steady epoch with its interval and the
    spread between its runs (``ModelComparison.spread``), which says how many runs a comparison needs.

    Raises:
        UserError: no model in common, or more labels than reports.
    """
    groups = group_reports(paths, labels)
    models = list(dict.fromkeys(run.model for run in groups[0].reports[0].runs))  # repeats name a model again
    figures = {model: [model_figures(group, model) for group in groups] for model in models}
    common = [model for model in models if all(f is not None for f in figures[model])]
    if not common:
        raise UserError(
            "the reports have no model in common with complete steady epochs; run the same model on each "
            "machine (an interrupted run keeps only the epochs it finished)"
        )
    comparisons = [compare_model(model, [f for f in figures[model] if f is not None]) for model in common]
    # An input left out is said, never dropped without a word: a model not on every side.
    left_out: dict[str, list[str]] = {}
    for group in groups:
        for run in (run for report in group.reports for run in report.runs if run.model not in common):
            left_out.setdefault(run.model, [])
            if group.label not in left_out[run.model]:
                left_out[run.model].append(group.label)
    comparisons[0].figures[0].notes += [
        f"{model}: only in {', '.join(where)} (or without complete steady epochs elsewhere): not compared"
        for model, where in left_out.items()
    ]
    return comparisons


#: The public name (``from tfprof_m1 import compare_reports``): ``tfprof_m1.views.compare`` is this module.
compare_reports = compare
