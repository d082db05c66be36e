"""Per-frame image metrics, standard definitions (the `corrected` protocol; see docs/metrics.md).

Frames are uint8 (H, W, 3) and are compared as float64 in [0, 1].
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter


def _unit(frame: np.ndarray) -> np.ndarray:
    if frame.dtype != np.uint8:
        raise ValueError(f"expected uint8 frames, got {frame.dtype}")
    return frame.astype(np.float64) / 255.0


def _check(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"frames differ in shape: {a.shape} vs {b.shape}")


def l1(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean absolute error over pixels and channels, values in [0, 1]."""
    _check(pred, target)
    return float(np.mean(np.abs(_unit(pred) - _unit(target))))


def psnr(pred: np.ndarray, target: np.ndarray) -> float:
    """10 log10(1 / MSE) with data range 1, MSE in float64 (no uint8 wrap-around). Identical frames -> inf."""
    _check(pred, target)
    mse = float(np.mean((_unit(pred) - _unit(target)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def ssim(pred: np.ndarray, target: np.ndarray) -> float:
    """SSIM (Wang et al. 2004): Gaussian window sigma 1.5 (11x11), K1 0.01, K2 0.03, population
    covariances, per channel, borders of the window radius cropped, averaged over channels."""
    _check(pred, target)
    x, y = _unit(pred), _unit(target)
    c1, c2 = 0.01**2, 0.03**2
    sigma, truncate = 1.5, 3.5
    pad = int(truncate * sigma + 0.5)
    values = []
    for ch in range(x.shape[-1]):
        a, b = x[..., ch], y[..., ch]
        blur = lambda z: gaussian_filter(z, sigma, mode="reflect", truncate=truncate)  # noqa: E731
        mu_a, mu_b = blur(a), blur(b)
        var_a = blur(a * a) - mu_a**2
        var_b = blur(b * b) - mu_b**2
        cov = blur(a * b) - mu_a * mu_b
        s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
        values.append(s[pad:-pad, pad:-pad].mean() if min(s.shape) > 2 * pad else s.mean())
    return float(np.mean(values))


def temporal_l1(pred: np.ndarray, target: np.ndarray) -> list[float]:
    """Temporal L1 of uint8 videos (T, H, W, 3): for each frame t ≥ 1, the mean absolute difference between the generated
    and the true frame-to-frame change, |(g_t − g_{t−1}) − (x_t − x_{t−1})|, values in [0, 1]; frame 0 has none (NaN).
    Flicker (a change the truth does not have) and a missed motion both count; a still copy of the reference scores
    the truth's own motion. The pixel-space analogue of TecoGAN's tLP, free of network weights."""
    _check(pred, target)
    g, x = _unit(pred), _unit(target)
    change = np.abs(np.diff(g, axis=0) - np.diff(x, axis=0)).mean(axis=(1, 2, 3))
    return [float("nan"), *(float(v) for v in change)]
