"""What every command shares: a parser that fails in one line, whole-number option types, progress
lines, stdout, the exit statuses and the line a command ends with when it does not succeed."""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any

from tfprof_m1.base.errors import UserError
from tfprof_m1.collection.interrupt import exit_status, signal_name

__all__ = [
    "EXIT_USER_ERROR",
    "EXIT_WRITE_FAILED",
    "Parser",
    "closing",
    "end_with_error",
    "end_with_stop",
    "forget_closing",
    "positive",
    "say",
    "seed",
    "write_stdout",
]

#: The run finished but an output (run directory, --json, stdout) could not be written.
EXIT_WRITE_FAILED = 1
EXIT_USER_ERROR = 2


class Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line (no usage dump) through UserError, and takes no
    abbreviated options (``--epoch 2`` is an error, not ``--epochs 2``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UserError(f"{_shorter(message)} (see {self.prog} --help)")


def _shorter(message: str) -> str:
    """argparse's wordiest message, an invalid choice, said in fewer words so the line fits a
    terminal: ``argument --format: invalid choice: 'html' (choose from 'table', 'markdown')``
    becomes ``--format 'html': choose one of table, markdown``."""
    found = re.fullmatch(r"argument (\S+): invalid choice: (.+) \(choose from (.+)\)", message)
    if found is None:
        return message
    name, value, choices = found.groups()
    names = ", ".join(choice.strip().strip("'") for choice in choices.split(","))
    return f"{name.split('/')[0]} {value}: choose one of {names}"


def positive(text: str) -> int:
    """A whole number of 1 or more (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be 1 or more")
    return value


def seed(text: str) -> int:
    """A seed numpy and TensorFlow accept: a whole number from 0 to 2**32 - 1 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{value} must be from 0 to 4294967295 (a 32-bit seed)")
    return value


def say(line: str) -> None:
    """A progress line on stderr, whole (a line a message: logs and tests search them)."""
    print(line, file=sys.stderr, flush=True)


def write_stdout(text: str) -> None:
    """Print a rendered report; bytes of a path that are not UTF-8 are shown as the replacement
    character rather than failing the write."""
    sys.stdout.write(text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
    sys.stdout.flush()


#: The line the command ended with, as (status, message): kept for ``--result-file``.
_closing: list[tuple[str, str]] = []


def end_with_error(message: str) -> None:
    """Print ``tfprof_m1: error: MESSAGE`` on stderr, the one line a failing command ends with."""
    print(f"tfprof_m1: error: {message}", file=sys.stderr)
    _closing[:] = [("error", message)]


def end_with_stop(signum: int, written: str) -> int:
    """Print ``tfprof_m1: stopped by SIGNAL; written: ...`` (``written`` the files' summary, empty
    when nothing was written); returns the exit status of a run ended by ``signum``."""
    message = f"stopped by {signal_name(signum)}; " + (
        f"written: {written}" if written else "nothing was written"
    )
    print(f"tfprof_m1: {message}", file=sys.stderr)
    _closing[:] = [("stopped", message)]
    return exit_status(signum)


def closing() -> tuple[str, str] | None:
    """The (status, message) of the closing line printed since :func:`forget_closing`, if any."""
    return _closing[-1] if _closing else None


def forget_closing() -> None:
    """Start a command: no closing line printed yet."""
    _closing.clear()
