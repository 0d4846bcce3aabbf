"""Files replaced whole or not at all: written beside their place, then renamed over it.

A run's reports (HTML, JUnit XML, JSON) are written to ``<name>.partial``, flushed to disk
and renamed over ``<name>`` (atomic on one file system): a process killed at any moment
leaves the previous file whole, or the new one whole, never a half-written one. The HDF5
result has its own, longer path (:func:`twin.core.results.finish`).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from twin.core.errors import UserError

__all__ = ["write_bytes", "write_text"]


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Replace the file at ``path`` by ``data`` atomically; return ``path``.

    Raises :class:`twin.core.errors.UserError` in one line where it cannot be written (the
    previous file is then kept).
    """
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    try:
        with partial.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        partial.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise UserError(f"{path}: cannot write ({exc.strerror or exc}); the previous file, "
                        "if any, is kept") from None
    with contextlib.suppress(OSError):  # the rename itself on disk
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Replace the file at ``path`` by UTF-8 ``text`` atomically (:func:`write_bytes`)."""
    return write_bytes(path, text.encode("utf-8"))
