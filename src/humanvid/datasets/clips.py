"""The Clip contract shared by every dataset plugin, and its Parquet table (`clips.parquet`)."""

from __future__ import annotations

import os
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
