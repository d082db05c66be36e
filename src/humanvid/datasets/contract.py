"""The dataset contract every plugin's output must meet, checked on an ingested folder.

Checked: the clip table has every column and unique clip ids; splits are `train`/`test` and no video file
serves both; identities are named and a flipped copy keeps its original's identity; every ok clip's mp4
decodes with the declared frame count, size and frame rate. Failed clips are reported, not judged.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ContractReport:
    checked: int = 0
    failed_clips: list[tuple[str, str]] = field(default_factory=list)  # (clip_id, error) recorded at ingest
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_dataset(raw_dir: Path, decode: bool = True) -> ContractReport:
    from humanvid.datasets.clips import FLIP_SUFFIX, mirrored, read_clip_table
    from humanvid.video import VideoError, count_frames, iter_frames

    raw_dir = Path(raw_dir)
    report = ContractReport()
    try:
        clips = read_clip_table(raw_dir / "clips.parquet")
    except (FileNotFoundError, ValueError) as exc:
        report.problems.append(str(exc))
        return report
    if not clips:
        report.problems.append(f"{raw_dir}: the clip table is empty")
    seen: dict[str, int] = defaultdict(int)
    splits_of_source: dict[str, set[str]] = defaultdict(set)
    identity_of = {c.clip_id: c.identity for c in clips}
    for c in clips:
        seen[c.clip_id] += 1
        if not c.ok:
            report.failed_clips.append((c.clip_id, c.error))
            if not c.error:
                report.problems.append(f"clip {c.clip_id}: status {c.status!r} without an error")
            continue
        report.checked += 1
        for name in ("dataset", "clip_id", "identity", "split", "source"):
            if not getattr(c, name):
                report.problems.append(f"clip {c.clip_id or '?'}: empty {name}")
        if c.split not in ("train", "test"):
            report.problems.append(f"clip {c.clip_id}: split {c.split!r} is neither 'train' nor 'test'")
        splits_of_source[c.source].add(c.split)
        if c.clip_id.endswith(FLIP_SUFFIX) and identity_of.get(c.clip_id[: -len(FLIP_SUFFIX)], c.identity) != c.identity:
            report.problems.append(f"clip {c.clip_id}: identity {c.identity!r} differs from its unflipped original's")
        if c.clip_id.endswith(FLIP_SUFFIX) and c.clip_id[: -len(FLIP_SUFFIX)] in identity_of and not mirrored(c.split, True):
            report.problems.append(f"clip {c.clip_id}: a mirrored copy in split {c.split!r} (augmentation is for training clips only)")
        if not decode:
            continue
        path = raw_dir / c.source
        try:
            n, fps = count_frames(path)
            first = next(iter_frames(path))
        except (VideoError, StopIteration) as exc:
            report.problems.append(f"clip {c.clip_id}: {path.name} does not decode ({exc})")
            continue
        if n != c.num_frames:
            report.problems.append(f"clip {c.clip_id}: {n} frames in {path.name}, the table says {c.num_frames}")
        if (first.shape[1], first.shape[0]) != (c.width, c.height):
            report.problems.append(f"clip {c.clip_id}: {first.shape[1]}x{first.shape[0]} pixels, the table says {c.width}x{c.height}")
        if abs(fps - c.fps) > 0.01 * max(1.0, c.fps):
            report.problems.append(f"clip {c.clip_id}: {fps:g} fps, the table says {c.fps:g}")
    for clip_id, count in seen.items():
        if count > 1:
            report.problems.append(f"clip id {clip_id!r} appears {count} times")
    for source, splits in splits_of_source.items():
        if len(splits) > 1:
            report.problems.append(f"{source} is in both train and test")
    return report
