"""The article's headline: Keras ``fit`` epoch times, taken by a callback users can reuse.

Keras reads the epoch's metrics back to the host before ``on_epoch_end`` runs, so the epoch's
device work has finished when the callback reads the clock: the figure is synchronised.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, TypedDict, TypeVar

import keras

from tfprof_m1.base.phases import COMPUTE, EPOCH_START, VALIDATION
from tfprof_m1.base.tf_types import Dataset, KerasModel, Strategy, TensorLike
from tfprof_m1.collection.fit_run import FitRun
from tfprof_m1.collection.garbage import GarbageSettler
from tfprof_m1.collection.interrupt import (
    InterruptGuard,
    TrainingInterrupted,
    deferred,
    raise_pending,
    signal_of,
)
from tfprof_m1.collection.memory import MemoryUse, sample_memory
from tfprof_m1.trace.window import check_within

__all__ = ["EpochTimer", "FitProfiler", "FitRun", "run_fit"]

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from tfprof_m1.collection.profiler import EpochTiming, StepTiming
    from tfprof_m1.trace.window import StepRange, TraceSchedule

_Entered = TypeVar("_Entered")


class _EpochTimerOptions(TypedDict, total=False):
    """EpochTimer's settings, as ProfileCallback passes them on."""

    clock: Callable[[], float]
    on_epoch: Callable[[int, float, dict], None] | None
    settle_garbage: bool
    stop_on_non_finite: bool


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
        stop_on_non_finite: bool = False,
    ) -> None:
        """Args:
        clock: seconds, monotonic.
        on_epoch: called with (epoch index, epoch ms, logs) after each epoch, for progress.
        settle_garbage: collect and freeze Python garbage before each epoch, untimed, as the
            profiled loop does, so both runs are measured under the same rule; the freeze is
            undone when training ends (see :mod:`tfprof_m1.collection.garbage`).
        stop_on_non_finite: end ``fit`` after an epoch whose loss is NaN or infinite (as the
            profiled loop's option does; Keras' TerminateOnNaN stops mid-epoch, which would
            leave a short epoch among the timed ones).
        """
        super().__init__()
        self.stop_on_non_finite = stop_on_non_finite
        self.settle_garbage = settle_garbage
        self.clock = clock
        self.on_epoch = on_epoch
        self.epoch_ms: list[float] = []
        #: Host and device memory after each epoch (outside its timing), and why device figures are missing.
        self.memory: list[MemoryUse] = []
        self.memory_note: str | None = None
        self.losses: list[float | None] = []
        self.accuracies: list[float | None] = []
        self._start: float | None = None
        self._garbage = GarbageSettler()
        self._last_epoch_ms: float | None = None  # what the next settle is given (None: a full one)

    @property
    def jit_compile(self) -> bool:
        """Whether the model ``fit`` trained was compiled with XLA."""
        return bool(getattr(getattr(self, "model", None), "jit_compile", False))

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._last_epoch_ms = None
        if self.settle_garbage:
            self._garbage.__enter__()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        raise_pending()  # a stop an enclosing guard deferred, or caught where Python ignores exceptions
        if self.settle_garbage:
            self._garbage.settle(self._last_epoch_ms)
        self._start = self.clock()

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        raise_pending()  # a stop deferred during the last batch (costs a list check)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self._start is None:
            return
        elapsed_ms = (self.clock() - self._start) * 1000.0
        self._start = None
        self._last_epoch_ms = elapsed_ms
        logs = logs or {}
        self.epoch_ms.append(elapsed_ms)
        memory, self.memory_note = sample_memory()
        self.memory.append(memory)
        self.losses.append(_float(logs.get("loss")))
        self.accuracies.append(_float(logs.get("accuracy")))
        if self.on_epoch is not None:
            self.on_epoch(epoch, elapsed_ms, logs)
        loss = self.losses[-1]
        if self.stop_on_non_finite and loss is not None and not math.isfinite(loss):
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        self.close()

    def close(self) -> None:
        """Undo the garbage freeze. Keras does not call ``on_train_end`` when ``fit`` raises (Ctrl-C
        included): call this then. Safe to call more than once."""
        self._garbage.release()


