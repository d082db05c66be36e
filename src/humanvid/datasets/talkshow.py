"""`talkshow`: the TalkSHOW/SHOW speaker release (oliver, chemistry, conan, seth) that Make-Your-Anchor
pre-trains on, with its SMPL-X parameters kept as annotations.

Release layout: `{speaker}_pkl_tar.tar.gz` holds `{speaker}/{video_fn}/{seq_fn}.pkl`, where `video_fn` is
the source video's file name (YouTube id before the extension) and `seq_fn` is
`{interval}-{HH_MM_SS}-{HH_MM_SS}`, the sequence's start and end in that video (at most 10 s, 30 fps).
Each pickle holds the SMPL-X fit (`betas`, `global_orient`, `body_pose_axis`, hand PCA poses, `jaw_pose`,
eye poses, `expression`, `transl`) and the camera (`focal_length`, `camera_transl`, `center`, `width`,
`height`); `batch_size` is the frame count. The videos are not in the release: the user downloads them
(SHOW's `download_youtube.py` writes `{speaker}/videos/{video_fn}`) into `videos`.

Pickles are read by a restricted unpickler that only rebuilds numpy arrays and plain containers — a
downloaded pickle can never run code here.
"""

from __future__ import annotations

import io
import pickle
import re
from itertools import islice
from pathlib import Path

import numpy as np
from pydantic import Field

from humanvid.datasets.base import DatasetPlugin, PluginOptions, Progress
from humanvid.datasets.clips import Clip
from humanvid.datasets.transcode import FrameFormat, resampled, shape_frame, write_clip
from humanvid.disk import reraise_if_disk_full

SPEAKERS = ("oliver", "chemistry", "conan", "seth")
SEQ_NAME = re.compile(r"^(\d+)-(\d{2})_(\d{2})_(\d{2})-(\d{2})_(\d{2})_(\d{2})$")
SMPLX_KEYS = ("betas", "global_orient", "body_pose_axis", "left_hand_pose", "right_hand_pose", "jaw_pose", "leye_pose",
              "reye_pose", "expression", "transl", "focal_length", "camera_transl", "center", "width", "height")  # fmt: skip
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("collections", "OrderedDict"),
}  # fmt: skip


class UnsafePickleError(ValueError):
    """A pickle that asks for anything but numpy arrays and plain containers."""


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise UnsafePickleError(f"pickle refers to {module}.{name}, which a parameter file has no business loading")


def load_params(path: Path) -> dict:
    """A SHOW .pkl -> dict of numpy arrays (restricted unpickling)."""
    data = _ArraysOnly(io.BytesIO(Path(path).read_bytes())).load()
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a dict of SMPL-X parameters, got {type(data).__name__}")
    return data


def parse_sequence(seq_fn: str) -> tuple[int, float, float]:
    """`5046-00_01_23-00_01_27` -> (interval id, start seconds, end seconds)."""
    m = SEQ_NAME.match(seq_fn)
    if not m:
        raise ValueError(f"sequence name {seq_fn!r} is not `interval-HH_MM_SS-HH_MM_SS`")
    g = [int(x) for x in m.groups()]
    return g[0], g[1] * 3600 + g[2] * 60 + g[3], g[4] * 3600 + g[5] * 60 + g[6]


class TalkShowOptions(PluginOptions):
    archives: str
    """Folder holding `{speaker}_pkl_tar.tar.gz` (names unchanged)."""
    videos: str
    """Folder holding the source videos, as `{speaker}/videos/{video_fn}` or `{video_fn}`."""
    speakers: list[str] = list(SPEAKERS)
    """Which speakers."""
    split: str = "train"
    """All sequences go to this split (Make-Your-Anchor pre-trains on them)."""
    limit: int | None = Field(None, ge=1)
    """At most this many sequences per speaker."""
    format: FrameFormat = Field(default_factory=lambda: FrameFormat(size=512, fps=30.0))
    """Make-Your-Anchor: 512 x 512 body crops at 30 fps (centre crop)."""
    crf: int = Field(12, ge=0, le=51)


