"""Atomic file writing: a reader sees the old file or the new one, never half of one.

Every output the tool writes (reports, run directories' files, figures) goes through here.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; when the block succeeds it replaces ``path``
    (so a reader sees the old file or the new one, never half), when it fails it is removed."""
    if path.parent.exists() and not path.parent.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path.parent))
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(handle)
    try:
        yield Path(temporary)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; the output is an ordinary file
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


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