class FitProfiler(EpochTimer):
    """The collecting half of :class:`~tfprof_m1.run.fit_callback.ProfileCallback`: every ``fit``
    batch timed and fenced, epochs, an optional tf.profiler trace. It builds no report and writes no
    file (that is ProfileCallback's, a layer up); ``profiler`` holds what it measured.

    Each call of Keras' train function is a step whose phase ``compute`` runs from the call to the
    end of a device fence that it owns, so the time is the batch's device work on any device. The
    train function itself is timed (it is wrapped while ``fit`` runs), so the figures do not
    depend on where the callback stands in the callback list: other callbacks' batch hooks are
    never inside ``compute``. Keras fetches the batch inside its train function, so input is
    inside ``compute`` (the trace tells input from compute).

    With ``steps_per_execution`` N, Keras runs N batches per call and calls the batch hooks once
    per call; each call is recorded as the batches it ran (from the hooks' step numbers, capped by
    the epoch's length), each with an equal share of the call's time, and ``notes`` says so.

    What fit does outside its train function is named where it can be: ``epoch_start`` (from the
    epoch's start to its first batch: the input iterator made and started, other callbacks' epoch
    hooks) and ``validation`` (``evaluate`` at the epoch's end, between its test hooks); the rest
    (Keras' Python loop between batches, other callbacks' batch hooks, reading the epoch's
    metrics) is ``other``. Batches are numbered globally from 0 across epochs.

    Args:
        logdir: where the trace goes; None traces nothing. A folder that cannot be made or written
            (under a file, read-only) raises :class:`~tfprof_m1.base.errors.UserError` here, before
            any training.
        trace_steps: global batches to trace (a StepRange or TraceSchedule); None traces nothing.
        batch_size: examples per batch, for throughput (Keras does not tell callbacks).
        fence: fence after every batch (device-true batch times); False times dispatch only.
        model_name: the model's name in the report built from these figures.
        **kwargs: EpochTimer's (clock, on_epoch, settle_garbage).
    """

    def __init__(
        self,
        logdir: str | None = None,
        trace_steps: StepRange | TraceSchedule | None = None,
        batch_size: int | None = None,
        fence: bool = True,
        model_name: str = "fit",
        **kwargs: Unpack[_EpochTimerOptions],
    ) -> None:
        if logdir is not None:  # refused now, one line, not after fit has trained for hours
            from tfprof_m1.base.safe_io import check_output_dir

            check_output_dir("logdir", logdir)
        kwargs.setdefault("settle_garbage", True)
        super().__init__(**kwargs)
        from tfprof_m1.collection.profiler import PhaseProfiler
        from tfprof_m1.trace.window import TraceWindow

        self.logdir = logdir
        self.batch_size = batch_size
        self.model_name = model_name
        self.use_fence = fence
        self.profiler = PhaseProfiler(clock=self.clock)
        self.window = (
            TraceWindow(logdir, trace_steps, self.profiler)
            if logdir is not None and trace_steps is not None
            else None
        )
        self._global_batch = 0
        self._open: list[
            AbstractContextManager[object]
        ] = []  # the context managers entered by the hooks, innermost last
        self._interrupt = InterruptGuard()
        self._deferral = deferred()
        self._epoch_record: EpochTiming | None = None
        self._batch_begin = 0
        self._wrapped: KerasModel | None = None  # the model whose train function is wrapped, while fit runs
        #: Keras' steps_per_execution of the fit profiled (1 until fit starts).
        self.steps_per_execution = 1
        #: What the figures need said (steps_per_execution's equal shares...), for the report.
        self.notes: list[str] = []

    def _refuse_a_trace_past_the_fit(self) -> None:
        """A trace window past the fit's last batch (its epochs × steps, when Keras knows them) is
        refused before training, by the command line's rule for ``--trace-steps``
        (:func:`~tfprof_m1.trace.window.check_within`)."""
        steps = self.window.steps if self.window is not None else None
        params = getattr(self, "params", None) or {}
        epochs, per_epoch = params.get("epochs"), params.get("steps")
        if steps is None or not isinstance(epochs, int) or not isinstance(per_epoch, int):
            return
        check_within(steps, epochs, per_epoch, "trace_steps", "batches", "this fit")

    def on_train_begin(self, logs: dict | None = None) -> None:
        if self._open or (self.window is not None and self.window.running):
            self.close()  # a fit that raised never called on_train_end: end what it left open
        self._refuse_a_trace_past_the_fit()
        super().on_train_begin(logs)
        self._interrupt.__enter__()
        self._deferral.__enter__()  # stops are raised at batch boundaries (see collection.interrupt)
        if self.use_fence and self.profiler.fence is None:
            from tfprof_m1.collection.fence import detect_fence_kind, make_fence

            model = self.model
            self.profiler.fence = make_fence(detect_fence_kind(), lambda: model.trainable_variables[-1])
        self.profiler.begin_run()
        self.steps_per_execution = int(getattr(self.model, "steps_per_execution", 1) or 1)
        if self.steps_per_execution > 1:
            note = (
                f"steps_per_execution={self.steps_per_execution}: Keras runs that many batches per call of "
                "its train function and calls the batch hooks once per call; each batch is given an equal "
                "share of its call's time (no per-batch spread within a call)"
            )
            if note not in self.notes:
                self.notes.append(note)
        self._wrap_train_function()

    def _wrap_train_function(self) -> None:
        """Time Keras' train function itself (made before ``on_train_begin``), whatever the order of
        the callbacks around this one."""
        model = self.model
        inner = getattr(model, "train_function", None)
        if inner is None or getattr(inner, "_tfprof_m1_inner", None) is not None:
            return
        profiler, window = self.profiler, self.window

        def timed_train_function(*args: object, **kwargs: object) -> object:
            if profiler._epoch is None:  # outside an epoch this callback opened (train_on_batch...)
                return inner(*args, **kwargs)
            self._end_epoch_start()
            depth = len(self._open)
            if window is not None:
                self._enter(window.step(self._global_batch))
            self._enter(profiler.step(examples=self.batch_size or 0))
            try:
                with profiler.phase(COMPUTE):
                    logs = inner(*args, **kwargs)
                profiler.sync()
            finally:
                self._exit_to(depth)
            return logs

        timed_train_function._tfprof_m1_inner = inner  # type: ignore[attr-defined]
        model.train_function = timed_train_function
        self._wrapped = model

    def _unwrap_train_function(self) -> None:
        model, self._wrapped = self._wrapped, None
        inner = getattr(getattr(model, "train_function", None), "_tfprof_m1_inner", None)
        if model is not None and inner is not None:
            model.train_function = inner

    def _enter(self, manager: AbstractContextManager[_Entered]) -> _Entered:
        value = manager.__enter__()
        self._open.append(manager)
        return value

    def _exit_to(self, depth: int, cut: bool = False) -> None:
        """Leave what the hooks entered down to ``depth``; ``cut``: as an exception would (an epoch
        that fit left without ``on_epoch_end`` stays marked incomplete)."""
        while len(self._open) > depth:
            manager = self._open.pop()
            if cut:
                manager.__exit__(_CutShort, _CutShort(), None)
            else:
                manager.__exit__(None, None, None)

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_begin(epoch, logs)
        self._exit_to(0, cut=True)
        self._epoch_record = self._enter(self.profiler.epoch())
        self.profiler.start(EPOCH_START)

    def _end_epoch_start(self) -> None:
        active = self.profiler._active
        if active and active[-1].name == EPOCH_START:
            self.profiler.stop(EPOCH_START)

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        if self._interrupt.pending:
            self._deferral.release()  # a fit that raises may never reach close(): stop deferring now
        self._interrupt.check()  # a stop that arrived during the last batch
        self._batch_begin = batch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        record = self._epoch_record
        if record is None or not record.steps:
            return
        steps = (self.params or {}).get("steps")
        last = min(batch, steps - 1) if steps else batch
        batches = max(1, last - self._batch_begin + 1)
        step = record.steps[-1]
        step.examples = (self.batch_size or 0) * batches
        # the epoch keeps its steps as figures, not objects: the changed step is written back
        record.steps[-1:] = _equal_shares(step, batches) if batches > 1 else [step]
        self._global_batch += batches

    def on_test_begin(self, logs: dict | None = None) -> None:
        self._end_epoch_start()
        if self._epoch_record is not None and not self.profiler._active:
            self.profiler.start(VALIDATION)

    def on_test_end(self, logs: dict | None = None) -> None:
        if self._epoch_record is not None and self.profiler._active:
            self.profiler.stop(VALIDATION)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._end_epoch_start()
        self._exit_to(0)
        self._epoch_record = None
        super().on_epoch_end(epoch, logs)

    def on_train_end(self, logs: dict | None = None) -> None:
        self.close()

    def close(self) -> None:
        """End what the hooks opened: the open step and epoch, the trace session, the garbage freeze.

        Keras does not call ``on_train_end`` when ``fit`` raises; call this then (or fit again with
        the same callback, which calls it first). Safe to call more than once. After a Ctrl-C, the
        profiler still holds the finished epochs, the cut-short one marked incomplete.
        """
        try:
            while self.profiler._active:  # validation cut short
                self.profiler.stop(self.profiler._active[-1].name)
            self._exit_to(0, cut=True)
            self._epoch_record = None
        finally:
            if self._wrapped is not None:
                self._unwrap_train_function()
            if self.window is not None:
                self.window.close()
            super().close()
            self._deferral.release()
            self._interrupt.__exit__(None, None, None)


