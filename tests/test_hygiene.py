"""The suite's own guard (conftest.py) catches a test that leaves the process changed."""

from __future__ import annotations

import gc

import pytest

from tests import conftest

pytestmark = [pytest.mark.tf]


def test_the_guard_sees_a_running_profiler_session(tmp_path):
    import tensorflow as tf

    assert not conftest._profiler_session_running()
    tf.profiler.experimental.start(str(tmp_path))
    try:
        assert conftest._profiler_session_running()
    finally:
        tf.profiler.experimental.stop(save=False)
    assert not conftest._profiler_session_running()


def test_a_test_that_leaves_gc_frozen_fails(pytester):
    pytester.makeconftest((conftest.REPO / "tests" / "conftest.py").read_text(encoding="utf-8"))
    pytester.makepyfile(
        "import gc\n"
        "def test_freezes():\n    gc.freeze()\n"
        "def test_disables():\n    gc.disable()\n"
        "def test_clean():\n    assert gc.isenabled() and gc.get_freeze_count() == 0\n"
    )
    result = pytester.runpytest_inprocess()
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines(
        ["*left frozen out of garbage collection*", "*garbage collector was left disabled*"]
    )
    assert gc.isenabled() and gc.get_freeze_count() == 0
