"""Turning videos into network inputs, per variant (`humanvid.metrics.protocols`). Frames are uint8 (T, H, W, 3)
throughout.

- FID: `pytorch-fid` feeds [0, 1] frames and lets the network resize bilinearly to 299; `clean` resizes to 299
  with PIL bicubic on float channels first (clean-fid's "clean" resize, DisCo's).
- FID-VID: 112×112 PIL-bicubic frames minus the Kinetics mean, 16-frame clips. `video-mean` (DisCo) cuts each
  video into consecutive clips, pads the last with copies of the final frame and averages the clip features
  into one vector per video; `clips` keeps every complete clip as its own sample.
- FVD: 16-frame clips in [-1, 1] at 224×224. `disco` takes every window at stride 1 (PIL bicubic);
  `styleganv` takes the first 16 frames of each video (bilinear resize of the short side to 224, then a
  centre crop).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from humanvid.metrics.networks.resnet3d import KINETICS_MEAN

CLIP_FRAMES = 16


def pil_bicubic(frames: np.ndarray, size: int) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, size, size, 3) float32 in 0..255, each channel resized as a float image
    and clipped to 0..255 (clean-fid's resize, which DisCo's resizer is)."""
    out = np.empty((len(frames), size, size, 3), np.float32)
    for t, frame in enumerate(frames):
        for c in range(3):
            img = Image.fromarray(frame[..., c].astype(np.float32), mode="F")
            out[t, ..., c] = np.asarray(img.resize((size, size), resample=Image.BICUBIC))
    return np.clip(out, 0, 255, out=out)


def fid_inputs(frames: np.ndarray, variant: str) -> torch.Tensor:
    """-> (T, 3, H', W') float32 in [0, 1] for `FIDInceptionV3` (variant `Protocol.fid`)."""
    if variant == "clean":
        x = pil_bicubic(frames, 299) / 255.0
    elif variant == "pytorch-fid":
        x = frames.astype(np.float32) / 255.0
    else:
        raise ValueError(f"unknown FID input variant {variant!r}; known: pytorch-fid, clean")
    return torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2)


def fid_vid_clips(frames: np.ndarray, variant: str) -> torch.Tensor:
    """-> (N, 3, 16, 112, 112) mean-subtracted clips of one video (variant `Protocol.fid_vid`: `video-mean` pads
    the tail clip; with `clips` N may be 0)."""
    if variant not in ("clips", "video-mean"):
        raise ValueError(f"unknown FID-VID clip variant {variant!r}; known: clips, video-mean")
    x = pil_bicubic(frames, 112) - np.asarray(KINETICS_MEAN, np.float32)
    t = len(x)
    if variant == "video-mean" and t % CLIP_FRAMES:
        x = np.concatenate([x, np.repeat(x[-1:], CLIP_FRAMES - t % CLIP_FRAMES, axis=0)])
    n = len(x) // CLIP_FRAMES
    clips = x[: n * CLIP_FRAMES].reshape(n, CLIP_FRAMES, 112, 112, 3)
    return torch.from_numpy(np.ascontiguousarray(clips)).permute(0, 4, 1, 2, 3)


def fvd_clips(frames: np.ndarray, extraction: str, batch: int = 8) -> Iterator[torch.Tensor]:
    """Batches of (n, 3, 16, 224, 224) clips in [-1, 1] of one video (none if it is shorter than 16)."""
    t = len(frames)
    if t < CLIP_FRAMES:
        return
    if extraction == "disco":
        resized = pil_bicubic(frames, 224) / 127.5 - 1.0  # resized once, windows share frames
        starts = list(range(t - CLIP_FRAMES + 1))
        for i in range(0, len(starts), batch):
            clips = np.stack([resized[s : s + CLIP_FRAMES] for s in starts[i : i + batch]])
            yield torch.from_numpy(clips).permute(0, 4, 1, 2, 3)
    elif extraction == "styleganv":
        x = torch.from_numpy(frames[:CLIP_FRAMES].astype(np.float32) / 255.0).permute(0, 3, 1, 2)  # (16, 3, H, W)
        h, w = x.shape[-2:]
        scale = 224 / min(h, w)
        size = (224, int(np.ceil(w * scale))) if h < w else (int(np.ceil(h * scale)), 224)
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        top, left = (x.shape[-2] - 224) // 2, (x.shape[-1] - 224) // 2
        x = x[..., top : top + 224, left : left + 224] * 2 - 1
        yield x.permute(1, 0, 2, 3).unsqueeze(0).contiguous()
    else:
        raise ValueError(f"unknown FVD clip extraction {extraction!r}; choose disco or styleganv")
