"""One way to run ``python -m tfprof_m1`` in a process of its own, and to hear back from it as data.

A sweep's points, a launch's workers and a distributed run's single-replica baseline are each an
ordinary run of the command line in a child process. What the child measures goes down as argv
built from a :class:`~tfprof_m1.report.model.RunConfig` (:func:`config_argv`: each field's flag
from the field's metadata, the same metadata the run command's parser is built from, so the two
cannot drift) and where its outputs go from an :class:`~tfprof_m1.run.outputs.OutputSettings`
(:func:`output_argv`). How it ended comes back as data, as pyperf's workers send their results
back through a pipe: the child writes a :class:`ChildResult` as JSON to the file named by
``--result-file`` when it exits (done, a one-line error, stopped by a signal, or an exception),
and the parent reads that record rather than the child's stderr. A child that leaves no record
(killed, or dead before Python could write it) is known by its exit status alone.

Stopping children is one rule too (:func:`stop_processes`): the stop signal, then SIGKILL after a
grace period for a child still running.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tfprof_m1.base.files import write_atomic
from tfprof_m1.report.model import RunConfig
from tfprof_m1.run.outputs import OutputSettings
from tfprof_m1.workloads.models import MODEL_NAMES

__all__ = [
    "GRACE_S",
    "RESULT_FILE",
    "Child",
    "ChildResult",
    "child_command",
    "config_argv",
    "output_argv",
    "read_result",
    "stop_processes",
    "write_result",
]

#: The option that names the file a child writes its :class:`ChildResult` to (not in ``--help``:
#: it is for parents, not people; ``tfprof_m1.cli.main`` takes it off the command line).
RESULT_FILE = "--result-file"
#: After the stop signal, how long a child may take to write what it measured before SIGKILL.
GRACE_S = 30.0


def config_argv(config: RunConfig) -> list[str]:
    """The run command's arguments that give ``config``: MODEL (``all`` for the three models in
    order), then the flag of each field that differs from its default (``--no-X`` for a True
    default turned off, ``--X`` for a False default turned on, ``--X VALUE`` otherwise).

    Args:
        config: the settings; ``replicas`` counts as default when it is the strategy's own default.

    Returns:
        The argv, e.g. ``["mnist", "--epochs", "2", "--no-fit"]``, that the run command's parser
        turns back into ``config``.

    Raises:
        ValueError: a setting no command line can give (several models other than all three, or a
            value None whose default is not None: a research-code report's "not known").
    """
    if list(config.models) == list(MODEL_NAMES):
        argv = ["all"]
    elif len(config.models) == 1:
        argv = [config.models[0]]
    else:
        raise ValueError(f"models {config.models}: the command line takes one model or all of them")
    defaults = dataclasses.replace(
        RunConfig(), replicas=RunConfig(strategy=config.strategy).replicas
    )  # the strategy decides replicas' default
    for field in dataclasses.fields(RunConfig):
        value, flag = getattr(config, field.name), field.metadata.get("flag")
        if flag is None or value == getattr(defaults, field.name):
            continue
        if value is None:
            raise ValueError(f"{field.name} None: not known, so no {flag} can give it")
        if isinstance(field.default, bool):
            if bool(value) == (not flag.startswith("--no-")):
                argv.append(flag)
        else:
            argv += [flag, str(value)]
    return argv


def output_argv(output: OutputSettings) -> list[str]:
    """The run command's arguments that give ``output``; ``--logdir`` is always given (a child's
    default ``runs/`` would be relative to wherever it started)."""
    if output.logdir is None:
        raise ValueError("logdir None: the command line always writes run directories")
    argv = ["--logdir", output.logdir]
    if not output.trace:
        argv.append("--no-trace")
    if output.trace_steps is not None:
        argv += ["--trace-steps", f"{output.trace_steps.start}:{output.trace_steps.stop}"]
    return argv


def child_command(
    config: RunConfig,
    output: OutputSettings,
    report: Path,
    result: Path,
    quiet: bool = False,
    verbose: bool = False,
) -> list[str]:
    """``python -m tfprof_m1`` with this interpreter: ``config`` and ``output`` as flags, the report
    to ``report`` (``--json``) and how the run ended to ``result`` (``--result-file``); ``verbose``:
    its C++ log lines left on its stderr, for the parent to filter (see
    :mod:`tfprof_m1.run.native_log`)."""
    return [
        sys.executable,
        "-m",
        "tfprof_m1",
        *config_argv(config),
        *output_argv(output),
        "--json",
        str(report),
        *(["--quiet"] if quiet else []),
        *(["--verbose"] if verbose else []),
        RESULT_FILE,
        str(result),
    ]


@dataclass(frozen=True)
class ChildResult:
    """How a ``python -m tfprof_m1`` process ended, as it wrote it (or as its exit status says).

    ``status`` is ``ok``, ``error`` (a one-line mistake or an output that could not be written:
    ``message`` is that line without the ``tfprof_m1: error:`` prefix), ``stopped`` (a stop signal:
    ``message`` is ``stopped by SIGTERM; written: ...``), ``crashed`` (an exception: ``message`` is
    its type and text; the traceback went to stderr) or ``lost`` (no record: killed, or dead before
    Python could write one).
    """

    status: str
    exit_status: int
    message: str = ""

    @property
    def line(self) -> str:
        """The line the child ended with on stderr (empty when it said nothing of its own)."""
        if not self.message:
            return ""
        if self.status == "error":
            return f"tfprof_m1: error: {self.message}"
        if self.status == "stopped":
            return f"tfprof_m1: {self.message}"
        return self.message

    def to_json(self) -> str:
        """The record as one JSON object (what ``--result-file`` holds)."""
        return json.dumps({"tool": "tfprof_m1", **dataclasses.asdict(self)})


def write_result(path: Path, result: ChildResult) -> None:
    """Write ``result`` to ``path`` atomically (the parent never reads half a record)."""
    write_atomic(path, result.to_json() + "\n")


def read_result(path: Path, returncode: int) -> ChildResult:
    """The record a child wrote to ``path``; when there is none (or it is not one), a ``lost``
    record with the child's exit status ``returncode`` (negative: the signal that killed it)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ChildResult(str(data["status"]), int(data["exit_status"]), str(data.get("message", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return ChildResult("lost", returncode)


