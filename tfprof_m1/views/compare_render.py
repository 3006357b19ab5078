"""Render a comparison as a terminal table or GitHub Markdown. Measures nothing."""

from __future__ import annotations

from statistics import mean

from tfprof_m1.analysis.compare import ModelComparison, profiled_kind, ratio_text
from tfprof_m1.analysis.compare_stats import EQUIVALENCE, MIN_UNITS
from tfprof_m1.analysis.throughput import share_text
from tfprof_m1.base.stats import Summary
from tfprof_m1.views.render import ms_text
from tfprof_m1.views.width import counted, fit_table, heading, wrap_item, wrap_text

__all__ = ["render_comparison"]


def _seconds(values: list[float]) -> str:
    return f"{mean(values) / 1000:.2f} s" if values else "—"


def _step(summary: Summary | None) -> str:
    if summary is None:
        return "—"
    if summary.median >= 10:
        return f"{summary.median:,.1f} ± {summary.iqr:,.1f}"
    return f"{ms_text(summary.median)} ± {ms_text(summary.iqr)}"  # 0.000, never -0.000


def _share(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:+.0f} %"


def _delta(cell, too_little_data: str | None = None) -> str:
    interval = cell.delta_ms
    text = f"{interval.point:+,.1f} [{interval.low:+,.1f}, {interval.high:+,.1f}]"
    if cell.clear:
        return text
    if too_little_data and not interval.contains(0.0):  # the interval alone would say clear
        return f"{text}, not judged (too little data)"
    return f"{text}, not clear"


def _units(difference) -> str:
    return "µs per example" if difference.per_example else "ms per epoch"


def comparison_rows(comparison: ModelComparison) -> tuple[list[str], list[list[str]]]:
    """The rows of one model's comparison table."""
    reference, others = comparison.figures[0], comparison.figures[1:]
    headers = ["figure", f"{reference.label} (reference)"]
    for other, difference in zip(others, comparison.differences):
        headers += [other.label, f"ratio [95 % CI] / Δ {_units(difference)} [95 % CI]", "share of Δ"]
    rows = []
    for name, pick in (
        ("fit epoch, steady (s)", lambda f: f.fit_steady_ms),
        ("fit epoch, all epochs (s), as the article", lambda f: f.fit_all_mean_ms),
    ):
        row = [name, _seconds(pick(reference))]
        for other, difference in zip(others, comparison.differences):
            if name.startswith("fit epoch, all"):
                values, ref_values = pick(other), pick(reference)
                ratio = (
                    f"{mean(values) / mean(ref_values):.2f}× (the article's number; no interval)"
                    if values and ref_values
                    else "—"
                )
            elif difference.fit_ratio is None:
                ratio = "—"
            elif not difference.fit_judged:
                ratio = (
                    f"{difference.fit_ratio.point:.2f}× (under {MIN_UNITS} steady epochs a side: not judged)"
                )
            else:
                ratio = ratio_text(difference.fit_ratio, difference.fit_clear)
            if (
                difference.fit_ratio is not None
                and difference.per_example
                and name.startswith("fit epoch, steady")
            ):
                ratio += ", per example"
            row += [_seconds(pick(other)), ratio, ""]
        rows.append(row)
    kind = profiled_kind(comparison.figures)
    row = [f"{kind} epoch, steady (s)", f"{reference.epoch_mean_ms / 1000:.2f} s"]
    for other, difference in zip(others, comparison.differences):
        row += [f"{other.epoch_mean_ms / 1000:.2f} s", *_judged(difference, difference.epoch_ratio, False)]
    rows.append(row)
    row = [f"{kind} time per example (µs)", f"{reference.example_us:,.1f}"]
    for other, difference in zip(others, comparison.differences):
        row += [f"{other.example_us:,.1f}", *_judged(difference, difference.example_ratio, True)]
    rows.append(row)
    if any(figures.profiling_ms != 0 for figures in comparison.figures):
        row = ["profiling cost, taken out (ms/epoch)", f"{reference.profiling_ms:,.1f}"]
        for other in others:
            row += [f"{other.profiling_ms:,.1f}", "not in any figure compared", ""]
        rows.append(row)
    if any(figures.throughput is not None for figures in comparison.figures):
        rows.append(
            ["training step GFLOP/s (share of own peak)", _gflops(reference.throughput)]
            + [cell for other in others for cell in (_gflops(other.throughput), "", "")]
        )
    if not comparison.differences:  # one side on its own: its figures, no ratios
        for phase, ms in reference.phase_epoch_ms.items():
            rows.append([f"{phase} (ms/epoch)", f"{ms:,.1f}"])
        return headers, rows
    for index, phase in enumerate(d.phase for d in comparison.differences[0].phases):
        first = comparison.differences[0].phases[index]
        step_level = first.reference is not None or any(
            d.phases[index].other is not None for d in comparison.differences
        )
        row = [f"{phase} (ms/step, median ± IQR)" if step_level else f"{phase} (ms/epoch)"]
        row.append(_step(first.reference) if step_level else f"{reference.phase_mean_ms(phase):,.1f}")
        for other, difference in zip(others, comparison.differences):
            cell = difference.phases[index]
            # a share of a total that may be no change at all (its ratio's interval holds 1) is a
            # share of noise: +800 % of a few µs; not shown
            noise = difference.judged_ratio.contains(1.0)
            row += [
                _step(cell.other) if step_level else f"{other.phase_mean_ms(phase):,.1f}",
                _delta(cell, difference.too_little_data),
                "—" if noise else _share(cell.share_of_difference),
            ]
        rows.append(row)
    return headers, rows


