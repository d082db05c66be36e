"""`weights.lock`: the sha256 of every file of every released weight, recorded the first time it is fetched (or,
for a file placed by hand, verified: `humanvid weights verify`), committed beside params.yaml, and checked on every
later load — so a table's numbers are
tied to exact bytes, and a weight that changed (a re-upload, a corrupted download, a different file placed by
hand) is refused with both digests instead of silently changing results.

The lock is JSON, one entry per weight name:

    {"sd15": {"source": "hf://…", "revision": "<hub commit or null>", "files": {"unet/…safetensors": "<sha256>", …}}}

Hashing a multi-gigabyte folder on every load would cost seconds, so digests are cached per machine beside the
weight cache, keyed by the file's path, size and modification time (as DVC does): a file that is touched is
hashed again. No torch here.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from humanvid.atomic import write_text

SKIPPED_DIRS = {".cache", ".git", ".huggingface", "__pycache__"}
"""Folders inside a weight that are bookkeeping of the tool that fetched it, not the weight."""


class WeightDigestError(ValueError):
    """A weight's bytes differ from what `weights.lock` recorded (the message names the file and both digests)."""


def lock_path() -> Path:
    """The lock in use: `$HUMANVID_WEIGHTS_LOCK`, which every stage and the CLI set to `<workspace>/weights.lock`;
    `weights.lock` in the current directory otherwise."""
    return Path(os.environ.get("HUMANVID_WEIGHTS_LOCK") or "weights.lock")


def weight_files(path: Path) -> Iterator[tuple[str, Path]]:
    """(name in the lock, file) for a single-file weight or every file of a folder weight, sorted."""
    if path.is_file():
        yield path.name, path
        return
    for f in sorted(path.rglob("*")):
        rel = f.relative_to(path)
        if f.is_file() and not SKIPPED_DIRS.intersection(rel.parts[:-1]):
            yield rel.as_posix(), f


class DigestCache:
    """sha256 by (real path, size, mtime): one machine's memory of files it has hashed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.entries: dict[str, list] = json.loads(path.read_text())
        except (OSError, ValueError):
            self.entries = {}
        self.dirty = False

    def digest(self, file: Path) -> str:
        real = os.path.realpath(file)
        st = os.stat(real)
        key = [st.st_size, st.st_mtime_ns]
        hit = self.entries.get(real)
        if hit and hit[:2] == key:
            return hit[2]
        from humanvid.datasets.fetch import sha256_of

        value = sha256_of(Path(real))
        self.entries[real] = [*key, value]
        self.dirty = True
        return value

    def save(self) -> None:
        if self.dirty:
            write_text(self.path, json.dumps(self.entries))


def digests(path: Path, cache: DigestCache) -> dict[str, str]:
    """Name in the lock -> sha256, for every file of a weight."""
    out = {rel: cache.digest(f) for rel, f in weight_files(path)}
    cache.save()
    return out


def tree_digest(files: dict[str, str]) -> str:
    """One digest for a whole weight (what a report cites): sha256 over its sorted `name sha256` lines."""
    return hashlib.sha256("".join(f"{k} {v}\n" for k, v in sorted(files.items())).encode()).hexdigest()


def read_lock(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise WeightDigestError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise WeightDigestError(f"{path}: expected an object of weight name -> entry")
    return data


@contextmanager
def _locked(path: Path):
    """An exclusive lock on `<lock>.flock` while reading, merging and writing the lock (stages run in parallel)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".flock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def mismatch(name: str, recorded: dict[str, str], found: dict[str, str], lock: Path) -> str | None:
    """What differs between the recorded and the found files of a weight, or None."""
    problems = []
    for rel in sorted(set(recorded) | set(found)):
        if rel not in found:
            problems.append(f"{rel}: missing (recorded sha256 {recorded[rel]})")
        elif rel not in recorded:
            problems.append(f"{rel}: not in the lock (sha256 {found[rel]})")
        elif recorded[rel] != found[rel]:
            problems.append(f"{rel}: sha256 {found[rel]}, {lock} recorded {recorded[rel]}")
    if not problems:
        return None
    return (f"weight {name!r} differs from {lock}: " + "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
            + f". If the new bytes are intended, delete its entry from {lock} and load it again.")  # fmt: skip


def check_or_record(name: str, path: Path, source: str, cache: DigestCache, revision: str | None = None, lock: Path | None = None,
                    record: bool = True) -> dict[str, str] | None:  # fmt: skip
    """Refuse a weight's files (`WeightDigestError`) if the lock recorded other bytes; if it has no entry for `name`
    yet, record them (`record`) or leave them unpinned. -> the files' digests (None: unpinned, not hashed)."""
    lock = lock or lock_path()
    recorded = read_lock(lock).get(name)
    if recorded is None and not record:
        return None
    found = digests(path, cache)
    if not found:
        raise WeightDigestError(f"weight {name!r}: {path} holds no file")
    if recorded is not None:
        problem = mismatch(name, recorded.get("files", {}), found, lock)
        if problem:
            raise WeightDigestError(problem)
        return found
    with _locked(lock):
        entries = read_lock(lock)  # again, under the lock: another stage may have recorded it meanwhile
        if name in entries:
            problem = mismatch(name, entries[name].get("files", {}), found, lock)
            if problem:
                raise WeightDigestError(problem)
            return found
        entries[name] = {"source": source, "revision": revision, "files": found}
        write_text(lock, json.dumps(entries, indent=2, sort_keys=True) + "\n")
    return found