class Child:
    """``with Child(config, output, report) as child:`` runs ``python -m tfprof_m1`` in a process of
    its own (:attr:`process`, a :class:`subprocess.Popen`); after it ends, :meth:`result` is how.

    Args:
        config, output: what it runs and where its outputs go.
        report: its ``--json`` report.
        quiet: ``--quiet`` (no progress on its stderr).
        verbose: ``--verbose`` (its C++ log lines on its stderr, for the parent to filter).
        env: its environment (default this process's).
        stdout, stderr: as :class:`subprocess.Popen` takes them (default: discarded; ``PIPE`` to
            relay its progress, read as text).
        new_session: a session of its own, so a Ctrl-C in the terminal reaches the parent only,
            which passes it on once (a child given two stops aborts without writing).
    """

    def __init__(
        self,
        config: RunConfig,
        output: OutputSettings,
        report: Path,
        *,
        quiet: bool = False,
        verbose: bool = False,
        env: Mapping[str, str] | None = None,
        stdout: int | IO[Any] | None = subprocess.DEVNULL,
        stderr: int | IO[Any] | None = subprocess.DEVNULL,
        new_session: bool = False,
    ) -> None:
        self.report = report
        self._scratch = tempfile.TemporaryDirectory(prefix="tfprof_m1-child-")
        self._result = Path(self._scratch.name) / "result.json"
        self.command = child_command(config, output, report, self._result, quiet, verbose)
        try:
            self.process = subprocess.Popen(
                self.command,
                stdout=stdout,
                stderr=stderr,
                text=True,
                errors="replace",
                env=dict(os.environ if env is None else env),
                start_new_session=new_session,
            )
        except BaseException:
            self._scratch.cleanup()
            raise

    def result(self) -> ChildResult:
        """How the child ended (waits for it): the record it wrote, else its exit status alone."""
        return read_result(self._result, self.process.wait())

    def close(self) -> None:
        """Remove the record's scratch directory (the child must have ended)."""
        self._scratch.cleanup()

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:  # left by an error in the parent: not left running alone
            stop_processes([self.process], signal.SIGTERM, GRACE_S)
        self.close()


def stop_processes(processes: Sequence[subprocess.Popen], signum: int, grace_s: float) -> list[bool]:
    """Send ``signum`` to the processes still running, then SIGKILL those still running after
    ``grace_s`` seconds; returns which were killed."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signum)
    deadline = time.monotonic() + grace_s
    killed = []
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
            killed.append(False)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            killed.append(True)
    return killed
