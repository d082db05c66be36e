"""`densepose`: detectron2's DensePose (R_50_FPN_s1x) — an optional extra — and what surrounds it.

detectron2 is not on PyPI; install it and the DensePose project from source (docs/estimators.md):

    pip install 'git+https://github.com/facebookresearch/detectron2.git'
    pip install 'git+https://github.com/facebookresearch/detectron2.git#subdirectory=projects/DensePose'

Per person, the model's chart head gives `coarse_segm` (2, S, S), `fine_segm` (25, S, S), `u` and `v`
(25, S, S) over the person's box. They are resampled (bilinear) to the box, the part index I is the
fine-segmentation argmax where the coarse segmentation says foreground, and U, V are read from I's
channel — detectron2's own chart-result conversion. People are pasted into the frame's IUV by ascending
score, so the most confident wins where they overlap.

MagicAnimate's condition image is DensePose's fine-segmentation visualisation: I scaled by 255/24 through
the viridis colour map over the whole frame, so the background (I = 0) is viridis' purple (68, 1, 84).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from humanvid.conditions import densepose_condition  # noqa: F401  (re-exported: the estimator's output, as MagicAnimate sees it)
from humanvid.datasets.clips import Clip
from humanvid.estimators.base import Estimator

INSTALL = (
    "detectron2 and its DensePose project are not installed. They are not on PyPI: "
    "pip install 'git+https://github.com/facebookresearch/detectron2.git' && "
    "pip install 'git+https://github.com/facebookresearch/detectron2.git#subdirectory=projects/DensePose' "
    "(see docs/estimators.md)"
)


@dataclass(frozen=True)
class ChartInstance:
    """One detected person as detectron2 gives it."""

    box: np.ndarray  # (4,) xyxy in frame pixels
    score: float
    coarse_segm: np.ndarray  # (2, S, S)
    fine_segm: np.ndarray  # (25, S, S)
    u: np.ndarray  # (25, S, S)
    v: np.ndarray  # (25, S, S)


def chart_to_iuv(inst: ChartInstance) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """-> (box_h, box_w, 3) uint8 I, U*255, V*255 for the person's box, and the integer box (x0, y0, x1, y1)."""
    import torch
    import torch.nn.functional as F

    x0, y0 = int(np.floor(inst.box[0])), int(np.floor(inst.box[1]))
    x1, y1 = int(np.ceil(inst.box[2])), int(np.ceil(inst.box[3]))
    h, w = max(1, y1 - y0), max(1, x1 - x0)

    def up(a: np.ndarray) -> torch.Tensor:
        return F.interpolate(torch.from_numpy(a[None]).float(), size=(h, w), mode="bilinear", align_corners=False)[0]

    coarse, fine = up(inst.coarse_segm), up(inst.fine_segm)
    index = fine.argmax(0) * (coarse.argmax(0) > 0)  # (h, w) part 0-24
    u = up(inst.u).gather(0, index[None])[0].clamp(0, 1)
    v = up(inst.v).gather(0, index[None])[0].clamp(0, 1)
    iuv = torch.stack([index.float(), u * 255, v * 255], -1).round().byte().numpy()
    return iuv, (x0, y0, x1, y1)


def paste_instances(instances: list[ChartInstance], height: int, width: int) -> np.ndarray:
    """Frame IUV (H, W, 3): people pasted by ascending score, background 0."""
    out = np.zeros((height, width, 3), np.uint8)
    for inst in sorted(instances, key=lambda i: i.score):
        iuv, (x0, y0, x1, y1) = chart_to_iuv(inst)
        cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
        if cx1 <= cx0 or cy1 <= cy0:
            continue
        part = iuv[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        fg = part[..., 0] > 0
        out[cy0:cy1, cx0:cx1][fg] = part[fg]
    return out


class DensePose(Estimator):
    name: ClassVar[str] = "densepose"
    provides: ClassVar[tuple[str, ...]] = ("densepose",)
    weights: ClassVar[tuple[str, ...]] = ("densepose-r50-fpn-s1x",)
    needs_gpu: ClassVar[bool] = True
    min_score: float = 0.8  # detectron2 DensePose demo's default detection threshold

    def __init__(self, device, dtype, raw_dir, overrides: dict[str, str] | None = None) -> None:
        super().__init__(device, dtype, raw_dir, overrides)
        try:
            from densepose import add_densepose_config  # noqa: F401  (the DensePose project)
            from detectron2.config import get_cfg  # noqa: F401
        except ImportError as exc:
            raise ImportError(INSTALL) from exc
        from humanvid import weights

        self.predictor = self._build_predictor(weights.resolve(self.weights[0], self.overrides))

    def _build_predictor(self, weight_path: str):  # pragma: no cover - needs detectron2
        from densepose import add_densepose_config
        from densepose.model_zoo import get_config_file  # type: ignore[attr-defined]
        from detectron2.config import get_cfg
        from detectron2.engine import DefaultPredictor

        cfg = get_cfg()
        add_densepose_config(cfg)
        cfg.merge_from_file(get_config_file("densepose_rcnn_R_50_FPN_s1x.yaml"))
        cfg.MODEL.WEIGHTS = weight_path
        cfg.MODEL.DEVICE = str(self.device)
        cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = self.min_score
        return DefaultPredictor(cfg)

    def _instances(self, frame: np.ndarray) -> list[ChartInstance]:  # pragma: no cover - needs detectron2
        out = self.predictor(frame[..., ::-1].copy())["instances"].to("cpu")  # detectron2 expects BGR
        if not len(out) or not out.has("pred_densepose"):
            return []
        dp = out.pred_densepose
        return [
            ChartInstance(out.pred_boxes.tensor[i].numpy(), float(out.scores[i]), dp.coarse_segm[i].numpy(),
                          dp.fine_segm[i].numpy(), dp.u[i].numpy(), dp.v[i].numpy())  # fmt: skip
            for i in range(len(out))
        ]

    def __call__(self, frames: np.ndarray, clip: Clip) -> dict[str, np.ndarray]:
        if len(frames) == 0:
            raise ValueError(f"clip {clip.clip_id}: no frames")
        h, w = frames.shape[1:3]
        return {"densepose": np.stack([paste_instances(self._instances(f), h, w) for f in frames])}
