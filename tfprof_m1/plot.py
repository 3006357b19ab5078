"""The article's chart and a phase chart, from saved reports. Needs the ``plot`` extra (matplotlib)."""

from __future__ import annotations

from pathlib import Path
from statistics import mean
from typing import Sequence

from tfprof_m1.compare import group_reports, model_figures
from tfprof_m1.errors import UserError
from tfprof_m1.phases import REPORTED_PHASES
from tfprof_m1.report import atomic_path

PLOT_SUFFIXES = (".png", ".svg")
PHASE_COLOURS = {
    "input": "#4e79a7", "forward": "#59a14f", "backward": "#e15759", "optimizer": "#f28e2b",
    "sync": "#b07aa1", "compute": "#76b7b2", "other": "#bab0ac",
}


def plot_reports(paths: Sequence[str | Path], output: str | Path) -> Path:
    """Write a two-panel figure: mean fit epoch time per run and model (the article's chart), and a
    stacked bar of the custom loop's steady-state phases per run and model.

    Raises:
        UserError: matplotlib missing, an output suffix other than .png/.svg, or unreadable reports.
    """
    output = Path(output)
    if output.suffix.lower() not in PLOT_SUFFIXES:
        raise UserError(f"-o {output}: the file name must end in .png or .svg")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserError("plot needs matplotlib: pip install 'tfprof-m1[plot]'") from None
    groups = group_reports(paths)
    models: list[str] = []
    for group in groups:
        for report in group.reports:
            models += [run.model for run in report.runs if run.model not in models]

    figure, (epochs_axis, phases_axis) = plt.subplots(1, 2, figsize=(13, 4.8), constrained_layout=True)
    width = 0.8 / len(groups)
    for index, group in enumerate(groups):
        heights, hatches = [], []
        for model in models:
            figures = model_figures(group, model)
            if figures is None:
                heights.append(0.0)
                hatches.append("")
            elif figures.fit_all_mean_ms:
                heights.append(mean(figures.fit_all_mean_ms) / 1000)
                hatches.append("")
            else:  # no fit run: show the custom loop, hatched, rather than nothing
                heights.append(figures.epoch_mean_ms / 1000)
                hatches.append("//")
        positions = [m + (index - (len(groups) - 1) / 2) * width for m in range(len(models))]
        bars = epochs_axis.bar(positions, heights, width, label=group.label)
        for bar, hatch in zip(bars, hatches):
            bar.set_hatch(hatch)
    epochs_axis.set_xticks(range(len(models)), models)
    epochs_axis.set_ylabel("mean epoch time (s)")
    epochs_axis.set_title("Keras fit, mean over all epochs (as the article)\nhatched: custom loop, no fit run")
    epochs_axis.legend(fontsize="small")

    labels, bottoms, x = [], {}, 0
    seen_phases: set[str] = set()
    for model in models:
        for group in groups:
            figures = model_figures(group, model)
            if figures is None:
                continue
            bottom = 0.0
            for phase in [*REPORTED_PHASES, *sorted(set(figures.phase_epoch_ms) - set(REPORTED_PHASES))]:
                value = figures.phase_mean_ms(phase) / 1000
                if value <= 0:
                    continue
                phases_axis.bar(x, value, 0.7, bottom=bottom, color=PHASE_COLOURS.get(phase, "#999999"),
                                label=phase if phase not in seen_phases else None)
                seen_phases.add(phase)
                bottom += value
            bottoms[x] = bottom
            labels.append(f"{model}\n{group.label}")
            x += 1
    phases_axis.set_xticks(range(len(labels)), labels, fontsize="small")
    phases_axis.set_ylabel("custom-loop epoch, steady state (s)")
    phases_axis.set_title("Where the epoch goes")
    phases_axis.legend(fontsize="small")

    try:
        with atomic_path(output, suffix=output.suffix) as temporary:
            figure.savefig(temporary, format=output.suffix[1:].lower(), dpi=120)
    finally:
        plt.close(figure)
    return output
