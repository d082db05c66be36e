"""`dwpose`: DWPose whole-body keypoints through onnxruntime — the public YOLOX-L person detector
(`yolox_l.onnx`) and the distilled RTMPose whole-body model (`dw-ll_ucoco_384.onnx`).

Pre- and post-processing follow the public ONNX pipeline:
- detector: the frame is resized (bilinear, aspect kept) into the top-left of a 640 x 640 canvas of
  value 114, fed as float 0-255 CHW; outputs per anchor (cx, cy, w, h, objectness, class scores) on
  strides 8/16/32 are decoded with their grid offsets, scored objectness x class, NMS at 0.45 over
  scores > 0.1, and persons (class 0) above 0.3 kept;
- pose: each person box becomes a centre and a scale padded by 1.25, widened to the model's 288:384
  aspect, warped (bilinear) to 288 x 384, normalised with ImageNet mean/std (0-255 scale); the two SimCC
  outputs (x: 576 bins, y: 768 bins, split ratio 2) decode by argmax; a keypoint's score is the smaller
  of its two maxima; locations map back through the same centre and scale.
Frames are fed as RGB, as the reference ControlNet annotator does. Persons and frames are batched
through the pose model. The clip's main person per frame is the box with the highest mean keypoint
score; a frame with no person gives zero scores (an empty result, not an error).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

from humanvid.datasets.clips import Clip
from humanvid.estimators.base import Estimator

if TYPE_CHECKING:
    import torch

DET_SIZE = (640, 640)  # (h, w)
POSE_SIZE = (288, 384)  # (w, h)
SIMCC_SPLIT = 2.0
MEAN = np.array([123.675, 116.28, 103.53], np.float32)
STD = np.array([58.395, 57.12, 57.375], np.float32)
STRIDES = (8, 16, 32)


def letterbox(frame: np.ndarray, size: tuple[int, int] = DET_SIZE) -> tuple[np.ndarray, float]:
    """(H, W, 3) uint8 -> (3, h, w) float32 canvas with the frame resized into its top-left, and the ratio."""
    import cv2

    h, w = frame.shape[:2]
    ratio = min(size[0] / h, size[1] / w)
    canvas = np.full((size[0], size[1], 3), 114, np.uint8)
    resized = cv2.resize(frame, (int(w * ratio), int(h * ratio)), interpolation=cv2.INTER_LINEAR)
    canvas[: resized.shape[0], : resized.shape[1]] = resized
    return np.ascontiguousarray(canvas.transpose(2, 0, 1), dtype=np.float32), ratio


def decode_yolox(raw: np.ndarray, size: tuple[int, int] = DET_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """(anchors, 5 + classes) -> boxes (anchors, 4) xyxy in canvas pixels, scores (anchors, classes)."""
    grids, strides = [], []
    for s in STRIDES:
        hs, ws = size[0] // s, size[1] // s
        xv, yv = np.meshgrid(np.arange(ws), np.arange(hs))
        grids.append(np.stack([xv, yv], -1).reshape(-1, 2))
        strides.append(np.full((hs * ws, 1), s))
    grid, stride = np.concatenate(grids), np.concatenate(strides)
    if len(grid) != len(raw):
        raise ValueError(f"detector gave {len(raw)} anchors, a {size[1]}x{size[0]} input has {len(grid)}")
    xy = (raw[:, :2] + grid) * stride
    wh = np.exp(raw[:, 2:4]) * stride
    boxes = np.concatenate([xy - wh / 2, xy + wh / 2], axis=1)
    return boxes, raw[:, 4:5] * raw[:, 5:]


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    """Greedy non-maximum suppression (IoU with the +1 pixel convention of the reference code)."""
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size:
        i = order[0]
        keep.append(int(i))
        w = np.maximum(0.0, np.minimum(x2[i], x2[order[1:]]) - np.maximum(x1[i], x1[order[1:]]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[order[1:]]) - np.maximum(y1[i], y1[order[1:]]) + 1)
        iou = w * h / (areas[i] + areas[order[1:]] - w * h)
        order = order[1:][iou <= threshold]
    return keep


def person_boxes(raw: np.ndarray, ratio: float, nms_thr: float = 0.45, score_thr: float = 0.1, keep_thr: float = 0.3) -> np.ndarray:
    """Detector output of one frame -> person boxes (n, 4) xyxy in frame pixels."""
    boxes, scores = decode_yolox(raw)
    boxes = boxes / ratio
    people = scores[:, 0]
    valid = people > score_thr
    if not valid.any():
        return np.zeros((0, 4), np.float32)
    boxes, people = boxes[valid], people[valid]
    keep = [i for i in nms(boxes, people, nms_thr) if people[i] > keep_thr]
    return boxes[keep].astype(np.float32)


def box_to_center_scale(box: np.ndarray, padding: float = 1.25, aspect: float = POSE_SIZE[0] / POSE_SIZE[1]) -> tuple[np.ndarray, np.ndarray]:
    """xyxy -> centre (2,) and scale (w, h) padded and widened to the model's aspect (w / h)."""
    x1, y1, x2, y2 = box
    center = np.array([(x1 + x2) / 2, (y1 + y2) / 2], np.float32)
    w, h = (x2 - x1) * padding, (y2 - y1) * padding
    scale = np.array([w, w / aspect] if w > h * aspect else [h * aspect, h], np.float32)
    return center, scale


