"""The article's chart and a phase chart, from saved reports. Needs the ``plot`` extra (matplotlib)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from statistics import mean

from tfprof_m1.base.errors import UserError
from tfprof_m1.base.files import atomic_path
from tfprof_m1.base.phases import (
    ALL_REDUCE,
    BACKWARD,
    COMPUTE,
    FORWARD,
    INPUT,
    OPTIMIZER,
    OTHER,
    REPORTED_PHASES,
    SYNC,
)
from tfprof_m1.base.safe_io import check_output_file
from tfprof_m1.views.compare import ReportSource, group_reports, model_figures

PLOT_SUFFIXES = (".png", ".svg")
#: Colours for a research loop's own phases, in the order they are first drawn.
OWN_PHASE_COLOURS = ("#edc948", "#ff9da7", "#9c755f", "#86bcb6", "#d37295", "#a0cbe8", "#8cd17d", "#f1ce63")
PHASE_COLOURS = {
    INPUT: "#4e79a7",
    FORWARD: "#59a14f",
    BACKWARD: "#e15759",
    ALL_REDUCE: "#17becf",
    OPTIMIZER: "#f28e2b",
    SYNC: "#b07aa1",
    COMPUTE: "#76b7b2",
    OTHER: "#bab0ac",
}


def _phase_order(phases: dict[str, list[float]]) -> list[str]:
    """Built-in phases in their usual order, then a loop's own in the order the report lists them."""
    own = [name for name in phases if name not in REPORTED_PHASES and name != OTHER]
    return [name for name in REPORTED_PHASES if name != OTHER] + own + [OTHER]


def _colour(phase: str, own: dict[str, str]) -> str:
    if phase in PHASE_COLOURS:
        return PHASE_COLOURS[phase]
    return own.setdefault(phase, OWN_PHASE_COLOURS[len(own) % len(OWN_PHASE_COLOURS)])


def check_output(output: Path, example: str) -> Path:
    """A figure's path: a .png or .svg file name, not a directory, not under a file (checked
    without creating anything).

    Raises:
        UserError: one line naming ``-o`` and what to give instead.
    """
    if output.suffix.lower() not in PLOT_SUFFIXES:
        raise UserError(f"-o {output}: the file name must end in .png or .svg")
    if output.is_dir():
        raise UserError(f"-o {output}: is a directory; give a file name such as {output / example}")
    check_output_file("-o", output)  # never a device, FIFO or symbolic link
    blocking = next((parent for parent in output.parents if parent.exists()), None)
    if blocking is not None and not blocking.is_dir():
        raise UserError(f"-o {output}: is under {blocking}, which is a file; give a path in a directory")
    return output


def plot_reports(paths: Sequence[ReportSource], output: str | Path) -> Path:
    """Write a two-panel figure: mean fit epoch time per run and model (the article's chart), and a
    stacked bar of the custom loop's steady-state phases per run and model. ``paths`` are report
    files or Reports in memory.

    Raises:
        UserError: matplotlib missing, an output suffix other than .png/.svg, or unreadable reports.
    """
    output = check_output(Path(output), "machines.png")
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
    epochs_axis.set_title(
        "Keras fit, mean over all epochs (as the article)\nhatched: custom loop, no fit run"
    )
    epochs_axis.legend(fontsize="small")

    labels, bottoms, x = [], {}, 0
    colours: dict[str, str] = {}
    seen_phases: set[str] = set()
    for model in models:
        for group in groups:
            figures = model_figures(group, model)
            if figures is None:
                continue
            bottom = 0.0
            for phase in _phase_order(figures.phase_epoch_ms):
                value = figures.phase_mean_ms(phase) / 1000
                if value <= 0:
                    continue
                phases_axis.bar(
                    x,
                    value,
                    0.7,
                    bottom=bottom,
                    color=_colour(phase, colours),
                    label=phase if phase not in seen_phases else None,
                )
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
    except OSError as error:
        raise UserError(
            f"-o {output}: cannot be written ({error.strerror or error}); choose another place"
        ) from None
    finally:
        plt.close(figure)
    return output
