"""Depth metrics (IDOL): relative depth is affine-ambiguous, so a prediction is first aligned to the
target by the per-frame least-squares scale and shift inside the human mask:

    (s, t) = argmin Σ_mask (s·d̂ + t − d)²

then compared there. `depth_l2` is the mean squared error on target depth min-max normalised to [0, 1]
inside the mask (so it is unit-free, like IDOL's 0.036); AbsRel and δ1 (< 1.25) are the usual extras on
the target's own units. Depth FID compares the colour-encoded depth maps (`depth_to_rgb`) with FID.
"""

from __future__ import annotations

import numpy as np


def align_scale_shift(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Least-squares (s, t) with s·pred + t ≈ target on mask pixels."""
    m = mask.astype(bool)
    if m.sum() < 2:
        raise ValueError(f"alignment needs at least 2 mask pixels, got {int(m.sum())}")
    a = np.stack([pred[m].astype(np.float64), np.ones(int(m.sum()))], axis=1)
    (s, t), *_ = np.linalg.lstsq(a, target[m].astype(np.float64), rcond=None)
    return float(s), float(t)


def depth_errors(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """{depth_l2, depth_absrel, depth_delta1} for one frame (H, W) after alignment inside `mask`."""
    if pred.shape != target.shape or mask.shape != target.shape:
        raise ValueError(f"depth maps and mask differ in shape: {pred.shape}, {target.shape}, {mask.shape}")
    m = mask.astype(bool) & (target > 0)
    s, t = align_scale_shift(pred, target, m)
    aligned = s * pred[m].astype(np.float64) + t
    d = target[m].astype(np.float64)
    lo, hi = d.min(), d.max()
    span = hi - lo if hi > lo else 1.0
    l2 = float(np.mean(((aligned - lo) / span - (d - lo) / span) ** 2))
    safe = np.maximum(aligned, 1e-6)
    return {
        "depth_l2": l2,
        "depth_absrel": float(np.mean(np.abs(aligned - d) / d)),
        "depth_delta1": float(np.mean(np.maximum(safe / d, d / safe) < 1.25)),
    }


# Hue ramp from blue (near) through cyan, green, yellow to red (far) at full saturation: piecewise
# linear in two channels at a time, so it inverts exactly up to uint8 rounding.
_SEGMENTS = 4


def depth_to_rgb(depth: np.ndarray) -> np.ndarray:
    """Depth in [0, 1] (H, W) -> uint8 RGB (H, W, 3) on the blue→red ramp."""
    d = np.clip(np.asarray(depth, dtype=np.float64), 0.0, 1.0) * _SEGMENTS
    seg = np.minimum(d.astype(int), _SEGMENTS - 1)
    f = d - seg
    rgb = np.zeros(d.shape + (3,))
    # seg 0: blue→cyan (G up), 1: cyan→green (B down), 2: green→yellow (R up), 3: yellow→red (G down)
    rgb[..., 2] = np.select([seg == 0, seg == 1], [1.0, 1.0 - f], 0.0)
    rgb[..., 1] = np.select([seg == 0, seg == 3], [f, 1.0 - f], 1.0)
    rgb[..., 0] = np.select([seg == 2, seg == 3], [f, 1.0], 0.0)
    return np.round(rgb * 255).astype(np.uint8)


def rgb_to_depth(rgb: np.ndarray) -> np.ndarray:
    """The inverse of `depth_to_rgb` (H, W, 3) uint8 -> depth in [0, 1]."""
    r, g, b = (rgb[..., i].astype(np.float64) / 255.0 for i in range(3))
    # Red is 0 on the first half of the ramp, blue 0 on the second; within a half, which of the other
    # two channels is saturated tells the segment (ties fall on segment borders, where both agree).
    first = np.where(b >= g, g, 2.0 - b)
    second = np.where(r <= g, 2.0 + r, 4.0 - g)
    d = np.where(r <= b, first, second)
    return d / _SEGMENTS
