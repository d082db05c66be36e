"""Training samples from shards: a reference frame plus K target frames at a stride, as tensors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from humanvid.conditions import (
    crop_resize,
    crop_resize_keypoints,
    crop_resize_plane,
    densepose_condition,
    render_openpose18,
    render_wholebody,
)
from humanvid.shards.reader import ShardReader


def to_model_frames(frames: np.ndarray, size: int) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float (T, 3, size, size) in [-1, 1], centre-cropped and resized."""
    out = np.stack([crop_resize(f, size) for f in frames]).astype(np.float32) / 127.5 - 1.0
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def to_pose_images(keypoints: np.ndarray, height: int, width: int, size: int) -> torch.Tensor:
    """OpenPose-18 keypoints (T, 18, 3) in frame pixels -> skeleton images (T, 3, size, size) in [0, 1]."""
    kp = crop_resize_keypoints(keypoints, height, width, size)
    imgs = np.stack([render_openpose18(k, size, size) for k in kp]).astype(np.float32) / 255.0
    return torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous()


# A control image kind -> the shard conditions it is drawn from.
CONTROL_SOURCES: dict[str, tuple[str, ...]] = {
    "openpose": ("openpose18",),
    "dwpose": ("wholebody133",),
    "densepose": ("densepose",),
    "dwpose+densepose": ("wholebody133", "densepose"),
    "smplx": ("mesh_normals",),
}


def control_images(kind: str, conditions: dict[str, np.ndarray], height: int, width: int, size: int) -> torch.Tensor:
    """A method's control images (T, 3, size, size) in [0, 1] from per-frame conditions in frame pixels
    (height × width; pass size × size for conditions the loader already cropped).

    openpose: the OpenPose-18 skeleton; dwpose: the whole-body skeleton (body, feet, face, hands);
    densepose: MagicAnimate's visualisation (viridis of the part index); dwpose+densepose: the two images
    added (MagicAnimate's ablation "combines the two driving signals by addition"), clipped to 1; smplx: the
    rendered SMPL-X shaded normals (Make-Your-Anchor's 3D mesh condition).
    """
    if kind not in CONTROL_SOURCES:
        raise ValueError(f"unknown control kind {kind!r}; known: {', '.join(CONTROL_SOURCES)}")
    missing = [c for c in CONTROL_SOURCES[kind] if c not in conditions]
    if missing:
        raise ValueError(f"control {kind!r} needs conditions {missing}; given {sorted(conditions)}")
    images = []
    if kind == "openpose":
        return to_pose_images(conditions["openpose18"], height, width, size)
    if "wholebody133" in CONTROL_SOURCES[kind]:
        kp = crop_resize_keypoints(conditions["wholebody133"], height, width, size)
        images.append(np.stack([render_wholebody(k, size, size) for k in kp]).astype(np.float32) / 255.0)
    if "densepose" in CONTROL_SOURCES[kind]:
        iuv = np.stack([crop_resize_plane(np.asarray(p), size) for p in conditions["densepose"]])
        images.append(densepose_condition(iuv).astype(np.float32) / 255.0)
    if "mesh_normals" in CONTROL_SOURCES[kind]:
        images.append(np.stack([crop_resize_plane(np.asarray(p), size) for p in conditions["mesh_normals"]]).astype(np.float32) / 255.0)
    out = np.clip(sum(images), 0.0, 1.0)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


@dataclass(frozen=True)
class SampleSpec:
    """What one training sample holds."""

    frames: int = 1
    """K target frames."""
    stride: int = 1
    """Interval between target frames."""
    resolution: int = 64
    """Square size in pixels."""

    @property
    def span(self) -> int:
        return (self.frames - 1) * self.stride + 1


class ReferenceClipSamples(torch.utils.data.Dataset):
    """Map-style dataset over the shard rows (clip windows) of one split that can hold `spec.span` frames.

    Item i draws, from row i: a reference frame uniformly from the window, and K frames at `stride`
    from a uniform start. Draws depend only on (seed, epoch, i), so any worker order gives the same data.
    """

    def __init__(self, reader: ShardReader, spec: SampleSpec, split: str = "train", seed: int = 0) -> None:
        if "openpose18" not in reader.conditions:
            raise ValueError(f"{reader.dir}: shards have no openpose18 condition; the pose ControlNet needs it")
        self.reader, self.spec, self.seed, self.epoch = reader, spec, seed, 0
        self.entries = [r for r in reader.rows(split) if r["num_frames"] >= spec.span]
        if not self.entries:
            raise ValueError(f"{reader.dir}: no {split} window holds {spec.span} frames (K={spec.frames}, stride={spec.stride})")

    def __len__(self) -> int:
        return len(self.entries)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, i: int) -> dict[str, torch.Tensor | str]:
        entry = self.entries[i]
        rng = np.random.default_rng([self.seed, self.epoch, i])
        n = entry["num_frames"]
        ref = int(rng.integers(0, n))
        start = int(rng.integers(0, n - self.spec.span + 1))
        targets = list(range(start, start + self.spec.span, self.spec.stride))
        raw = self.reader.read_raw(entry)
        data = self.reader.decode(raw, [ref] + targets, conditions=("openpose18",))
        h, w = data["frames"].shape[1:3]
        frames = to_model_frames(data["frames"], self.spec.resolution)
        return {
            "reference": frames[0],  # (3, S, S)
            "frames": frames[1:],  # (K, 3, S, S)
            "control": to_pose_images(data["openpose18"][1:], h, w, self.spec.resolution),  # (K, 3, S, S) OpenPose images
            "clip_id": entry["clip_id"],
        }
