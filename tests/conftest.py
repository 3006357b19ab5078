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


#: Runs that need a process of their own: what TensorFlow or Keras fix once per process (the
#: asynchronous executor, logical devices for a strategy), the start-up's C++ lines (``--verbose``),
#: the machine's start-up as a user sees it (``env``), and the launcher of worker processes.
FRESH_PROCESS_ARGS = frozenset({"--async-executor", "--strategy", "--replicas", "--verbose"})
FRESH_PROCESS_COMMANDS = frozenset({"env", "launch"})


def run_cli(
    *args: str,
    env: dict | None = None,
    timeout: float = 300,
    cwd: str | Path | None = None,
    fresh: bool = False,
) -> subprocess.CompletedProcess:
    """``python -m tfprof_m1 ARGS``, as a user runs it, in a fresh temporary directory unless told
    otherwise (so the default ``runs/`` run directories never land in the repository).

    A run that does not need a fresh process (``fresh``, ``env`` given, or anything in
    :data:`FRESH_PROCESS_ARGS` and :data:`FRESH_PROCESS_COMMANDS`) goes through the same entry point in
    one long-lived interpreter (tests/cli_server.py), with this process's environment, its own working
    directory, stdout and stderr: a TensorFlow import (6-7 s of CPU here) is paid once, not once a run.
    ``TFPROF_M1_TEST_FRESH=1`` starts every run in a process of its own.
    """
    cwd = cwd or tempfile.mkdtemp(prefix="tfprof_m1-cli-")
    needs_fresh = (
        fresh
        or env is not None
        or os.environ.get("TFPROF_M1_TEST_FRESH") == "1"
        or (bool(args) and args[0] in FRESH_PROCESS_COMMANDS)
        or any(arg.split("=", 1)[0] in FRESH_PROCESS_ARGS for arg in args)
    )
    if not needs_fresh:
        return _SERVER.run(list(args), Path(cwd), timeout)
    return subprocess.run(
        [sys.executable, "-m", "tfprof_m1", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=timeout,
    )


class _CliServer:
    """The long-lived interpreter of tests/cli_server.py, started on first use, restarted after a
    job that ended it (a crash or a timeout)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None
        self._results = None

    def _start(self) -> subprocess.Popen:
        read, write = os.pipe()
        process = subprocess.Popen(
            [sys.executable, str(REPO / "tests" / "cli_server.py"), str(write)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(write,),
            text=True,
            cwd=REPO,
        )
        os.close(write)
        self._process, self._results = process, os.fdopen(read, "r")
        return process

    def run(self, args: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
        import json
        import select

        process = self._process if self._process and self._process.poll() is None else self._start()
        outputs = Path(tempfile.mkdtemp(prefix="tfprof_m1-served-"))
        job = {
            "args": args,
            "cwd": str(cwd),
            "env": dict(os.environ),
            "stdout": str(outputs / "stdout"),
            "stderr": str(outputs / "stderr"),
        }
        assert process.stdin is not None and self._results is not None
        process.stdin.write(json.dumps(job) + "\n")
        process.stdin.flush()
        ready, _, _ = select.select([self._results], [], [], timeout)
        line = self._results.readline() if ready else ""
        if not line:
            timed_out = not ready
            process.kill()
            process.wait()
            self._process = None
            if timed_out:
                raise subprocess.TimeoutExpired([sys.executable, "-m", "tfprof_m1", *args], timeout)
            returncode = process.returncode
        else:
            returncode = json.loads(line)["returncode"]

        def read(name: str) -> str:
            path = outputs / name
            return path.read_bytes().decode("utf-8", "replace") if path.exists() else ""

        return subprocess.CompletedProcess(
            [sys.executable, "-m", "tfprof_m1", *args], returncode, read("stdout"), read("stderr")
        )

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._process = None


_SERVER = _CliServer()


@pytest.fixture(scope="session", autouse=True)
def _cli_server_closed():
    """The served runs' interpreter ends with the session."""
    yield
    _SERVER.close()


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
