"""The progress lines a benchmark run prints (stderr) and the notes it leaves on a run: text only."""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable
from typing import TextIO

from tfprof_m1.base.tf_types import Progbar
from tfprof_m1.collection.loop import EpochResult
from tfprof_m1.collection.strategies import Distribution
from tfprof_m1.workloads.models import ModelSpec

__all__ = ["EpochProgress", "epoch_line", "finished_epochs", "placement", "stopped_on_nan"]


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


#: How often progress inside an epoch is shown: a bar on a terminal, a line elsewhere (a log file,
#: CI, a notebook's captured stderr).
BAR_INTERVAL_S = 0.25
LINE_INTERVAL_S = 10.0


class EpochProgress:
    """Progress inside long epochs on ``stream`` (stderr): Keras' own ``Progbar`` on a terminal,
    otherwise one line every :data:`LINE_INTERVAL_S` seconds. The loop calls it between profiled
    steps, inside its ``profiling`` phase, so what it costs is counted (see docs/performance.md).

    Args:
        name: the model's name, for the lines.
        epochs: epochs in the run.
        stream: where it writes; its ``isatty()`` picks the bar or the lines.
    """

    def __init__(self, name: str, epochs: int, stream: TextIO | None = None) -> None:
        self.name, self.epochs = name, epochs
        self.stream = stream if stream is not None else sys.stderr
        self.terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval_s = BAR_INTERVAL_S if self.terminal else LINE_INTERVAL_S
        self._bar: Progbar | None = None
        self._epoch: int | None = None
        self._started = time.perf_counter()
        self._first_step = 0

    def __call__(self, epoch: int, step: int, steps: int) -> None:
        now = time.perf_counter()
        if epoch != self._epoch:
            self.clear()
            self._epoch, self._started, self._first_step = epoch, now, step
        if not self.terminal:
            done = step - self._first_step
            rate = done / (now - self._started) if done > 0 and now > self._started else None
            left = f", about {_duration((steps - step) / rate)} left" if rate else ""
            print(
                f"[{self.name}] loop epoch {epoch + 1}/{self.epochs}: step {step:,}/{steps:,} "
                f"({step / max(steps, 1):.0%}){left}",
                file=self.stream,
                flush=True,
            )
            return
        if self._bar is None:
            from keras.utils import Progbar

            self._bar = Progbar(steps, width=30, interval=0.0, unit_name="step")
        with contextlib.redirect_stdout(self.stream):  # Progbar writes to stdout: stdout is the result's
            self._bar.update(min(step, steps - 1))

    def clear(self) -> None:
        """Erase the bar (before the epoch's own line is printed); nothing for plain lines."""
        if self._bar is not None:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._bar = None
        self._epoch = None


def _duration(seconds: float) -> str:
    """``45 s``, ``3 min``, ``1 h 5 min``: an estimate, rounded as one."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds // 3600:.0f} h {seconds % 3600 / 60:.0f} min"


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
