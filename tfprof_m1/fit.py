"""The article's headline: Keras ``fit`` epoch times, taken by a callback users can reuse.

Keras reads the epoch's metrics back to the host before ``on_epoch_end`` runs, so the epoch's
device work has finished when the callback reads the clock: the figure is synchronised.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import keras


class EpochTimer(keras.callbacks.Callback):
    """Records the wall time of every ``fit`` epoch, in ms, in ``epoch_ms``.

    Example::

        timer = EpochTimer()
        model.fit(x, y, epochs=10, callbacks=[timer])
        print(timer.epoch_ms)
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.perf_counter,
        on_epoch: Callable[[int, float, dict], None] | None = None,
        settle_garbage: bool = False,
    ) -> None:
        """Args:
            clock: seconds, monotonic.
            on_epoch: called with (epoch index, epoch ms, logs) after each epoch, for progress.
            settle_garbage: collect and freeze Python garbage before each epoch, untimed, as the
                profiled loop does, so both runs are measured under the same rule.
        """
        super().__init__()
        self.settle_garbage = settle_garbage
        self.clock = clock
        self.on_epoch = on_epoch
        self.epoch_ms: list[float] = []
        self.losses: list[float | None] = []
        self.accuracies: list[float | None] = []
        self._start: float | None = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self.settle_garbage:
            from tfprof_m1.loop import settle_garbage

            settle_garbage()
        self._start = self.clock()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self._start is None:
            return
        elapsed_ms = (self.clock() - self._start) * 1000.0
        self._start = None
        logs = logs or {}
        self.epoch_ms.append(elapsed_ms)
        self.losses.append(_float(logs.get("loss")))
        self.accuracies.append(_float(logs.get("accuracy")))
        if self.on_epoch is not None:
            self.on_epoch(epoch, elapsed_ms, logs)


class ProfileCallback(EpochTimer):
    """EpochTimer that also traces a window of ``fit`` batches with tf.profiler and writes the epoch
    times as TensorBoard scalars (``fit/epoch_time_s``) into ``logdir``.

    Keras fetches each batch inside its train function, so the input ``next()`` falls inside the
    step marker, as XProf needs. Batches are numbered globally from 0 across epochs.

    Example::

        model.fit(dataset, epochs=3, callbacks=[ProfileCallback("runs/mine", trace_steps=StepRange(60, 70))])
    """

    def __init__(self, logdir: str, trace_steps: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from tfprof_m1.tensorboard_writer import PhaseScalarWriter
        from tfprof_m1.trace import TraceWindow

        self.window = TraceWindow(logdir, trace_steps)
        self.scalars = PhaseScalarWriter(logdir)
        self._global_batch = 0
        self._marker: Any = None

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._marker = self.window.step(self._global_batch)
        self._marker.__enter__()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._marker is not None:
            self._marker.__exit__(None, None, None)
            self._marker = None
        self._global_batch += 1

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(epoch, logs)
        if self.epoch_ms:
            from tfprof_m1.tensorboard_writer import FIT_EPOCH_TAG

            self.scalars.scalar(FIT_EPOCH_TAG, self.epoch_ms[-1] / 1000, epoch + 1)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self._marker is not None:
            self._marker.__exit__(None, None, None)
            self._marker = None
        self.window.close()
        self.scalars.close()


@dataclass
class FitRun:
    """Raw figures of one ``fit`` run."""

    epoch_ms: list[float]
    losses: list[float | None]
    accuracies: list[float | None]
    jit_compile: bool


def run_fit(model: keras.Model, dataset: Any, epochs: int, on_epoch: Callable[[int, float, dict], None] | None = None) -> FitRun:
    """Compile ``model`` as the article did (Adam, sparse categorical cross-entropy from logits,
    accuracy) and ``fit`` it on ``dataset`` for ``epochs`` epochs, timing each epoch."""
    model.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    timer = EpochTimer(on_epoch=on_epoch, settle_garbage=True)
    model.fit(dataset, epochs=epochs, verbose=0, shuffle=False, callbacks=[timer])  # the dataset shuffles
    return FitRun(timer.epoch_ms, timer.losses, timer.accuracies, jit_compile=bool(model.jit_compile))


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
