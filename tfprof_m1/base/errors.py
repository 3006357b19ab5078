"""The one exception type for user mistakes.

The CLI turns a :class:`UserError` into a single line on stderr and exit code 2; anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

from typing import TypeVar

__all__ = ["UserError", "required"]

T = TypeVar("T")


class UserError(Exception):
    """A problem the user can fix: bad argument, missing or corrupt file, absent device.

    The message is one line that names the input and says what to do.
    """


def required(value: T | None, flag: str) -> T:
    """``value``, a setting a benchmark run needs (a ``RunConfig`` field the CLI always fills; None only
    in a research-code report's config).

    Raises:
        UserError: ``value`` is None; the message names ``--flag``.
    """
    if value is None:
        raise UserError(f"--{flag}: a benchmark run needs a value")
    return value
