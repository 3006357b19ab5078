"""The progress lines a benchmark run prints (stderr) and the notes it leaves on a run: text only."""

from __future__ import annotations

import math
from collections.abc import Callable

from tfprof_m1.collection.loop import EpochResult
from tfprof_m1.collection.strategies import Distribution
from tfprof_m1.workloads.models import ModelSpec


def epoch_line(spec: ModelSpec, epochs: int) -> Callable[[EpochResult], str]:
    """The progress line after each loop epoch: time, throughput, loss, accuracy."""

    def line(result: EpochResult) -> str:
        timing = result.timing
        seconds = timing.wall_ms / 1000.0
        rate = timing.examples / seconds if seconds > 0 else 0.0
        text = (
            f"[{spec.name}] loop epoch {timing.index + 1}/{epochs}: {seconds:.2f} s, {rate:,.0f} examples/s"
        )
        if result.loss is not None and not math.isfinite(result.loss):
            text += f", loss {result.loss} (training diverged; see the report's warnings)"
        elif result.loss is not None:
            text += f", loss {result.loss:.4f}" + (
                f", accuracy {result.accuracy:.3f}" if result.accuracy is not None else ""
            )
        return text + (" (warm-up)" if timing.is_warmup else "")

    return line


def placement(distribution: Distribution) -> str:
    """Where a distributed run's replicas are, in a few words, for the progress line."""
    if distribution.strategy == "multiworker":
        return f"worker {distribution.worker} of {len(distribution.workers)}"
    return (
        "logical CPU devices sharing one CPU"
        if distribution.logical_cpu_devices
        else ", ".join(distribution.devices)
    )


def finished_epochs(count: int) -> str:
    """``1 finished epoch``, ``2 finished epochs``."""
    return f"{count} finished epoch{'s' if count != 1 else ''}"


def stopped_on_nan(where: str, loss: float | None, epoch: int, epochs: int) -> str:
    """The note on a run that --stop-on-nan ended after a non-finite loss."""
    value = "NaN" if loss is None or math.isnan(loss) else "infinite"
    return (
        f"{where}'s loss became {value} in epoch {epoch} of {epochs}; {where} stopped there (--stop-on-nan)"
    )
