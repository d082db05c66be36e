"""A full disk is one clear error: checked before writes whose size is known, and every ENOSPC that a write
meets becomes `DiskFull` naming what was being written, how much it needed (when known) and how much is free.

A per-item handler ("one bad clip is data") must not record a full disk as one clip's failure and go on
to fail every other clip the same way: it calls `reraise_if_disk_full(exc)` first.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path
from typing import Iterator

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
MARGIN = 1.1
"""Free space asked for beyond a known size: file-system metadata and the writer's own overhead."""


def _mb(n: float) -> str:
    if n >= 1e9:
        return f"{n / 1e9:,.2f} GB"
    return f"{n / 1e6:,.1f} MB" if n >= 1e5 else f"{n / 1e3:,.1f} kB"


def free_bytes(path: str | os.PathLike) -> int:
    """Free bytes on the file system that holds `path` (or its nearest existing parent)."""
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free


class DiskFull(OSError):
    """No room to write `what`: `needed` bytes (None when unknown), `free` bytes left where it was written."""

    def __init__(self, what: str | os.PathLike, free: int, needed: int | None = None, remedy: str = "free some space and run again") -> None:
        super().__init__(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.what, self.free, self.needed, self.remedy = str(what), free, needed, remedy

    def __str__(self) -> str:
        need = f"needs ~{_mb(self.needed)}, " if self.needed is not None else ""
        return f"disk full while writing {self.what} ({need}{_mb(self.free)} free); {self.remedy}"


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS


def reraise_if_disk_full(exc: BaseException) -> None:
    """In a handler that records per-item failures: a full disk is not the item's fault and stops the stage."""
    if isinstance(exc, DiskFull):
        raise exc
    if is_disk_full(exc):
        where = exc.filename or "an output"
        raise DiskFull(where, free_bytes(where)) from exc


def require_free(path: str | os.PathLike, needed: int, what: str | os.PathLike | None = None) -> None:
    """Refuse before writing `needed` bytes at `path` when they (with a 10 % margin) do not fit."""
    free = free_bytes(path)
    if needed * MARGIN > free:
        raise DiskFull(what if what is not None else path, free, needed)


@contextlib.contextmanager
def named_disk_full(what: str | os.PathLike, needed: int | None = None) -> Iterator[None]:
    """Turn an ENOSPC raised in the block into `DiskFull(what, ...)`; the caller removes the partial output."""
    try:
        yield
    except OSError as exc:
        if isinstance(exc, DiskFull) or not is_disk_full(exc):
            raise
        raise DiskFull(what, free_bytes(what), needed) from exc
