"""`openpose_wholebody`: the CMU OpenPose body, hand and face networks (the PyTorch ports' `body_pose_model.pth`,
`hand_pose_model.pth`, `facenet.pth`) — the estimator Make-Your-Anchor computes its face, body and hand LMD with.

Networks: hand and face share one layout (a convolutional pose machine, Simon et al. 2017): a VGG-19 trunk to
`conv5_3_CPM` (128 channels at stride 8), stage 1 (`conv6_1_CPM` 128 → 512, `conv6_2_CPM` 512 → maps, both 1×1)
and stages 2-6 (`Mconv1..7_stage{i}`: five 7×7 convolutions on the previous maps concatenated with the trunk
features, maps first, then two 1×1). The hand net has 22 maps (21 joints + background), the face net 71
(68 iBUG landmarks, 2 pupils, background). The released files name layers without a block, as the body's.

Boxes come from the body, as the ports do it (OpenPose's handDetector.cpp and the ControlNet annotator):
- hand: needs shoulder, elbow and wrist; centre = wrist + 0.33 (wrist − elbow), side = 1.5 max(|wrist − elbow|,
  0.9 |elbow − shoulder|); the top-left clipped to the frame, the side shrunk to fit; dropped under 20 px.
- face: needs the nose and an eye or ear; half-side = max(3 · Chebyshev distance nose-eye, 1.5 · nose-ear); the
  box starts a half-side up and left of the nose; dropped under 20 px (the port's border check compares the
  half-side, kept as is).

Inference on a crop (BGR, values / 256 − 0.5):
- hand (pytorch-openpose): at each of the scales 0.5, 1, 1.5, 2 the crop is resized (bicubic) so its height is
  scale × 368, padded right/down with 128 to a multiple of 8; the last stage's maps come back ×8 (bicubic),
  unpadded, resized to the crop and averaged over scales. Per joint: the Gaussian-smoothed (σ 3) map above 0.05
  splits into 8-connected regions; in the region of largest total response the joint is the raw map's maximum.
- face (ControlNet annotator): the crop is resized to 384² (area when shrinking, Lanczos otherwise); the last
  stage's maps are resized bilinearly (corners aligned) back to the crop; a landmark is the map's maximum where
  it exceeds 0.05.
A joint's score is the map's value at its peak (the ports keep no score; LMD's threshold needs one); a joint
that is not found has score 0.

Output: `openpose18` (the body, as `openpose`) and `wholebody133` in COCO-WholeBody order: the 17 COCO body points
from the body net (OpenPose's neck has no slot), no feet (score 0), the 68 face landmarks (pupils dropped) and both
hands (OpenPose's hand order is COCO-WholeBody's).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from humanvid.datasets.clips import Clip
from humanvid.estimators.openpose import BOX_SIZE, PAD_VALUE, STRIDE, OpenPoseBody, load_released, released_state, sequential
from humanvid.keypoints import wholebody_from_openpose

HAND_MAPS, FACE_MAPS = 22, 71
HAND_JOINTS, FACE_LANDMARKS = 21, 68
HAND_SCALES = (0.5, 1.0, 1.5, 2.0)
HAND_THRESHOLD, FACE_THRESHOLD = 0.05, 0.05
FACE_INPUT = 384
MIN_BOX = 20


def _cpm_trunk_spec() -> list[tuple[str, tuple]]:
    c = lambda i, o: ("conv", (i, o, 3))  # noqa: E731
    return [("conv1_1", c(3, 64)), ("conv1_2", c(64, 64)), ("pool1_stage1", ("pool",)), ("conv2_1", c(64, 128)),
            ("conv2_2", c(128, 128)), ("pool2_stage1", ("pool",)), ("conv3_1", c(128, 256)), ("conv3_2", c(256, 256)),
            ("conv3_3", c(256, 256)), ("conv3_4", c(256, 256)), ("pool3_stage1", ("pool",)), ("conv4_1", c(256, 512)),
            ("conv4_2", c(512, 512)), ("conv4_3", c(512, 512)), ("conv4_4", c(512, 512)), ("conv5_1", c(512, 512)),
            ("conv5_2", c(512, 512)), ("conv5_3_CPM", c(512, 128))]  # fmt: skip


def _cpm_stage_spec(stage: int, maps: int) -> list[tuple[str, tuple]]:
    if stage == 1:
        return [("conv6_1_CPM", ("conv", (128, 512, 1))), ("conv6_2_CPM", ("conv", (512, maps, 1)))]
    convs = [(f"Mconv{j}_stage{stage}", ("conv", (128 + maps if j == 1 else 128, 128, 7))) for j in range(1, 6)]
    return convs + [(f"Mconv6_stage{stage}", ("conv", (128, 128, 1))), (f"Mconv7_stage{stage}", ("conv", (128, maps, 1)))]


class KeypointNet:
    """The hand / face pose machine, built lazily as a torch module: `KeypointNet.build(HAND_MAPS)`."""

    @staticmethod
    def build(maps: int, what: str = "OpenPose keypoint"):
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model1_0 = sequential(_cpm_trunk_spec(), last_linear=False)
                for stage in range(1, 7):
                    setattr(self, f"model{stage}" if stage > 1 else "model1_1", sequential(_cpm_stage_spec(stage, maps), last_linear=True))

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                """(B, 3, H, W) -> the last stage's maps (B, maps, H/8, W/8)."""
                features = self.model1_0(x)
                out = self.model1_1(features)
                for stage in range(2, 7):
                    out = getattr(self, f"model{stage}")(torch.cat([out, features], 1))
                return out

            def load_released(self, state: dict) -> None:
                load_released(self, state, what)

        return Net()


