"""Depth as an image a shared image VAE encodes, and back.

A frame's depth (metres, 0 where nothing was measured: off the person on synthdance) becomes its normalised inverse
depth on the person — `DEPTH_NEAR_GREY` at the farthest point, 1 at the nearest, 0 off it — and that value an image:
a grey level (`grey`, the baseline's) or a colour on the metrics' blue→red hue ramp (`colormap`,
`humanvid.metrics.depth.depth_to_rgb`; IDOL's "depth as a stylised video"). Decoding inverts the image to the value
and returns 1 − value: affine in true depth on the person, which is all relative depth promises (evaluation aligns
scale and shift on the person).

A *relative inverse* depth source (a monocular estimator's: MiDaS on NTU120, `source="inverse_depth"`) is larger where
nearer, has no unit and no "none": every pixel of the frame is encoded, its nearest at 1 and its farthest at
`DEPTH_NEAR_GREY`, and decoding returns 1 − value as for depth (larger is farther; the evaluator's alignment is free
in sign and scale).
"""

from __future__ import annotations

import numpy as np
import torch

from humanvid.metrics.depth import depth_to_rgb, rgb_to_depth

DEPTH_NEAR_GREY = 0.2
"""The value at the person's farthest point (off the person stays 0): the person stays apart from the background."""

ENCODINGS = ("grey", "colormap")


NORMALISATIONS = ("minmax", "median")

DEPTH_SOURCES = ("depth", "inverse_depth")
"""What a depth condition holds: `depth` — larger is farther, 0 where nothing was measured (synthdance's metres, TikTok's
HDNet maps, NTU's Kinect metres); `inverse_depth` — relative inverse depth, larger is nearer, everywhere (a monocular
estimator's `depth_kind = "relative_inverse"`)."""


def inverse_depth_value(depth: torch.Tensor, normalisation: str = "minmax", span: float = 1.0, source: str = "depth") -> torch.Tensor:
    """Depth (N, S, S) in metres (0 = none) -> the value (N, S, S) in [0, 1] each frame's image encodes.

    `minmax`: each frame's nearest point 1, its farthest `DEPTH_NEAR_GREY` (unit-free: any relative depth). `median`:
    the frame's median depth on the person at the middle of [DEPTH_NEAR_GREY, 1], a depth `span` (the depth's units)
    across that range, clamped to it — a body part's value then depends on its offset from the body, not on the
    frame's extremes (whose distance varies twice over between synthdance frames). With `source="inverse_depth"`
    (relative inverse depth, every pixel) only `minmax` applies: the frame's largest value (nearest) is 1."""
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"unknown depth normalisation {normalisation!r}; known: {', '.join(NORMALISATIONS)}")
    if source == "inverse_depth":
        if normalisation != "minmax":
            raise ValueError("relative inverse depth has no units: only the `minmax` depth normalisation applies to it")
        lo, hi = depth.amin(dim=(1, 2), keepdim=True), depth.amax(dim=(1, 2), keepdim=True)
        return DEPTH_NEAR_GREY + (1 - DEPTH_NEAR_GREY) * (depth - lo) / (hi - lo).clamp_min(1e-6)
    if source != "depth":
        raise ValueError(f"unknown depth source {source!r}; known: {', '.join(DEPTH_SOURCES)}")
    if normalisation == "median":
        return _median_value(depth, span)
    on = depth > 0
    big = torch.finfo(depth.dtype).max
    near = torch.where(on, depth, big).amin(dim=(1, 2), keepdim=True)
    far = torch.where(on, depth, -big).amax(dim=(1, 2), keepdim=True)
    span = (far - near).clamp_min(1e-6)
    return torch.where(on, DEPTH_NEAR_GREY + (1 - DEPTH_NEAR_GREY) * (far - depth) / span, torch.zeros_like(depth))


def _median_value(depth: torch.Tensor, span: float) -> torch.Tensor:
    if span <= 0:
        raise ValueError(f"the depth span must be positive, got {span}")
    on = depth > 0
    medians = torch.stack([frame[mask].median() if mask.any() else frame.new_zeros(()) for frame, mask in zip(depth, on, strict=True)])
    middle = (1 + DEPTH_NEAR_GREY) / 2
    value = (middle + (1 - DEPTH_NEAR_GREY) * (medians[:, None, None] - depth) / span).clamp(DEPTH_NEAR_GREY, 1)
    return torch.where(on, value, torch.zeros_like(depth))


def depth_image(depth: torch.Tensor, encoding: str = "grey", normalisation: str = "minmax", span: float = 1.0,
                source: str = "depth") -> torch.Tensor:
    """Depth (N, S, S) -> the image the VAE encodes (N, 3, S, S) in [-1, 1] (`inverse_depth_value`'s value)."""
    value = inverse_depth_value(depth, normalisation, span, source)
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


RGBD_PACKINGS = {"4c": 1, "6c": 3}
"""LDM3D's RGBD images: RGB then the depth's channels. `4c` (Intel/ldm3d-4c): one channel, the value itself; `6c`
(Intel/ldm3d, the paper's): the value as a 16-bit integer in a three-channel image, high byte in channel 1 and low
byte in channel 2 (what diffusers' `VaeImageProcessorLDM3D.rgblike_to_depthmap` reads back; channel 0 is not read: 0
here)."""


def depth_channels(depth: torch.Tensor, packing: str, normalisation: str = "minmax", span: float = 1.0,
                   source: str = "depth") -> torch.Tensor:
    """Depth (N, S, S) -> the RGBD image's depth channels (N, 1 or 3, S, S) in [-1, 1]."""
    value = inverse_depth_value(depth, normalisation, span, source)
    if packing == "4c":
        return (value * 2 - 1)[:, None]
    if packing == "6c":
        level = (value.float() * 65535).round()
        high, low = torch.div(level, 256, rounding_mode="floor"), torch.remainder(level, 256)
        return (torch.stack([torch.zeros_like(level), high, low], dim=1) / 255 * 2 - 1).to(depth.dtype)
    raise ValueError(f"unknown RGBD packing {packing!r}; known: {', '.join(RGBD_PACKINGS)}")


def depth_from_channels(channels: torch.Tensor, packing: str) -> torch.Tensor:
    """Decoded depth channels (N, 1 or 3, S, S) in [-1, 1] -> relative depth (N, S, S): 1 − the value (larger is
    farther), as `depth_from_image`."""
    if packing not in RGBD_PACKINGS:
        raise ValueError(f"unknown RGBD packing {packing!r}; known: {', '.join(RGBD_PACKINGS)}")
    if channels.shape[1] != RGBD_PACKINGS[packing]:
        raise ValueError(f"RGBD packing {packing} has {RGBD_PACKINGS[packing]} depth channels, got {channels.shape[1]}")
    unit = (channels.float().clamp(-1, 1) + 1) / 2
    if packing == "4c":
        return 1 - unit[:, 0]
    high, low = (unit[:, 1] * 255).round(), (unit[:, 2] * 255).round()
    return 1 - (high * 256 + low) / 65535
