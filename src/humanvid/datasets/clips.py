"""The Clip contract shared by every dataset plugin, and its Parquet table (`clips.parquet`)."""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from humanvid.atomic import atomic_file

# Column -> Arrow type name; pyarrow itself is imported only when a table is read or written.
CLIP_COLUMNS = {
    "dataset": "string",
    "clip_id": "string",
    "identity": "string",
    "split": "string",  # "train" | "test"
    "fps": "float64",
    "num_frames": "int32",
    "width": "int32",
    "height": "int32",
    "source": "string",  # mp4 path relative to the dataset's raw directory
    "status": "string",  # "ok" | "failed"
    "error": "string",  # why it failed ("" when ok)
}


def clip_schema():
    import pyarrow as pa

    return pa.schema([(name, getattr(pa, kind)()) for name, kind in CLIP_COLUMNS.items()])


@dataclass(frozen=True)
class Clip:
    """One video clip of one identity, as every later stage sees it."""

    dataset: str
    clip_id: str
    identity: str
    split: str
    fps: float
    num_frames: int
    width: int
    height: int
    source: str
    status: str = "ok"
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


FLIP_SUFFIX = "_flip"
"""A mirrored training copy is its original's clip id plus this (same identity, same split)."""


def mirrored(split: str, flip: bool) -> bool:
    """Whether a dataset whose option `flip` is set writes a mirrored copy of a clip of this split: training
    clips only. Augmentation never touches a test split — mirrored copies would double the test set with
    near-duplicates and change every number measured on it."""
    return flip and split == "train"


CLIP_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
"""A clip id: it names files (`clips/{id}.mp4`, conditions, samples), so letters, digits, `_`, `-` and `.`,
not starting with `.` or `-`, no `..`."""


def check_clip_ids(clips: list[Clip], dataset: str) -> None:
    """Every plugin's clips, checked by the shared ingest path: ids valid as file names and unique (two clips
    with one id would write one file, the later over the earlier)."""
    seen: dict[str, Clip] = {}
    for c in clips:
        if not CLIP_ID.match(c.clip_id) or ".." in c.clip_id:
            raise ValueError(f"dataset {dataset!r}: clip id {c.clip_id!r} (from {c.source}) cannot name a file: "
                             "letters, digits, '_', '-' and '.' only, not starting with '.' or '-'")  # fmt: skip
        if c.clip_id in seen:
            raise ValueError(f"dataset {dataset!r}: two clips have the id {c.clip_id!r}: from {seen[c.clip_id].source} and from {c.source}; "
                             "the later would overwrite the earlier")  # fmt: skip
        seen[c.clip_id] = c


def write_clip_table(path: str | os.PathLike, clips: list[Clip]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([asdict(c) for c in clips], schema=clip_schema())
    with atomic_file(path) as tmp:
        pq.write_table(table, tmp)


def read_clip_table(path: str | os.PathLike) -> list[Clip]:
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: clip table not found (has the download stage run?)")
    table = pq.read_table(path)
    missing = set(CLIP_COLUMNS) - set(table.column_names)
    if missing:
        raise ValueError(f"{path}: clip table lacks columns {sorted(missing)}")
    names = [f.name for f in fields(Clip)]
    return [Clip(**{k: row[k] for k in names}) for row in table.to_pylist()]