def hand_boxes(person: np.ndarray, height: int, width: int) -> list[tuple[int, int, int, bool]]:
    """OpenPose-18 keypoints (18, 3) (score 0 = missing) of a frame -> hand boxes (x, y, side, is_left), the
    person's left hand first; a hand whose shoulder, elbow or wrist is missing, or whose box is under 20 px, has none."""
    boxes = []
    for is_left, (shoulder, elbow, wrist) in ((True, (5, 6, 7)), (False, (2, 3, 4))):
        if (person[[shoulder, elbow, wrist], 2] <= 0).any():
            continue
        (x1, y1), (x2, y2), (x3, y3) = person[shoulder, :2], person[elbow, :2], person[wrist, :2]
        side = 1.5 * max(math.hypot(x3 - x2, y3 - y2), 0.9 * math.hypot(x2 - x1, y2 - y1))
        x = max(x3 + 0.33 * (x3 - x2) - side / 2, 0.0)
        y = max(y3 + 0.33 * (y3 - y2) - side / 2, 0.0)
        side = min(side, width - x, height - y)
        if side >= MIN_BOX:
            boxes.append((int(x), int(y), int(side), is_left))
    return boxes


def face_box(person: np.ndarray, height: int, width: int) -> tuple[int, int, int] | None:
    """OpenPose-18 keypoints (18, 3) -> the face box (x, y, side), or None without a nose and an eye or ear, or
    under 20 px."""
    if person[0, 2] <= 0 or (person[14:18, 2] <= 0).all():
        return None
    x0, y0 = person[0, :2]
    half = 0.0
    for joint, factor in ((14, 3.0), (15, 3.0), (16, 1.5), (17, 1.5)):  # eyes, ears
        if person[joint, 2] > 0:
            half = max(half, factor * max(abs(x0 - person[joint, 0]), abs(y0 - person[joint, 1])))
    x, y = max(x0 - half, 0.0), max(y0 - half, 0.0)
    side = min(width - x if x + half > width else 2 * half, height - y if y + half > height else 2 * half)
    return (int(x), int(y), int(side)) if side >= MIN_BOX else None


def hand_peaks(heatmaps: np.ndarray, threshold: float = HAND_THRESHOLD) -> np.ndarray:
    """Averaged hand maps (H, W, >= 21) of a crop -> (21, 3) x, y in the crop, score (0: not found)."""
    from scipy import ndimage

    out = np.zeros((HAND_JOINTS, 3), np.float32)
    for j in range(HAND_JOINTS):
        raw = heatmaps[:, :, j]
        regions, n = ndimage.label(ndimage.gaussian_filter(raw, sigma=3) > threshold, structure=np.ones((3, 3)))
        if n == 0:
            continue
        best = 1 + int(np.argmax(ndimage.sum(raw, regions, np.arange(1, n + 1))))
        y, x = np.unravel_index(np.argmax(np.where(regions == best, raw, -np.inf)), raw.shape)
        out[j] = (x, y, np.clip(raw[y, x], 0, 1))
    return out


def face_peaks(heatmaps: np.ndarray, threshold: float = FACE_THRESHOLD) -> np.ndarray:
    """Face maps (>= 68, H, W) of a crop -> (68, 3) x, y in the crop, score (0: not found)."""
    out = np.zeros((FACE_LANDMARKS, 3), np.float32)
    for j in range(FACE_LANDMARKS):
        y, x = np.unravel_index(np.argmax(heatmaps[j]), heatmaps[j].shape)
        if heatmaps[j, y, x] > threshold:
            out[j] = (x, y, min(float(heatmaps[j, y, x]), 1.0))
    return out


