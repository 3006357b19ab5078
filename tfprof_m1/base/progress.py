"""The one progress-callback type: what every layer is given to tell a person how a run goes."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Progress"]

#: A callback given one line of text (no newline) to show a person: the CLI writes it to stderr,
#: research code may log it or pass None for silence where a parameter is optional.
Progress = Callable[[str], None]
