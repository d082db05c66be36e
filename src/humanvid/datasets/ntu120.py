"""`ntu120`: NTU RGB+D 120 (licence-gated; the user places the official archives, nothing is downloaded).

Official archives, per setup sss (001-032): `nturgbd_rgb_s{sss}.zip` (RGB .avi, 1920x1080),
`nturgbd_depth_masked_s{sss}.zip` (masked depth PNGs, 512x424, millimetres), and the skeletons in
`nturgbd_skeletons_s001_to_s017.zip` / `nturgbd_skeletons_s018_to_s032.zip`. Inside them:
`nturgb+d_rgb/{name}_rgb.avi`, `nturgb+d_depth_masked/{name}/MDepth-00000001.png …`,
`nturgb+d_skeletons/{name}.skeleton`, where `name` is `SsssCcccPpppRrrrAaaa` (setup, camera, performer,
replication, action).

Each sample becomes a clip (identity = performer). Kept as annotations (`annotations/{clip_id}.npz`,
and `{clip_id}_flip.npz` for a flipped copy): `depth_mm` uint16 (T, 424, 512) in the depth camera's own
geometry (IDOL evaluates depth on NTU120), and from the skeleton file the main body's `joints3d` (T, 25,
3, metres, camera space), `joints_rgb` (T, 25, 2, RGB pixel coordinates) and `joints_depth` (T, 25, 2,
depth-camera pixel coordinates) — missing frames are NaN — all per source frame; then how the clip was
cut from the source: `frame_index` (the source frame of each clip frame, after resampling) and
`rgb_to_clip` (2 × 3: source RGB pixel → clip pixel, the crop, resize and flip). With those the
`dataset_depth` estimator registers the Kinect depth to the clip's frames. The parsed name fields go to
`ntu_samples.parquet` beside the clip table.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from humanvid.datasets.base import DatasetPlugin, PluginOptions, Progress
from humanvid.datasets.clips import FLIP_SUFFIX, Clip, mirrored
from humanvid.datasets.transcode import FrameFormat, keep_index, resampled, shape_frame, write_clip
from humanvid.disk import reraise_if_disk_full

REQUEST_ACCESS = "https://rose1.ntu.edu.sg/dataset/actionRecognition/ (request access, then download)"
NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")
# Cross-subject protocol of NTU RGB+D 120: these performers train, the others test (Liu et al., TPAMI 2019).
CROSS_SUBJECT_TRAIN = frozenset(
    [1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38, 45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57,
     58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89, 91, 92, 93, 94, 95, 97, 98, 100, 103]
)  # fmt: skip


def parse_name(name: str) -> dict[str, int]:
    """`S001C002P003R002A013...` -> setup, camera, performer, replication, action."""
    m = NAME.search(name)
    if not m:
        raise ValueError(f"{name!r} does not follow the NTU naming SsssCcccPpppRrrrAaaa")
    return dict(zip(("setup", "camera", "performer", "replication", "action"), map(int, m.groups()), strict=True))


def skeleton_archive(setup: int) -> str:
    return "nturgbd_skeletons_s001_to_s017.zip" if setup <= 17 else "nturgbd_skeletons_s018_to_s032.zip"


def required_archives(setups: list[int]) -> list[str]:
    names = []
    for s in setups:
        names += [f"nturgbd_rgb_s{s:03d}.zip", f"nturgbd_depth_masked_s{s:03d}.zip"]
    return names + sorted({skeleton_archive(s) for s in setups})


def rgb_to_clip(height: int, width: int, size: int | None, mirror_width: int | None = None) -> np.ndarray:
    """(2, 3) affine: a source RGB pixel position (x, y; pixel centres at +0.5) -> the clip's, through
    `shape_frame`'s centre crop and resize (size None: a trim at the far edges, positions unchanged) and,
    for a flipped copy `mirror_width` wide, the mirror x -> width - x."""
    from humanvid.conditions import crop_box

    m = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    if size is not None:
        top, left, side = crop_box(height, width)
        s = size / side
        m = np.array([[s, 0.0, -left * s], [0.0, s, -top * s]])
    if mirror_width is not None:
        m[0] = -m[0]
        m[0, 2] += mirror_width
    return m


def _noting_shape(frames, out: list):
    """Pass frames through, noting the first one's (height, width)."""
    for f in frames:
        if not out:
            out.append(f.shape[:2])
        yield f