class OpenPoseWholeBody(OpenPoseBody):
    name: ClassVar[str] = "openpose_wholebody"
    provides: ClassVar[tuple[str, ...]] = ("openpose18", "wholebody133")
    weights: ClassVar[tuple[str, ...]] = ("openpose-body", "openpose-hand", "openpose-face")
    hand_scales: ClassVar[tuple[float, ...]] = HAND_SCALES

    def __init__(self, device, dtype, raw_dir, overrides: dict[str, str] | None = None) -> None:
        super().__init__(device, dtype, raw_dir, overrides)
        self.hand_net = KeypointNet.build(HAND_MAPS, "OpenPose hand")
        self.hand_net.load_released(released_state(self.weights[1], self.overrides))
        self.face_net = KeypointNet.build(FACE_MAPS, "OpenPose face")
        self.face_net.load_released(released_state(self.weights[2], self.overrides))
        self.hand_net.to(device).eval()
        self.face_net.to(device).eval()

    def _run(self, net, image: np.ndarray):
        """A BGR float image (H, W, 3) in network units -> the net's maps (maps, H/8, W/8) as a torch tensor."""
        import torch

        with torch.inference_mode():
            return net(torch.from_numpy(np.ascontiguousarray(image, np.float32)).permute(2, 0, 1)[None].to(self.device))[0].float()

    def hand_maps(self, crop: np.ndarray) -> np.ndarray:
        """A square BGR crop (S, S, 3) uint8 -> the hand maps averaged over `hand_scales` (S, S, 22)."""
        import cv2

        s = crop.shape[0]
        avg = np.zeros((s, s, HAND_MAPS), np.float32)
        for scale in self.hand_scales:
            f = scale * BOX_SIZE / s
            img = cv2.resize(crop, (0, 0), fx=f, fy=f, interpolation=cv2.INTER_CUBIC)
            rh, rw = img.shape[:2]
            img = np.pad(img, ((0, (-rh) % STRIDE), (0, (-rw) % STRIDE), (0, 0)), constant_values=PAD_VALUE)
            maps = self._run(self.hand_net, img.astype(np.float32) / 256 - 0.5).cpu().numpy().transpose(1, 2, 0)
            up = cv2.resize(maps, (0, 0), fx=STRIDE, fy=STRIDE, interpolation=cv2.INTER_CUBIC)[:rh, :rw]
            avg += cv2.resize(up, (s, s), interpolation=cv2.INTER_CUBIC) / len(self.hand_scales)
        return avg

    def face_maps(self, crop: np.ndarray) -> np.ndarray:
        """A BGR crop (H, W, 3) uint8 -> the face maps (71, H, W)."""
        import cv2
        import torch.nn.functional as F

        h, w = crop.shape[:2]
        shrink = 2 * FACE_INPUT < h + w
        img = cv2.resize(crop, (FACE_INPUT, FACE_INPUT), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LANCZOS4)
        maps = self._run(self.face_net, img.astype(np.float32) / 256 - 0.5)
        return F.interpolate(maps[None], (h, w), mode="bilinear", align_corners=True)[0].cpu().numpy()

    def parts(self, frame: np.ndarray, person: np.ndarray) -> np.ndarray:
        """An RGB frame (H, W, 3) and its person's OpenPose-18 keypoints -> COCO-WholeBody (133, 3)."""
        bgr = frame[..., ::-1]
        h, w = frame.shape[:2]
        hands = {True: np.zeros((HAND_JOINTS, 3), np.float32), False: np.zeros((HAND_JOINTS, 3), np.float32)}
        for x, y, side, is_left in hand_boxes(person, h, w):
            found = hand_peaks(self.hand_maps(bgr[y : y + side, x : x + side]))
            found[:, :2] += np.where(found[:, 2:] > 0, (x, y), 0)
            hands[is_left] = found
        face = np.zeros((FACE_LANDMARKS, 3), np.float32)
        box = face_box(person, h, w)
        if box is not None:
            x, y, side = box
            face = face_peaks(self.face_maps(bgr[y : y + side, x : x + side]))
            face[:, :2] += np.where(face[:, 2:] > 0, (x, y), 0)
        return wholebody_from_openpose(person, face, hands[True], hands[False])

    def __call__(self, frames: np.ndarray, clip: Clip) -> dict[str, np.ndarray]:
        if len(frames) == 0:
            raise ValueError(f"clip {clip.clip_id}: no frames")
        people = self.people(frames)
        return {"openpose18": people, "wholebody133": np.stack([self.parts(f, p) for f, p in zip(frames, people, strict=True)])}
