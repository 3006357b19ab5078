"""Atomic file writing: a reader sees the old file or the new one, never half of one.

Every output the tool writes (reports, run directories' files, figures) goes through here.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "write_atomic", "written"]


@contextlib.contextmanager
def atomic_path(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; when the block succeeds it replaces ``path``
    (so a reader sees the old file or the new one, never half), when it fails it is removed.

    Only a regular file (or nothing) at ``path`` is ever replaced: a device, a FIFO, a socket, a
    directory or a symbolic link there raises ``OSError`` (EEXIST) and is left as it is (checked before
    the block and again just before the rename). Each path replaced is recorded for :func:`written`.
    """
    _refuse_special(path)
    if path.parent.exists() and not path.parent.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path.parent))
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(handle)
    try:
        yield Path(temporary)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; the output is an ordinary file
        _refuse_special(path)
        os.replace(temporary, path)
        if str(path) not in _written:
            _written.append(str(path))
    finally:
        Path(temporary).unlink(missing_ok=True)


#: Every path this process replaced through atomic_path, in order.
_written: list[str] = []


def written() -> list[str]:
    """The paths this process has written (each complete, in the order first written)."""
    return list(_written)


def _refuse_special(path: Path) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        from tfprof_m1.base.safe_io import file_kind

        raise FileExistsError(
            errno.EEXIST, f"is {file_kind(mode)}, left as it is (only a regular file is replaced)", str(path)
        )


def write_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`), flushed to disk."""
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
