"""Render a comparison as a terminal table or GitHub Markdown. Measures nothing."""

from __future__ import annotations

from statistics import mean

from tabulate import tabulate

from tfprof_m1.compare import ModelComparison, ratio_text, significant
from tfprof_m1.stats import Summary, summarize

#: fit is timed per epoch only: its spread needs a few epochs before a difference can be judged.
MIN_EPOCHS_TO_JUDGE = 3


def _seconds(values: list[float]) -> str:
    return f"{mean(values) / 1000:.2f} s" if values else "—"


def _step(summary: Summary | None) -> str:
    if summary is None:
        return "—"
    return f"{summary.median:.3f} ± {summary.iqr:.3f}" if summary.median < 10 else f"{summary.median:,.1f} ± {summary.iqr:,.1f}"


def _share(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:+.0f} %"


def comparison_rows(comparison: ModelComparison) -> tuple[list[str], list[list[str]]]:
    reference, others = comparison.figures[0], comparison.figures[1:]
    headers = ["figure", f"{reference.label} (reference)"]
    for other in others:
        headers += [other.label, "ratio", "share of Δ"]
    rows = []
    for name, pick in (("fit epoch, steady (s)", lambda f: f.fit_steady_ms), ("fit epoch, all epochs (s), as the article", lambda f: f.fit_all_mean_ms)):
        row = [name, _seconds(pick(reference))]
        for other in others:
            ref_values, values = pick(reference), pick(other)
            ratio = mean(values) / mean(ref_values) if ref_values and values else None
            judged = len(ref_values) >= MIN_EPOCHS_TO_JUDGE and len(values) >= MIN_EPOCHS_TO_JUDGE
            text = ratio_text(ratio, significant(summarize(ref_values), summarize(values))) if judged else \
                ratio_text(ratio) + (f" (under {MIN_EPOCHS_TO_JUDGE} epochs: not judged)" if ratio else "")
            row += [_seconds(values), text, ""]
        rows.append(row)
    row = ["custom-loop epoch, steady (s)", _seconds(reference.epoch_ms)]
    for other, difference in zip(others, comparison.differences):
        row += [_seconds(other.epoch_ms), ratio_text(difference.epoch_ratio, difference.epoch_significant), "100 %"]
    rows.append(row)
    for index, phase in enumerate(d.phase for d in comparison.differences[0].phases):
        row = [f"{phase} (ms/step, median ± IQR)" if phase != "other" else "other (ms/epoch)"]
        first = comparison.differences[0].phases[index]
        row.append(_step(first.reference) if phase != "other" else f"{reference.phase_mean_ms(phase):,.1f}")
        for other, difference in zip(others, comparison.differences):
            cell = difference.phases[index]
            value = _step(cell.other) if phase != "other" else f"{other.phase_mean_ms(phase):,.1f}"
            ratio = ratio_text(cell.ratio, cell.significant) if phase != "other" else "—"
            row += [value, ratio, _share(cell.share_of_difference)]
        rows.append(row)
    return headers, rows


def render_comparison(comparisons: list[ModelComparison], markdown: bool = False) -> str:
    out = []
    for comparison in comparisons:
        title = f"{comparison.model}: " + " vs ".join(f.label for f in comparison.figures)
        out.append(f"### {title}" if markdown else f"{title}\n{'-' * len(title)}")
        out.append("")
        headers, rows = comparison_rows(comparison)
        out.append(tabulate(rows, headers=headers, tablefmt="github" if markdown else "simple", disable_numparse=True))
        out.append("")
        for figures in comparison.figures:
            if figures.repeats > 1:
                out.append(f"- {figures.label}: {figures.repeats} repeats pooled")
            out += [f"- ⚠ {note}" for note in figures.notes]
        for difference in comparison.differences:
            for item in difference.config_differences:
                out.append(f"- ⚠ configurations differ ({difference.label}): {item}; the comparison is not like for like")
            out.append(f"- {difference.verdict}")
        out.append("")
    out.append("Ratios are to the reference (first report). Per-step medians ± IQR over steady-state epochs; "
               "`not significant` when the medians are closer than the mean of the two IQRs (fit: over its "
               f"epoch times, judged from {MIN_EPOCHS_TO_JUDGE} steady epochs per side). "
               "Share of Δ: each phase's part of the epoch-time difference (they add up to 100 %).")
    return "\n".join(out).rstrip() + "\n"
