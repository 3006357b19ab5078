"""Safe reading and writing paths: every reader reads a bounded number of bytes from a regular file,
and every path the tool writes is a regular file it creates or the user named.

One place for the checks every command makes, so that ``show``, ``compare``, ``plot``, ``merge``,
``trace`` and the dataset readers refuse a device, a FIFO or an oversized file the same way, and
``--json``, ``plot -o`` and the run directories never replace a device, a FIFO, a symbolic link or
an input of the same run.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from tfprof_m1.base.errors import UserError

__all__ = [
    "check_output_dir",
    "check_output_file",
    "file_kind",
    "read_bounded",
    "refuse_inputs",
    "regular_size",
]


def file_kind(mode: int) -> str:
    """``a directory``, ``a FIFO``, ``a character device``... for an ``st_mode``, as messages say it."""
    kinds = (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def _open_regular(path: Path) -> tuple[int, os.stat_result]:
    """Open ``path`` for reading without blocking (a FIFO with no writer opens at once) and check
    that what was opened is a regular file. Raises OSError (missing, unreadable) or UserError."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    status = os.fstat(descriptor)
    if not stat.S_ISREG(status.st_mode):
        os.close(descriptor)
        inside = path / "report.json" if stat.S_ISDIR(status.st_mode) else None
        hint = f" (here, {inside})" if inside is not None and inside.is_file() else ""
        raise UserError(
            f"{path}: is {file_kind(status.st_mode)}, not a regular file; give the file itself{hint}"
        )
    return descriptor, status


def regular_size(path: Path, limit: int, what: str = "file") -> int:
    """The size in bytes of the regular file ``path``, refused if larger than ``limit``.

    Raises:
        OSError: missing or unreadable (the caller names what it expected there).
        UserError: not a regular file (directory, FIFO, device, socket), or larger than ``limit``.
    """
    descriptor, status = _open_regular(path)
    os.close(descriptor)
    _check_size(path, status.st_size, limit, what)
    return status.st_size


def _check_size(path: Path, size: int, limit: int, what: str) -> None:
    if size > limit:
        raise UserError(
            f"{path}: {size / 2**20:,.1f} MiB is larger than any {what} ({limit / 2**20:,.0f} MiB at most); "
            "is it the right file?"
        )


def read_bounded(path: str | os.PathLike, limit: int, what: str = "file") -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    The file is opened without blocking and checked with ``fstat`` on the open descriptor (so a
    symbolic link to ``/dev/zero`` or a FIFO is refused, not read forever), and no more than
    ``limit + 1`` bytes are ever read, even from a file that grows while it is read.

    Raises:
        OSError: missing or unreadable (the caller names what it expected there).
        UserError: not a regular file, or larger than ``limit`` bytes.
    """
    path = Path(path)
    descriptor, status = _open_regular(path)
    try:
        _check_size(path, status.st_size, limit, what)
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(descriptor, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    finally:
        os.close(descriptor)
    _check_size(path, total, limit, what)
    return b"".join(chunks)


def check_output_file(flag: str, path: str | os.PathLike) -> Path:
    """Refuse, before any work, an output path that is not a regular file the tool may replace.

    The tool writes a report or a figure by creating a temporary file beside ``path`` and renaming it
    over ``path`` (see :mod:`tfprof_m1.base.files`), which would replace whatever is there: so a
    device (``/dev/null``), a FIFO, a socket, a symbolic link (its target is not what is replaced) and a
    directory are refused, as is an empty path or one ending in ``/`` (a folder was meant).

    Raises:
        UserError: one line naming the flag, the path and what to give instead.
    """
    text = os.fspath(path)
    if not text.strip():
        raise UserError(f"{flag} '': give a file name, such as report.json")
    target = Path(text)
    try:
        status = os.lstat(target)
    except (FileNotFoundError, NotADirectoryError):  # new, or under a file (the folder check says so)
        status = None
    except OSError as error:
        raise UserError(f"{flag} {text}: cannot be checked ({error.strerror or error})") from None
    if status is not None and stat.S_ISDIR(status.st_mode):
        raise UserError(f"{flag} {text}: is a directory; give a file name such as {target / 'report.json'}")
    if text.endswith(("/", os.sep)):
        raise UserError(
            f"{flag} {text}: ends in '/', a directory; give a file name such as {target / 'report.json'}"
        )
    if status is None:
        return target
    if not stat.S_ISREG(status.st_mode):
        extra = f" to {os.readlink(target)}" if stat.S_ISLNK(status.st_mode) else ""
        raise UserError(
            f"{flag} {text}: is {file_kind(status.st_mode)}{extra}; the report is written as a regular "
            "file that replaces what is at the path, so give a regular file's path (or a new one)"
        )
    return target


def _existing_ancestor(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def check_output_dir(flag: str, path: str | os.PathLike) -> None:
    """Refuse, before any work, an output directory that cannot be made (or is there) and written.

    Permission bits are not enough (root passes ``os.access`` on ``/proc``, a read-only mount or a full
    quota say nothing through them): a folder is made and removed at once in the nearest existing
    ancestor, so the check is the operation the run will do.

    Raises:
        UserError: one line naming the flag, the path and why.
    """
    path = Path(path)
    ancestor = _existing_ancestor(path)
    if not ancestor.is_dir():
        where = "is a file" if ancestor == path else f"is under {ancestor}, which is a file"
        raise UserError(f"{flag} {path}: {where}; give a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {path}: {ancestor} is not writable; choose a directory you can write to")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".tfprof_m1-check-", dir=ancestor))
    except OSError as error:
        raise UserError(
            f"{flag} {path}: cannot create a folder in {ancestor} ({error.strerror or error}); "
            "choose a directory you can write to"
        ) from None


def refuse_inputs(flag: str, target: Path, inputs: Iterable[str | os.PathLike]) -> None:
    """Refuse an output path that is one of the run's own input files (the same file, by any name).

    Raises:
        UserError: naming the flag, the path and the input it would replace.
    """
    resolved = os.path.realpath(target)
    for source in inputs:
        same = os.path.realpath(source) == resolved
        if not same and os.path.exists(target) and os.path.exists(source):
            same = os.path.samefile(target, source)
        if same:
            raise UserError(
                f"{flag} {target}: is the run's own input {source}; writing the report there would "
                "replace it, choose another path"
            )
