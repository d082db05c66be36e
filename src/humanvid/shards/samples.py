"""The baseline's training samples (recipe `reference_clip`): a reference frame plus K target frames at a stride
from one shard row, in the loader's sample format (humanvid.shards.loader)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from humanvid.conditions import crop_resize, crop_resize_camera, crop_resize_keypoints, crop_resize_plane
from humanvid.shards.reader import ShardReader
from humanvid.shards.schema import ARRAY_CONDITIONS, KEYPOINT_CONDITIONS


def frame_key(dataset: str, clip_id: str, frame: int, flipped: bool) -> str:
    """The identity of one training frame as a model sees it (after crop, resize and flip): what samples carry in
    `frame_keys` (K per sample) and `reference_key`, and a latent cache stores its posterior under."""
    return f"{dataset}/{clip_id}/{int(frame)}/{int(bool(flipped))}"


def to_model_frames(frames: np.ndarray, size: int) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float (T, 3, size, size) in [-1, 1], centre-cropped and resized."""
    out = np.stack([crop_resize(f, size) for f in frames]).astype(np.float32) / 127.5 - 1.0
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def crop_conditions(data: dict[str, np.ndarray], height: int, width: int, size: int) -> dict[str, torch.Tensor]:
    """Per-frame conditions in frame pixels -> through the frames' centre crop to `size`, as the loader's samples
    hold them: keypoints mapped (T, J, 3), image conditions (T, S, S) or channels-first (T, C, S, S), SMPL-X
    parameters with their camera mapped through the crop (`crop_resize_camera`)."""
    out = {}
    for name, value in data.items():
        if name in KEYPOINT_CONDITIONS:
            out[name] = torch.from_numpy(crop_resize_keypoints(value, height, width, size))
        elif name == "smplx":
            out[name] = torch.from_numpy(crop_resize_camera(value, height, width, size))
        elif name in ARRAY_CONDITIONS:
            out[name] = torch.from_numpy(np.ascontiguousarray(value))
        else:
            planes = torch.from_numpy(np.stack([crop_resize_plane(p, size) for p in value]))
            out[name] = planes.permute(0, 3, 1, 2) if planes.ndim == 4 else planes
    return out


@dataclass(frozen=True)
class SampleSpec:
    """What one training sample holds."""

    frames: int = 1
    """K target frames."""
    stride: int = 1
    """Interval between target frames (`order: strided`)."""
    resolution: int = 64
    """Square size in pixels."""
    order: Literal["strided", "random"] = "strided"
    """`strided`: K frames at `stride` from a uniform start; `random`: K distinct frames drawn uniformly from the
    window, in time order (`target_frames`)."""

    def __post_init__(self) -> None:
        if self.order == "random" and self.stride != 1:
            raise ValueError(f"order random draws frames anywhere in the window: stride must be 1, got {self.stride}")

    @property
    def span(self) -> int:
        return (self.frames - 1) * self.stride + 1


def target_frames(spec: SampleSpec, window: int, rng: np.random.Generator) -> list[int]:
    """The K target frames of one sample from a window of `window` >= `spec.span` frames: `strided` — a uniform start,
    then every `stride`-th frame; `random` — K distinct frames, every K-subset equally likely, sorted."""
    if window < spec.span:
        raise ValueError(f"a window of {window} frames cannot hold {spec.span}")
    if spec.order == "random":
        return sorted(int(t) for t in rng.choice(window, size=spec.frames, replace=False))
    start = int(rng.integers(0, window - spec.span + 1))
    return list(range(start, start + spec.span, spec.stride))


class ReferenceClipSamples(torch.utils.data.Dataset):
    """Map-style dataset over the shard rows (clip windows) of one split that can hold `spec.span` frames.

    Item i draws, from row i: a reference frame uniformly from the window, and K frames (`target_frames`: at `stride`
    from a uniform start, or K random ones in time order). Draws depend only on (seed, epoch, i), so any worker order gives the same data.
    Items: uint8 `reference` (3, S, S) and `frames` (K, 3, S, S), the `conditions` of the K frames cropped
    to S (`crop_conditions`), `clip_id`, `frame_keys` and `reference_key` (`frame_key`).
    """

    def __init__(self, reader: ShardReader, spec: SampleSpec, split: str = "train", seed: int = 0,
                 conditions: tuple[str, ...] = ("openpose18",)) -> None:  # fmt: skip
        missing = [c for c in conditions if c not in reader.conditions]
        if missing:
            raise ValueError(f"{reader.dir}: shards have no conditions {missing}; they have {sorted(reader.conditions)}")
        self.reader, self.spec, self.seed, self.epoch, self.conditions = reader, spec, seed, 0, tuple(conditions)
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
        targets = target_frames(self.spec, n, rng)
        raw = self.reader.read_raw(entry)
        data = self.reader.decode(raw, [ref] + targets, conditions=self.conditions)
        h, w = data["frames"].shape[1:3]
        s = self.spec.resolution
        # Contiguous channels-first, as the baseline always trained (strides decide CPU conv kernels, hence rounding).
        frames = torch.from_numpy(np.stack([crop_resize(f, s) for f in data["frames"]])).permute(0, 3, 1, 2).contiguous()
        sample = {"reference": frames[0], "frames": frames[1:], "clip_id": entry["clip_id"]}  # (3, S, S), (K, 3, S, S) uint8
        name, first = self.reader.dir.name, entry["frame_start"]
        sample["frame_keys"] = [frame_key(name, entry["clip_id"], first + t, False) for t in targets]
        sample["reference_key"] = frame_key(name, entry["clip_id"], first + ref, False)
        sample.update(crop_conditions({c: data[c][1:] for c in self.conditions}, h, w, s))
        return sample
