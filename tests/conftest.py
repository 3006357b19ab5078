"""Shared fixtures. Nothing here downloads: every dataset is written by the test, in its published format."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _no_downloads_no_cache(tmp_path_factory, monkeypatch):
    """Tests never download and never read the user's Keras cache."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path_factory.mktemp("keras_home")))
    monkeypatch.setenv("TFPROF_M1_NO_DOWNLOAD", "1")


def _profiler_session_running() -> bool:
    """Whether tf.profiler has a session open (TensorFlow's own module global; False when TensorFlow
    was never imported, so unit tests do not pay for importing it)."""
    profiler_v2 = sys.modules.get("tensorflow.python.profiler.profiler_v2")
    return getattr(profiler_v2, "_profiler", None) is not None


@pytest.fixture(autouse=True)
def _leaves_no_profiler_session_and_no_gc_freeze():
    """A test that leaves a tf.profiler session running or the garbage collector frozen or off fails
    (and the state is undone, so the next test starts clean): both would silently change what later
    tests measure, the way they would change a user's process."""
    yield
    problems = []
    if _profiler_session_running():
        import tensorflow as tf

        tf.profiler.experimental.stop(save=False)
        problems.append("a tf.profiler session was left running")
    if gc.get_freeze_count():
        problems.append(f"{gc.get_freeze_count()} objects were left frozen out of garbage collection")
        gc.unfreeze()
    if not gc.isenabled():
        problems.append("the garbage collector was left disabled")
        gc.enable()
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


def flat(text: str) -> str:
    """``text`` with every run of whitespace one space: what a phrase reads as after the terminal
    output wrapped it at 120 columns."""
    return " ".join(text.split())


def run_cli(
    *args: str, env: dict | None = None, timeout: float = 300, cwd: str | Path | None = None
) -> subprocess.CompletedProcess:
    """``python -m tfprof_m1 ARGS`` as a subprocess, as a user runs it.

    It runs in a fresh temporary directory unless told otherwise, so the default ``runs/`` run
    directories never land in the repository.
    """
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "tfprof_m1", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or tempfile.mkdtemp(prefix="tfprof_m1-cli-"),
        timeout=timeout,
    )


def script_figures(script: str, *args: str, timeout: float = 300) -> dict:
    """Run ``tests/<script>`` in a process of its own (an executor or logical devices must be set
    before TensorFlow starts) and return the JSON object its last line prints."""
    import json

    result = subprocess.run(
        [sys.executable, str(REPO / "tests" / script), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def ab_reports(tmp_path_factory) -> dict[str, Path]:
    """Real reports of one small MLP, each with one setting changed (tests/ab_runs.py), made once
    per session: name -> saved report."""
    from tests.ab_runs import write_reports

    return write_reports(tmp_path_factory.mktemp("ab_reports"))
