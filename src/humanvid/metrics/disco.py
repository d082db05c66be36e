"""Per-frame metrics exactly as DisCo's evaluation code computes them (the `disco` protocol).

The TikTok numbers of DisCo, MagicAnimate and their followers came from this code, so reproducing
those tables means reproducing its quirks (docs/metrics.md lists each against the standard form):
- PSNR before commit 6190108 (2024-04-10): the squared error is taken on uint8 arrays, so it wraps modulo 256
  before the mean (a difference of 16 squares to 256 ≡ 0); from that commit in float64. Both return 100 dB
  for identical images.
- SSIM: on the grayscale image (OpenCV's BGR→gray weights) with scikit-image's defaults:
  7×7 uniform window, sample covariance, data range 255.
- L1: |a − b| in 0..255 units divided by H·W (not by H·W·3, nor by 255), then averaged over pixels.
- Shapes: a generated frame of another size is resized to the ground truth's with OpenCV's default
  (bilinear) before comparing.
LPIPS's quirk (inputs in [0, 1] fed to a network that expects [-1, 1]) lives in `network_metrics`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import uniform_filter


def _match(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    if pred.dtype != np.uint8 or target.dtype != np.uint8:
        raise ValueError(f"expected uint8 frames, got {pred.dtype} and {target.dtype}")
    return resized_like_disco(pred, target.shape[0], target.shape[1])


def resized_like_disco(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """A generated frame of another size resized to the ground truth's, as DisCo's code does: OpenCV's default
    (bilinear) interpolation."""
    if frame.shape[:2] == (height, width):
        return frame
    import cv2

    return cv2.resize(frame, (width, height))


def _psnr_of(mse: float) -> float:
    return 100.0 if mse == 0 else 20 * math.log10(255.0 / math.sqrt(mse))


def psnr_wrapped(pred: np.ndarray, target: np.ndarray) -> float:
    """DisCo's PSNR until 2024-04-10: uint8 arithmetic, so the squared error wraps mod 256."""
    pred = _match(pred, target)
    return _psnr_of(float(np.mean((pred - target) ** 2)))


def psnr_fixed(pred: np.ndarray, target: np.ndarray) -> float:
    """DisCo's PSNR from commit 6190108 (2024-04-10): float64 squared error, 100 for identical frames."""
    pred = _match(pred, target)
    return _psnr_of(float(np.mean((pred.astype(np.float64) - target.astype(np.float64)) ** 2)))


def l1(pred: np.ndarray, target: np.ndarray) -> float:
    pred = _match(pred, target)
    err = np.abs(pred.astype(np.float64) - target.astype(np.float64)) / float(target.shape[0] * target.shape[1])
    return float(err.mean())


def gray(frame: np.ndarray) -> np.ndarray:
    """OpenCV's RGB→gray (fixed-point 0.299 R + 0.587 G + 0.114 B), uint8."""
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


def ssim(pred: np.ndarray, target: np.ndarray) -> float:
    pred = _match(pred, target)
    x, y = gray(pred).astype(np.float64), gray(target).astype(np.float64)
    win, data_range = 7, 255.0
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    cov_norm = win * win / (win * win - 1.0)  # sample covariance
    ux, uy = uniform_filter(x, win), uniform_filter(y, win)
    vx = cov_norm * (uniform_filter(x * x, win) - ux * ux)
    vy = cov_norm * (uniform_filter(y * y, win) - uy * uy)
    vxy = cov_norm * (uniform_filter(x * y, win) - ux * uy)
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    pad = (win - 1) // 2
    return float(s[pad:-pad, pad:-pad].mean())
