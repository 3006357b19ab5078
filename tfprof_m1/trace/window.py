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
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tfprof_m1.base.errors import UserError
from tfprof_m1.base.phases import TRACE

__all__ = [
    "PhaseTimer",
    "StepRange",
    "TraceSchedule",
    "TraceWindow",
    "check_within",
    "default_step_range",
    "parse_step_range",
]


class PhaseTimer(Protocol):
    """What a window needs of a profiler (``collection.profiler.PhaseProfiler``, a layer up): a phase."""

    def phase(self, name: str) -> contextlib.AbstractContextManager[object]:
        """A context manager that times its body as the phase ``name``."""
        ...


#: Phase name for the time spent starting and stopping the tf.profiler session.
#: The TensorFlow profiler guide advises short windows: at most this many steps by default.
DEFAULT_TRACE_STEPS = 10


@dataclass(frozen=True)
class TraceSchedule:
    """A repeating window, as torch.profiler's ``schedule``: per cycle, ``wait`` steps untraced,
    ``warmup`` steps with the profiler session running but not marked as steps (the session's start-up
    and first-trace costs land there, and XProf and ``trace`` ignore them), then ``active`` marked
    steps; ``repeat`` cycles (0: until the loop ends). ``skip_first`` steps come before the first cycle.

    Each cycle is one profiler session; cycles after the first write to ``logdir/cycle_N`` (the
    profiler names a session's folder by the second it started, so two in one second would collide).
    """

    wait: int = 0
    warmup: int = 1
    active: int = DEFAULT_TRACE_STEPS
    repeat: int = 1
    skip_first: int = 0

    def __post_init__(self) -> None:
        if min(self.wait, self.warmup, self.repeat, self.skip_first) < 0 or self.active < 1:
            raise ValueError(
                "TraceSchedule: active must be >= 1, and wait, warmup, repeat and skip_first >= 0"
            )

    def cycle(self, global_step: int) -> tuple[int, str] | None:
        """(cycle number from 0, "wait" | "warmup" | "active") of a step; None once the cycles are over."""
        if global_step < self.skip_first:
            return 0, "wait"
        length = self.wait + self.warmup + self.active
        number, position = divmod(global_step - self.skip_first, length)
        if self.repeat and number >= self.repeat:
            return None
        if position < self.wait:
            return number, "wait"
        return number, "warmup" if position < self.wait + self.warmup else "active"

    @property
    def stop(self) -> int | None:
        """The first step after the last cycle (None when it repeats until the loop ends)."""
        if not self.repeat:
            return None
        return self.skip_first + self.repeat * (self.wait + self.warmup + self.active)


@dataclass(frozen=True)
class StepRange:
    """Global step numbers [start, stop), counted from 0 across epochs."""

    start: int
    stop: int

    def __contains__(self, step: int) -> bool:
        return self.start <= step < self.stop

    def __len__(self) -> int:
        return self.stop - self.start


def check_within(steps: StepRange, epochs: int, per_epoch: int, name: str, unit: str, owner: str) -> None:
    """The one rule for a trace window against a run of ``epochs`` × ``per_epoch`` steps: every step
    of it must exist (a window past the end would trace fewer steps than asked, or none).

    Args:
        name: the setting named in the error (``--trace-steps``, ``trace_steps``).
        unit, owner: what the run counts and who runs them ("steps", "the run"; "batches", "this fit").

    Raises:
        UserError: a window whose last step is past the run's last.
    """
    total = epochs * per_epoch
    if steps.stop > total:
        raise UserError(
            f"{name} {steps.start}:{steps.stop}: {owner} has only {total} {unit} ({epochs} epochs × "
            f"{per_epoch}); trace {unit} within them (counted from 0)"
        )


def parse_step_range(text: str) -> StepRange:
    """``START:STOP`` (global step numbers, STOP exclusive).

    Raises:
        UserError: not two whole numbers with 0 <= START < STOP.
    """
    parts = text.split(":")
    try:
        start, stop = (int(part) for part in parts)
    except ValueError:
        raise UserError(
            f"--trace-steps {text!r}: expected START:STOP, two whole numbers such as 20:30"
        ) from None
    if start < 0 or stop <= start:
        raise UserError(f"--trace-steps {text!r}: need 0 <= START < STOP")
    return StepRange(start, stop)


