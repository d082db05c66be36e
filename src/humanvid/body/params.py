"""SMPL-X parameters as one float vector per frame — the `smplx` condition the shards carry — and the mesh
they pose.

The vector holds, in this order (sizes follow `load_smplx`'s defaults: 10 betas, 12 hand PCA components,
10 expression coefficients): betas (the clip's shape, repeated on every frame), global_orient,
body_pose (21 joints × axis-angle), left_hand_pose, right_hand_pose (PCA coefficients), jaw_pose,
expression, transl (metres, camera frame), then the camera's focal length and principal point (pixels of
the clip's frames). Everything needed to pose the mesh and render it again (Make-Your-Anchor's
perturbation does) travels with the frame.
"""

from __future__ import annotations

import numpy as np
import torch

LAYOUT: tuple[tuple[str, int], ...] = (
    ("betas", 10), ("global_orient", 3), ("body_pose", 63), ("left_hand_pose", 12), ("right_hand_pose", 12),
    ("jaw_pose", 3), ("expression", 10), ("transl", 3), ("focal", 1), ("center", 2),
)  # fmt: skip
SIZE = sum(n for _, n in LAYOUT)  # 119
CAMERA_COLUMNS = (SIZE - 3, SIZE - 2, SIZE - 1)
"""Columns of the focal length and the principal point (x, y): the vector's last three (LAYOUT)."""
POSE_KEYS = ("betas", "global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose", "expression", "transl")


def pack(params: dict[str, np.ndarray], frames: int, focal: float, center: tuple[float, float]) -> np.ndarray:
    """Per-clip parameters (betas (10,) or (T, 10); the rest (T, n)) -> (T, SIZE) float32."""
    cols = []
    for name, n in LAYOUT:
        if name == "focal":
            value = np.full((frames, 1), focal)
        elif name == "center":
            value = np.tile(np.asarray(center, np.float64), (frames, 1))
        else:
            value = np.asarray(params[name], np.float64).reshape(-1, n)
            if len(value) == 1:
                value = np.repeat(value, frames, 0)
        if value.shape != (frames, n):
            raise ValueError(f"SMPL-X parameter {name!r}: expected {frames} frames × {n}, got {value.shape}")
        cols.append(value)
    return np.concatenate(cols, 1).astype(np.float32)


def unpack(vectors: np.ndarray) -> dict[str, np.ndarray]:
    """(T, SIZE) -> name -> (T, n); focal (T,); center (T, 2)."""
    vectors = np.asarray(vectors, np.float32)
    if vectors.ndim != 2 or vectors.shape[1] != SIZE:
        raise ValueError(f"SMPL-X vectors must be (T, {SIZE}), got {vectors.shape}")
    out, start = {}, 0
    for name, n in LAYOUT:
        out[name] = vectors[:, start : start + n]
        start += n
    out["focal"] = out["focal"][:, 0]
    return out


def pose_vertices(model, params: dict[str, np.ndarray]) -> torch.Tensor:
    """Mesh vertices (T, V, 3) in the camera frame for T frames (`model` built for batch_size T)."""
    device, dtype = model.shapedirs.device, model.shapedirs.dtype
    t = len(params["global_orient"])
    if model.batch_size != t:
        raise ValueError(f"the SMPL-X model was built for {model.batch_size} frames, the parameters hold {t}")
    kwargs = {k: torch.as_tensor(np.atleast_2d(params[k]), device=device, dtype=dtype) for k in POSE_KEYS}
    kwargs["betas"] = kwargs["betas"][:1].expand(t, -1)  # one shape per clip
    with torch.no_grad():
        return model(**kwargs).vertices
