"""One humanvid command at a time per workspace.

DVC allows one `dvc repro` per workspace, and a second one fails deep inside with a `LockError`. Every
humanvid command that runs stages or writes the workspace (`reproduce`, `stage`, `plan`) first takes the
workspace lock — an exclusive `flock` on `.humanvid/lock`, released by the kernel when its process ends,
however it ends — and writes who holds it (pid, command, since) into the file. A second command waits,
saying for whom, or with `--no-wait` refuses at once in one line.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

LOCK_FILE = Path(".humanvid") / "lock"


class WorkspaceBusy(RuntimeError):
    """Another humanvid command holds the workspace (with --no-wait)."""


def holder(root: Path) -> str:
    """Who holds (or last held) the lock, in words."""
    try:
        info = json.loads((root / LOCK_FILE).read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "another humanvid command"
    since = time.strftime("%H:%M:%S", time.localtime(info.get("since", 0)))
    return f"`{info.get('command', 'humanvid')}` (pid {info.get('pid', '?')}, since {since})"


@contextlib.contextmanager
def workspace_lock(root: str | os.PathLike, command: str, wait: bool = True, say: Callable[[str], None] = print) -> Iterator[None]:
    root = Path(root)
    path = root / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            who = holder(root)
            if not wait:
                raise WorkspaceBusy(f"{root}: busy: {who} is running in this workspace; run again when it has finished "
                                    "(or without --no-wait to wait for it)") from None  # fmt: skip
            say(f"humanvid: waiting for {who} to finish in {root} ...")
            fcntl.flock(fh, fcntl.LOCK_EX)
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"pid": os.getpid(), "command": command, "since": time.time()}))
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
