"""The batch-size sweep's figures: each point's step time and throughput with 95 % intervals
(bootstrap over its steady epochs, widened for their number, as ``compare`` does) and the CPU-GPU
crossover (the smallest batch size from which the GPU's throughput interval lies above the CPU's at
that size and every larger one measured). The runs themselves: :mod:`tfprof_m1.run.sweep`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tfprof_m1.analysis.compare_stats import epoch_time_draws, mean_interval
from tfprof_m1.analysis.steady import recorded_steady_epochs
from tfprof_m1.report.interval import Interval
from tfprof_m1.report.model import Report

__all__ = ["SweepPoint", "SweepResult", "crossover", "point_figures"]


@dataclass
class SweepPoint:
    """One device and batch size: its report and its figures (None where the run failed)."""

    device: str
    batch_size: int
    report: str | None
    steady_epochs: int = 0
    #: Mean time per step (ms) and throughput (examples/s) over the steady epochs, with 95 % intervals.
    step_ms: Interval | None = None
    examples_per_s: Interval | None = None
    problem: str | None = None


@dataclass
class SweepResult:
    """A sweep: every (device, batch size) point with intervals, and the CPU-GPU crossover found."""

    model: str
    devices: list[str]
    batch_sizes: list[int]
    points: list[SweepPoint] = field(default_factory=list)
    crossover: str = ""
    tool: str = "tfprof_m1 sweep"

    def to_json(self) -> str:
        """The sweep as JSON (``sweep --format json``)."""
        return json.dumps(dataclasses.asdict(self), indent=1, allow_nan=False)


def point_figures(report: Report) -> tuple[int, Interval, Interval] | None:
    """(steady epochs, step ms, examples/s) of a point's report: means over its steady, complete
    epochs, with bootstrap intervals widened for their number."""
    run = report.runs[0]
    epochs = recorded_steady_epochs(run)
    if not epochs:
        return None
    walls = [epoch.wall_ms for epoch in epochs]
    steps = run.steps_per_epoch
    examples = epochs[0].examples
    epoch = mean_interval(
        float(np.mean(walls)), epoch_time_draws([walls]), len(walls)
    )  # widened in log space
    step = Interval(epoch.point / steps, epoch.low / steps, epoch.high / steps)
    rate = Interval(
        examples / (epoch.point / 1000), examples / (epoch.high / 1000), examples / (epoch.low / 1000)
    )
    return len(walls), step, rate


def crossover(points: Sequence[SweepPoint]) -> str:
    """Where the GPU starts to beat the CPU in throughput, in one sentence."""
    by = {(p.device, p.batch_size): p.examples_per_s for p in points if p.examples_per_s is not None}
    devices = sorted({device for device, _ in by})
    if devices != ["cpu", "gpu"]:
        only = ", ".join(devices) or "none"
        return (
            f"measured on {only} only: no CPU-GPU crossover to find (sweep --device "
            "cpu,gpu on a machine with a GPU)"
        )
    sizes = sorted(size for device, size in by if device == "gpu" and ("cpu", size) in by)
    if not sizes:
        return "no batch size was measured on both devices"
    beats = {size: by[("gpu", size)].low > by[("cpu", size)].high for size in sizes}
    slower = {size: by[("gpu", size)].high < by[("cpu", size)].low for size in sizes}
    start = next((size for index, size in enumerate(sizes) if all(beats[s] for s in sizes[index:])), None)
    span = f"batch {sizes[0]}–{sizes[-1]}" if len(sizes) > 1 else f"batch {sizes[0]}"
    if start is None:
        if all(slower.values()):
            return f"the GPU never beats the CPU in {span}: the CPU is faster at every size measured"
        return (
            f"the GPU never clearly beats the CPU in {span} (the throughput intervals overlap or cross back)"
        )
    if start == sizes[0]:
        return f"the GPU beats the CPU at every batch size measured ({span})"
    below = [size for size in sizes if size < start]
    return (
        f"the GPU beats the CPU from batch {start} on; below it ({', '.join(map(str, below))}) "
        "the CPU is as fast "
        "or faster"
    )