def default_step_range(
    steps_per_epoch: int,
    epochs: int,
    probe_steps: Iterable[int] = (),
    unprofiled_steps: Iterable[int] = (),
) -> StepRange | None:
    """At most 10 steps in the second epoch (the first is warm-up), away from its first steps, and
    holding a probe step where the epoch has one (``probe_steps``: indices within an epoch), so the
    trace viewer shows the probe calls (call, forward, forward+backward, the step) as spans.

    A window over an unprofiled stretch (``unprofiled_steps``, indices within an epoch) would run
    it profiled, taking the epoch's profiling-cost reference away; where it would, the window moves
    to the longest run of profiled steps after the first few (shorter than 10 steps if need be).
    With a single epoch, the window sits in that epoch after its first few steps.
    """
    epoch = 1 if epochs > 1 else 0
    first = min(DEFAULT_TRACE_STEPS, steps_per_epoch // 4)
    offset = first
    later = sorted(step for step in probe_steps if step >= offset)
    if later and later[0] >= offset + DEFAULT_TRACE_STEPS:  # the usual window holds none: move it
        offset = min(later[0] - DEFAULT_TRACE_STEPS // 2, steps_per_epoch - DEFAULT_TRACE_STEPS)
    offset = max(offset, 0)
    length = min(DEFAULT_TRACE_STEPS, steps_per_epoch - offset)
    unprofiled = set(unprofiled_steps)
    if any(step in unprofiled for step in range(offset, offset + length)):
        runs: list[range] = []  # runs of profiled steps from the first few on
        for step in range(first, steps_per_epoch):
            if step in unprofiled:
                continue
            if runs and runs[-1].stop == step:
                runs[-1] = range(runs[-1].start, step + 1)
            else:
                runs.append(range(step, step + 1))
        fits = [run for run in runs if len(run) >= DEFAULT_TRACE_STEPS]
        if fits:  # the nearest run that holds a whole window, at the place nearest the usual one
            run = min(
                fits, key=lambda r: abs(min(max(offset, r.start), r.stop - DEFAULT_TRACE_STEPS) - offset)
            )
            offset, length = min(max(offset, run.start), run.stop - DEFAULT_TRACE_STEPS), DEFAULT_TRACE_STEPS
        elif runs:
            run = max(runs, key=len)
            offset, length = run.start, len(run)
    start = epoch * steps_per_epoch + offset
    stop = min(start + length, (epoch + 1) * steps_per_epoch)
    return StepRange(start, stop) if stop > start else None


class TraceWindow:
    """Profile the steps of ``steps`` into ``logdir`` (``logdir/plugins/profile/<run>/…``).

    Usage in a loop, with the input ``next()`` inside the step::

        with TraceWindow(logdir, StepRange(20, 30)) as window:
            for global_step in ...:
                with window.step(global_step):
                    batch = next(iterator)
                    train_step(batch)

    Leaving the ``with`` block (or :meth:`close`) stops a session still running, so a window that
    reaches past the end of the loop never leaves the profiler recording whatever runs next;
    :func:`~tfprof_m1.collection.loop.run_profiled_loop` closes the window it is given. A window that cannot
    start (another profiler session is running) says so once on stderr and in :attr:`problem`,
    which the report carries as ``trace_problem``.
    """

    def __init__(
        self,
        logdir: str | Path,
        steps: StepRange | TraceSchedule | None,
        profiler: PhaseTimer | None = None,
        warn: Callable[[str], object] | None = None,
    ) -> None:
        """Args:
        logdir: where the profiler writes (TensorBoard's log directory for this run).
        steps: the global steps to trace (a StepRange, or a repeating TraceSchedule); None traces nothing.
        profiler: a PhaseProfiler; starting and stopping the tf.profiler session is then timed
            as its phase ``trace``, so the cost shows in the breakdown instead of in ``other``.
        warn: called with a problem's one-line text (default: print to stderr).
        """
        self.logdir = Path(logdir)
        self.schedule = steps if isinstance(steps, TraceSchedule) else None
        self.steps = steps if isinstance(steps, StepRange) else None
        if self.schedule is not None and self.schedule.stop is not None:
            self.steps = StepRange(self.schedule.skip_first, self.schedule.stop)
        self.profiler = profiler
        self.traced_steps: list[int] = []
        self.problem: str | None = None
        self._warn = warn or (lambda text: print(f"tfprof_m1: {text}", file=sys.stderr))
        self._running = False
        self._cycle: int | None = None
        self._files_before: set[Path] = set()
        self._done = steps is None

    def __enter__(self) -> TraceWindow:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _phase_of(self, global_step: int) -> tuple[int, str] | None:
        """(cycle, "wait" | "warmup" | "active") of a step; None past the window."""
        if self.schedule is not None:
            return self.schedule.cycle(global_step)
        assert self.steps is not None
        if global_step >= self.steps.stop:
            return None
        return 0, "active" if global_step >= self.steps.start else "wait"

    @contextlib.contextmanager
    def step(self, global_step: int) -> Iterator[bool]:
        """Wrap one step; yields whether it is being traced (marked as a step in the session)."""
        where = None if self._done else self._phase_of(global_step)
        if where is None or where[1] == "wait":
            if self._running:
                self._stop()  # past the cycle (or the window): the session has all it should
            if where is None:
                self._done = True
            yield False
            return
        cycle, phase = where
        if self._running and self._cycle != cycle:
            self._stop()
        if not self._running and not self._start(cycle):
            yield False
            return
        if phase == "warmup":
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
        if self.steps is not None and self.schedule is None and global_step + 1 >= self.steps.stop:
            self.close()

    def _timed(self) -> contextlib.AbstractContextManager:
        if self.profiler is None:
            return contextlib.nullcontext()
        return self.profiler.phase(TRACE)

    def _cycle_dir(self, cycle: int) -> Path:
        return self.logdir if cycle == 0 else self.logdir / f"cycle_{cycle + 1}"

    def _start(self, cycle: int) -> bool:
        import tensorflow as tf

        try:
            with self._timed():
                tf.profiler.experimental.start(str(self._cycle_dir(cycle)))
        except Exception as error:  # AlreadyExists/Unavailable: someone else's session is running
            self.problem = (
                f"no trace: the TensorFlow profiler could not start ({_first_line(error)}); "
                "another profiler session may be running"
            )
            self._warn(self.problem)
            self._done = True
            return False
        self._running = True
        self._cycle = cycle
        self._files_before = set(self._session_files(cycle))
        return True

    def _stop(self) -> None:
        import tensorflow as tf

        self._running = False
        try:
            with self._timed():
                tf.profiler.experimental.stop()
        except Exception as error:
            self.problem = f"the trace could not be collected ({_first_line(error)})"
            self._warn(self.problem)
            self._remove_torn_files()

    def _remove_torn_files(self) -> None:
        """A session whose write failed (a full disk) leaves a torn ``.xplane.pb`` that TensorBoard
        and ``trace`` would misread: remove the files this session made."""
        assert self._cycle is not None
        for path in set(self._session_files(self._cycle)) - self._files_before:
            try:
                path.unlink()
            except OSError:
                continue
            self.problem = f"{self.problem or 'the trace failed'}; removed the torn {path.name}"

    def _session_files(self, cycle: int) -> list[Path]:
        from tfprof_m1.trace.xplane import find_xplane_files

        directory = self._cycle_dir(cycle)
        return find_xplane_files(directory) if directory.is_dir() else []

    def close(self) -> None:
        """Stop the profiler session this window started (and only that one); safe to call twice."""
        self._done = True
        if self._running:
            self._stop()

    @property
    def running(self) -> bool:
        """Whether this window's profiler session is recording now."""
        return self._running

    def covers(self, first: int, length: int) -> bool:
        """Whether any of the ``length`` steps from ``first`` would be traced (or warm the session)."""
        if self._done:
            return False
        for step in range(first, first + length):
            where = self._phase_of(step)
            if where is None:
                return False
            if where[1] != "wait":
                return True
        return False

    @property
    def files(self) -> list[Path]:
        """The xplane files written under this window's logdir (every cycle's)."""
        from tfprof_m1.trace.xplane import find_xplane_files

        return find_xplane_files(self.logdir) if self.logdir.is_dir() else []


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
