"""``sweep``: one model over a list of batch sizes (and devices), to find where a GPU starts to beat
the CPU, the most common question about small models on Apple GPUs.

Each point (device, batch size) is a short benchmark run in a process of its own (``python -m
tfprof_m1 MODEL --device D --batch-size B --no-fit ...``, started and heard back from through
:mod:`tfprof_m1.run.child`), of fused steps only (no probe steps or unprofiled stretches, which
would be a large and batch-dependent share of a short epoch; each step is still fenced, so on a GPU
no step overlaps the next), so no point inherits another's warm caches, a device can be hidden for
the CPU points, and every point is an ordinary report that ``show``, ``compare`` and ``plot`` read.
The points' steady epochs give the step time and the throughput with 95 % intervals (bootstrap over
epochs, widened for few of them, as ``compare`` does). The crossover is the smallest batch size from
which the GPU's throughput interval lies above the CPU's at that size and every larger one measured.
"""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Sequence
from pathlib import Path

from tfprof_m1.analysis.sweep import SweepPoint, SweepResult, crossover, point_figures
from tfprof_m1.base.errors import UserError
from tfprof_m1.base.files import write_atomic
from tfprof_m1.base.progress import Progress
from tfprof_m1.collection.interrupt import StopSignal, exit_status, owned_child, signal_of
from tfprof_m1.report.model import RunConfig, load_report
from tfprof_m1.run.child import GRACE_S, Child, ChildResult, stop_processes
from tfprof_m1.run.outputs import OutputSettings
from tfprof_m1.views.sweep_render import point_line

__all__ = ["point_config", "run_sweep"]


def point_config(config: RunConfig, device: str, batch_size: int) -> RunConfig:
    """One point's settings: ``config`` (the model, epochs, steps, data, seed) on ``device`` at
    ``batch_size``, of fused steps only (no probe steps, no unprofiled stretches: with 30 steps an
    epoch, ten probe steps would be a third of it and change with the batch size), without fit and
    without the matmul peak."""
    return dataclasses.replace(
        config,
        device=device,
        batch_size=batch_size,
        fit=False,
        peak=False,
        min_samples=0,
        sample_every=1_000_000,
        reference_share=0.0,
    )


def run_sweep(
    config: RunConfig,
    batch_sizes: Sequence[int],
    devices: Sequence[str],
    out_dir: Path,
    say: Progress,
) -> SweepResult:
    """Run every point of ``config``'s model in a process of its own, in order device by device,
    and summarize.

    A point that fails (exit other than 0) is kept with its one-line error; Ctrl-C or SIGTERM is
    passed on to the running point, which writes what it measured; that point is kept (its complete
    epochs), ``sweep.json`` is written with every point so far, and the stop is raised on
    (:class:`~tfprof_m1.collection.interrupt.StopSignal`).
    """
    (model,) = config.models
    result = SweepResult(model, list(devices), list(batch_sizes))
    total = len(devices) * len(batch_sizes)
    try:
        for device in devices:
            for batch_size in batch_sizes:
                path = out_dir / f"{model}-{device}-b{batch_size}.json"
                say(f"[sweep] {len(result.points) + 1}/{total}: {model} on {device}, batch {batch_size}")
                point, signum = _run_point(point_config(config, device, batch_size), path, out_dir)
                result.points.append(point)
                say(f"[sweep]   {point_line(point)}")
                if signum is not None:  # the point wrote what it measured; the sweep stops here
                    raise StopSignal(signum)
    except KeyboardInterrupt as stop:
        stop.result = result  # type: ignore[attr-defined]
        raise
    finally:
        result.crossover = crossover(result.points)
        write_atomic(out_dir / "sweep.json", result.to_json() + "\n")
    return result


def _run_point(config: RunConfig, path: Path, out_dir: Path) -> tuple[SweepPoint, int | None]:
    """Run one point in a process of its own; (its point, the stop signal that ended it or the sweep)."""
    output = OutputSettings(logdir=str(out_dir / "runs"), trace=False)
    # A session of its own: a Ctrl-C in the terminal reaches the sweep only, which passes it on once and
    # waits while the point writes what it measured (a point given two stops aborts without writing).
    signum = None
    with Child(config, output, path, quiet=True, new_session=True) as child, owned_child(child.process.pid):
        try:
            child.process.wait()
        except KeyboardInterrupt as stop:
            signum = signal_of(stop)
            stop_processes([child.process], signum, GRACE_S)
        ended = child.result()
    if child.process.returncode in (exit_status(signal.SIGINT), exit_status(signal.SIGTERM)):
        signum = signum or child.process.returncode - 128  # the point itself was stopped
    assert config.batch_size is not None
    point = _point(config.device, config.batch_size, path, ended, stopped=signum is not None)
    return point, signum


def _point(device: str, batch_size: int, path: Path, ended: ChildResult, stopped: bool) -> SweepPoint:
    """A point from how its process ended: its report's figures (a stopped point's complete epochs),
    or its one-line problem."""
    if (ended.exit_status != 0 and not stopped) or not path.is_file():
        problem = ended.message if ended.status == "error" else ended.line or f"exit {ended.exit_status}"
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
