"""Keypoint orders shared by datasets, estimators and renderers.

- COCO-WholeBody-133: 0-16 COCO body, 17-22 feet, 23-90 face (68 iBUG landmarks), 91-111 left hand,
  112-132 right hand (21 each: wrist, then thumb, index, middle, ring, pinky, 4 joints each, base to tip).
- OpenPose-18 (COCO-18): nose, neck, r-shoulder, r-elbow, r-wrist, l-shoulder, l-elbow, l-wrist,
  r-hip, r-knee, r-ankle, l-hip, l-knee, l-ankle, r-eye, l-eye, r-ear, l-ear.
"""

from __future__ import annotations

import numpy as np

# COCO body 17 in whole-body order.
COCO17 = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
]  # fmt: skip
FEET6 = ["left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel"]
NUM_WHOLEBODY = 133
FACE_START, LHAND_START, RHAND_START = 23, 91, 112

# OpenPose-18 from whole-body indices; the neck (index 1) is the shoulders' midpoint.
OPENPOSE18_FROM_WHOLEBODY = [0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3]
OPENPOSE18_LIMBS = [
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
    (1, 11), (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
]  # fmt: skip


def openpose18_from_wholebody(kp: np.ndarray) -> np.ndarray:
    """(..., 133, 3) x, y, score -> (..., 18, 3); the neck is the shoulders' midpoint, scored by the weaker one."""
    out = np.zeros(kp.shape[:-2] + (18, kp.shape[-1]), dtype=kp.dtype)
    for i, j in enumerate(OPENPOSE18_FROM_WHOLEBODY):
        if j is not None:
            out[..., i, :] = kp[..., j, :]
    out[..., 1, :2] = (kp[..., 5, :2] + kp[..., 6, :2]) / 2
    if kp.shape[-1] > 2:
        out[..., 1, 2:] = np.minimum(kp[..., 5, 2:], kp[..., 6, 2:])
    return out


def wholebody_from_openpose(body18: np.ndarray, face68: np.ndarray, left_hand: np.ndarray, right_hand: np.ndarray) -> np.ndarray:
    """OpenPose's body (18, 3), face (68, 3) and hands (21, 3 each) -> COCO-WholeBody (133, 3): the 17 COCO body
    points (the neck has no slot), feet missing (score 0); OpenPose's face and hand orders are COCO-WholeBody's."""
    out = np.zeros((NUM_WHOLEBODY, 3), np.float32)
    for i, j in enumerate(OPENPOSE18_FROM_WHOLEBODY):
        if j is not None:
            out[j] = body18[i]
    out[FACE_START:LHAND_START] = face68
    out[LHAND_START:RHAND_START] = left_hand
    out[RHAND_START:] = right_hand
    return out


def _swap(n: int, pairs: list[tuple[int, int]]) -> list[int]:
    perm = list(range(n))
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return perm


def _face68_mirror() -> list[tuple[int, int]]:
    """Left-right pairs of the 68 iBUG face landmarks (jaw, brows, nose base, eyes, lips)."""
    pairs = [(i, 16 - i) for i in range(8)]  # jaw 0..16
    pairs += [(17 + i, 26 - i) for i in range(5)]  # eyebrows
    pairs += [(31, 35), (32, 34)]  # nose base
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67)]  # lips
    return pairs


# Index permutations that swap left and right, for a horizontally flipped frame.
FLIP_OPENPOSE18 = _swap(18, [(2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13), (14, 15), (16, 17)])
FLIP_WHOLEBODY133 = _swap(
    NUM_WHOLEBODY,
    [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (17, 20), (18, 21), (19, 22)]
    + [(FACE_START + a, FACE_START + b) for a, b in _face68_mirror()]
    + [(LHAND_START + i, RHAND_START + i) for i in range(21)],
)
FLIPS = {18: FLIP_OPENPOSE18, NUM_WHOLEBODY: FLIP_WHOLEBODY133}


def flip_keypoints(kp: np.ndarray, width: int) -> np.ndarray:
    """Keypoints (..., J, 3) of a frame `width` pixels wide -> those of the mirrored frame: x -> width - 1 - x
    and left/right joints swapped (J = 18 or 133). Missing points (score 0) stay missing."""
    out = kp[..., FLIPS[kp.shape[-2]], :].copy()
    out[..., 0] = np.where(out[..., 2] > 0, width - 1 - out[..., 0], out[..., 0])
    return out
