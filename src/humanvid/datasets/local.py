"""`local`: any folder of videos, one identity per video (DiffPerformer's daily-captured setting).

Each video becomes two clips: its first `train_fraction` of frames (`{identity}_train`) and the rest
(`{identity}_test`), as DiffPerformer trains on the first 80% of each video and tests on the last 20%.
"""

from __future__ import annotations

import hashlib
import re
from itertools import islice
from pathlib import Path

from pydantic import Field

from humanvid.datasets.base import DatasetPlugin, PluginOptions, Progress
from humanvid.datasets.clips import FLIP_SUFFIX, Clip, mirrored
from humanvid.datasets.transcode import FrameFormat, keep_index, resampled, shape_frame, write_clip
from humanvid.disk import reraise_if_disk_full


class LocalOptions(PluginOptions):
    path: str
    """Folder holding the videos (searched recursively)."""
    extensions: list[str] = [".mp4", ".mov", ".avi", ".mkv", ".webm"]
    """Which files are videos."""
    train_fraction: float = Field(0.8, gt=0, lt=1)
    """Share of each video's frames (from the start) that trains; the rest tests."""
    format: FrameFormat = Field(default_factory=FrameFormat)
    """Crop/resize and frame rate of the clips."""
    flip: bool = False
    """Also write a horizontally flipped copy of every training clip (`..._flip`); test clips are never mirrored."""
    crf: int = Field(12, ge=0, le=51)
    """H.264 quality of the written clips."""


def identity_of(path: Path, root: Path) -> str:
    """A stable, filesystem-safe identity from the video's path under the root: the file's stem when it is
    safe as it is; otherwise the stem made safe plus a digest of the whole relative path, so `a/b.mp4` and
    `a-b.mp4` (or two names of only non-ASCII letters) cannot collide or come out empty."""
    rel = path.relative_to(root)
    stem = rel.with_suffix("").as_posix()
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", stem).strip("-")
    if slug == stem and not slug.startswith("-"):
        return slug
    digest = hashlib.sha1(rel.as_posix().encode()).hexdigest()[:8]
    return f"{slug}-{digest}" if slug else f"video-{digest}"


class LocalVideos(DatasetPlugin):
    Options = LocalOptions

    def videos(self) -> list[Path]:
        root = Path(self.options.path).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"datasets.{self.name}.options.path: folder {root} does not exist")
        exts = {e.lower() for e in self.options.extensions}
        return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in exts)

    def ingest(self, out_dir: Path, progress: Progress = print, cache_dir: Path | None = None) -> list[Clip]:
        from humanvid.video import count_frames, iter_frames

        o, root = self.options, Path(self.options.path).expanduser()
        videos = self.videos()
        if not videos:
            raise FileNotFoundError(f"datasets.{self.name}.options.path: no videos ({', '.join(o.extensions)}) under {root}")
        owners: dict[str, Path] = {}
        for video in videos:  # before any work: `a.mp4` and `a.mov` would be one identity
            other = owners.setdefault(identity_of(video, root), video)
            if other != video:
                raise ValueError(f"datasets.{self.name}: {other} and {video} would both be identity {identity_of(video, root)!r}: rename one")
        clips: list[Clip] = []
        for n, video in enumerate(videos, 1):
            identity = identity_of(video, root)
            try:
                total, src_fps = count_frames(video)
                fps = o.format.fps or src_fps
                kept = sum(keep_index(i, src_fps, o.format.fps) for i in range(total))
                n_train = int(kept * o.train_fraction)
                if n_train < 1 or kept - n_train < 1:
                    raise ValueError(f"{video}: {kept} frames cannot be split {o.train_fraction:.0%}/{1 - o.train_fraction:.0%}")
                frames = (shape_frame(f, o.format) for f in resampled(iter_frames(video), src_fps, o.format.fps))
                parts = {"train": islice(frames, n_train), "test": frames}
                for split, part in parts.items():
                    clips += self._write(out_dir, identity, split, part, fps, video)
            except Exception as exc:  # one bad video is data: recorded, the rest complete
                reraise_if_disk_full(exc)
                for split in ("train", "test"):
                    clips.append(Clip(self.name, f"{identity}_{split}", identity, split, 0.0, 0, 0, 0, str(video),
                                      status="failed", error=f"{type(exc).__name__}: {exc}"))  # fmt: skip
            progress(f"{self.name}: video {n}/{len(videos)} {video.name} -> {identity}")
        return clips

    def _write(self, out_dir: Path, identity: str, split: str, frames, fps: float, source: Path) -> list[Clip]:
        clip_id = f"{identity}_{split}"
        flip_id = f"{clip_id}{FLIP_SUFFIX}" if mirrored(split, self.options.flip) else None
        rel = f"clips/{clip_id}.mp4"
        flip_rel = f"clips/{flip_id}.mp4" if flip_id else None
        w = write_clip(out_dir / rel, frames, fps, self.options.crf, out_dir / flip_rel if flip_rel else None)
        out = [Clip(self.name, clip_id, identity, split, fps, w.frames, w.width, w.height, rel)]
        if flip_id:
            out.append(Clip(self.name, flip_id, identity, split, fps, w.frames, w.width, w.height, flip_rel))
        return out