class _CutShort(Exception):
    """Thrown into the epoch and step a stopped ``fit`` left open, so they are recorded as cut short."""


def _equal_shares(step: StepTiming, batches: int) -> list[StepTiming]:
    """One timed call of ``batches`` batches as that many steps, each an equal share of the call."""
    from dataclasses import replace

    share = step.wall_ms / batches
    return [
        replace(
            step,
            examples=step.examples // batches,
            wall_ms=share,
            phases_ms={name: value / batches for name, value in step.phases_ms.items()},
            waits_ms={name: value / batches for name, value in step.waits_ms.items()},
            samples_ms={},
            started_ms=step.started_ms + index * share,
        )
        for index in range(batches)
    ]


def run_fit(
    model: keras.Model,
    dataset: Dataset,
    epochs: int,
    on_epoch: Callable[[int, float, dict], None] | None = None,
    stop_on_non_finite: bool = False,
    jit_compile: bool | str = "auto",
    strategy: Strategy | None = None,
) -> FitRun:
    """Compile ``model`` as the article did (Adam, sparse categorical cross-entropy from logits,
    accuracy) and ``fit`` it on ``dataset`` for ``epochs`` epochs, timing each epoch.

    ``jit_compile`` is passed to ``compile``: ``"auto"`` (Keras' default: XLA whenever a GPU is
    present, as the article's runs had it), True or False (to remove the XLA confound).

    ``strategy``: a tf.distribute strategy the model was built under; Keras then splits each batch
    of ``dataset`` (global batches) across its replicas.

    Raises:
        TrainingInterrupted: a stop signal ended fit; ``partial`` is the FitRun of the finished epochs.
    """
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model.compile(
            optimizer=keras.optimizers.Adam(),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
            jit_compile=jit_compile,
        )
    timer = EpochTimer(on_epoch=on_epoch, settle_garbage=True, stop_on_non_finite=stop_on_non_finite)
    try:
        with (
            InterruptGuard(),
            deferred(),
        ):  # a stop is raised by the timer at the next batch, never inside Keras or tf.data
            model.fit(
                dataset, epochs=epochs, verbose=0, shuffle=False, callbacks=[timer]
            )  # the dataset shuffles
    except KeyboardInterrupt as error:
        raise TrainingInterrupted(signal_of(error), _fit_run(timer, model)) from error
    finally:
        timer.close()
    return _fit_run(timer, model)


def _fit_run(timer: EpochTimer, model: keras.Model) -> FitRun:
    """What the timer recorded (every finished epoch), as a FitRun."""
    return FitRun(
        timer.epoch_ms,
        timer.losses,
        timer.accuracies,
        jit_compile=bool(model.jit_compile),
        memory=timer.memory,
    )


def _float(value: TensorLike) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