def parse_skeleton(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A `.skeleton` file -> the main body's joints3d (T, 25, 3), RGB pixel coordinates (T, 25, 2) and
    depth-camera pixel coordinates (T, 25, 2).

    Layout: frame count; per frame a body count, then per body one line of 10 body fields, the joint
    count (25) and one line per joint: x y z depthX depthY colorX colorY orientation(4) trackingState.
    The main body is the one with the largest joint variance (the dataset authors' heuristic).
    """
    tokens = text.split()
    pos = 0

    def take(n: int) -> list[str]:
        nonlocal pos
        if pos + n > len(tokens):
            raise ValueError("skeleton file ends early")
        out = tokens[pos : pos + n]
        pos += n
        return out

    frames = int(take(1)[0])
    per_frame: list[list[np.ndarray]] = []
    for _ in range(frames):
        bodies = []
        for _ in range(int(take(1)[0])):
            take(10)
            joints = int(take(1)[0])
            bodies.append(np.array(take(joints * 12), dtype=np.float64).reshape(joints, 12))
        per_frame.append(bodies)
    # The main body: the body slot with the most motion over the clip.
    slots = max((len(b) for b in per_frame), default=0)
    best, best_var = 0, -1.0
    for slot in range(slots):
        xyz = np.array([b[slot][:, :3] for b in per_frame if len(b) > slot])
        var = float(xyz.var(axis=0).sum()) if len(xyz) else -1.0
        if var > best_var:
            best, best_var = slot, var
    joints3d = np.full((frames, 25, 3), np.nan, np.float32)
    joints_rgb = np.full((frames, 25, 2), np.nan, np.float32)
    joints_depth = np.full((frames, 25, 2), np.nan, np.float32)
    for t, bodies in enumerate(per_frame):
        if len(bodies) > best:
            joints3d[t] = bodies[best][:25, 0:3]
            joints_depth[t] = bodies[best][:25, 3:5]
            joints_rgb[t] = bodies[best][:25, 5:7]
    return joints3d, joints_rgb, joints_depth


class NTU120Options(PluginOptions):
    archives: str
    """Folder holding the official archives as downloaded (names unchanged)."""
    setups: list[int] = Field(default_factory=lambda: [1])
    """Setups (1-32) to ingest."""
    actions: list[int] | None = None
    """Only these action classes (1-120)."""
    cameras: list[int] | None = None
    """Only these camera IDs (1-3)."""
    max_samples: int | None = Field(None, ge=1)
    """Stop after this many samples (for a quick look)."""
    split: Literal["cross_subject", "cross_setup"] = "cross_subject"
    """Official protocols: cross-subject (the paper's 53 training performers) or cross-setup (even setups train)."""
    sizes: dict[str, int] = Field(default_factory=dict)
    """Expected byte size per archive name, checked when given."""
    format: FrameFormat = Field(default_factory=lambda: FrameFormat(size=512))
    """Crop/resize of the RGB frames."""
    flip: bool = False
    """Also write a horizontally flipped copy of every training clip (`..._flip`); test clips are never mirrored."""
    crf: int = Field(12, ge=0, le=51)


class NTU120(DatasetPlugin):
    Options = NTU120Options

    def check_archives(self) -> dict[str, Path]:
        """Every archive the setups need, present, readable and of the stated size — or one error listing
        exactly what is missing and where to get it."""
        import zipfile

        root = Path(self.options.archives).expanduser()
        needed = required_archives(self.options.setups)
        missing = [n for n in needed if not (root / n).is_file()]
        if missing:
            raise FileNotFoundError(
                f"dataset {self.name!r}: NTU RGB+D 120 archives missing from {root}: {', '.join(missing)}. "
                f"They are licence-gated: {REQUEST_ACCESS}; place them in {root} with their names unchanged."
            )
        for n in needed:
            path = root / n
            if n in self.options.sizes and path.stat().st_size != self.options.sizes[n]:
                raise ValueError(f"{path}: {path.stat().st_size} bytes, expected {self.options.sizes[n]} (incomplete download?)")
            if not zipfile.is_zipfile(path):
                raise ValueError(f"{path}: not a readable zip archive (incomplete download?)")
        return {n: root / n for n in needed}

    def extracted(self, archives: dict[str, Path], cache_dir: Path, progress: Progress) -> Path:
        from humanvid.datasets.archive import extract_once

        root = cache_dir / "extracted"
        for name, path in archives.items():
            extract_once(path, root / Path(name).stem, progress)
        return root

    def split_of(self, fields: dict[str, int]) -> str:
        if self.options.split == "cross_setup":
            return "train" if fields["setup"] % 2 == 0 else "test"
        return "train" if fields["performer"] in CROSS_SUBJECT_TRAIN else "test"

    def ingest(self, out_dir: Path, progress: Progress = print, cache_dir: Path | None = None) -> list[Clip]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from humanvid.atomic import atomic_file

        o = self.options
        if cache_dir is None:
            raise ValueError(f"dataset {self.name!r}: a cache folder is needed to extract the archives")
        root = self.extracted(self.check_archives(), cache_dir, progress)
        videos = sorted(root.glob("nturgbd_rgb_s*/**/*_rgb.avi"))
        samples, clips = [], []
        for video in videos:
            fields = parse_name(video.name)
            if fields["setup"] not in o.setups or (o.actions and fields["action"] not in o.actions) or (
                o.cameras and fields["camera"] not in o.cameras
            ):
                continue
            samples.append((video, fields))
        samples = samples[: o.max_samples]
        table = []
        for n, (video, fields) in enumerate(samples, 1):
            name = NAME.search(video.name).group(0)
            clip_id, identity, split = name, f"P{fields['performer']:03d}", self.split_of(fields)
            rel = f"clips/{clip_id}.mp4"
            try:
                from humanvid.video import count_frames, iter_frames

                n_src, fps = count_frames(video)
                flip_rel = f"clips/{clip_id}{FLIP_SUFFIX}.mp4" if mirrored(split, o.flip) else None
                source_shape: list[tuple[int, int]] = []
                frames = (shape_frame(f, o.format) for f in resampled(_noting_shape(iter_frames(video), source_shape), fps, o.format.fps))
                w = write_clip(out_dir / rel, frames, o.format.fps or fps, o.crf, out_dir / flip_rel if flip_rel else None)
                ann = self._annotations(root, name, fields["setup"])
                ann["frame_index"] = np.array([i for i in range(n_src) if keep_index(i, fps, o.format.fps)][: w.frames], np.int32)
                for cid, flip in [(clip_id, False)] + ([(f"{clip_id}_flip", True)] if flip_rel else []):
                    ann["rgb_to_clip"] = rgb_to_clip(*source_shape[0], o.format.size, w.width if flip else None)
                    with atomic_file(out_dir / "annotations" / f"{cid}.npz") as tmp, open(tmp, "wb") as fh:
                        np.savez_compressed(fh, **ann)
                clips.append(Clip(self.name, clip_id, identity, split, o.format.fps or fps, w.frames, w.width, w.height, rel))
                if flip_rel:
                    clips.append(Clip(self.name, f"{clip_id}_flip", identity, split, o.format.fps or fps, w.frames, w.width, w.height, flip_rel))
            except Exception as exc:  # recorded; the other samples complete
                reraise_if_disk_full(exc)
                clips.append(Clip(self.name, clip_id, identity, split, 0.0, 0, 0, 0, rel, status="failed", error=f"{type(exc).__name__}: {exc}"))
            table.append({"clip_id": clip_id, **fields})
            progress(f"{self.name}: sample {n}/{len(samples)} {clip_id} {clips[-1].status}")
        with atomic_file(out_dir / "ntu_samples.parquet") as tmp:
            pq.write_table(pa.Table.from_pylist(table), tmp)
        return clips

    def _annotations(self, root: Path, name: str, setup: int) -> dict[str, np.ndarray]:
        from PIL import Image

        out: dict[str, np.ndarray] = {}
        depth_dir = next(root.glob(f"nturgbd_depth_masked_s{setup:03d}/**/{name}"), None)
        if depth_dir is None:
            raise FileNotFoundError(f"{name}: no masked depth folder in nturgbd_depth_masked_s{setup:03d}.zip")
        pngs = sorted(depth_dir.glob("MDepth-*.png"))
        if not pngs:
            raise FileNotFoundError(f"{depth_dir}: no MDepth-*.png frames")
        out["depth_mm"] = np.stack([np.asarray(Image.open(p), dtype=np.uint16) for p in pngs])
        skel = next(root.glob(f"{Path(skeleton_archive(setup)).stem}/**/{name}.skeleton"), None)
        if skel is None:
            raise FileNotFoundError(f"{name}: no .skeleton file in {skeleton_archive(setup)}")
        out["joints3d"], out["joints_rgb"], out["joints_depth"] = parse_skeleton(skel.read_text())
        return out
