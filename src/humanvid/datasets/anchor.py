"""`anchor`: Make-Your-Anchor's one-person videos, cut into fixed-length clips split 9:1.

Each video (1-5 minutes of one person) is resampled to 30 fps, centre-cropped to 512 x 512 and cut into
consecutive 10 s clips (300 frames); the last `test_fraction` of each person's clips (at least one, when
there are two or more) are test clips, the rest train — the paper's 9:1 per-identity split, held out in
time so that no test clip borders a training clip. A tail shorter than a clip is dropped.

The TalkSHOW/SHOW speaker release that Make-Your-Anchor pre-trains on is the `talkshow` plugin.
"""

from __future__ import annotations

import math
import re
from itertools import islice
from pathlib import Path

from pydantic import Field

from humanvid.datasets.base import DatasetPlugin, PluginOptions, Progress
from humanvid.datasets.clips import Clip
from humanvid.datasets.transcode import FrameFormat, keep_index, resampled, shape_frame, write_clip
from humanvid.disk import reraise_if_disk_full


class AnchorOptions(PluginOptions):
    videos: str
    """A video file, or a folder of them (one person per file; the file name is the identity)."""
    format: FrameFormat = Field(default_factory=lambda: FrameFormat(size=512, fps=30.0))
    """Make-Your-Anchor: 512 x 512 centre crops at 30 fps."""
    clip_frames: int = Field(300, ge=1)
    """Frames per clip (300 = 10 s at 30 fps)."""
    test_fraction: float = Field(0.1, ge=0, lt=1)
    """Share of each person's clips (the last ones) held out for testing."""
    crf: int = Field(12, ge=0, le=51)


class Anchor(DatasetPlugin):
    Options = AnchorOptions

    def sources(self) -> list[Path]:
        path = Path(self.options.videos).expanduser()
        if path.is_file():
            return [path]
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in {".mp4", ".mov", ".mkv", ".avi", ".webm"})
            if found:
                return found
        raise FileNotFoundError(f"datasets.{self.name}.options.videos: no video at {path}")

    def ingest(self, out_dir: Path, progress: Progress = print, cache_dir: Path | None = None) -> list[Clip]:
        from humanvid.video import count_frames, iter_frames

        o = self.options
        clips: list[Clip] = []
        for video in self.sources():
            identity = re.sub(r"[^A-Za-z0-9_-]+", "-", video.stem)
            try:
                total, src_fps = count_frames(video)
                fps = o.format.fps or src_fps
                kept = sum(keep_index(i, src_fps, o.format.fps) for i in range(total))
                n_clips = kept // o.clip_frames
                if n_clips == 0:
                    raise ValueError(f"{video}: {kept} frames at {fps:g} fps is shorter than one {o.clip_frames}-frame clip")
                n_test = max(1, math.ceil(n_clips * o.test_fraction)) if n_clips >= 2 and o.test_fraction > 0 else 0
                frames = (shape_frame(f, o.format) for f in resampled(iter_frames(video), src_fps, o.format.fps))
                for k in range(n_clips):
                    clip_id = f"{identity}_{k:03d}"
                    split = "test" if k >= n_clips - n_test else "train"
                    w = write_clip(out_dir / f"clips/{clip_id}.mp4", islice(frames, o.clip_frames), fps, o.crf)
                    clips.append(Clip(self.name, clip_id, identity, split, fps, w.frames, w.width, w.height, f"clips/{clip_id}.mp4"))
                    progress(f"{self.name}: {identity} clip {k + 1}/{n_clips} ({split})")
            except Exception as exc:  # one bad video is recorded; the others complete
                reraise_if_disk_full(exc)
                clips.append(Clip(self.name, f"{identity}_000", identity, "train", 0.0, 0, 0, 0, str(video),
                                  status="failed", error=f"{type(exc).__name__}: {exc}"))  # fmt: skip
        return clips
