"""Two charts from saved reports, with the sides ``compare`` finds: each side's mean epoch with its
95 % interval, and where its unprofiled-equivalent epoch goes. Needs the ``plot`` extra (matplotlib)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

from tfprof_m1.analysis.compare import (
    ModelComparison,
    ModelFigures,
    ReportSource,
    compare,
    epoch_interval,
    fit_interval,
)
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

__all__ = ["check_output", "plot_reports"]

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


def _phase_order(phases: Mapping[str, object]) -> list[str]:
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


#: Colour of the profiler's own cost, drawn apart from the workload's phases.
PROFILING_COLOUR = "#d9d9d9"


def plot_reports(
    paths: Sequence[ReportSource], output: str | Path, labels: Sequence[str] | None = None
) -> Path:
    """Write a two-panel figure of the sides :func:`~tfprof_m1.analysis.compare.compare` finds in
    ``paths`` (report files or Reports in memory; ``labels`` name them as compare's ``--label``):

    - left, one measure: the mean steady Keras ``fit`` epoch per side (s), when any side ran fit;
      otherwise the mean steady custom-loop epoch, unprofiled-equivalent (s); 95 % intervals as
      error bars;
    - right: a stacked bar per side of the workload's phases of the unprofiled-equivalent custom-loop
      epoch (s), its interval as an error bar, and the profiling cost taken out drawn apart beside it.

    The parity guard's lines (what differs between the sides) are printed under the chart.

    Raises:
        UserError: matplotlib missing, an output suffix other than .png/.svg, or reports that cannot
            be read or compared (one line each).
    """
    output = check_output(Path(output), "machines.png")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserError(
            "plot needs matplotlib: pip install 'tfprof-m1[plot]' (in a clone: pip install -e '.[plot]')"
        ) from None
    comparisons = compare(paths, labels)
    warnings = _parity_lines(comparisons)
    figure, (epochs_axis, phases_axis) = plt.subplots(1, 2, figsize=(13, 5.2 + 0.22 * len(warnings)))
    _epoch_panel(epochs_axis, comparisons)
    _phase_panel(phases_axis, comparisons)
    bottom = 0.16 + 0.035 * len(warnings)
    figure.subplots_adjust(left=0.06, right=0.98, top=0.88, bottom=min(bottom, 0.6), wspace=0.25)
    if warnings:
        figure.text(0.01, 0.01, "\n".join(warnings), fontsize="x-small", va="bottom", ha="left")
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


def _bars(comparisons: list[ModelComparison]) -> list[tuple[str, ModelFigures]]:
    """(x label, side figures) of every side of every comparison, in order."""
    return [
        (f"{comparison.model}\n{textwrap.fill(figures.label, 22)}", figures)
        for comparison in comparisons
        for figures in comparison.figures
    ]


def _epoch_panel(axis, comparisons: list[ModelComparison]) -> None:
    """One measure: the steady fit epoch where any side ran fit, else the custom-loop epoch."""
    bars = _bars(comparisons)
    use_fit = any(figures.fit_runs for _, figures in bars)
    for x, (_, figures) in enumerate(bars):
        interval = fit_interval(figures) if use_fit else epoch_interval(figures)
        if interval is None:
            axis.text(x, 0, "no fit run", ha="center", va="bottom", fontsize="small", rotation=90)
            continue
        axis.bar(x, interval.point / 1000, 0.7, color="#4e79a7")
        axis.errorbar(
            x,
            interval.point / 1000,
            yerr=_yerr(interval),
            color="black",
            capsize=4,
        )
    axis.set_xticks(range(len(bars)), [label for label, _ in bars], fontsize="small")
    axis.set_ylabel("seconds")
    axis.set_title(
        "Keras fit: mean steady epoch (s), 95 % CI"
        if use_fit
        else "Custom loop: mean steady epoch, profiling cost taken out (s), 95 % CI",
        fontsize="medium",
    )


def _phase_panel(axis, comparisons: list[ModelComparison]) -> None:
    """Stacked workload phases of the unprofiled-equivalent epoch, the profiling cost apart."""
    bars = _bars(comparisons)
    colours: dict[str, str] = {}
    seen: set[str] = set()
    for x, (_, figures) in enumerate(bars):
        bottom = 0.0
        phases = figures.phase_epoch_ms
        for phase in _phase_order(phases):
            value = phases.get(phase, 0.0) / 1000
            if value <= 0:
                continue
            axis.bar(
                x - 0.1,
                value,
                0.6,
                bottom=bottom,
                color=_colour(phase, colours),
                label=phase if phase not in seen else None,
            )
            seen.add(phase)
            bottom += value
        interval = epoch_interval(figures)
        axis.errorbar(
            x - 0.1,
            interval.point / 1000,
            yerr=_yerr(interval),
            color="black",
            capsize=4,
        )
    costs = [(x, figures.profiling_ms) for x, (_, figures) in enumerate(bars) if figures.profiling_ms > 0]
    for position, (x, cost) in enumerate(costs):  # apart, after the phases (last in the legend too)
        axis.bar(
            x + 0.32,
            cost / 1000,
            0.2,
            color=PROFILING_COLOUR,
            hatch="//",
            edgecolor="#7f7f7f",
            label="profiling cost, taken out" if position == 0 else None,
        )
    axis.set_xticks(range(len(bars)), [label for label, _ in bars], fontsize="small")
    axis.set_ylabel("seconds")
    axis.set_title("Where the custom-loop epoch goes (unprofiled-equivalent, s), 95 % CI", fontsize="medium")
    axis.legend(fontsize="small")


def _yerr(interval) -> list[list[float]]:
    """An interval as matplotlib's error bar, in s (a bound within rounding of the point is 0)."""
    return [
        [max(0.0, interval.point - interval.low) / 1000],
        [max(0.0, interval.high - interval.point) / 1000],
    ]


def _parity_lines(comparisons: list[ModelComparison]) -> list[str]:
    """The parity guard's lines, one per difference between a side and its reference, wrapped."""
    lines = []
    for comparison in comparisons:
        for difference in comparison.differences:
            kind = "differs" if difference.ab else "⚠ not like for like"
            for item in difference.confounds:
                text = f"{comparison.model}, {difference.label}: {kind}: {item}"
                lines += textwrap.wrap(text, 180, subsequent_indent="    ")
    return lines
