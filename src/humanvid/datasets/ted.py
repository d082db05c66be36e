"""`ted`: TED-talks (MRAA, Siarohin et al. 2021) from the public tracklet CSV.

The CSV has `video_id,start,end,bbox,fps,width,height,partition`: `video_id` is `YOUTUBEID#START#END`;
a tracklet covers frames [start, end) at the reference rate `fps` (when both are 0 the range in
`video_id` is used); `bbox` is `left-top-right-bottom` in a frame of `width` x `height`, scaled to the
downloaded video's size. Source videos download once into the cache with yt-dlp, politely spaced.

Presets:
- `mraa384`: the bbox crop resized to 384 x 384 at the source rate (MRAA's TED384).
- `magicanimate`: a 2:1 (width:height) crop around the bbox, keeping a larger field of view, resized to
  1024 x 512 at 25 fps (MagicAnimate's TED-talks; its 512 x 512 centre crop happens after estimation).
"""

from __future__ import annotations

import csv
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from humanvid.datasets.base import DatasetPlugin, PluginOptions, Progress
from humanvid.datasets.clips import FLIP_SUFFIX, Clip, mirrored
from humanvid.disk import reraise_if_disk_full

PRESETS = {"mraa384": {"size": (384, 384), "fps": None, "aspect": None}, "magicanimate": {"size": (1024, 512), "fps": 25.0, "aspect": 2.0}}


class TEDOptions(PluginOptions):
    metadata: str
    """Path of the tracklet CSV (e.g. MRAA's ted384-metadata.csv)."""
    preset: Literal["mraa384", "magicanimate"] = "magicanimate"
    """Crop and rate of the clips (see the module docstring)."""
    url_template: str = "https://www.youtube.com/watch?v={id}"
    """Where a source video is fetched from; `{id}` is the YouTube id."""
    pause: float = Field(2.0, ge=0)
    """Seconds between two source downloads (polite to YouTube)."""
    retries: int = Field(3, ge=0)
    """yt-dlp retries per video."""
    limit: int | None = Field(None, ge=1)
    """Only the first this many tracklets."""
    flip: bool = False
    """Also write a horizontally flipped copy of every training clip (`..._flip`); test clips are never mirrored."""
    crf: int = Field(12, ge=0, le=51)


@dataclass(frozen=True)
class Tracklet:
    row: int
    youtube_id: str
    start: int
    end: int
    bbox: tuple[int, int, int, int]
    fps: float
    width: int
    height: int
    partition: str

    @property
    def clip_id(self) -> str:
        return f"{self.youtube_id}_{self.start:06d}_{self.end:06d}"


def parse_metadata(path: Path) -> tuple[list[Tracklet], list[tuple[int, str, str]]]:
    """-> (tracklets, rejected rows as (row, video_id, error))."""
    good, bad = [], []
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"video_id", "start", "end", "bbox", "fps", "width", "height", "partition"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing columns {sorted(missing)}")
        for i, r in enumerate(reader, start=2):  # row numbers as a spreadsheet shows them
            try:
                yid, _, rest = r["video_id"].partition("#")
                start, end = int(r["start"]), int(r["end"])
                if start == 0 and end == 0:
                    start, end = (int(x) for x in rest.split("#"))
                box = tuple(int(v) for v in r["bbox"].split("-"))
                if len(box) != 4 or box[2] <= box[0] or box[3] <= box[1] or min(box) < 0:
                    raise ValueError(f"bad bbox {r['bbox']!r} (want left-top-right-bottom with positive area)")
                if end <= start:
                    raise ValueError(f"empty frame range {start}-{end}")
                good.append(Tracklet(i, yid, start, end, box, float(r["fps"]), int(r["width"]), int(r["height"]), r["partition"]))
            except (ValueError, KeyError) as exc:
                bad.append((i, r.get("video_id", "?"), f"{path.name} row {i}: {exc}"))
    return good, bad


