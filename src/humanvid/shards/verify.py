"""`humanvid shards verify`: check a dataset's shards end to end — schema version, files against their
checksums, the index against the files, and that every stored frame and condition decodes."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from humanvid.datasets.fetch import sha256_of
from humanvid.shards.reader import ShardError, ShardReader
from humanvid.shards.schema import ARRAY_CONDITIONS, IMAGE_CONDITIONS, INDEX_FILE, MANIFEST_FILE


@dataclass
class VerifyReport:
    files: int = 0
    rows: int = 0
    frames: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_shards(shards_dir: str | Path, progress: Callable[[str], None] = lambda _m: None, decode: bool = True) -> VerifyReport:
    """Every problem is listed with the file, row, clip and frame it concerns; nothing stops at the first."""
    from humanvid.shards.codec import decode_plane
    from humanvid.shards.loader import jpeg_decoder

    shards_dir = Path(shards_dir)
    report = VerifyReport()
    try:
        reader = ShardReader(shards_dir)  # manifest present, schema version
    except ShardError as exc:
        report.problems.append(str(exc))
        return report
    manifest = reader.manifest
    sums = manifest.get("sha256")
    if sums is None:
        report.problems.append(f"{shards_dir / MANIFEST_FILE}: no sha256 checksums recorded (written before checksums existed: re-run the shard stage)")
    else:
        for name, digest in sums.items():
            path = shards_dir / name
            if not path.is_file():
                report.problems.append(f"{path}: listed in the manifest but missing")
            elif sha256_of(path) != digest:
                report.problems.append(f"{path}: sha256 differs from the manifest (file changed after sharding)")
    if len(reader.index) != manifest["rows"]:
        report.problems.append(f"{shards_dir / INDEX_FILE}: {len(reader.index)} rows, manifest says {manifest['rows']}")
    _, decode_jpeg = jpeg_decoder()
    for name in manifest["files"]:
        path = shards_dir / name
        if not path.is_file():
            continue
        report.files += 1
        try:
            reader._file(name)  # schema version and conditions in the file's metadata
        except ShardError as exc:
            report.problems.append(str(exc))
            continue
        entries = sorted((e for e in reader.index if e["shard"] == name), key=lambda e: e["row"])
        n_rows = pq.ParquetFile(path).metadata.num_rows
        if n_rows != len(entries):
            report.problems.append(f"{path}: {n_rows} rows, the index lists {len(entries)}")
        for entry in entries:
            where = f"{path} row {entry['row']} (clip {entry['clip_id']}, frames from {entry['frame_start']})"
            try:
                row = reader.read_raw(entry)
            except (ShardError, IndexError) as exc:
                report.problems.append(f"{where}: {exc}")
                continue
            report.rows += 1
            if len(row["frames"]) != entry["num_frames"]:
                report.problems.append(f"{where}: {len(row['frames'])} frames, the index says {entry['num_frames']}")
            for cond in reader.conditions:
                if len(row[cond]) != len(row["frames"]):
                    report.problems.append(f"{where}: condition {cond} has {len(row[cond])} frames, the row {len(row['frames'])}")
            if not decode:
                continue
            for t, data in enumerate(row["frames"]):
                report.frames += 1
                try:
                    decode_jpeg(data)
                except Exception as exc:
                    report.problems.append(f"{where}: frame {entry['frame_start'] + t}: JPEG does not decode ({exc})")
                for cond in reader.conditions:
                    value = row[cond][t]
                    try:
                        if cond in IMAGE_CONDITIONS:
                            shape = decode_plane(value).shape[:2]
                            if shape != (row["height"], row["width"]):
                                raise ValueError(f"{shape[0]}×{shape[1]}, the frames are {row['height']}×{row['width']}")
                        elif cond in ARRAY_CONDITIONS and np.asarray(value).size != math.prod(ARRAY_CONDITIONS[cond]):
                            raise ValueError(f"{np.asarray(value).size} values, expected {math.prod(ARRAY_CONDITIONS[cond])}")
                    except Exception as exc:
                        report.problems.append(f"{where}: frame {entry['frame_start'] + t}: {cond} does not decode ({exc})")
        progress(f"{name}: {len(entries)} rows checked")
    return report


def summary(report: VerifyReport) -> str:
    head = f"{report.files} files, {report.rows} rows, {report.frames} frames decoded"
    return head + (": ok" if report.ok else f": {len(report.problems)} problems\n" + "\n".join(f"  {p}" for p in report.problems))


__all__ = ["VerifyReport", "summary", "verify_shards"]
