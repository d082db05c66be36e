"""`synthdance`: procedural human dance videos with exact ground truth, so the pipeline runs offline.

Deterministic by seed. Each identity has its own body proportions and appearance; each clip a dance
over its own static background (preset `anchor`: a talking anchor's upper body, small motions). Written like any real dataset (mp4 + clips.parquet) plus the ground
truth every estimator can be checked against, in `annotations/{clip_id}.npz`:

| key | dtype, shape | meaning |
| --- | --- | --- |
| depth | float32 (T, H, W) | metric depth (Z, metres) on the person, 0 elsewhere |
| alpha | uint8 (T, H, W) | 255 on the person, 0 elsewhere |
| iuv | uint8 (T, H, W, 3) | DensePose-style part index I (0-24), U, V (0-255) |
| normals | uint8 (T, H, W, 3) | the body's surface normals as a normal map (x right, y up, z to the viewer; 0 elsewhere): the ground truth of the `mesh_normals` condition |
| wholebody133 | float32 (T, 133, 3) | COCO-WholeBody keypoints: x, y (pixels), visibility |
| openpose18 | float32 (T, 18, 3) | OpenPose-18 keypoints: x, y (pixels), visibility |
| joints3d | float32 (T, 133, 3) | the whole-body keypoints in camera coordinates (metres) |
| camera | float64 (3, 3) | pinhole intrinsics K (the camera sits at the origin, looking down +Z) |
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from humanvid.datasets.base import DatasetPlugin, PluginOptions, Progress
from humanvid.datasets.clips import Clip
from humanvid.disk import reraise_if_disk_full

ANNOTATION_KEYS = ("depth", "alpha", "iuv", "normals", "wholebody133", "openpose18", "joints3d", "camera")


class SynthDanceOptions(PluginOptions):
    """How much synthetic data to make."""

    seed: int = 0
    """Master seed: the same seed gives the same clips, bit for bit."""
    identities: int = Field(3, ge=1)
    """People, each with their own shape and appearance."""
    clips_per_identity: int = Field(2, ge=1)
    """Dances per person."""
    test_clips_per_identity: int = Field(1, ge=0)
    """The last this many clips of each person form the test split."""
    num_frames: int = Field(24, ge=1)
    """Frames per clip."""
    fps: float = Field(12.0, gt=0)
    """Frame rate."""
    width: int = Field(64, ge=16)
    """Frame width in pixels (even)."""
    height: int = Field(64, ge=16)
    """Frame height in pixels (even)."""
    preset: Literal["dance", "anchor"] = "dance"
    """`dance`: the whole body dancing; `anchor`: a talking anchor — the upper body framed (face large enough to
    matter), standing still, arm gestures and head motion only (Make-Your-Anchor-like clips)."""
    background: Literal["clip", "identity"] = "clip"
    """`clip`: every clip its own room; `identity`: one room per person, in all their clips (an anchor's studio: what
    a person-specific model may learn, as Make-Your-Anchor's fine-tuning on one anchor's video does)."""
    crf: int = Field(12, ge=0, le=51)
    """H.264 constant rate factor of the written clips (lower is closer to lossless)."""

    @model_validator(mode="after")
    def _check(self) -> "SynthDanceOptions":
        if self.width % 2 or self.height % 2:
            raise ValueError(f"width and height must be even for H.264, got {self.width}x{self.height}")
        if self.test_clips_per_identity > self.clips_per_identity:
            raise ValueError("test_clips_per_identity cannot exceed clips_per_identity")
        return self


def clip_id_for(identity: int, clip: int) -> str:
    return f"id{identity:03d}_clip{clip:03d}"


def __getattr__(name: str):
    # The renderer (numpy-heavy) loads on first use, so validating params.yaml stays cheap.
    if name in ("render_clip", "load_annotations", "annotation_path"):
        from humanvid.datasets.synthdance import generate

        return getattr(generate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class SynthDance(DatasetPlugin):
    """The embedded default dataset."""

    Options = SynthDanceOptions

    def clip_plan(self) -> list[tuple[int, int, str]]:
        o = self.options
        plan = []
        for i in range(o.identities):
            for c in range(o.clips_per_identity):
                split = "test" if c >= o.clips_per_identity - o.test_clips_per_identity else "train"
                plan.append((i, c, split))
        return plan

    def ingest(self, out_dir: Path, progress: Progress = print, cache_dir: Path | None = None) -> list[Clip]:
        import numpy as np

        from humanvid.atomic import atomic_file
        from humanvid.datasets.synthdance.generate import annotation_path, render_clip
        from humanvid.video import write_video

        o = self.options
        plan = self.clip_plan()
        clips = []
        for n, (identity, clip, split) in enumerate(plan, 1):
            clip_id = clip_id_for(identity, clip)
            source = f"clips/{clip_id}.mp4"
            meta = dict(dataset=self.name, clip_id=clip_id, identity=f"id{identity:03d}", split=split,
                        fps=o.fps, num_frames=o.num_frames, width=o.width, height=o.height, source=source)  # fmt: skip
            try:
                data = render_clip(o, identity, clip)
                write_video(out_dir / source, data.pop("rgb"), o.fps, crf=o.crf)
                with atomic_file(annotation_path(out_dir, clip_id)) as tmp:
                    with open(tmp, "wb") as fh:
                        np.savez_compressed(fh, **data)
                clips.append(Clip(**meta))
            except Exception as exc:  # one bad clip is data, not a crashed dataset
                reraise_if_disk_full(exc)
                clips.append(Clip(**meta, status="failed", error=f"{type(exc).__name__}: {exc}"))
            progress(f"synthdance: clip {n}/{len(plan)} {clip_id} ({split}) {clips[-1].status}")
        return clips
