"""Rendering a synthdance clip and reading/writing its ground truth (imported on first use)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from humanvid.datasets.synthdance import ANNOTATION_KEYS, SynthDanceOptions
from humanvid.datasets.synthdance.body import BodyShape, Motion, pose_at
from humanvid.datasets.synthdance.render import Appearance, Camera, background_image, render
from humanvid.keypoints import openpose18_from_wholebody


def render_clip(options: SynthDanceOptions, identity: int, clip: int) -> dict[str, np.ndarray]:
    """Render one clip: rgb (T, H, W, 3) and every annotation key."""
    id_rng = np.random.default_rng([options.seed, identity])
    shape = BodyShape.sample(id_rng)
    look = Appearance.sample(id_rng)
    clip_rng = np.random.default_rng([options.seed, identity, clip, 1])
    anchor = options.preset == "anchor"
    motion = Motion.sample(clip_rng, Motion.ANCHOR_SCALE if anchor else None)
    camera = Camera.for_size(options.width, options.height)
    room_rng = clip_rng if options.background == "clip" else np.random.default_rng([options.seed, identity, 2])
    background = background_image(room_rng, options.width, options.height)
    if anchor:  # upper body framed: pelvis near the bottom edge, head in the top third, the camera 1.25 m away
        root = np.array([clip_rng.uniform(-0.04, 0.04), -0.4 - (shape.thigh + shape.shin) * 0.98, 1.25 + clip_rng.uniform(-0.05, 0.05)])
    else:
        root = np.array([clip_rng.uniform(-0.15, 0.15), -0.95, 2.9 + clip_rng.uniform(-0.2, 0.2)])
    rays = camera.rays()
    frames = [render(pose_at(shape, motion, i / options.fps, root), look, camera, background, rays) for i in range(options.num_frames)]
    kp133 = np.stack([f.keypoints for f in frames])
    return {
        "rgb": np.stack([f.rgb for f in frames]),
        "depth": np.stack([f.depth for f in frames]),
        "alpha": np.stack([f.alpha for f in frames]),
        "iuv": np.stack([f.iuv for f in frames]),
        "normals": np.stack([f.normals for f in frames]),
        "wholebody133": kp133,
        "openpose18": openpose18_from_wholebody(kp133),
        "joints3d": np.stack([f.joints3d for f in frames]),
        "camera": camera.matrix,
    }


def annotation_path(raw_dir: Path, clip_id: str) -> Path:
    return Path(raw_dir) / "annotations" / f"{clip_id}.npz"


def load_annotations(raw_dir: Path, clip_id: str) -> dict[str, np.ndarray]:
    path = annotation_path(raw_dir, clip_id)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: synthdance ground truth for clip {clip_id!r} not found")
    with np.load(path) as data:
        missing = [k for k in ANNOTATION_KEYS if k not in data]
        if missing:
            raise KeyError(f"{path}: ground truth lacks keys {missing}")
        return {k: data[k] for k in ANNOTATION_KEYS}
