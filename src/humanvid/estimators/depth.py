"""Depth: monocular estimators through transformers (DPT/MiDaS, Depth Anything V2), and the datasets' own
depth behind the same interface.

Monocular models predict *relative inverse depth* (disparity up to an unknown scale and shift: larger is
nearer); they are written as the `depth` condition as predicted, resized to the frame, with
`depth_kind = "relative_inverse"` in the estimator's record. Metric comparison aligns them per frame inside
the human mask (`humanvid.metrics.depth.align_scale_shift`, least squares). Frames go through the model's
own image processor (its resize, `ensure_multiple_of`, normalisation) in batches of `batch` frames on the
device given.

`dataset_depth` serves depth a dataset ships, frame-aligned: TikTok's `depth` maps (HDNet estimates, as
stored in its archive), and NTU RGB+D 120's masked Kinect depth registered to the clip's frames. The
Kinect depth camera (512×424) is not registered to the RGB camera in the release, but every skeleton joint
carries both its depth-pixel and its RGB-pixel position: a least-squares affine map depth pixel -> RGB
pixel is fitted per clip on those pairs (all tracked joints of all frames), composed with the plugin's
RGB -> clip map (crop, resize, flip), and each depth pixel is splatted (a footprint of the map's scale,
nearest surface wins) into the clip frame. An affine map ignores the parallax between the two cameras
(a few centimetres apart, the subject metres away): the clip says how well it fits (`registration_px`,
the joints' RMS residual, in the error when it exceeds `MAX_RESIDUAL_PX`). IDOL evaluates NTU120 on MiDaS
depth — `dpt_hybrid` — and this is the sensor's own measurement beside it.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from humanvid.datasets.clips import Clip
from humanvid.estimators.base import Estimator


class MonocularDepth(Estimator):
    """A transformers `AutoModelForDepthEstimation` checkpoint folder (config + weights + processor)."""

    provides: ClassVar[tuple[str, ...]] = ("depth",)
    needs_gpu: ClassVar[bool] = True
    depth_kind: ClassVar[str] = "relative_inverse"
    batch: int = 8  # frames per forward pass

    def __init__(self, device, dtype, raw_dir, overrides: dict[str, str] | None = None) -> None:
        super().__init__(device, dtype, raw_dir, overrides)
        from transformers import AutoImageProcessor, AutoModelForDepthEstimation

        from humanvid import weights

        path = weights.resolve(self.weights[0], self.overrides)
        self.processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
        self.model = AutoModelForDepthEstimation.from_pretrained(path, local_files_only=True).to(device=device, dtype=dtype).eval()

    def predict(self, frames: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, 3) -> float32 (N, H, W): the model's output, resized bicubically to the frames."""
        import torch
        import torch.nn.functional as F

        inputs = self.processor(images=list(frames), return_tensors="pt")
        with torch.inference_mode():
            out = self.model(pixel_values=inputs["pixel_values"].to(self.device, self.dtype)).predicted_depth  # (N, h, w)
            out = F.interpolate(out[:, None].float(), size=frames.shape[1:3], mode="bicubic", align_corners=False)[:, 0]
        return out.cpu().numpy().astype(np.float32)

    def estimate(self, frames: np.ndarray, what: str) -> np.ndarray:
        """uint8 (T, H, W, 3) -> float32 (T, H, W) in batches of `batch` frames; `what` names the frames in errors."""
        if len(frames) == 0:
            raise ValueError(f"{what}: no frames")
        depth = np.concatenate([self.predict(frames[s : s + self.batch]) for s in range(0, len(frames), self.batch)])
        if not np.isfinite(depth).all():
            raise ValueError(f"{what}: {self.name} predicted non-finite depth")
        return depth

    def __call__(self, frames: np.ndarray, clip: Clip) -> dict[str, np.ndarray]:
        return {"depth": self.estimate(frames, f"clip {clip.clip_id}")}


class DPTHybridMidas(MonocularDepth):
    """MiDaS v3 DPT-Hybrid (Intel/dpt-hybrid-midas): the depth IDOL uses for NTU RGB+D 120."""

    name: ClassVar[str] = "dpt_hybrid"
    weights: ClassVar[tuple[str, ...]] = ("dpt-hybrid-midas",)


class DepthAnythingV2Small(MonocularDepth):
    name: ClassVar[str] = "depth_anything_v2_small"
    weights: ClassVar[tuple[str, ...]] = ("depth-anything-v2-small",)


class DepthAnythingV2Base(MonocularDepth):
    name: ClassVar[str] = "depth_anything_v2_base"
    weights: ClassVar[tuple[str, ...]] = ("depth-anything-v2-base",)


