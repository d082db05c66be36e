"""`laion_human`: a list of human image URLs (LAION-style) -> one-frame clips, for image-joint training.

The list is a .parquet or .csv with a `url` column and optionally `key` (a stable id) and `sha256`.
Images download in parallel (img2dataset style) into the download cache, each with its own status; a
re-run fetches only the images still missing. Each image becomes a one-frame clip.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pydantic import Field

from humanvid.datasets.base import DatasetPlugin, PluginOptions, Progress
from humanvid.datasets.clips import Clip
from humanvid.datasets.transcode import FrameFormat, shape_frame, write_clip
from humanvid.disk import reraise_if_disk_full


class LaionOptions(PluginOptions):
    urls: str
    """Path of the URL list (.parquet or .csv) with a `url` column; optional `key`, `sha256`."""
    workers: int = Field(8, ge=1, le=64)
    """Parallel downloads (kept modest: be polite to the hosts)."""
    limit: int | None = Field(None, ge=1)
    """Take only the first this many rows."""
    timeout: float = Field(20.0, gt=0)
    """Seconds a connection may stall."""
    retries: int = Field(2, ge=0)
    """Retries per image on transient errors."""
    format: FrameFormat = Field(default_factory=lambda: FrameFormat(size=512))
    """Crop/resize of each image (default: centre square, 512)."""
    split: str = "train"
    """All images go to this split."""
    crf: int = Field(12, ge=0, le=51)


def read_url_list(path: Path) -> list[dict]:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"URL list {path} not found")
    table = pq.read_table(path) if path.suffix == ".parquet" else pacsv.read_csv(path)
    if "url" not in table.column_names:
        raise ValueError(f"{path}: needs a `url` column, has {table.column_names}")
    rows = table.to_pylist()
    first_row: dict[str, int] = {}
    for i, row in enumerate(rows):
        row["key"] = str(row.get("key") or hashlib.sha1(row["url"].encode()).hexdigest()[:16])
        row["row"] = i
        if row["key"] in first_row:  # keys become clip ids: a duplicate would silently overwrite a clip
            raise ValueError(f"{path}: key {row['key']!r} repeats (rows {first_row[row['key']] + 2} and {i + 2})")
        first_row[row["key"]] = i
    return rows


class LaionHuman(DatasetPlugin):
    Options = LaionOptions

    def ingest(self, out_dir: Path, progress: Progress = print, cache_dir: Path | None = None) -> list[Clip]:
        from humanvid.datasets.fetch import FetchPolicy, fetch

        o = self.options
        if cache_dir is None:
            raise ValueError(f"dataset {self.name!r}: a download cache folder is needed")
        rows = read_url_list(Path(o.urls))[: o.limit]
        policy = FetchPolicy(retries=o.retries, timeout=o.timeout, backoff=0.5)

        def one(row: dict) -> Clip:
            key, rel = row["key"], f"clips/{row['key']}.mp4"
            try:
                image = fetch(row["url"], cache_dir / "images" / key, row.get("sha256") or None, policy=policy)
                frame = shape_frame(_decode_image(image), o.format)
                w = write_clip(out_dir / rel, [frame], 1.0, o.crf)
                return Clip(self.name, key, key, o.split, 1.0, 1, w.width, w.height, rel)
            except Exception as exc:  # one bad URL is a row with its status, not a crashed dataset
                reraise_if_disk_full(exc)
                return Clip(self.name, key, key, o.split, 1.0, 0, 0, 0, rel, status="failed", error=f"{type(exc).__name__}: {exc}")

        clips = []
        with ThreadPoolExecutor(max_workers=o.workers) as pool:
            for n, clip in enumerate(pool.map(one, rows), 1):
                clips.append(clip)
                if n % 100 == 0 or n == len(rows):
                    failed = sum(not c.ok for c in clips)
                    progress(f"{self.name}: {n}/{len(rows)} images, {failed} failed")
        return clips


def _decode_image(path: Path):
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{path.name}: not a decodable image ({exc})") from exc
