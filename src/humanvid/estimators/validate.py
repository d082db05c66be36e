"""Accuracy self-check: an estimator's output against synthdance's exact ground truth.

Keypoints: PCK@alpha — a ground-truth-visible keypoint counts as correct when the prediction lies
within alpha x the longer side of the frame's ground-truth person box (the box around its visible
keypoints); reported for all keypoints and per part (body incl. feet, face, hands). Masks: IoU of the
predicted foreground (alpha > 127, or DensePose part > 0) with the true one; for DensePose also the
mean IoU over the 24 parts present in either.
"""

from __future__ import annotations

import numpy as np

PARTS_133 = {"body": slice(0, 23), "face": slice(23, 91), "hands": slice(91, 133)}


def pck(pred: np.ndarray, gt: np.ndarray, alpha: float = 0.05) -> tuple[float, int]:
    """pred, gt (T, K, 3) x, y, score/visibility -> (fraction correct, keypoints judged)."""
    correct = judged = 0
    for p, g in zip(pred, gt, strict=True):
        vis = g[:, 2] > 0
        if vis.sum() < 2:
            continue
        extent = (g[vis, :2].max(0) - g[vis, :2].min(0)).max()
        dist = np.linalg.norm(p[vis, :2] - g[vis, :2], axis=1)
        ok = (dist <= alpha * extent) & (p[vis, 2] > 0)
        correct += int(ok.sum())
        judged += int(vis.sum())
    return (correct / judged if judged else float("nan")), judged


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    union = np.logical_or(pred, gt).sum()
    return float(np.logical_and(pred, gt).sum() / union) if union else float("nan")


def part_miou(pred_i: np.ndarray, gt_i: np.ndarray) -> float:
    values = [iou(pred_i == p, gt_i == p) for p in range(1, 25) if (pred_i == p).any() or (gt_i == p).any()]
    return float(np.mean(values)) if values else float("nan")


def compare(out: dict[str, np.ndarray], gt: dict[str, np.ndarray]) -> dict[str, float]:
    """Metrics for whatever conditions `out` holds, against synthdance annotations `gt`."""
    m: dict[str, float] = {}
    if "wholebody133" in out:
        m["pck@0.05/wholebody133"], _ = pck(out["wholebody133"], gt["wholebody133"])
        for part, sl in PARTS_133.items():
            m[f"pck@0.05/{part}"], _ = pck(out["wholebody133"][:, sl], gt["wholebody133"][:, sl])
    if "openpose18" in out:
        m["pck@0.05/openpose18"], _ = pck(out["openpose18"], gt["openpose18"])
    if "alpha" in out:
        m["iou/alpha"] = iou(out["alpha"] > 127, gt["alpha"] > 0)
    if "densepose" in out:
        m["iou/densepose_fg"] = iou(out["densepose"][..., 0] > 0, gt["iuv"][..., 0] > 0)
        m["miou/densepose_parts"] = part_miou(out["densepose"][..., 0], gt["iuv"][..., 0])
    return m


def validate(estimator, raw_dir, clips, progress=print) -> dict:
    """Run `estimator` over synthdance `clips` -> {"clips": {id: metrics}, "mean": metrics}."""
    from humanvid.datasets.synthdance import load_annotations
    from humanvid.video import read_video

    per_clip = {}
    for n, clip in enumerate(clips, 1):
        frames = read_video(raw_dir / clip.source)
        per_clip[clip.clip_id] = compare(estimator(frames, clip), load_annotations(raw_dir, clip.clip_id))
        progress(f"validate {estimator.name}: clip {n}/{len(clips)} {clip.clip_id}")
    keys = sorted({k for v in per_clip.values() for k in v})
    mean = {k: float(np.nanmean([v[k] for v in per_clip.values() if k in v])) for k in keys}
    return {"estimator": estimator.name, "clips": per_clip, "mean": mean}
