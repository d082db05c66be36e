"""Depth as an image a shared image VAE encodes, and back.

A frame's depth (metres, 0 where nothing was measured: off the person on synthdance) becomes its normalised inverse
depth on the person — `DEPTH_NEAR_GREY` at the farthest point, 1 at the nearest, 0 off it — and that value an image:
a grey level (`grey`, the baseline's) or a colour on the metrics' blue→red hue ramp (`colormap`,
`humanvid.metrics.depth.depth_to_rgb`; IDOL's "depth as a stylised video"). Decoding inverts the image to the value
and returns 1 − value: affine in true depth on the person, which is all relative depth promises (evaluation aligns
scale and shift on the person).
"""

from __future__ import annotations

import numpy as np
import torch

from humanvid.metrics.depth import depth_to_rgb, rgb_to_depth

DEPTH_NEAR_GREY = 0.2
"""The value at the person's farthest point (off the person stays 0): the person stays apart from the background."""

ENCODINGS = ("grey", "colormap")


def inverse_depth_value(depth: torch.Tensor) -> torch.Tensor:
    """Depth (N, S, S) in metres (0 = none) -> the value (N, S, S) in [0, 1] each frame's image encodes."""
    on = depth > 0
    big = torch.finfo(depth.dtype).max
    near = torch.where(on, depth, big).amin(dim=(1, 2), keepdim=True)
    far = torch.where(on, depth, -big).amax(dim=(1, 2), keepdim=True)
    span = (far - near).clamp_min(1e-6)
    return torch.where(on, DEPTH_NEAR_GREY + (1 - DEPTH_NEAR_GREY) * (far - depth) / span, torch.zeros_like(depth))


def depth_image(depth: torch.Tensor, encoding: str = "grey") -> torch.Tensor:
    """Depth (N, S, S) in metres -> the image the VAE encodes (N, 3, S, S) in [-1, 1]."""
    value = inverse_depth_value(depth)
    if encoding == "grey":
        return (value * 2 - 1)[:, None].expand(-1, 3, -1, -1)
    if encoding == "colormap":
        rgb = torch.from_numpy(depth_to_rgb(value.detach().float().cpu().numpy())).to(depth.device)  # (N, S, S, 3) uint8
        return rgb.permute(0, 3, 1, 2).to(depth.dtype) / 127.5 - 1
    raise ValueError(f"unknown depth encoding {encoding!r}; known: {', '.join(ENCODINGS)}")


def depth_from_image(images: torch.Tensor, encoding: str = "grey") -> torch.Tensor:
    """Decoded images (N, 3, S, S) in [-1, 1] -> relative depth (N, S, S): 1 − the encoded value (larger is farther)."""
    if encoding == "grey":
        value = (images.float().mean(1) + 1) / 2
    elif encoding == "colormap":
        rgb = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        value = torch.from_numpy(rgb_to_depth(rgb).astype(np.float32)).to(images.device)
    else:
        raise ValueError(f"unknown depth encoding {encoding!r}; known: {', '.join(ENCODINGS)}")
    return 1 - value
