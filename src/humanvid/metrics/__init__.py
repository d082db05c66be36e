"""Metrics by name. Each is computed per frame and averaged (see docs/metrics.md).

The registry is light (names, labels, an import path) so validating params.yaml imports no scipy.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Metric:
    name: str
    target: str  # "module:function"
    higher_is_better: bool
    label: str
    fmt: str

    @property
    def fn(self) -> Callable[[np.ndarray, np.ndarray], float]:
        module, attr = self.target.split(":")
        return getattr(import_module(module), attr)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("l1", "humanvid.metrics.image:l1", False, "L1 ↓", "{:.4f}"),
        Metric("psnr", "humanvid.metrics.image:psnr", True, "PSNR ↑", "{:.2f}"),
        Metric("ssim", "humanvid.metrics.image:ssim", True, "SSIM ↑", "{:.3f}"),
    ]
}


def evaluate_frames(pred: np.ndarray, target: np.ndarray, names: list[str] | None = None) -> dict[str, list[float]]:
    """Per-frame values of each metric for uint8 videos (T, H, W, 3)."""
    if pred.shape != target.shape:
        raise ValueError(f"generated and ground-truth videos differ in shape: {pred.shape} vs {target.shape}")
    fns = {n: METRICS[n].fn for n in (names or list(METRICS))}
    return {n: [fn(p, t) for p, t in zip(pred, target, strict=True)] for n, fn in fns.items()}


__all__ = ["METRICS", "Metric", "evaluate_frames"]
