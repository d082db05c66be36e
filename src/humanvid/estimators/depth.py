"""Depth: monocular estimators through transformers (DPT/MiDaS, Depth Anything V2), and the datasets' own
depth behind the same interface.

Monocular models predict *relative inverse depth* (disparity up to an unknown scale and shift: larger is
nearer); they are written as the `depth` condition as predicted, resized to the frame, with
`depth_kind = "relative_inverse"` in the estimator's record. Metric comparison aligns them per frame inside
the human mask (`humanvid.metrics.depth.align_scale_shift`, least squares). Frames go through the model's
own image processor (its resize, `ensure_multiple_of`, normalisation) in batches of `batch` frames on the
device given.

`dataset_depth` serves depth a dataset ships, frame-aligned: TikTok's `depth` maps (HDNet estimates, as
stored in its archive). NTU RGB+D 120's Kinect depth is kept by its plugin in the depth camera's own
geometry (512×424, not registered to RGB), so it cannot be a frame-aligned condition; IDOL evaluates NTU120
on MiDaS depth — use `dpt_hybrid` there.
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

    def __call__(self, frames: np.ndarray, clip: Clip) -> dict[str, np.ndarray]:
        if len(frames) == 0:
            raise ValueError(f"clip {clip.clip_id}: no frames")
        depth = np.concatenate([self.predict(frames[s : s + self.batch]) for s in range(0, len(frames), self.batch)])
        if not np.isfinite(depth).all():
            raise ValueError(f"clip {clip.clip_id}: {self.name} predicted non-finite depth")
        return {"depth": depth}


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
    PLUGINS: ClassVar[tuple[str, ...]] = ("tiktok",)

    @classmethod
    def supports(cls, dataset_plugin: str) -> bool:
        return dataset_plugin in cls.PLUGINS

    def __call__(self, frames: np.ndarray, clip: Clip) -> dict[str, np.ndarray]:
        path = self.raw_dir / "annotations" / f"{clip.clip_id}.npz"
        if not path.is_file():
            raise FileNotFoundError(f"clip {clip.clip_id}: no annotations file {path} (has the download stage run?)")
        with np.load(path, allow_pickle=False) as data:
            if "depth" not in data.files:
                raise ValueError(f"clip {clip.clip_id}: {path} has no depth maps (this copy of the dataset ships none)")
            depth = data["depth"].astype(np.float32)
        if depth.shape != frames.shape[:3]:
            raise ValueError(f"clip {clip.clip_id}: depth {depth.shape} does not match the video's frames {frames.shape[:3]}")
        return {"depth": depth}
