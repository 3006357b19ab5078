"""Keep TensorFlow's and absl's C++ log lines out of the tool's stderr.

TensorFlow 2.21 writes its C++ start-up lines (``I0000 … cpu_feature_guard``, ``E0000 … failed call
to cuInit`` on a machine without a GPU, absl's ``WARNING: All log messages before
absl::InitializeLog() is called are written to STDERR``) straight to file descriptor 2, before and
regardless of ``TF_CPP_MIN_LOG_LEVEL``; Python's ``sys.stderr`` cannot hold them back. So the
descriptor itself is pointed at a pipe, and a thread passes every line on to the real stderr
except those in the C++ log format, which are counted and, with ``--verbose``, kept. A fatal line
(``F…``, written just before TensorFlow aborts the process) is never held back.

A filter inside the process cannot promise even that: when TensorFlow aborts, the filter's thread
dies with the process, and what was still in the pipe is lost. So a parent that starts
``python -m tfprof_m1`` children (the launcher's workers) gives them ``--verbose`` and filters
their stderr itself with :class:`NativeLines`, which outlives them and keeps the last lines it held
back, to say why a worker died.

Only the command line uses this (``python -m tfprof_m1``, ``tfprof-m1``): a library must not take
over its host process's stderr.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator

__all__ = ["FATAL_LINE", "NATIVE_LINE", "NativeLines", "native_logs_filtered", "shows_native_lines"]

#: A line of TensorFlow's, XLA's or absl's C++ logging (``I1130 08:41:17.123456  1234 file.cc:52]``),
#: absl's notice before its logging starts, and TensorFlow's CPU-feature and oneDNN notices.
NATIVE_LINE = re.compile(
    rb"^(?:[IWEF]\d{4} [\d:]+\.\d+\s+\d+\s+\S+:\d+\]"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|To enable the following instructions: .*rebuild TensorFlow"
    rb"|.*oneDNN custom operations are on)"
)
#: A fatal C++ log line (``F1130 08:41:17.123456  1234 file.cc:52] Check failed: ...``): the process
#: aborts right after it, so it is the one line that says why.
FATAL_LINE = re.compile(rb"^F\d{4} [\d:]+\.\d+\s+\d+\s+\S+:\d+\]")

_verbose = False


def shows_native_lines() -> bool:
    """Whether this process's command line was given ``--verbose`` (C++ log lines pass)."""
    return _verbose


def held_back(line: bytes) -> bool:
    """Whether ``line`` is a C++ log line the filter holds back (fatal lines are never held)."""
    return bool(NATIVE_LINE.match(line)) and not FATAL_LINE.match(line)


class NativeLines:
    """A parent's filter for a child's stderr lines (text): :meth:`keep` says whether a line is
    shown (C++ log lines are held back unless ``show_all``; fatal ones never are), and :attr:`tail`
    holds the last ``tail_size`` C++ log lines, shown or not: what the child said before it died."""

    def __init__(self, show_all: bool = False, tail_size: int = 5) -> None:
        self.show_all = show_all
        self.tail: collections.deque[str] = collections.deque(maxlen=tail_size)

    def keep(self, line: str) -> bool:
        """True to show ``line``, False to hold it back."""
        raw = line.encode("utf-8", "replace")
        if not NATIVE_LINE.match(raw):
            return True
        self.tail.append(line)
        return self.show_all or bool(FATAL_LINE.match(raw))


class NativeLogFilter:
    """Filters fd 2 while active (see the module docstring); ``dropped`` counts the lines held back."""

    def __init__(self) -> None:
        self.dropped = 0
        self._saved: int | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Point fd 2 at the filter; nothing happens where fd 2 cannot be duplicated."""
        try:
            sys.stderr.flush()
            saved = os.dup(2)
            read, write = os.pipe()
            os.dup2(write, 2)
            os.close(write)
        except OSError:
            return
        self._saved = saved
        self._thread = threading.Thread(target=self._pump, args=(read, saved), daemon=True)
        self._thread.start()

    def _pump(self, read: int, out: int) -> None:
        with os.fdopen(read, "rb", buffering=0) as pipe:
            pending = b""
            while True:
                chunk = pipe.read(65536)
                if not chunk:
                    break
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    self._pass(out, line + b"\n")
            if pending:
                self._pass(out, pending)

    def _pass(self, out: int, line: bytes) -> None:
        if held_back(line):
            self.dropped += 1
            return
        with contextlib.suppress(OSError):
            os.write(out, line)

    def stop(self) -> None:
        """Give fd 2 back and let the thread pass on what is left."""
        if self._saved is None:
            return
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os.dup2(self._saved, 2)  # closes the pipe's last write end held here: the thread sees its end
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        os.close(self._saved)
        self._saved = None


@contextlib.contextmanager
def native_logs_filtered(verbose: bool = False) -> Iterator[NativeLogFilter | None]:
    """Hold TensorFlow's C++ log lines back from stderr (all of them pass with ``verbose``)."""
    global _verbose
    _verbose = verbose
    if verbose:
        yield None
        return
    log_filter = NativeLogFilter()
    log_filter.start()
    try:
        yield log_filter
    finally:
        log_filter.stop()