def warp_matrix(center: np.ndarray, scale: np.ndarray, size: tuple[int, int] = POSE_SIZE) -> np.ndarray:
    """2 x 3 affine taking the scale box around the centre onto a (w, h) = size image (no rotation)."""
    s = size[0] / scale[0]
    return np.array([[s, 0, size[0] / 2 - s * center[0]], [0, s, size[1] / 2 - s * center[1]]], np.float32)


def crop_person(frame: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> normalised (3, 384, 288) input, centre, scale."""
    import cv2

    center, scale = box_to_center_scale(box)
    warped = cv2.warpAffine(frame, warp_matrix(center, scale), POSE_SIZE, flags=cv2.INTER_LINEAR)
    return ((warped.astype(np.float32) - MEAN) / STD).transpose(2, 0, 1), center, scale


def decode_simcc(simcc_x: np.ndarray, simcc_y: np.ndarray, split: float = SIMCC_SPLIT) -> tuple[np.ndarray, np.ndarray]:
    """(N, K, Wx), (N, K, Wy) -> locations (N, K, 2) in model-input pixels and scores (N, K)."""
    locs = np.stack([simcc_x.argmax(-1), simcc_y.argmax(-1)], -1).astype(np.float32) / split
    scores = np.minimum(simcc_x.max(-1), simcc_y.max(-1))
    locs[scores <= 0] = -1
    return locs, scores


def to_frame(locs: np.ndarray, center: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Model-input pixel locations (K, 2) -> frame pixels, through the crop's centre and scale."""
    return locs / np.array(POSE_SIZE, np.float32) * scale + center - scale / 2


class DWPose(Estimator):
    name: ClassVar[str] = "dwpose"
    provides: ClassVar[tuple[str, ...]] = ("wholebody133", "openpose18")
    weights: ClassVar[tuple[str, ...]] = ("dwpose-yolox-l", "dwpose-ll-ucoco-384")
    needs_gpu: ClassVar[bool] = True
    batch: int = 32  # person crops per pose-model call

    def __init__(self, device: "torch.device", dtype: "torch.dtype", raw_dir, overrides: dict[str, str] | None = None) -> None:
        super().__init__(device, dtype, raw_dir, overrides)
        from humanvid import weights

        detector, pose = self.weights
        self.detector = self._session(weights.resolve(detector, self.overrides))
        self.pose = self._session(weights.resolve(pose, self.overrides))

    def _session(self, path: str):
        import onnxruntime as ort

        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if self.device.type == "cuda" else ["CPUExecutionProvider"]
        try:
            return ort.InferenceSession(path, providers=providers)
        except Exception as exc:  # onnxruntime raises its own types for unreadable files
            raise ValueError(f"{path}: not a loadable ONNX model ({exc})") from exc

    def detect(self, frame: np.ndarray) -> np.ndarray:
        canvas, ratio = letterbox(frame)
        name = self.detector.get_inputs()[0].name
        raw = self.detector.run(None, {name: canvas[None]})[0][0]
        return person_boxes(raw, ratio)

    def keypoints(self, crops: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Batched pose model over person crops -> locations (N, 133, 2) in input pixels, scores (N, 133)."""
        name = self.pose.get_inputs()[0].name
        locs, scores = [], []
        for i in range(0, len(crops), self.batch):
            simcc_x, simcc_y = self.pose.run(None, {name: np.stack(crops[i : i + self.batch])})[:2]
            loc, score = decode_simcc(simcc_x, simcc_y)
            locs.append(loc)
            scores.append(score)
        return np.concatenate(locs), np.concatenate(scores)

    def __call__(self, frames: np.ndarray, clip: Clip) -> dict[str, np.ndarray]:
        if len(frames) == 0:
            raise ValueError(f"clip {clip.clip_id}: no frames")
        crops, owners, geometry = [], [], []
        for t, frame in enumerate(frames):
            for box in self.detect(frame):
                crop, center, scale = crop_person(frame, box)
                crops.append(crop)
                owners.append(t)
                geometry.append((center, scale))
        from humanvid.keypoints import openpose18_from_wholebody

        out = np.zeros((len(frames), 133, 3), np.float32)
        if not crops:
            return {"wholebody133": out, "openpose18": openpose18_from_wholebody(out)}
        locs, scores = self.keypoints(crops)
        best = np.full(len(frames), -1.0)
        for (t, (center, scale)), loc, score in zip(zip(owners, geometry, strict=True), locs, scores, strict=True):
            if score.mean() > best[t]:  # the frame's main person: the most confident one
                best[t] = score.mean()
                out[t, :, :2] = to_frame(loc, center, scale)
                out[t, :, 2] = np.clip(score, 0, 1)
        return {"wholebody133": out, "openpose18": openpose18_from_wholebody(out)}