class DatasetDepth(Estimator):
    """The depth a dataset ships, frame-aligned (see the module docstring)."""

    name: ClassVar[str] = "dataset_depth"
    provides: ClassVar[tuple[str, ...]] = ("depth",)
    depth_kind: ClassVar[str] = "as_stored"
    PLUGINS: ClassVar[tuple[str, ...]] = ("tiktok", "ntu120")
    MAX_RESIDUAL_PX: ClassVar[float] = 20.0
    """Refuse an NTU clip whose joints fit the affine depth -> RGB map worse than this (RGB pixels, RMS)."""

    @classmethod
    def supports(cls, dataset_plugin: str) -> bool:
        return dataset_plugin in cls.PLUGINS

    def __call__(self, frames: np.ndarray, clip: Clip) -> dict[str, np.ndarray]:
        path = self.raw_dir / "annotations" / f"{clip.clip_id}.npz"
        if not path.is_file():
            raise FileNotFoundError(f"clip {clip.clip_id}: no annotations file {path} (has the download stage run?)")
        with np.load(path, allow_pickle=False) as data:
            if "depth_mm" in data.files:  # NTU RGB+D 120: Kinect depth in the depth camera's geometry
                return {"depth": self.registered(dict(data), frames.shape[1:3], clip)}
            if "depth" not in data.files:
                raise ValueError(f"clip {clip.clip_id}: {path} has no depth maps (this copy of the dataset ships none)")
            depth = data["depth"].astype(np.float32)
        if depth.shape != frames.shape[:3]:
            raise ValueError(f"clip {clip.clip_id}: depth {depth.shape} does not match the video's frames {frames.shape[:3]}")
        return {"depth": depth}

    def registered(self, ann: dict[str, np.ndarray], size: tuple[int, int], clip: Clip) -> np.ndarray:
        """NTU's Kinect depth (millimetres, depth camera) -> metres in the clip's frames (T, H, W)."""
        missing = [k for k in ("depth_mm", "joints_depth", "joints_rgb", "frame_index", "rgb_to_clip") if k not in ann]
        if missing:
            raise ValueError(f"clip {clip.clip_id}: annotations lack {missing} (re-run the download stage)")
        src = ann["joints_depth"].reshape(-1, 2).astype(np.float64)
        dst = ann["joints_rgb"].reshape(-1, 2).astype(np.float64)
        ok = np.isfinite(src).all(1) & np.isfinite(dst).all(1)
        if ok.sum() < 6:
            raise ValueError(f"clip {clip.clip_id}: {int(ok.sum())} tracked joints, too few to register depth to RGB")
        design = np.concatenate([src[ok], np.ones((int(ok.sum()), 1))], 1)  # (N, 3)
        affine, *_ = np.linalg.lstsq(design, dst[ok], rcond=None)  # (3, 2): depth px -> RGB px
        residual = float(np.sqrt(((design @ affine - dst[ok]) ** 2).sum(1).mean()))
        if residual > self.MAX_RESIDUAL_PX:
            raise ValueError(f"clip {clip.clip_id}: depth -> RGB registration_px {residual:.1f} (RMS over the joints) exceeds "
                             f"{self.MAX_RESIDUAL_PX}: the skeleton's depth and RGB positions disagree")  # fmt: skip
        to_clip = ann["rgb_to_clip"].astype(np.float64)  # (2, 3)
        m = to_clip[:, :2] @ affine[:2].T  # (2, 2): depth px -> clip px
        t = to_clip[:, :2] @ affine[2] + to_clip[:, 2]
        h, w = size
        foot = max(1, int(np.ceil(np.sqrt(abs(np.linalg.det(m))))))  # clip pixels one depth pixel covers, per side
        index, depth_mm = ann["frame_index"], ann["depth_mm"]
        if len(index) != clip.num_frames or (len(index) and index.max() >= len(depth_mm)):
            raise ValueError(f"clip {clip.clip_id}: {len(depth_mm)} depth frames do not cover the clip's {len(index)} source frames")
        out = np.zeros((len(index), h, w), np.float32)
        for k, i in enumerate(index):
            ys, xs = np.nonzero(depth_mm[i])
            z = depth_mm[i][ys, xs].astype(np.float32) / 1000.0
            pos = np.stack([xs + 0.5, ys + 0.5], 1) @ m.T + t  # (N, 2) clip positions
            px, py = np.floor(pos[:, 0]).astype(int), np.floor(pos[:, 1]).astype(int)
            nearest = np.full((h, w), np.inf, np.float32)  # z-buffer: the nearest surface wins
            for dy in range(foot):
                for dx in range(foot):
                    x, y = px + dx - foot // 2, py + dy - foot // 2
                    keep = (x >= 0) & (x < w) & (y >= 0) & (y < h)
                    np.minimum.at(nearest, (y[keep], x[keep]), z[keep])
            out[k] = np.where(np.isfinite(nearest), nearest, 0.0)
        return out
