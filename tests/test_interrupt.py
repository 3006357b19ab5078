"""Stop signals: deferred to the next step while training runs, never lost where Python swallows them."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tfprof_m1.collection.interrupt import (
    InterruptGuard,
    StopSignal,
    deferred,
    held,
    pending_signal,
    undeferred,
)


@pytest.fixture(autouse=True)
def _python_handles_sigint():
    """As in a terminal: a suite started in the background inherits SIGINT ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.filterwarnings(
    "ignore::pytest.PytestUnraisableExceptionWarning"
)  # Python's "Exception ignored in gc callback"
def test_an_interrupt_swallowed_by_a_gc_callback_is_raised_at_the_next_check():
    fired = []

    def callback(phase, info):
        if phase == "start" and not fired:
            fired.append(True)
            os.kill(
                os.getpid(), signal.SIGINT
            )  # delivered while inside the callback: Python ignores it there

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


def test_while_deferred_a_stop_is_recorded_and_raised_at_the_next_check_and_a_second_raises_at_once():
    with InterruptGuard(signals=(signal.SIGINT, signal.SIGTERM)) as guard:
        with deferred():
            os.kill(os.getpid(), signal.SIGTERM)  # delivered at the next bytecode: recorded, not raised
            still_running = True
            assert still_running and guard.pending and guard.received == signal.SIGTERM
            with pytest.raises(StopSignal) as stopped:
                guard.check()
            assert stopped.value.signum == signal.SIGTERM and not guard.pending

            os.kill(os.getpid(), signal.SIGINT)
            with pytest.raises(StopSignal) as second:
                os.kill(os.getpid(), signal.SIGINT)  # a stop already waits: the way out of a step that hangs
                for _ in range(1000):
                    pass
            assert second.value.signum == signal.SIGINT
            assert guard.pending  # remembered too, in case it was raised where Python swallows exceptions
            with pytest.raises(StopSignal):
                guard.check()
        assert not guard.pending
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_stop_pending_when_the_deferred_scope_ends_is_raised_there_and_later_stops_at_once():
    with InterruptGuard() as guard:
        scope = deferred()
        with pytest.raises(StopSignal):
            with scope:
                os.kill(os.getpid(), signal.SIGINT)
                assert guard.pending
        assert not guard.pending
        scope.release()  # a second release changes nothing: no scope is open
        with pytest.raises(StopSignal):  # raised where it lands
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):
                pass
        # A stop raised at once is also remembered (it may have landed where Python swallows it): a
        # caller that caught it finds it again at the next check.
        assert guard.pending
        with pytest.raises(StopSignal):
            guard.check()
    assert not guard.pending


def test_a_held_stop_is_taken_when_the_scope_ends_and_undeferred_raises_one_at_once():
    with InterruptGuard(signals=(signal.SIGTERM,)) as guard:
        with held() as hold:
            os.kill(os.getpid(), signal.SIGTERM)  # recorded, not raised: the report is still being written
            still_running = True
            assert still_running and pending_signal() == signal.SIGTERM
        assert hold.signum == signal.SIGTERM and pending_signal() is None and not guard.pending
        with held() as hold:
            os.kill(os.getpid(), signal.SIGTERM)
            with pytest.raises(StopSignal) as stopped:
                with undeferred():  # waiting on a child process: the stop is raised on entry
                    pytest.fail("not reached")
            assert stopped.value.signum == signal.SIGTERM
            with pytest.raises(StopSignal):
                with undeferred():
                    os.kill(os.getpid(), signal.SIGTERM)  # and at once inside it
                    for _ in range(1000):
                        pass
        # a stop raised is remembered until a guard sees it leave (it may have been swallowed): taken here
        assert hold.signum == signal.SIGTERM and pending_signal() is None
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_second_stop_ends_the_children_started_in_sessions_of_their_own_too(tmp_path):
    code = (
        "import os, signal, subprocess, sys, time\n"
        "from tfprof_m1.collection.interrupt import InterruptGuard, owned_child\n"
        "child = subprocess.Popen(['sleep', '60'], start_new_session=True)\n"
        "print(child.pid, flush=True)\n"
        "with InterruptGuard(signals=(signal.SIGTERM,), abort_on_second=True), owned_child(child.pid):\n"
        "    try:\n"
        "        os.kill(os.getpid(), signal.SIGTERM); time.sleep(5)\n"
        "    except KeyboardInterrupt:\n"
        "        os.kill(os.getpid(), signal.SIGTERM); time.sleep(5)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == -signal.SIGTERM and "second SIGTERM: stopping at once" in result.stderr
    child = int(result.stdout.split()[0])
    for _ in range(100):  # killed: gone, or a zombie where no init reaps orphans (some containers)
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        stat = Path(f"/proc/{child}/stat")
        if stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the child {child} still runs after the second stop")
