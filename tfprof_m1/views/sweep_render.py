"""The batch-size sweep as text (a table and the crossover sentence) and as a plot."""

from __future__ import annotations

from pathlib import Path

from tfprof_m1.analysis.sweep import SweepPoint, SweepResult
from tfprof_m1.views.width import heading

__all__ = ["plot_sweep", "point_line", "render_sweep"]


def point_line(point: SweepPoint) -> str:
    """One point in one line: its step time and throughput with interval, or why it failed."""
    if point.problem:
        return f"{point.device} batch {point.batch_size}: failed ({point.problem})"
    assert point.step_ms is not None and point.examples_per_s is not None
    return (
        f"{point.device} batch {point.batch_size}: {point.step_ms.point:.2f} ms/step, "
        f"{point.examples_per_s.point:,.0f} examples/s "
        f"[{point.examples_per_s.low:,.0f}–{point.examples_per_s.high:,.0f}]"
    )


def render_sweep(result: SweepResult, markdown: bool = False) -> str:
    """The table of points and the crossover sentence."""
    from tabulate import tabulate

    headers = ["device", "batch", "steady epochs", "ms/step [95 % CI]", "examples/s [95 % CI]", "report"]
    rows = []
    for point in result.points:
        if point.problem:
            rows.append(
                [point.device, point.batch_size, "—", "—", f"failed: {point.problem}", point.report or "—"]
            )
            continue
        assert point.step_ms is not None and point.examples_per_s is not None
        rows.append(
            [
                point.device,
                point.batch_size,
                point.steady_epochs,
                f"{point.step_ms.point:.2f} [{point.step_ms.low:.2f}–{point.step_ms.high:.2f}]",
                f"{point.examples_per_s.point:,.0f} "
                f"[{point.examples_per_s.low:,.0f}–{point.examples_per_s.high:,.0f}]",
                Path(point.report).name if point.report else "—",
            ]
        )
    title = f"{result.model}: batch-size sweep on {', '.join(result.devices)}"
    out = [
        heading(title, markdown),
        "",
        tabulate(rows, headers=headers, tablefmt="github" if markdown else "simple", disable_numparse=True),
        "",
        f"- {result.crossover}.",
        "- Each point is a short run in a process of its own (custom "
        "loop of fused steps, each fenced; no probe "
        "steps, fit or trace); means over its steady epochs with 95 % "
        "intervals (bootstrap over epochs, widened "
        "for their number). The reports load in show, compare and plot.",
    ]
    return "\n".join(out) + "\n"


def plot_sweep(result: SweepResult, output: Path) -> Path:
    """Throughput against batch size, one line per device, with the intervals as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tfprof_m1.base.files import atomic_path

    figure, axis = plt.subplots(figsize=(6.4, 4.0))
    for device in result.devices:
        points = [p for p in result.points if p.device == device and p.examples_per_s is not None]
        if not points:
            continue
        xs = [p.batch_size for p in points]
        rates = [p.examples_per_s for p in points if p.examples_per_s is not None]
        ys = [rate.point for rate in rates]
        errors = [[y - rate.low for y, rate in zip(ys, rates)], [rate.high - y for y, rate in zip(ys, rates)]]
        axis.errorbar(xs, ys, yerr=errors, marker="o", capsize=3, label=device)
    axis.set_xscale("log", base=2)
    sizes = sorted({p.batch_size for p in result.points})
    axis.set_xticks(sizes, [str(size) for size in sizes])
    axis.minorticks_off()
    axis.set_xlabel("batch size")
    axis.set_ylabel("examples/s (steady epochs, 95 % CI)")
    axis.set_title(f"{result.model}: throughput by batch size")
    axis.legend()
    figure.tight_layout()
    with atomic_path(output, suffix=output.suffix) as temporary:
        figure.savefig(temporary)
    plt.close(figure)
    return output
