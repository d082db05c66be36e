"""`tiktok`: the TikTok dance dataset (Jafarian & Park, CVPR 2021), in its public archive layout.

The archive (`TikTok_dataset.zip`) holds one folder per video, numbered `00001` to `00340`, each with
`images/0001.png …` (the frames), `masks/0001.png …` (person masks) and, in the public release,
`densepose/0001.png …` (DensePose renderings). Frames become an mp4 per video; masks, DensePose
renderings and depth maps (`depth/0001.png`, where an archive has them) are kept as annotations in
`annotations/{clip_id}.npz` (`alpha`, `densepose_vis`, `depth` as stored), cropped and resized exactly
like the frames (nearest neighbour for masks and depth).

Splits:
- `disco`: videos 335–340 are test, the rest train. This is the public part of DisCo's evaluation set,
  which MagicAnimate and most followers report on; DisCo adds 10 TikTok-style videos that were never
  released, so numbers on this split are not identical to the papers' (docs/datasets.md).
- `frames`: every video splits in time, its first `1 - test_fraction` of frames train, the rest test.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from humanvid.datasets.base import DatasetPlugin, PluginOptions, Progress
from humanvid.datasets.clips import FLIP_SUFFIX, Clip, mirrored
from humanvid.datasets.transcode import FrameFormat, shape_frame, shape_plane, write_clip
from humanvid.disk import reraise_if_disk_full

DISCO_TEST_VIDEOS = (335, 336, 337, 338, 339, 340)
VIDEO_DIR = re.compile(r"^\d{5}$")


class TikTokOptions(PluginOptions):
    archive: str | None = None
    """The downloaded `TikTok_dataset.zip`, or a folder it was extracted to."""
    url: str | None = None
    """Where to fetch the archive from when `archive` is not given (kept in the download cache)."""
    sha256: str | None = None
    """Checksum of the archive, verified after fetching."""
    fps: float = Field(30.0, gt=0)
    """Frame rate of the released frame folders."""
    split: Literal["disco", "frames"] = "disco"
    """`disco`: videos 335-340 test; `frames`: the last `test_fraction` of every video tests."""
    test_fraction: float = Field(0.2, gt=0, lt=1)
    """For `split: frames`."""
    videos: list[int] | None = None
    """Only these video numbers (default: all found)."""
    format: FrameFormat = Field(default_factory=FrameFormat)
    """Crop/resize of frames and annotations (MagicAnimate: full frames, 512 crops after estimation)."""
    flip: bool = False
    """Also write horizontally flipped copies of the training clips (MagicAnimate flips in advance: DensePose is not
    flip-symmetric); test clips are never mirrored."""
    crf: int = Field(12, ge=0, le=51)

    @model_validator(mode="after")
    def _source(self) -> "TikTokOptions":
        if not self.archive and not self.url:
            raise ValueError("give `archive` (the downloaded TikTok_dataset.zip or its folder) or `url`")
        return self


def _read_png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def _read_plane(path: Path, fmt: FrameFormat, mode: str | None = None) -> np.ndarray:
    """A single-channel image (mask, depth) as stored, shaped like the frames (nearest neighbour)."""
    from PIL import Image

    with Image.open(path) as img:
        plane = np.asarray(img.convert(mode) if mode else img)
    if plane.ndim == 3:  # depth saved as RGB(A): keep the first channel
        plane = plane[..., 0]
    return shape_plane(plane, fmt)


class TikTok(DatasetPlugin):
    Options = TikTokOptions

    def source_root(self, cache_dir: Path | None, progress: Progress) -> Path:
        """The extracted archive: a given folder, or the archive (given or fetched) extracted into the cache."""
        from humanvid.datasets.archive import extract_once
        from humanvid.datasets.fetch import fetch

        o = self.options
        if o.archive and Path(o.archive).expanduser().is_dir():
            return Path(o.archive).expanduser()
        if cache_dir is None:
            raise ValueError(f"dataset {self.name!r}: a download cache folder is needed to fetch or extract")
        archive = Path(o.archive).expanduser() if o.archive else fetch(o.url, cache_dir / "TikTok_dataset.zip", o.sha256, progress=progress)
        if not archive.is_file():
            raise FileNotFoundError(f"datasets.{self.name}.options.archive: {archive} not found")
        return extract_once(archive, cache_dir / f"extracted-{archive.stem}", progress)

    def video_dirs(self, root: Path) -> dict[int, Path]:
        found = {int(d.name): d for d in root.rglob("*") if d.is_dir() and VIDEO_DIR.match(d.name) and (d / "images").is_dir()}
        if not found:
            raise FileNotFoundError(f"dataset {self.name!r}: no video folders (NNNNN/images/) under {root}")
        wanted = self.options.videos
        return {n: found[n] for n in sorted(found) if wanted is None or n in wanted}

    def ingest(self, out_dir: Path, progress: Progress = print, cache_dir: Path | None = None) -> list[Clip]:
        o = self.options
        clips: list[Clip] = []
        videos = self.video_dirs(self.source_root(cache_dir, progress))
        for k, (number, folder) in enumerate(videos.items(), 1):
            identity = f"{number:05d}"
            frames = sorted((folder / "images").glob("*.png"))
            try:
                if not frames:
                    raise ValueError(f"{folder / 'images'}: no frames")
                if o.split == "disco":
                    parts = [("test" if number in DISCO_TEST_VIDEOS else "train", identity, frames)]
                else:
                    cut = int(len(frames) * (1 - o.test_fraction))
                    if cut < 1 or cut == len(frames):
                        raise ValueError(f"{folder}: {len(frames)} frames cannot be split with test_fraction {o.test_fraction}")
                    parts = [("train", f"{identity}_train", frames[:cut]), ("test", f"{identity}_test", frames[cut:])]
                for split, clip_id, paths in parts:
                    clips += self._write_clip(out_dir, folder, identity, clip_id, split, paths)
            except Exception as exc:  # recorded; the other videos complete
                reraise_if_disk_full(exc)
                clips.append(Clip(self.name, identity, identity, "train", o.fps, len(frames), 0, 0, str(folder),
                                  status="failed", error=f"{type(exc).__name__}: {exc}"))  # fmt: skip
            progress(f"{self.name}: video {k}/{len(videos)} {identity} {clips[-1].status}")
        return clips

    def _write_clip(self, out_dir: Path, folder: Path, identity: str, clip_id: str, split: str, paths: list[Path]) -> list[Clip]:
        from humanvid.atomic import atomic_file

        o = self.options
        rel = f"clips/{clip_id}.mp4"
        flip_rel = f"clips/{clip_id}{FLIP_SUFFIX}.mp4" if mirrored(split, o.flip) else None
        frames = (shape_frame(_read_png(p), o.format) for p in paths)
        w = write_clip(out_dir / rel, frames, o.fps, o.crf, out_dir / flip_rel if flip_rel else None)
        annotations = {}
        masks = [folder / "masks" / p.name for p in paths]
        if all(m.is_file() for m in masks):
            annotations["alpha"] = np.stack([_read_plane(m, o.format, "L") for m in masks])
        depth = [folder / "depth" / p.name for p in paths]
        if all(d.is_file() for d in depth):  # kept as stored (units as the archive has them)
            annotations["depth"] = np.stack([_read_plane(d, o.format) for d in depth])
        dense = [folder / "densepose" / p.name for p in paths]
        if all(d.is_file() for d in dense):
            annotations["densepose_vis"] = np.stack([shape_frame(_read_png(d), o.format) for d in dense])
        out = [Clip(self.name, clip_id, identity, split, o.fps, w.frames, w.width, w.height, rel)]
        if flip_rel:
            out.append(Clip(self.name, f"{clip_id}_flip", identity, split, o.fps, w.frames, w.width, w.height, flip_rel))
        for cid, flip in [(clip_id, False)] + ([(f"{clip_id}_flip", True)] if flip_rel else []):
            if annotations:
                data = {k: (v[:, :, ::-1] if flip else v) for k, v in annotations.items()}
                with atomic_file(out_dir / "annotations" / f"{cid}.npz") as tmp, open(tmp, "wb") as fh:
                    np.savez_compressed(fh, **data)
        return out
