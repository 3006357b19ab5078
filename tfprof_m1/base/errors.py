"""The one exception type for user mistakes.

The CLI turns a :class:`UserError` into a single line on stderr and exit code 2; anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["UserError"]


class UserError(Exception):
    """A problem the user can fix: bad argument, missing or corrupt file, absent device.

    The message is one line that names the input and says what to do.
    """
