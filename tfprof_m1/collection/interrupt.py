"""Stop signals (Ctrl-C, SIGTERM) that end training cleanly and are never lost.

Python raises ``KeyboardInterrupt`` at the next bytecode after SIGINT arrives. In a TensorFlow loop
that is often inside code whose exceptions Python swallows: a garbage-collector callback (the
profiler times collections with one), a ``__del__``, a weakref callback. The interrupt is then
printed as "Exception ignored" and training goes on. :class:`InterruptGuard` raises it as usual and
also remembers it, process-wide; the loop calls :meth:`InterruptGuard.check` at every step boundary,
where a swallowed stop is raised again.

While training runs (:func:`deferred`), a guard does not raise at all: it records the stop, and
the loop raises it at the next step boundary. Raised at an arbitrary bytecode, the exception lands
inside TensorFlow's own Python code as often as in ours (a tf.data iterator's ``__next__``, an eager
``Executor.__del__``), leaving native objects half-built or half-freed. Seen here before the loop
deferred its stops: one stop in 42 of a repeated SIGTERM scenario printed "Exception ignored in
Executor.__del__", and one test suite in five lost its process to heap corruption (``free(): invalid
next size``) after a stop. A second stop while one waits is not
deferred: it raises at once (or, with ``abort_on_second``, ends the process), the way out of a step
that never ends.

SIGTERM is what ``timeout``, ``docker stop``, Slurm and a stopped Colab cell send. By default it
kills the process with nothing saved; a guard asked to handle it (the command line's is) turns it
into :class:`StopSignal`, a ``KeyboardInterrupt``, so every cleanup path that handles Ctrl-C (the
trace session stopped, the garbage freeze undone, finished epochs reported) handles it too.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType, TracebackType
from typing import TypeVar

__all__ = [
    "InterruptGuard",
    "StopSignal",
    "TrainingInterrupted",
    "deferred",
    "exit_status",
    "held",
    "owned_child",
    "pending_signal",
    "raise_pending",
    "signal_name",
    "signal_of",
    "undeferred",
]


class StopSignal(KeyboardInterrupt):
    """A stop signal raised by a guard; ``signum`` says which (``signal.SIGINT`` or ``SIGTERM``)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum


class TrainingInterrupted(KeyboardInterrupt):
    """Training ended by a stop signal, carrying what was measured up to then in ``partial``
    (``run_profiled_loop``: its EpochResults, the cut-short epoch last; ``run_fit``: a FitRun of the
    finished epochs). A ``KeyboardInterrupt``, so code that does not look for it stops as before."""

    def __init__(self, signum: int, partial: object) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum
        self.partial = partial


def signal_name(signum: int) -> str:
    """``SIGINT``, ``SIGTERM``... for a signal number (``signal N`` for one Python does not name)."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def signal_of(error: BaseException) -> int:
    """The signal behind a KeyboardInterrupt: SIGINT unless a guard recorded another."""
    return int(getattr(error, "signum", signal.SIGINT))


def exit_status(signum: int) -> int:
    """The exit status of a process ended by ``signum``, as a shell reports it (130 for SIGINT, 143
    for SIGTERM): what a run that stopped cleanly on that signal returns."""
    return 128 + int(signum)


# A stop that was raised where it may have been swallowed, waiting for the next check (process-wide,
# so a loop's guard sees a stop caught by the command line's guard around it).
_pending: list[int] = []


# How many deferred() scopes are open (process-wide: the handler that runs may be an enclosing guard's).
_deferring: list[int] = [0]


def raise_pending() -> None:
    """Raise a stop signal that arrived while stops were deferred, or that Python swallowed (if any)."""
    if _pending:
        raise StopSignal(_pending.pop())


_Scope = TypeVar("_Scope", bound="deferred")
_Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


class deferred:
    """Within this scope a guard records a stop instead of raising it; call :func:`raise_pending`
    (or :meth:`InterruptGuard.check`) where stopping is safe, e.g. between training steps.

    The training loop, ``run_fit`` and ``ProfileCallback`` defer their stops; scopes nest. A stop
    still pending when the scope ends normally is raised then, so none is lost.
    """

    def __init__(self) -> None:
        self._open = False

    def __enter__(self: _Scope) -> _Scope:
        _deferring[0] += 1
        self._open = True
        return self

    def release(self) -> None:
        """End the scope without raising (safe to call more than once)."""
        if self._open:
            _deferring[0] -= 1
            self._open = False

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()
        if kind is None:
            raise_pending()


# Child processes started in sessions of their own (sweep points, launched workers): a second stop,
# which ends this process at once, ends them too.
_children: set[int] = set()


class owned_child:
    """``with owned_child(process.pid):`` while a child in a session of its own runs: an abort on a
    second stop signal kills it rather than leaving it to run on alone."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def __enter__(self) -> owned_child:
        _children.add(self.pid)
        return self

    def __exit__(self, *exc: object) -> None:
        _children.discard(self.pid)


