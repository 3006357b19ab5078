"""Command line: ``python -m tfprof_m1 MODEL`` runs a benchmark; ``show``, ``compare``, ``plot``,
``env``, ``trace``, ``sweep``, ``merge`` and ``launch`` are the other commands, one module each.

Argument parsing, ``--help`` and ``show`` do not import TensorFlow. A user mistake prints one line
on stderr and exits 2; a run stopped by Ctrl-C or SIGTERM writes what it measured and exits 130 or
143; a run whose outputs could not all be written exits 1 (see docs/usage.md, "When things go wrong").
Given ``--result-file PATH`` (as :mod:`tfprof_m1.run.child` gives its children), the command also
writes how it ended there as a JSON record.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from tfprof_m1.base.errors import UserError
from tfprof_m1.base.files import written
from tfprof_m1.cli.common import (
    EXIT_USER_ERROR,
    EXIT_WRITE_FAILED,
    closing,
    end_with_error,
    end_with_stop,
    forget_closing,
)
from tfprof_m1.cli.compare import cmd_compare
from tfprof_m1.cli.env import cmd_env
from tfprof_m1.cli.launch import cmd_launch
from tfprof_m1.cli.merge import cmd_merge
from tfprof_m1.cli.plot import cmd_plot
from tfprof_m1.cli.run import cmd_run
from tfprof_m1.cli.show import cmd_show
from tfprof_m1.cli.sweep import cmd_sweep
from tfprof_m1.cli.trace import cmd_trace
from tfprof_m1.collection.interrupt import InterruptGuard, exit_status, signal_of
from tfprof_m1.run.child import RESULT_FILE, ChildResult, write_result

__all__ = ["COMMANDS", "main"]

#: Every command but the run command (``python -m tfprof_m1 MODEL``), by name.
COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "show": cmd_show,
    "env": cmd_env,
    "compare": cmd_compare,
    "plot": cmd_plot,
    "trace": cmd_trace,
    "sweep": cmd_sweep,
    "merge": cmd_merge,
    "launch": cmd_launch,
}


def main(argv: Sequence[str] | None = None) -> int:
    """The entry point: dispatch to a command; a user mistake is one line and exit status 2, a stop signal
    128+signal."""
    args = list(sys.argv[1:] if argv is None else argv)
    forget_closing()
    if RESULT_FILE not in args[:-1]:
        return _dispatch(args)
    at = args.index(RESULT_FILE)
    result_file = Path(args[at + 1])
    try:
        status = _dispatch(args[:at] + args[at + 2 :])
    except Exception as error:  # the traceback still goes to stderr; the parent gets its last line
        _write_result(
            result_file, ChildResult("crashed", EXIT_WRITE_FAILED, f"{type(error).__name__}: {error}")
        )
        raise
    ended = closing()
    if status == 0:
        _write_result(result_file, ChildResult("ok", 0))
    elif ended is not None:
        _write_result(result_file, ChildResult(ended[0], status, ended[1]))
    else:  # a command that said why in lines of its own (a sweep's failed points, a launch's workers)
        stopped = status in (exit_status(signal.SIGINT), exit_status(signal.SIGTERM))
        _write_result(result_file, ChildResult("stopped" if stopped else "error", status))
    return status


def _write_result(path: Path, result: ChildResult) -> None:
    try:
        write_result(path, result)
    except OSError as error:
        print(f"tfprof_m1: error: {RESULT_FILE} {path}: {error.strerror or error}", file=sys.stderr)


def _dispatch(argv: list[str]) -> int:
    command = COMMANDS.get(argv[0]) if argv else None
    # Ctrl-C and SIGTERM (timeout, docker stop, Slurm) end a run cleanly: finished epochs reported,
    # the trace saved; a second one aborts at once.
    guard = InterruptGuard(signals=(signal.SIGINT, signal.SIGTERM), abort_on_second=True)
    try:
        with guard:
            status = command(argv[1:]) if command is not None else cmd_run(argv)
            if guard.received is None or status != exit_status(guard.received):
                guard.check()  # a stop Python swallowed (raised in a __del__) still ends the run as a stop
            return status
    except UserError as error:
        end_with_error(str(error))
        return EXIT_USER_ERROR
    except KeyboardInterrupt as error:  # outside a model's run (cmd_run handles those): say what is on disk
        return end_with_stop(signal_of(error), ", ".join(written()))
    except BrokenPipeError:
        return 0
    except OSError as error:  # stdout itself failed (a full disk under a redirection)
        end_with_error(f"could not write the output: {error.strerror or error}")
        return EXIT_WRITE_FAILED
