"""Outputs appear atomically: write aside, then rename, so a killed stage (or a full disk) leaves nothing that
looks done and no partial scratch behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator

from humanvid.disk import named_disk_full, require_free


def _aside(path: Path) -> Path:
    return path.parent / f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, size: int | None = None) -> Iterator[Path]:
    """Yield an empty scratch directory that replaces `path` only if the block finishes. With `size` (bytes
    the block will write), a disk without room refuses first; an ENOSPC in the block is `DiskFull` naming
    `path`, and the scratch is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if size is not None:
        require_free(path.parent, size, path)
    # Scratch left by a killed earlier run (one `dvc repro` per workspace at a time makes this safe).
    for stale in path.parent.glob(f".{path.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = _aside(path)
    tmp.mkdir()
    try:
        with named_disk_full(path, size):
            yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        # Move the old one aside first so that `path` is never a half-deleted directory.
        old = _aside(path)
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, size: int | None = None) -> Iterator[Path]:
    """Yield a scratch file path (same directory, same suffix) renamed onto `path` on success; `size` and a
    full disk as for `atomic_dir`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if size is not None:
        require_free(path.parent, size, path)
    tmp = _aside(path).with_suffix(path.suffix)
    try:
        with named_disk_full(path, size):
            yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(text)
