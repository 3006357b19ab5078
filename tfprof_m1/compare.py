"""Compare runs across machines: where does the epoch-time difference come from?

Works on saved reports only (no TensorFlow). Reports from the same machine with the same
configuration are repeats and are pooled first. The first run is the reference; every other run is
described by its ratio to it and by each phase's share of the epoch-time difference.

The significance rule (also in docs/comparing.md): two figures differ significantly only when their
medians are further apart than the mean of their interquartile ranges,
``|median_a − median_b| > (IQR_a + IQR_b) / 2``, computed over the raw per-step values of the
steady-state epochs. Otherwise the comparison prints ``not significant``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean
from typing import Sequence, Union

from tfprof_m1.attribution import step_totals
from tfprof_m1.errors import UserError
from tfprof_m1.phases import OTHER
from tfprof_m1.report import ModelRun, Report, check_consistency, load_report
from tfprof_m1.stats import Summary, summarize

#: Configuration fields that must match for a comparison to be like for like.
CONFIG_FIELDS = ("batch_size", "steps_per_epoch", "data_source", "examples", "autotune")


@dataclass
class RunGroup:
    """One machine and configuration: one report, or several repeats pooled."""

    label: str
    paths: list[str]
    reports: list[Report]


def _machine_key(report: Report) -> tuple:
    env = report.environment
    return (env.device_label, env.cpu_model, env.platform, env.tensorflow, report.config.batch_size,
            report.config.steps, report.config.data, report.config.autotune)


ReportSource = Union[str, Path, Report]
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


def group_reports(sources: Sequence[ReportSource]) -> list[RunGroup]:
    """Load reports (paths, or Reports in memory) and pool repeats (same machine, same
    configuration), keeping first-seen order."""
    groups: dict[tuple, RunGroup] = {}
    for position, source in enumerate(sources):
        report, name = _load(source, position)
        key = _machine_key(report)
        if key in groups:
            groups[key].paths.append(name)
            groups[key].reports.append(report)
        else:
            groups[key] = RunGroup(report.environment.device_label, [name], [report])
    result = list(groups.values())
    labels = [group.label for group in result]
    for group in result:  # two groups with one label (two CPUs, two batch sizes): add the file name
        if labels.count(group.label) > 1:
            group.label = f"{group.label} ({Path(group.paths[0]).stem})"
    return result


@dataclass
class ModelFigures:
    """One model's steady-state figures in one group, pooled over its repeats."""

    label: str
    model: str
    epoch_ms: list[float]
    step_ms: list[float]
    phase_epoch_ms: dict[str, list[float]]
    phase_step_ms: dict[str, list[float]]
    fit_steady_ms: list[float]
    fit_all_mean_ms: list[float]
    config: dict[str, object]
    repeats: int
    #: What the figures leave out or rest on (an interrupted report...), one line each.
    notes: list[str] = field(default_factory=list)

    @property
    def epoch_mean_ms(self) -> float:
        return mean(self.epoch_ms)

    def phase_mean_ms(self, phase: str) -> float:
        values = self.phase_epoch_ms.get(phase)
        return mean(values) if values else 0.0


def _steady_epochs(run: ModelRun) -> list:
    """The run's steady epochs that ran to the end (an interrupted run's cut-short epoch never counts)."""
    indices = set(run.steady.epochs)
    return [epoch for epoch in run.epochs if epoch.index in indices and epoch.complete]


def model_figures(group: RunGroup, model: str) -> ModelFigures | None:
    runs = [report.run(model) for report in group.reports if any(r.model == model for r in report.runs)]
    notes = [f"{name}: interrupted ({run.interrupted}); only its complete epochs are used"
             for name, report in zip(group.paths, group.reports) for run in report.runs
             if run.model == model and run.interrupted]
    runs = [run for run in runs if _steady_epochs(run)]
    if not runs:
        return None
    epochs = [epoch for run in runs for epoch in _steady_epochs(run)]
    phase_epoch: dict[str, list[float]] = {}
    phase_step: dict[str, list[float]] = {}
    step_times: list[float] = []
    for epoch in epochs:
        for summary in epoch.phases:
            phase_epoch.setdefault(summary.phase, []).append(summary.total_ms)
        for phase, values in epoch.step_ms.items():
            phase_step.setdefault(phase, []).extend(values)
        step_times += step_totals(epoch.step_ms)
    first = runs[0]
    return ModelFigures(
        label=group.label,
        model=model,
        epoch_ms=[epoch.wall_ms for epoch in epochs],
        step_ms=step_times,
        phase_epoch_ms=phase_epoch,
        phase_step_ms=phase_step,
        fit_steady_ms=[ms for run in runs if run.fit for ms in run.fit.epoch_ms[1:]],
        fit_all_mean_ms=[run.fit.all_mean_ms for run in runs if run.fit],
        config={
            "batch_size": first.batch_size,
            "steps_per_epoch": first.steps_per_epoch,
            "data_source": first.data.source if first.data else group.reports[0].config.data,
            "examples": first.data.examples if first.data else None,
            "autotune": group.reports[0].config.autotune,
        },
        repeats=len(runs),
        notes=notes,
    )