def _judged(difference, interval, per_example: bool) -> list[str]:
    """The ratio and share cells of the epoch row or the per-example row: the judged one carries
    the verdict's wording and 100 %, the other its ratio with its interval."""
    if difference.per_example != per_example:
        return [f"{interval.point:.2f}× [{interval.low:.2f}–{interval.high:.2f}]", ""]
    if difference.too_little_data:
        return [f"{interval.point:.2f}× (too little data: not judged)", "100 %"]
    return [ratio_text(interval, difference.epoch_clear), "100 %"]


def _gflops(throughput) -> str:
    if throughput is None or throughput.step_gflops is None:
        return "—"
    return f"{throughput.step_gflops:,.1f}" + share_text(throughput.share(throughput.step_gflops))


#: The method paragraph under a comparison of two sides or more.
_METHOD = (
    "Ratios are other/reference of the mean steady epoch (a mean "
    "over runs of each run's mean), with 95 % "
    f"intervals from a hierarchical bootstrap: runs, then steady epochs, then blocks of steps. No clear "
    f"difference when the interval contains 1 or lies within ±{EQUIVALENCE * 100:.0f} %. Phases: "
    "per-step median ± IQR on each side, the change in ms per epoch with its interval "
    '("not clear" when it contains 0 or is negligible, "not judged" when there is too little data to '
    "judge) and its share "
    "of the epoch-time difference (the "
    "shares add up to 100 %). The custom-loop figures are of the unprofiled-equivalent epoch: each "
    "side's profiling cost is taken out first and the workload's phases divide what is left; with "
    "different batch sizes the verdict is on the time per example, and fit's ratio too (fit is "
    f"timed per epoch, over each side's examples). Method: docs/comparing.md."
)
#: The paragraph under one side on its own (repeats of one run): no ratios to explain.
_ONE_SIDE_METHOD = (
    "Each figure is a mean over runs of each run's mean over its steady epochs; the mean steady "
    "epoch's 95 % interval is from a hierarchical bootstrap: runs, then steady epochs, then blocks of "
    "steps. The custom-loop figures are of the unprofiled-equivalent epoch (each run's profiling cost "
    "taken out first). Method: docs/comparing.md."
)


def render_comparison(comparisons: list[ModelComparison], markdown: bool = False) -> str:
    """Every model's comparison as a terminal table or Markdown, with the method in one paragraph."""
    out = []
    for comparison in comparisons:
        labels = " vs ".join(f.label for f in comparison.figures)
        # different models on one machine: the model is already the sides' names, said once
        title = labels if comparison.model == labels else f"{comparison.model}: {labels}"
        out.append(heading(title, markdown))
        out.append("")
        headers, rows = comparison_rows(comparison)
        out.append(fit_table(headers, rows, markdown))
        out.append("")
        for figures in comparison.figures:
            epochs = sum(len(run.epochs) for run in figures.runs)
            out.append(
                f"- {figures.label}: {counted(figures.repeats, 'run')}, {counted(epochs, 'steady epoch')}"
            )
            out += [f"- ⚠ {note}" for note in figures.notes]
        if any(figures.repeats < MIN_UNITS for figures in comparison.figures):
            out.append(
                f"- under {MIN_UNITS} runs a side: the intervals rest on "
                "the steady epochs and cover the variation "
                f"within runs, not between them; record {MIN_UNITS} runs "
                f"or more per machine (--repeats {MIN_UNITS})"
            )
        spread = comparison.spread
        if spread is not None:
            between = (
                f"; the runs' mean epochs differ by {spread.between_runs_cv * 100:.1f} % (coefficient of "
                "variation): a difference between machines smaller than about twice that needs more runs"
                if spread.between_runs_cv is not None
                else ""
            )
            out.append(
                f"- {comparison.figures[0].label} on its own ({spread.runs} "
                f"run{'s' if spread.runs != 1 else ''}): "
                f"mean steady epoch {spread.epoch_ms.point / 1000:.2f} s "
                f"[95 % CI {spread.epoch_ms.low / 1000:.2f}–"
                f"{spread.epoch_ms.high / 1000:.2f}]"
                + between
                + "; give reports of another machine or configuration to compare with"
            )
        out += [f"- {note}" for note in comparison.notes]
        for difference in comparison.differences:
            if difference.ab:
                out += [
                    f"- what differs ({difference.label} against the reference): {item}"
                    for item in difference.confounds
                ]
            else:
                out += [
                    f"- ⚠ not like for like ({difference.label} against the reference): {item}"
                    for item in difference.confounds
                ]
            out.append(f"- {difference.verdict}")
        out.append("")
    # the method paragraph: ratios and verdicts explained only where there are some
    out.append(_METHOD if any(comparison.differences for comparison in comparisons) else _ONE_SIDE_METHOD)
    # list items and the method paragraph within the width (tables were fitted above)
    if markdown:  # GitHub wraps text itself
        return "\n".join(out).rstrip() + "\n"
    wrapped = [wrap_item(line[2:]) if line.startswith("- ") else line for line in out[:-1]]
    return "\n".join([*wrapped, wrap_text(out[-1])]).rstrip() + "\n"
