"""Atomic file writes: a failed or interrupted write never destroys a previous good file.

Every file glassnet writes for a user (checkpoints, pages, reports, plots) goes through
:func:`atomic_write`: the bytes go to a temporary file in the target's own folder (same file
system, so the final ``os.replace`` is atomic), are flushed and fsynced, and only then replace
the target. On any error — a full disk, Ctrl-C, an exception in the caller's block — the
temporary file is removed and the target is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str], mode: str = "wb", **open_kw: Any
) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success it becomes ``path`` atomically.

    Args:
        path: the file to (re)write. Its folder must exist.
        mode: ``"wb"`` or ``"w"`` (text; ``open_kw`` such as ``encoding``/``newline`` apply).
        **open_kw: passed to :func:`open` for the temporary file.

    Yields:
        The open temporary file. Write to it; do not close it.

    Raises:
        ValueError: ``mode`` is not a write mode.
        OSError: the folder is missing or not writable, the disk is full, ...; the target is
            then unchanged.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write: mode {mode!r} is not 'w' or 'wb'")
    target = Path(path)
    # A name of our own (not mkstemp) so the file gets the usual umask permissions, not 0600;
    # O_EXCL so two writers never share a temporary file.
    tmp = target.parent / f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, mode, **open_kw) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path, "w", encoding=encoding, newline="") as fh:
        fh.write(text)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path, "wb") as fh:
        fh.write(data)
