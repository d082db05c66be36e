"""The Clip contract shared by every dataset plugin, and its Parquet table (`clips.parquet`)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from humanvid.atomic import atomic_file

CLIP_SCHEMA = pa.schema(
    [
        ("dataset", pa.string()),
        ("clip_id", pa.string()),
        ("identity", pa.string()),
        ("split", pa.string()),  # "train" | "test"
        ("fps", pa.float64()),
        ("num_frames", pa.int32()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("source", pa.string()),  # mp4 path relative to the dataset's raw directory
        ("status", pa.string()),  # "ok" | "failed"
        ("error", pa.string()),  # why it failed ("" when ok)
    ]
)


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
    table = pa.Table.from_pylist([asdict(c) for c in clips], schema=CLIP_SCHEMA)
    with atomic_file(path) as tmp:
        pq.write_table(table, tmp)


def read_clip_table(path: str | os.PathLike) -> list[Clip]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: clip table not found (has the download stage run?)")
    table = pq.read_table(path)
    missing = set(CLIP_SCHEMA.names) - set(table.column_names)
    if missing:
        raise ValueError(f"{path}: clip table lacks columns {sorted(missing)}")
    names = [f.name for f in fields(Clip)]
    return [Clip(**{k: row[k] for k in names}) for row in table.to_pylist()]
