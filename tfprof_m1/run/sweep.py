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

import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tfprof_m1.analysis.sweep import SweepPoint, SweepResult, crossover, point_figures
from tfprof_m1.base.errors import UserError
from tfprof_m1.base.files import write_atomic
from tfprof_m1.base.progress import Progress
from tfprof_m1.collection.interrupt import StopSignal, exit_status, owned_child, signal_of
from tfprof_m1.report.model import load_report
from tfprof_m1.run.launch import GRACE_S, stop_processes
from tfprof_m1.views.sweep_render import point_line

__all__ = ["parse_batch_sizes", "parse_devices", "run_sweep"]


def run_sweep(
    model: str,
    batch_sizes: Sequence[int],
    devices: Sequence[str],
    out_dir: Path,
    point_args: Sequence[str],
    say: Progress,
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
