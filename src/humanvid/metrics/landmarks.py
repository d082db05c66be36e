"""Landmark mean distance (Make-Your-Anchor): how well generated frames keep the driving pose.

The same pose estimator runs on the generated and the ground-truth frames (COCO-WholeBody 133 points).
For each part (face, body, hands) the distance is the mean Euclidean pixel distance over keypoints that
are confident (score ≥ threshold) in both frames; keypoints confident in the ground truth but not in the
generated frame count towards `lmd_missing`, the missing-keypoint rate, instead of the distance (the
paper ignores such outliers for hands; reporting the rate keeps them visible).
"""

from __future__ import annotations

import numpy as np

from humanvid.keypoints import FACE_START, LHAND_START, NUM_WHOLEBODY

PARTS = {
    "body": np.arange(0, FACE_START),  # 17 body + 6 foot points
    "face": np.arange(FACE_START, LHAND_START),
    "hand": np.arange(LHAND_START, NUM_WHOLEBODY),
}


def landmark_distances(pred: np.ndarray, target: np.ndarray, threshold: float = 0.3) -> dict[str, float]:
    """pred, target: (T, 133, 3) keypoints (x, y, score) -> {lmd_face, lmd_body, lmd_hand, lmd_missing}.
    A part with no keypoint confident in both frames anywhere gives NaN."""
    if pred.shape != target.shape or pred.shape[1:] != (NUM_WHOLEBODY, 3):
        raise ValueError(f"keypoints must both be (T, {NUM_WHOLEBODY}, 3), got {pred.shape} and {target.shape}")
    seen_gt = target[..., 2] >= threshold
    seen_pred = pred[..., 2] >= threshold
    both = seen_gt & seen_pred
    dist = np.linalg.norm(pred[..., :2].astype(np.float64) - target[..., :2].astype(np.float64), axis=-1)
    out = {}
    for part, idx in PARTS.items():
        sel = both[:, idx]
        out[f"lmd_{part}"] = float(dist[:, idx][sel].mean()) if sel.any() else float("nan")
    out["lmd_missing"] = float((seen_gt & ~seen_pred).sum() / seen_gt.sum()) if seen_gt.any() else float("nan")
    return out
