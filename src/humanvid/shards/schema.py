"""Parquet shard schema v2 (documented in docs/shards.md; v1 stored image conditions as PNG).

One row per clip window: consecutive frames of one clip, as JPEG bytes, with per-frame condition
columns and clip metadata. Conditions present depend on the dataset's estimators; which estimator made
each, and whether it is ground truth, is in the file metadata.
"""

from __future__ import annotations

import json

import pyarrow as pa

SCHEMA_VERSION = 2
META_VERSION = b"humanvid.schema_version"
META_CONDITIONS = b"humanvid.conditions"  # JSON: condition -> {"estimator": name, "ground_truth": bool}
META_DEPTH_SCALE = b"humanvid.depth_scale"  # metres per unit of the 16-bit depth maps

DEPTH_SCALE = 0.001  # 16-bit depth maps hold millimetres (0 = no depth; max 65.535 m)
INDEX_FILE = "index.parquet"
MANIFEST_FILE = "manifest.json"

METADATA_FIELDS = [
    pa.field("dataset", pa.string()),
    pa.field("clip_id", pa.string()),
    pa.field("identity", pa.string()),
    pa.field("split", pa.string()),
    pa.field("window_index", pa.int32()),
    pa.field("frame_start", pa.int32()),
    pa.field("num_frames", pa.int32()),
    pa.field("fps", pa.float64()),
    pa.field("width", pa.int32()),
    pa.field("height", pa.int32()),
]
FRAMES_FIELD = pa.field("frames", pa.list_(pa.binary()))  # JPEG per frame, column stored uncompressed

# Condition columns: keypoints and parameters as fixed-size float lists per frame; image conditions as
# `codec.encode_plane` records per frame (a 14-byte header, then the zstd-compressed array).
CONDITION_FIELDS = {
    "openpose18": pa.field("openpose18", pa.list_(pa.list_(pa.float32(), 18 * 3))),
    "wholebody133": pa.field("wholebody133", pa.list_(pa.list_(pa.float32(), 133 * 3))),
    "depth": pa.field("depth", pa.list_(pa.binary())),  # uint16 plane, DEPTH_SCALE metres per unit
    "alpha": pa.field("alpha", pa.list_(pa.binary())),  # uint8 plane
    "densepose": pa.field("densepose", pa.list_(pa.binary())),  # uint8 (H, W, 3): I, U, V
    "smplx": pa.field("smplx", pa.list_(pa.list_(pa.float32(), 119))),  # humanvid.body.params.LAYOUT
    "mesh_normals": pa.field("mesh_normals", pa.list_(pa.binary())),  # uint8 (H, W, 3): shaded normals
}
IMAGE_CONDITIONS = ("depth", "alpha", "densepose", "mesh_normals")
KEYPOINT_CONDITIONS = {"openpose18": 18, "wholebody133": 133}
ARRAY_CONDITIONS: dict[str, tuple[int, ...]] = {"openpose18": (18, 3), "wholebody133": (133, 3), "smplx": (119,)}
"""Conditions stored as a fixed-size float list per frame, with the per-frame shape they unflatten to."""

INDEX_SCHEMA = pa.schema(
    [
        ("row", pa.int64()),  # global row number across the dataset's shards
        ("shard", pa.string()),  # file name
        ("row_group", pa.int32()),
        ("row_in_group", pa.int32()),
        ("dataset", pa.string()),
        ("clip_id", pa.string()),
        ("identity", pa.string()),
        ("split", pa.string()),
        ("window_index", pa.int32()),
        ("frame_start", pa.int32()),
        ("num_frames", pa.int32()),
    ]
)


def shard_schema(conditions: dict[str, dict]) -> pa.Schema:
    """The row schema for a dataset with the given conditions (see META_CONDITIONS)."""
    unknown = set(conditions) - set(CONDITION_FIELDS)
    if unknown:
        raise ValueError(f"unknown condition columns {sorted(unknown)}; known: {', '.join(CONDITION_FIELDS)}")
    fields = METADATA_FIELDS + [FRAMES_FIELD] + [CONDITION_FIELDS[c] for c in CONDITION_FIELDS if c in conditions]
    meta = {
        META_VERSION: str(SCHEMA_VERSION).encode(),
        META_CONDITIONS: json.dumps(conditions, sort_keys=True).encode(),
        META_DEPTH_SCALE: str(DEPTH_SCALE).encode(),
    }
    return pa.schema(fields, metadata=meta)
