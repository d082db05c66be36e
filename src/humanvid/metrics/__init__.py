"""Metrics by name. Each is computed per frame and averaged (see docs/metrics.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from humanvid.metrics.image import l1, psnr, ssim


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[[np.ndarray, np.ndarray], float]
    higher_is_better: bool
    label: str
    fmt: str


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("l1", l1, False, "L1 ↓", "{:.4f}"),
        Metric("psnr", psnr, True, "PSNR ↑", "{:.2f}"),
        Metric("ssim", ssim, True, "SSIM ↑", "{:.3f}"),
    ]
}


def evaluate_frames(pred: np.ndarray, target: np.ndarray, names: list[str] | None = None) -> dict[str, list[float]]:
    """Per-frame values of each metric for uint8 videos (T, H, W, 3)."""
    if pred.shape != target.shape:
        raise ValueError(f"generated and ground-truth videos differ in shape: {pred.shape} vs {target.shape}")
    names = names or list(METRICS)
    return {n: [METRICS[n].fn(p, t) for p, t in zip(pred, target)] for n in names}


__all__ = ["METRICS", "Metric", "evaluate_frames", "l1", "psnr", "ssim"]
