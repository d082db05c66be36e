"""IDOL's video-depth alignment terms (Zhai et al., ECCV 2024; no code was released — choices in docs/idol.md).

- **Feature motion field** (the paper's Fig. 3): for each position of frame t, where its features go in frame t+1 —
  a softmax over frame t+1's positions of the feature affinity scaled by the temperature τ = 1/√D (D: the layer's
  channels; supplement Sec. 2), and the expected displacement under it (a soft arg-max). The supplement gives τ; the
  affinity (dot product) and the soft arg-max are our reading of "feature motion field".
- **L_mo**: the mean squared difference between the video stream's and the depth stream's motion fields of a layer.
- **L_xattn**: the mean squared difference between the two streams' cross-attention maps of a layer.
- **Map sharing** (supplement Table 1's alternatives to L_xattn): both streams use the average of the two maps, or
  the video stream's map.

Pure functions on tensors; the model decides which layers feed them and weighs them (w_mo = w_xattn = 0.01).
"""

from __future__ import annotations

import math

import torch

MAP_SHARING = ("none", "average", "video")
"""How the two streams' cross-attention maps relate: each its own (`none`, with or without L_xattn), their average
for both, or the video stream's for both (supplement Table 1, rows 2 and 3)."""


def motion_field(features: torch.Tensor, temperature: float | None = None) -> torch.Tensor:
    """Features (B, F, C, H, W) of F consecutive frames -> the motion field (B, F-1, H, W, 2): for each position of
    frame t the expected (dx, dy) in pixels of this layer's grid towards frame t+1, under a softmax over frame t+1's
    positions of the affinity `temperature` · <f_t(p), f_{t+1}(q)> (default τ = 1/√C)."""
    if features.ndim != 5:
        raise ValueError(f"expected features (B, F, C, H, W), got {tuple(features.shape)}")
    b, f, c, h, w = features.shape
    if f < 2:
        raise ValueError(f"a motion field needs at least two frames, got {f}")
    tau = 1.0 / math.sqrt(c) if temperature is None else temperature
    flat = features.flatten(3).transpose(2, 3).float()  # (B, F, HW, C)
    affinity = tau * flat[:, :-1] @ flat[:, 1:].transpose(-1, -2)  # (B, F-1, HW, HW)
    weights = affinity.softmax(dim=-1)
    ys, xs = torch.meshgrid(torch.arange(h, device=features.device), torch.arange(w, device=features.device), indexing="ij")
    grid = torch.stack([xs, ys], dim=-1).flatten(0, 1).float()  # (HW, 2): x, y of each position
    expected = weights @ grid  # (B, F-1, HW, 2): where each position's features go
    return (expected - grid).unflatten(2, (h, w))


def motion_consistency_loss(video: torch.Tensor, depth: torch.Tensor, temperature: float | None = None) -> torch.Tensor:
    """L_mo for one layer: mean squared difference of the two streams' motion fields (features (B, F, C, H, W) each)."""
    if video.shape != depth.shape:
        raise ValueError(f"video features {tuple(video.shape)} and depth features {tuple(depth.shape)} differ in shape")
    return (motion_field(video, temperature) - motion_field(depth, temperature)).pow(2).mean()


def xattn_consistency_loss(video_maps: torch.Tensor, depth_maps: torch.Tensor) -> torch.Tensor:
    """L_xattn for one layer: mean squared difference of the two streams' cross-attention maps (same shape, e.g.
    (B·heads, queries, keys), each row a softmax)."""
    if video_maps.shape != depth_maps.shape:
        raise ValueError(f"cross-attention maps differ in shape: {tuple(video_maps.shape)} vs {tuple(depth_maps.shape)}")
    return (video_maps.float() - depth_maps.float()).pow(2).mean()


def shared_maps(video_maps: torch.Tensor, depth_maps: torch.Tensor, sharing: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The maps each stream then uses: its own (`none`), the average of both (`average`), or the video stream's
    (`video`)."""
    if sharing == "none":
        return video_maps, depth_maps
    if sharing == "average":
        mean = (video_maps + depth_maps) / 2
        return mean, mean
    if sharing == "video":
        return video_maps, video_maps
    raise ValueError(f"map sharing {sharing!r}; known: {', '.join(MAP_SHARING)}")