def significant(a: Summary | None, b: Summary | None) -> bool:
    """The rule: medians further apart than the mean of the two IQRs."""
    if a is None or b is None:
        return False
    return abs(a.median - b.median) > (a.iqr + b.iqr) / 2


@dataclass
class PhaseDifference:
    phase: str
    reference: Summary | None
    other: Summary | None
    ratio: float | None
    significant: bool
    #: This phase's share of the epoch-time difference (per-epoch totals); shares add up to 1.
    share_of_difference: float | None


@dataclass
class RunDifference:
    """One run against the reference, for one model."""

    label: str
    epoch_ratio: float
    epoch_significant: bool
    phases: list[PhaseDifference]
    config_differences: list[str]
    verdict: str


@dataclass
class ModelComparison:
    model: str
    figures: list[ModelFigures]
    differences: list[RunDifference] = field(default_factory=list)


def _ratio(reference: float, other: float) -> float | None:
    return other / reference if reference > 0 else None


def ratio_text(ratio: float | None, is_significant: bool = True) -> str:
    if ratio is None:
        return "—"
    if not is_significant:
        return f"not significant ({ratio:.2f}×)"
    if ratio >= 1:
        return f"{ratio:.2f}× slower"
    return f"{1 / ratio:.2f}× faster"


def _verdict(model: str, ref: ModelFigures, other: ModelFigures, ratio: float, is_significant: bool, phases: list[PhaseDifference]) -> str:
    epochs = f"custom-loop epoch {other.epoch_mean_ms / 1000:.2f} s against {ref.epoch_mean_ms / 1000:.2f} s"
    if not is_significant:
        return f"{model}: {other.label} and {ref.label} do not differ significantly ({epochs})."
    speed = f"{ratio:.2f}× slower" if ratio >= 1 else f"{1 / ratio:.2f}× faster"
    ranked = sorted((p for p in phases if p.share_of_difference is not None), key=lambda p: -p.share_of_difference)
    named = [f"{p.phase} {p.share_of_difference * 100:.0f} %" for p in ranked[:2] if p.share_of_difference >= 0.15] or \
            [f"{ranked[0].phase} {ranked[0].share_of_difference * 100:.0f} %"]
    return f"{model}: {other.label} is {speed} than {ref.label} ({epochs}); of the difference, {', '.join(named)}."


def compare_model(model: str, figures: list[ModelFigures]) -> ModelComparison:
    reference, others = figures[0], figures[1:]
    comparison = ModelComparison(model, figures)
    phases = [name for name in reference.phase_epoch_ms if name != OTHER] + [OTHER]
    for other in others:
        delta_epoch = other.epoch_mean_ms - reference.epoch_mean_ms
        rows = []
        for phase in phases:
            ref_steps, other_steps = summarize(reference.phase_step_ms.get(phase, [])), summarize(other.phase_step_ms.get(phase, []))
            delta = other.phase_mean_ms(phase) - reference.phase_mean_ms(phase)
            rows.append(PhaseDifference(
                phase=phase,
                reference=ref_steps,
                other=other_steps,
                ratio=_ratio(ref_steps.median, other_steps.median) if ref_steps and other_steps else
                _ratio(reference.phase_mean_ms(phase), other.phase_mean_ms(phase)),
                significant=significant(ref_steps, other_steps),
                share_of_difference=delta / delta_epoch if delta_epoch else None,
            ))
        epoch_ratio = other.epoch_mean_ms / reference.epoch_mean_ms
        epoch_significant = significant(summarize(reference.step_ms), summarize(other.step_ms))
        config_differences = [
            f"{name}: {reference.config[name]} against {other.config[name]}"
            for name in CONFIG_FIELDS
            if reference.config[name] != other.config[name]
        ]
        comparison.differences.append(RunDifference(
            label=other.label,
            epoch_ratio=epoch_ratio,
            epoch_significant=epoch_significant,
            phases=rows,
            config_differences=config_differences,
            verdict=_verdict(model, reference, other, epoch_ratio, epoch_significant, rows),
        ))
    return comparison


def compare(paths: Sequence[ReportSource]) -> list[ModelComparison]:
    """Compare reports (paths, or Reports in memory); the first is the reference.

    Raises:
        UserError: fewer than two distinct runs after pooling repeats, or no model in common.
    """
    groups = group_reports(paths)
    if len(groups) < 2:
        raise UserError("compare needs reports of at least two different runs; the files given are repeats of one run "
                        "(same machine and configuration)" if len(paths) > 1 else "compare needs at least two reports")
    models = [run.model for run in groups[0].reports[0].runs]
    figures = {model: [model_figures(group, model) for group in groups] for model in models}
    common = [model for model in models if all(f is not None for f in figures[model])]
    if not common:
        raise UserError("the reports have no model in common with complete steady epochs; run the same model on each "
                        "machine (an interrupted run keeps only the epochs it finished)")
    return [compare_model(model, [f for f in figures[model] if f is not None]) for model in common]


#: The public name (``from tfprof_m1 import compare_reports``): ``tfprof_m1.compare`` is this module.
compare_reports = compare
