"""A Ctrl-C swallowed where Python ignores exceptions is raised again at the next step."""

from __future__ import annotations

import gc
import os
import signal

import pytest

from tfprof_m1.interrupt import InterruptGuard


@pytest.fixture(autouse=True)
def _python_handles_sigint():
    """As in a terminal: a suite started in the background inherits SIGINT ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # Python's "Exception ignored in gc callback"
def test_an_interrupt_swallowed_by_a_gc_callback_is_raised_at_the_next_check():
    fired = []

    def callback(phase, info):
        if phase == "start" and not fired:
            fired.append(True)
            os.kill(os.getpid(), signal.SIGINT)  # delivered while inside the callback: Python ignores it there

    with pytest.raises(KeyboardInterrupt):
        with InterruptGuard() as guard:
            gc.callbacks.append(callback)
            try:
                gc.collect()
            finally:
                gc.callbacks.remove(callback)
            assert fired and guard.pending  # swallowed, but remembered
            guard.check()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_no_interrupt_no_raise_and_someone_elses_handler_is_left_alone():
    with InterruptGuard() as guard:
        guard.check()
    previous = signal.signal(signal.SIGINT, lambda *a: None)
    try:
        with InterruptGuard() as guard:
            assert not guard._installed
    finally:
        signal.signal(signal.SIGINT, previous)
