"""`matting`: Robust Video Matting (Lin et al., WACV 2022) from its public TorchScript export.

The model is called as `fgr, pha, *rec = model(src, *rec, downsample_ratio)` with `src` RGB in [0, 1],
shaped (B, T, 3, H, W); the four recurrent states start as None and are carried from one chunk of frames
to the next, so a clip is matted as one sequence however it is chunked. The downsample ratio follows
RVM's own rule: the longer side is brought to 512 pixels (`min(512 / max(h, w), 1)`). TorchScript archives
are loaded with `torch.jit.load`, which runs no Python pickle code.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from humanvid.datasets.clips import Clip
from humanvid.estimators.base import Estimator


def auto_downsample_ratio(height: int, width: int) -> float:
    return min(512 / max(height, width), 1.0)


class RobustVideoMatting(Estimator):
    name: ClassVar[str] = "matting"
    provides: ClassVar[tuple[str, ...]] = ("alpha",)
    weights: ClassVar[tuple[str, ...]] = ("rvm-mobilenetv3",)
    needs_gpu: ClassVar[bool] = True
    chunk: int = 16  # frames per call; the recurrent state carries across chunks

    def __init__(self, device, dtype, raw_dir, overrides: dict[str, str] | None = None) -> None:
        super().__init__(device, dtype, raw_dir, overrides)
        import torch

        from humanvid import weights

        path = weights.resolve(self.weights[0], self.overrides)
        try:
            self.model = torch.jit.load(path, map_location=device).eval()
        except Exception as exc:  # torch raises several types for a file that is not a TorchScript archive
            raise ValueError(f"{path}: not a loadable TorchScript model ({exc})") from exc
        # The public exports are fp32 (or fp16) archives: run in the archive's own precision.

    def __call__(self, frames: np.ndarray, clip: Clip) -> dict[str, np.ndarray]:
        import torch

        if len(frames) == 0:
            raise ValueError(f"clip {clip.clip_id}: no frames")
        t, h, w = frames.shape[:3]
        ratio = auto_downsample_ratio(h, w)
        rec: list = [None] * 4
        alphas = []
        with torch.inference_mode():
            for s in range(0, t, self.chunk):
                src = torch.from_numpy(frames[s : s + self.chunk]).to(self.device).permute(0, 3, 1, 2).float().div(255)
                fgr, pha, *rec = self.model(src[None], *rec, ratio)  # src (1, T, 3, H, W)
                alphas.append(pha[0, :, 0].clamp(0, 1).mul(255).round().byte().cpu().numpy())
        return {"alpha": np.concatenate(alphas)}
