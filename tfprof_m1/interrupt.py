"""Ctrl-C that is never lost inside a training loop.

Python raises ``KeyboardInterrupt`` at the next bytecode after SIGINT arrives. In a TensorFlow loop
that is often inside code whose exceptions Python swallows: a garbage-collector callback (the
profiler times collections with one), a ``__del__``, a weakref callback. The interrupt is then
printed as "Exception ignored" and training goes on. :class:`InterruptGuard` raises it as usual and
also remembers it; the loop calls :meth:`InterruptGuard.check` at every step boundary, where a
swallowed interrupt is raised again.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any


class InterruptGuard:
    """Use as ``with InterruptGuard() as guard: ... guard.check()`` around a loop.

    Only the main thread can handle signals, and a handler someone else installed is left alone;
    then the guard does nothing and ``check`` never raises.
    """

    def __init__(self) -> None:
        self.pending = False
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> "InterruptGuard":
        self.pending = False
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.pending = True
        raise KeyboardInterrupt

    def check(self) -> None:
        """Raise a Ctrl-C that arrived and was swallowed where exceptions are ignored."""
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False
        if kind is KeyboardInterrupt:
            self.pending = False