class TalkShow(DatasetPlugin):
    Options = TalkShowOptions

    def _extracted(self, speaker: str, cache_dir: Path, progress: Progress) -> Path:
        from humanvid.datasets.archive import extract_once

        archive = Path(self.options.archives).expanduser() / f"{speaker}_pkl_tar.tar.gz"
        if not archive.is_file():
            raise FileNotFoundError(f"dataset {self.name!r}: {archive} missing (the SHOW release's `{speaker}_pkl_tar.tar.gz`)")
        return extract_once(archive, cache_dir / f"pkl-{speaker}", progress)

    def _video(self, speaker: str, video_fn: str) -> Path:
        root = Path(self.options.videos).expanduser()
        for candidate in (root / speaker / "videos" / video_fn, root / video_fn):
            if candidate.is_file():
                return candidate
        raise FileNotFoundError(f"source video {video_fn!r} of {speaker} not found under {root} "
                                f"(download it with SHOW's download_youtube.py into {speaker}/videos/)")  # fmt: skip

    def ingest(self, out_dir: Path, progress: Progress = print, cache_dir: Path | None = None) -> list[Clip]:
        if cache_dir is None:
            raise ValueError(f"dataset {self.name!r}: a cache folder is needed to extract the archives")
        unknown = set(self.options.speakers) - set(SPEAKERS)
        if unknown:
            raise ValueError(f"datasets.{self.name}.options.speakers: unknown {sorted(unknown)}; the release has {', '.join(SPEAKERS)}")
        clips: list[Clip] = []
        for speaker in self.options.speakers:
            root = self._extracted(speaker, cache_dir, progress)
            pkls = sorted(root.glob(f"**/{speaker}/*/*.pkl"))[: self.options.limit]
            for n, pkl in enumerate(pkls, 1):
                clips.append(self._sequence(out_dir, speaker, pkl))
                progress(f"{self.name}: {speaker} {n}/{len(pkls)} {clips[-1].clip_id} {clips[-1].status}")
        return clips

    def _sequence(self, out_dir: Path, speaker: str, pkl: Path) -> Clip:
        from humanvid.atomic import atomic_file
        from humanvid.video import count_frames, iter_frames

        o = self.options
        video_fn, seq_fn = pkl.parent.name, pkl.stem
        youtube_id = Path(video_fn).stem[-11:]
        clip_id = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{speaker}_{youtube_id}_{seq_fn}")
        rel = f"clips/{clip_id}.mp4"
        try:
            _, start, end = parse_sequence(seq_fn)
            params = load_params(pkl)
            n_frames = int(np.asarray(params.get("batch_size", 0)))
            if n_frames <= 0:
                raise ValueError(f"{pkl.name}: no batch_size (frame count)")
            source = self._video(speaker, video_fn)
            _, src_fps = count_frames(source)
            first = int(round(start * src_fps))
            frames = islice(resampled(islice(iter_frames(source), first, None), src_fps, o.format.fps), n_frames)
            fps = o.format.fps or src_fps
            w = write_clip(out_dir / rel, (shape_frame(f, o.format) for f in frames), fps, o.crf)
            if w.frames < n_frames:
                (out_dir / rel).unlink()
                raise ValueError(f"{source.name} ends after {w.frames} of the sequence's {n_frames} frames (from {start:g} s)")
            ann = {k: np.asarray(params[k], dtype=np.float32) for k in SMPLX_KEYS if k in params}
            with atomic_file(out_dir / "annotations" / f"{clip_id}.npz") as tmp, open(tmp, "wb") as fh:
                np.savez_compressed(fh, **ann)
            return Clip(self.name, clip_id, speaker, o.split, fps, w.frames, w.width, w.height, rel)
        except Exception as exc:  # recorded per sequence; the rest complete
            reraise_if_disk_full(exc)
            return Clip(self.name, clip_id, speaker, o.split, 0.0, 0, 0, 0, rel, status="failed", error=f"{type(exc).__name__}: {exc}")
