"""``sweep``: one model over a list of batch sizes (and devices), to find where a GPU starts to beat
the CPU, the most common question about small models on Apple GPUs.

Each point (device, batch size) is a short benchmark run in a process of its own (``python -m
tfprof_m1 MODEL --device D --batch-size B --no-fit --no-trace --json ...``), of fused steps only (no
probe steps or unprofiled stretches, which would be a large and batch-dependent share of a short
epoch; each step is still fenced, so on a GPU no step overlaps the next), so no point inherits
another's warm caches, a device can be hidden for the CPU points, and every point is an ordinary
report that ``show``, ``compare`` and ``plot`` read. The points' steady epochs give the step time
and the throughput with 95 % intervals (bootstrap over epochs, widened for few of them, as
``compare`` does). The crossover is the smallest batch size from which the GPU's throughput
interval lies above the CPU's at that size and every larger one measured.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tfprof_m1.base.errors import UserError
from tfprof_m1.base.files import write_atomic
from tfprof_m1.collection.interrupt import StopSignal, exit_status, owned_child, signal_of
from tfprof_m1.report.compare_stats import Interval, epoch_time_draws, mean_interval
from tfprof_m1.report.model import Report, load_report
from tfprof_m1.run.launch import GRACE_S, stop_processes

Say = Callable[[str], None]


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
    epochs = [epoch for epoch in run.epochs if epoch.index in run.steady.epochs and epoch.complete]
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
    by = {(p.device, p.batch_size): p for p in points if p.examples_per_s is not None}
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
    beats = {
        size: by[("gpu", size)].examples_per_s.low > by[("cpu", size)].examples_per_s.high for size in sizes
    }
    slower = {
        size: by[("gpu", size)].examples_per_s.high < by[("cpu", size)].examples_per_s.low for size in sizes
    }
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


def run_sweep(
    model: str,
    batch_sizes: Sequence[int],
    devices: Sequence[str],
    out_dir: Path,
    point_args: Sequence[str],
    say: Say,
) -> SweepResult:
    """Run every point in a process of its own, in order device by device, and summarize.

    A point that fails (exit other than 0) is kept with its one-line error; Ctrl-C or SIGTERM is
    passed on to the running point, which writes what it measured; that point is kept (its complete
    epochs), ``sweep.json`` is written with every point so far, and the stop is raised on
    (:class:`~tfprof_m1.collection.interrupt.StopSignal`).
    """
    result = SweepResult(model, list(devices), list(batch_sizes))
    total = len(devices) * len(batch_sizes)
    try:
        for device in devices:
            for batch_size in batch_sizes:
                path = out_dir / f"{model}-{device}-b{batch_size}.json"
                say(f"[sweep] {len(result.points) + 1}/{total}: {model} on {device}, batch {batch_size}")
                point, signum = _run_point(model, device, batch_size, path, out_dir, point_args)
                result.points.append(point)
                say(f"[sweep]   {_point_line(point)}")
                if signum is not None:  # the point wrote what it measured; the sweep stops here
                    raise StopSignal(signum)
    except KeyboardInterrupt as stop:
        stop.result = result  # type: ignore[attr-defined]
        raise
    finally:
        result.crossover = crossover(result.points)
        write_atomic(out_dir / "sweep.json", result.to_json() + "\n")
    return result


def _run_point(
    model: str, device: str, batch_size: int, path: Path, out_dir: Path, point_args: Sequence[str]
) -> tuple[SweepPoint, int | None]:
    """Run one point in a process of its own; (its point, the stop signal that ended it or the sweep)."""
    command = [
        sys.executable,
        "-m",
        "tfprof_m1",
        model,
        "--device",
        device,
        "--batch-size",
        str(batch_size),
        "--no-fit",
        "--no-trace",
        "--quiet",
        "--logdir",
        str(out_dir / "runs"),
        "--json",
        str(path),
        *point_args,
    ]
    # A session of its own: a Ctrl-C in the terminal reaches the sweep only, which passes it on once and
    # waits while the point writes what it measured (a point given two stops aborts without writing).
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    signum = None
    with owned_child(process.pid):
        try:
            _, stderr = process.communicate()
        except KeyboardInterrupt as stop:
            signum = signal_of(stop)
            stop_processes([process], signum, GRACE_S)
            stderr = process.stderr.read() if process.stderr is not None else ""
    if process.returncode in (exit_status(signal.SIGINT), exit_status(signal.SIGTERM)):
        signum = signum or process.returncode - 128  # the point itself was stopped
    point = _point(device, batch_size, path, process.returncode, stderr, stopped=signum is not None)
    return point, signum


def _point(
    device: str, batch_size: int, path: Path, returncode: int, stderr: str, stopped: bool
) -> SweepPoint:
    """A point from its process's outcome: its report's figures (a stopped point's complete epochs),
    or its one-line problem."""
    errors = [line for line in stderr.splitlines() if line.startswith("tfprof_m1:")]
    if (returncode != 0 and not stopped) or not path.is_file():
        problem = errors[-1].removeprefix("tfprof_m1: error: ") if errors else f"exit {returncode}"
        return SweepPoint(device, batch_size, None, problem=problem)
    try:
        report = load_report(path)
    except UserError as error:
        return SweepPoint(device, batch_size, str(path), problem=str(error))
    figures = point_figures(report)
    if figures is None:
        return SweepPoint(device, batch_size, str(path), problem="no complete steady epoch")
    epochs, step, rate = figures
    return SweepPoint(device, batch_size, str(path), epochs, step, rate)


def _point_line(point: SweepPoint) -> str:
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
        f"### {title}" if markdown else f"{title}\n{'-' * len(title)}",
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
        ys = [p.examples_per_s.point for p in points]  # type: ignore[union-attr]
        errors = [
            [y - p.examples_per_s.low for y, p in zip(ys, points)],
            [p.examples_per_s.high - y for y, p in zip(ys, points)],
        ]  # type: ignore[union-attr]
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


def parse_batch_sizes(text: str) -> list[int]:
    """``16,32,64`` → [16, 32, 64] (each a whole number of 1 or more in ASCII digits, at most 7 of them,
    no repeats)."""
    sizes = []
    for item in text.split(","):
        item = item.strip()
        if not (item.isascii() and item.isdigit()) or len(item) > 7 or int(item) < 1:
            raise UserError(
                f"--batch-sizes {text!r}: {item!r} is not a batch size; give whole numbers such as 16,32,64"
            )
        if int(item) in sizes:
            raise UserError(f"--batch-sizes {text!r}: {item} is given twice")
        sizes.append(int(item))
    return sorted(sizes)


def parse_devices(text: str) -> list[str]:
    """``--devices cpu,gpu`` as a list; UserError for an unknown device."""
    devices = [item.strip() for item in text.split(",")]
    if (
        not devices
        or any(device not in ("cpu", "gpu") for device in devices)
        or len(set(devices)) != len(devices)
    ):
        raise UserError(f"--device {text!r}: give cpu, gpu or cpu,gpu")
    return devices
