"""Write a dataset's clips and conditions as Parquet shards v1 plus a global index."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from humanvid.config import ShardConfig
from humanvid.datasets.clips import Clip
from humanvid.datasets.fetch import sha256_of
from humanvid.disk import reraise_if_disk_full
from humanvid.shards.codec import depth_to_plane, encode_jpeg, encode_plane
from humanvid.shards.schema import (
    IMAGE_CONDITIONS,
    INDEX_FILE,
    INDEX_SCHEMA,
    MANIFEST_FILE,
    SCHEMA_VERSION,
    shard_schema,
)


@dataclass
class ShardSummary:
    rows: int = 0
    clips: int = 0
    files: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)  # clip_id, stage, error


def _window_rows(clip: Clip, frames: np.ndarray, conditions: dict[str, np.ndarray], cfg: ShardConfig) -> Iterator[dict]:
    t = len(frames)
    for w, start in enumerate(range(0, t, cfg.window_frames)):
        stop = min(start + cfg.window_frames, t)
        row = {
            "dataset": clip.dataset, "clip_id": clip.clip_id, "identity": clip.identity, "split": clip.split,
            "window_index": w, "frame_start": start, "num_frames": stop - start,
            "fps": clip.fps, "width": frames.shape[2], "height": frames.shape[1],
            "frames": [encode_jpeg(f, cfg.jpeg_quality) for f in frames[start:stop]],
        }  # fmt: skip
        for name, value in conditions.items():
            part = value[start:stop]
            if name == "depth":
                row[name] = [depth_to_plane(d) for d in part]
            elif name in IMAGE_CONDITIONS:
                row[name] = [encode_plane(d) for d in part]
            else:  # keypoints, SMPL-X parameters: one flat float list per frame
                row[name] = [k.reshape(-1).astype(np.float32) for k in part]
        yield row


def write_shards(
    out_dir: Path,
    clips: list[Clip],
    read_frames: Callable[[Clip], np.ndarray],
    read_conditions: Callable[[Clip], dict[str, np.ndarray]],
    conditions: dict[str, dict],
    cfg: ShardConfig,
    progress: Callable[[str], None] = print,
) -> ShardSummary:
    """Shard every ok clip into `out_dir` (which should be a scratch dir published atomically).

    `conditions` maps condition name -> {"estimator", "ground_truth"} and fixes the columns. A clip whose
    video or conditions cannot be read is recorded in the manifest (stage, error) and left out.
    """
    out_dir = Path(out_dir)
    schema = shard_schema(conditions)
    summary = ShardSummary()
    index_rows: list[dict] = []
    buffer: list[dict] = []

    def flush() -> None:
        if not buffer:
            return
        name = f"shard-{len(summary.files):05d}.parquet"
        table = pa.Table.from_pylist(buffer, schema=schema)
        # JPEG and zstd records do not compress further: leave those columns uncompressed and undictionaried.
        binary_cols = [f.name for f in schema if pa.types.is_list(f.type) and pa.types.is_binary(f.type.value_type)]
        compression = {c: ("NONE" if c in binary_cols else "ZSTD") for c in schema.names}
        pq.write_table(table, out_dir / name, row_group_size=cfg.rows_per_group, compression=compression,
                       use_dictionary=[c for c in schema.names if c not in binary_cols])  # fmt: skip
        for i, row in enumerate(buffer):
            index_rows.append({
                "row": summary.rows + i, "shard": name,
                "row_group": i // cfg.rows_per_group, "row_in_group": i % cfg.rows_per_group,
                **{k: row[k] for k in ("dataset", "clip_id", "identity", "split", "window_index", "frame_start", "num_frames")},
            })  # fmt: skip
        summary.rows += len(buffer)
        summary.files.append(name)
        buffer.clear()

    for n, clip in enumerate(clips, 1):
        if not clip.ok:
            summary.failed.append({"clip_id": clip.clip_id, "stage": "download", "error": clip.error})
            continue
        try:
            conds = read_conditions(clip)  # first: a clip an estimator failed on is reported as that failure
            frames = read_frames(clip)
            missing = set(conditions) - set(conds)
            if missing:
                raise KeyError(f"conditions {sorted(missing)} missing")
            for name, value in conds.items():
                if len(value) != len(frames):
                    raise ValueError(f"condition {name!r} has {len(value)} frames, the video {len(frames)}")
            rows = list(_window_rows(clip, frames, {k: conds[k] for k in conditions}, cfg))
        except Exception as exc:  # one bad clip is data: record it, shard the rest
            reraise_if_disk_full(exc)
            stage = getattr(exc, "stage", "shard")
            summary.failed.append({"clip_id": clip.clip_id, "stage": stage, "error": f"{type(exc).__name__}: {exc}"})
            progress(f"shard: clip {n}/{len(clips)} {clip.clip_id} FAILED: {exc}")
            continue
        for row in rows:
            buffer.append(row)
            if len(buffer) >= cfg.rows_per_file:
                flush()
        summary.clips += 1
        progress(f"shard: clip {n}/{len(clips)} {clip.clip_id} -> {len(rows)} rows")
    flush()

    pq.write_table(pa.Table.from_pylist(index_rows, schema=INDEX_SCHEMA), out_dir / INDEX_FILE)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "rows": summary.rows,
        "clips": summary.clips,
        "files": summary.files,
        "sha256": {name: sha256_of(out_dir / name) for name in summary.files + [INDEX_FILE]},
        "conditions": conditions,
        "failed": summary.failed,
    }
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return summary