def crop_box(t: Tracklet, frame_w: int, frame_h: int, aspect: float | None) -> tuple[int, int, int, int]:
    """The tracklet's bbox in this frame's pixels, widened to `aspect` (w:h) around its centre if given."""
    sx, sy = frame_w / t.width, frame_h / t.height
    left, top, right, bottom = t.bbox[0] * sx, t.bbox[1] * sy, t.bbox[2] * sx, t.bbox[3] * sy
    if aspect is not None:
        cx, h = (left + right) / 2, bottom - top
        left, right = cx - aspect * h / 2, cx + aspect * h / 2
    left, right = max(0, int(left)), min(frame_w, int(right))
    top, bottom = max(0, int(top)), min(frame_h, int(bottom))
    if right - left < 2 or bottom - top < 2:
        raise ValueError(f"bbox {t.bbox} falls outside the {frame_w}x{frame_h} video")
    return left, top, right, bottom


class TEDTalks(DatasetPlugin):
    Options = TEDOptions

    def download_source(self, youtube_id: str, cache_dir: Path) -> Path:
        """The source video in the cache, fetched with yt-dlp if absent (written aside, then renamed)."""
        import yt_dlp

        dest = cache_dir / "videos" / f"{youtube_id}.mp4"
        if dest.is_file():
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(f".{youtube_id}.download.mp4")
        opts = {"format": "best[ext=mp4]/best", "outtmpl": str(part), "quiet": True, "no_warnings": True,
                "retries": self.options.retries, "noprogress": True, "overwrites": True}  # fmt: skip
        with yt_dlp.YoutubeDL(opts) as ydl:
            code = ydl.download([self.options.url_template.format(id=youtube_id)])
        if code != 0 or not part.is_file():
            raise RuntimeError(f"yt-dlp could not fetch video {youtube_id}")
        part.replace(dest)
        return dest

    def ingest(self, out_dir: Path, progress: Progress = print, cache_dir: Path | None = None) -> list[Clip]:
        from humanvid.conditions import resize_to

        o = self.options
        if cache_dir is None:
            raise ValueError(f"dataset {self.name!r}: a download cache folder is needed")
        tracklets, rejected = parse_metadata(Path(o.metadata).expanduser())
        tracklets = tracklets[: o.limit]
        preset = PRESETS[o.preset]
        clips = [Clip(self.name, f"row{row}", vid.partition("#")[0], "train", 0.0, 0, 0, 0, "", status="failed", error=err)
                 for row, vid, err in rejected]  # fmt: skip
        by_video: dict[str, list[Tracklet]] = defaultdict(list)
        for t in tracklets:
            by_video[t.youtube_id].append(t)
        for n, (yid, group) in enumerate(by_video.items(), 1):
            if n > 1 and o.pause:
                time.sleep(o.pause)
            try:
                source = self.download_source(yid, cache_dir)
            except Exception as exc:  # a broken link fails its tracklets, not the dataset
                reraise_if_disk_full(exc)
                clips += [self._failed(t, exc) for t in group]
                progress(f"{self.name}: video {n}/{len(by_video)} {yid} FAILED: {exc}")
                continue
            try:
                clips += self._cut_all(out_dir, source, group, preset, resize_to)
            except Exception as exc:  # the source itself does not decode: all its tracklets fail
                reraise_if_disk_full(exc)
                clips += [self._failed(t, exc) for t in group]
            progress(f"{self.name}: video {n}/{len(by_video)} {yid}: {len(group)} tracklets")
        return clips

    def _failed(self, t: Tracklet, exc: Exception) -> Clip:
        return Clip(self.name, t.clip_id, t.youtube_id, t.partition, 0.0, 0, 0, 0, f"clips/{t.clip_id}.mp4",
                    status="failed", error=f"{type(exc).__name__}: {exc}")  # fmt: skip

    def _cut_all(self, out_dir: Path, source: Path, group: list[Tracklet], preset: dict, resize_to) -> list[Clip]:
        """Cut every tracklet of one source video in a single decoding pass (a talk is long; decoding it
        once per tracklet would cost minutes each). A tracklet that fails is recorded; the others go on."""
        from humanvid.video import VideoWriter, count_frames, iter_frames

        _, src_fps = count_frames(source)
        out_fps = preset["fps"] or src_fps
        width, height = preset["size"]
        flip = self.options.flip
        writers: dict[str, list] = {}  # clip_id -> [writer, mirror writer or None, last output slot]
        results: dict[str, Clip] = {}
        last_end = max(t.end for t in group)

        def finish(t: Tracklet, exc: BaseException | None) -> None:
            w, m, _ = writers.pop(t.clip_id)
            err = exc
            for writer in (w, m):
                if writer is None:
                    continue
                try:
                    writer.__exit__(type(err) if err else None, err, None)
                except Exception as close_err:  # e.g. no frame fell in the range
                    err = err or close_err
            if err is not None:
                results[t.clip_id] = self._failed(t, err if isinstance(err, Exception) else RuntimeError(str(err)))
                return
            rel = f"clips/{t.clip_id}.mp4"
            results[t.clip_id] = Clip(self.name, t.clip_id, t.youtube_id, t.partition, out_fps, w.frames, width, height, rel)
            if m is not None:
                results[t.clip_id + "_flip"] = Clip(self.name, f"{t.clip_id}_flip", t.youtube_id, t.partition, out_fps, m.frames,
                                                    width, height, f"clips/{t.clip_id}_flip.mp4")  # fmt: skip

        try:
            for i, frame in enumerate(iter_frames(source)):
                for t in group:
                    if t.clip_id in results:
                        continue
                    # Frame i (source rate) is inside [start, end) of the reference rate, as MRAA's loader decides.
                    inside = t.start * src_fps <= i * t.fps < t.end * src_fps
                    if not inside:
                        if t.clip_id in writers and i * t.fps >= t.end * src_fps:
                            finish(t, None)
                        continue
                    if t.clip_id not in writers:
                        w = VideoWriter(out_dir / f"clips/{t.clip_id}.mp4", out_fps, self.options.crf).__enter__()
                        m = (VideoWriter(out_dir / f"clips/{t.clip_id}{FLIP_SUFFIX}.mp4", out_fps, self.options.crf).__enter__()
                             if mirrored(t.partition, flip) else None)  # fmt: skip
                        writers[t.clip_id] = [w, m, -1]
                    entry = writers[t.clip_id]
                    slot = int(i / src_fps * out_fps)  # resample to the preset rate by nearest earlier frame
                    if slot == entry[2]:
                        continue
                    entry[2] = slot
                    try:
                        left, top, right, bottom = crop_box(t, frame.shape[1], frame.shape[0], preset["aspect"])
                        crop = resize_to(np.ascontiguousarray(frame[top:bottom, left:right]), width, height)
                        entry[0].write(crop)
                        if entry[1] is not None:
                            entry[1].write(np.ascontiguousarray(crop[:, ::-1]))
                    except Exception as exc:
                        reraise_if_disk_full(exc)
                        finish(t, exc)
                if i * min(t.fps for t in group) >= last_end * src_fps and not writers:
                    break  # past every tracklet: stop decoding
        finally:
            for t in group:
                if t.clip_id in writers:
                    finish(t, None)  # the video ended inside the tracklet: keep what arrived
        for t in group:
            if t.clip_id not in results:
                results[t.clip_id] = self._failed(t, ValueError(f"no frame of {source.name} falls in frames {t.start}-{t.end}"))
        out = []
        for t in group:
            out.append(results[t.clip_id])
            if t.clip_id + "_flip" in results:
                out.append(results[t.clip_id + "_flip"])
        return out