def pending_signal() -> int | None:
    """The stop signal recorded and not yet raised, if any (left pending)."""
    return _pending[-1] if _pending else None


class held(deferred):
    """Like :class:`deferred`, but a stop still pending when the scope ends is not raised: it is
    taken and left in ``signum``, for the caller to finish what it must (write a measured model's
    report) before stopping. ``bench.run_benchmark`` holds stops from a model's start to its outputs
    written, so a stop after the loop (building the fit model, reading the trace, writing files)
    never costs what was measured."""

    signum: int | None = None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()
        if kind is None and _pending:
            self.signum = _pending.pop()


class undeferred:
    """Within this scope stops are raised at once again, whatever deferred scopes enclose it: for
    waiting on a child process (which is stopped and waited for by the code that catches the stop).
    A stop already pending is raised on entry."""

    def __enter__(self) -> undeferred:
        self._saved = _deferring[0]
        _deferring[0] = 0
        try:
            raise_pending()
        except KeyboardInterrupt:
            _deferring[0] = self._saved
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        _deferring[0] = self._saved


def _default_handler(signum: int) -> _Handler:
    return signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL


class InterruptGuard:
    """Use as ``with InterruptGuard() as guard: ... guard.check()`` around a loop.

    Args:
        signals: the signals to turn into :class:`StopSignal` (default SIGINT only; a library should
            not change what SIGTERM does to its host program unless asked).
        abort_on_second: a second stop signal while the first is being handled (reports written,
            trace saved) ends the process at once, as the default handler would.

    Only the main thread can handle signals, and a handler someone else installed (or SIGINT
    ignored, as in a background job) is left alone; ``check`` still raises a stop caught by an
    enclosing guard.
    """

    def __init__(self, signals: Sequence[int] = (signal.SIGINT,), abort_on_second: bool = False) -> None:
        self.signals = tuple(signals)
        self.abort_on_second = abort_on_second
        self.received: int | None = None
        self._previous: dict[int, _Handler] = {}

    def __enter__(self) -> InterruptGuard:
        self.received = None
        if threading.current_thread() is threading.main_thread():
            for signum in self.signals:
                if signal.getsignal(signum) is _default_handler(signum):
                    self._previous[signum] = signal.signal(signum, self._handle)
        return self

    @property
    def _installed(self) -> bool:
        return bool(self._previous)

    @property
    def pending(self) -> bool:
        """Whether a stop arrived that has not been raised through :meth:`check` or handled yet."""
        return bool(_pending)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None and self.abort_on_second:
            print(
                f"tfprof_m1: second {signal_name(signum)}: stopping at once "
                "(files already written are complete)",
                file=sys.stderr,
                flush=True,
            )
            for child in list(_children):  # in sessions of their own: the terminal's signal missed them
                try:
                    os.kill(child, signal.SIGKILL)
                except OSError:
                    pass
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        waiting = bool(_pending)
        self.received = signum
        _pending[:] = [signum]
        if _deferring[0] and not waiting:
            return  # raised at the next step boundary, not inside whatever runs now
        raise StopSignal(signum)

    def check(self) -> None:
        """Raise a stop that arrived and was swallowed where exceptions are ignored."""
        raise_pending()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            _pending.clear()  # it was raised and is on its way out: nothing left to re-raise
