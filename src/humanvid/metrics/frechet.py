"""Fréchet distance between Gaussians fitted to two feature sets (FID, FID-VID, FVD, depth FID).

    d² = ‖μ1 − μ2‖² + Tr(Σ1) + Tr(Σ2) − 2 Tr((Σ1 Σ2)^½),  Σ the unbiased sample covariance

as pytorch-fid and DisCo define it. They take a general matrix square root (`scipy.linalg.sqrtm`, tens of
seconds at 2048-d on two cores); only its trace is needed, and Σ1 Σ2 is similar to the symmetric PSD
matrix Σ1^½ Σ2 Σ1^½, so Tr((Σ1 Σ2)^½) = Σ √λ_i over that matrix's eigenvalues. With fewer samples than
dimensions it is cheaper still: for centred features A (N×D), B (M×D), the non-zero eigenvalues of
Σ1 Σ2 are the squared singular values of A Bᵀ / √((N−1)(M−1)), so the trace is that matrix's nuclear
norm. Both are exact; tests check them against the sqrtm form.
"""

from __future__ import annotations

import numpy as np


def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) of features (N, D) in float64. N must be ≥ 2 for a covariance."""
    features = _check(features)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _check(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"features must be (N, D), got shape {features.shape}")
    if len(features) < 2:
        raise ValueError(f"a covariance needs at least 2 feature vectors, got {len(features)}")
    return features


def _trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """Tr((Σ1 Σ2)^½) for symmetric PSD Σ1, Σ2 via Σ1^½ Σ2 Σ1^½ (two symmetric eigendecompositions)."""
    w, v = np.linalg.eigh(sigma1)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    lam = np.linalg.eigvalsh(root @ sigma2 @ root)
    return float(np.sqrt(np.clip(lam, 0, None)).sum())


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"feature statistics differ in shape: {mu1.shape}/{sigma1.shape} vs {mu2.shape}/{sigma2.shape}")
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * _trace_sqrt_product(sigma1, sigma2))


def frechet_distance_of(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between two feature sets (N, D) and (M, D)."""
    a, b = _check(features_a), _check(features_b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets differ in dimension: {a.shape[1]} vs {b.shape[1]}")
    n, m, d = len(a), len(b), a.shape[1]
    if min(n, m) >= d:
        return frechet_distance(*feature_stats(a), *feature_stats(b))
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = a - mu_a, b - mu_b
    tr_a, tr_b = (ca * ca).sum() / (n - 1), (cb * cb).sum() / (m - 1)
    nuclear = np.linalg.svd(ca @ cb.T, compute_uv=False).sum() / np.sqrt((n - 1) * (m - 1))
    diff = mu_a - mu_b
    return float(diff @ diff + tr_a + tr_b - 2.0 * nuclear)
