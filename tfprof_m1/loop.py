"""The profiled custom training loop, written with the public profiler API only.

Every step's input wait is timed. Most steps run fused (true throughput) and fenced at the step
boundary; a sample of steps runs split, to measure forward, backward and optimizer apart. The
epoch's wall time is then attributed to phases by :mod:`tfprof_m1.attribution`.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from tfprof_m1.phases import COMPUTE
from tfprof_m1.profiler import EpochTiming, PhaseProfiler
from tfprof_m1.steps import TrainSteps
from tfprof_m1.trace import TraceWindow

#: Run one step in this many split (DESIGN: an all-split epoch ran 1.2–2.2× slower than fused, so
#: 1 in 50 costs about 1–2 % of the epoch).
DEFAULT_SAMPLE_EVERY = 50
#: ... but never fewer than this many split steps per epoch, so short runs still get proportions.
DEFAULT_MIN_SAMPLES = 3


def settle_garbage() -> None:
    """Collect garbage and freeze what survives, before an epoch and outside its timing.

    TensorFlow and Keras leave large object graphs behind (traced functions, models); a full
    collection that has to walk them pauses the loop for 100 ms or more at a random step. Frozen
    objects are skipped by later collections, so pauses inside the epoch stay short. The remaining
    pause time is still measured (``EpochTiming.gc_ms``).
    """
    gc.collect()
    gc.freeze()


@dataclass(frozen=True)
class Sampling:
    """Which steps of an epoch run split."""

    every: int = DEFAULT_SAMPLE_EVERY
    min_samples: int = DEFAULT_MIN_SAMPLES

    def __post_init__(self) -> None:
        if self.every < 1 or self.min_samples < 0:
            raise ValueError("sample every must be >= 1 and min samples >= 0")

    def split_steps(self, steps: int) -> frozenset[int]:
        """Indices of the split steps in an epoch of ``steps`` steps.

        Evenly spaced, offset by half a stride, so the first step (which also waits for the input
        pipeline to start) is never a sample when the epoch has more than one step.
        """
        if steps <= 0:
            return frozenset()
        stride = self.every
        if self.min_samples and steps // stride < self.min_samples:
            stride = max(1, steps // self.min_samples)
        first = stride // 2 if steps > 1 else 0
        return frozenset(range(first, steps, stride))


@dataclass
class EpochResult:
    """What one epoch of the loop produced besides its timings."""

    timing: EpochTiming
    loss: float | None
    accuracy: float | None


EpochCallback = Callable[[EpochResult], None]


def run_profiled_loop(
    train_steps: TrainSteps,
    dataset: Iterable[Any],
    epochs: int,
    steps_per_epoch: int,
    profiler: PhaseProfiler,
    sampling: Sampling = Sampling(),
    on_epoch_end: EpochCallback | None = None,
    trace: TraceWindow | None = None,
) -> list[EpochResult]:
    """Train for ``epochs`` epochs over ``dataset`` (re-iterated each epoch), profiled.

    Args:
        train_steps: the fused and split steps of the model.
        dataset: yields ``(images, labels)`` batches; iterated afresh every epoch.
        epochs: how many epochs.
        steps_per_epoch: batches per epoch (to place the split samples).
        profiler: records the timings; its fence waits for the device.
        sampling: which steps run split.
        on_epoch_end: called after each epoch, for progress.
        trace: a tf.profiler window; steps are numbered globally from 0 across epochs.
    """
    results = []
    split_steps = sampling.split_steps(steps_per_epoch)
    global_step = 0
    for _ in range(epochs):
        settle_garbage()
        train_steps.reset_metrics()
        with profiler.epoch() as epoch:
            batches = profiler.timed(dataset)
            for index in itertools.count():
                # The trace marks the whole step, the input next() included, so XProf counts input.
                marker = trace.step(global_step) if trace is not None and index < steps_per_epoch else contextlib.nullcontext()
                with marker:
                    batch = next(batches, None)
                    if batch is None:
                        break
                    images, labels = batch
                    kind = "split" if index in split_steps else "fused"
                    with profiler.step(kind, examples=int(images.shape[0])):
                        if kind == "split":
                            train_steps.split(images, labels, profiler)
                        else:
                            with profiler.phase(COMPUTE):
                                token = train_steps.fused(images, labels)
                            profiler.sync(token)
                global_step += 1
        loss, accuracy = train_steps.read_metrics()
        result = EpochResult(timing=epoch, loss=loss, accuracy=accuracy)
        results.append(result)
        if on_epoch_end is not None:
            on_epoch_end(result)
    return results


def run_unprofiled_loop(train_steps: TrainSteps, dataset: Iterable[Any], fence: Callable[..., None]) -> None:
    """One epoch of fused steps with no timing at all: the baseline the profiling cost is measured against."""
    token = None
    for images, labels in dataset:
        token = train_steps.fused(images, labels)
    fence(*(() if token is None else (token,)))
