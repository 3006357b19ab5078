"""A tf.profiler trace window over a few training steps, marked so XProf sees steps.

TensorFlow's profiler shows a step-time breakdown only when every step is wrapped in
``tf.profiler.experimental.Trace("train", step_num=N, _r=1)``, with the input pipeline's ``next()``
inside it. :class:`TraceWindow` starts the profiler before the first step of its window, marks each
step, and stops after the last one. It only stops a session it started: if another profiler session
is running (a user's own), the run goes on untraced and :attr:`TraceWindow.problem` says why. A
trace that fails to collect is reported there too, never raised mid-run.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from tfprof_m1.errors import UserError

#: Phase name for the time spent starting and stopping the tf.profiler session.
TRACE_PHASE = "trace"
#: The TensorFlow profiler guide advises short windows: at most this many steps by default.
DEFAULT_TRACE_STEPS = 10


@dataclass(frozen=True)
class StepRange:
    """Global step numbers [start, stop), counted from 0 across epochs."""

    start: int
    stop: int

    def __contains__(self, step: int) -> bool:
        return self.start <= step < self.stop

    def __len__(self) -> int:
        return self.stop - self.start


def parse_step_range(text: str) -> StepRange:
    """``START:STOP`` (global step numbers, STOP exclusive).

    Raises:
        UserError: not two whole numbers with 0 <= START < STOP.
    """
    parts = text.split(":")
    try:
        start, stop = (int(part) for part in parts)
    except ValueError:
        raise UserError(f"--trace-steps {text!r}: expected START:STOP, two whole numbers such as 20:30") from None
    if start < 0 or stop <= start:
        raise UserError(f"--trace-steps {text!r}: need 0 <= START < STOP")
    return StepRange(start, stop)


def default_step_range(steps_per_epoch: int, epochs: int) -> StepRange | None:
    """At most 10 steps in the second epoch (the first is warm-up), away from its first steps.

    With a single epoch, the window sits in that epoch after its first few steps.
    """
    epoch = 1 if epochs > 1 else 0
    offset = min(DEFAULT_TRACE_STEPS, steps_per_epoch // 4)
    start = epoch * steps_per_epoch + offset
    stop = min(start + DEFAULT_TRACE_STEPS, (epoch + 1) * steps_per_epoch)
    return StepRange(start, stop) if stop > start else None


class TraceWindow:
    """Profile the steps of ``steps`` into ``logdir`` (``logdir/plugins/profile/<run>/…``).

    Usage in a loop, with the input ``next()`` inside the step::

        window = TraceWindow(logdir, StepRange(20, 30))
        for global_step in ...:
            with window.step(global_step):
                batch = next(iterator)
                train_step(batch)
        window.close()
    """

    def __init__(self, logdir: str | Path, steps: StepRange | None, profiler: Any = None) -> None:
        """Args:
            logdir: where the profiler writes (TensorBoard's log directory for this run).
            steps: the global steps to trace; None traces nothing.
            profiler: a PhaseProfiler; starting and stopping the tf.profiler session is then timed
                as its phase ``trace``, so the cost shows in the breakdown instead of in ``other``.
        """
        self.logdir = Path(logdir)
        self.steps = steps
        self.profiler = profiler
        self.traced_steps: list[int] = []
        self.problem: str | None = None
        self._running = False
        self._done = steps is None

    @contextlib.contextmanager
    def step(self, global_step: int) -> Iterator[bool]:
        """Wrap one step; yields whether it is being traced."""
        if self._done or self.steps is None or global_step not in self.steps:
            if self._running and self.steps is not None and global_step >= self.steps.stop:
                self.close()
            yield False
            return
        if not self._running and not self._start():
            yield False
            return
        import tensorflow as tf

        try:
            with tf.profiler.experimental.Trace("train", step_num=global_step, _r=1):
                yield True
        except BaseException:
            self.close()  # never leave a session running behind an error or Ctrl-C
            raise
        self.traced_steps.append(global_step)
        if global_step + 1 >= self.steps.stop:
            self.close()

    def _timed(self) -> contextlib.AbstractContextManager:
        if self.profiler is None:
            return contextlib.nullcontext()
        return self.profiler.phase(TRACE_PHASE)

    def _start(self) -> bool:
        import tensorflow as tf

        try:
            with self._timed():
                tf.profiler.experimental.start(str(self.logdir))
        except Exception as error:  # AlreadyExists/Unavailable: someone else's session is running
            self.problem = f"no trace: the TensorFlow profiler could not start ({_first_line(error)}); another profiler session may be running"
            self._done = True
            return False
        self._running = True
        return True

    def close(self) -> None:
        """Stop the profiler session this window started (and only that one); safe to call twice."""
        if not self._running:
            self._done = True
            return
        import tensorflow as tf

        self._running = False
        self._done = True
        try:
            with self._timed():
                tf.profiler.experimental.stop()
        except Exception as error:
            self.problem = f"the trace could not be collected ({_first_line(error)})"

    @property
    def files(self) -> list[Path]:
        """The xplane files written under this window's logdir."""
        return sorted((self.logdir / "plugins" / "profile").glob("*/*.xplane.pb"))


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
