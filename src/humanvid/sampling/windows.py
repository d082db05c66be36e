"""Sliding windows over a long video and the fusion of their overlapping noise predictions."""

from __future__ import annotations

import torch


def window_starts(num_frames: int, window: int, overlap: int) -> list[int]:
    """Start frames of windows of `window` frames, consecutive windows sharing `overlap` frames.

    The last window is aligned to the end, so every frame is covered and no window runs past the video.
    A video shorter than one window is one window of the whole video.
    """
    if window < 1 or not 0 <= overlap < window:
        raise ValueError(f"need window >= 1 and 0 <= overlap < window, got window={window}, overlap={overlap}")
    if num_frames <= window:
        return [0]
    stride = window - overlap
    starts = list(range(0, num_frames - window + 1, stride))
    if starts[-1] + window < num_frames:
        starts.append(num_frames - window)
    return starts


def coverage(num_frames: int, window: int, overlap: int) -> torch.Tensor:
    """How many windows cover each frame: the divisor of the uniform average."""
    counts = torch.zeros(num_frames)
    for s in window_starts(num_frames, window, overlap):
        counts[s : s + window] += 1
    return counts


def fuse_windows(num_frames: int, window: int, overlap: int, predict) -> torch.Tensor:
    """Uniformly average `predict(start, stop) -> (B, stop - start, ...)` over the sliding windows.

    Returns (B, num_frames, ...): each frame's mean over the windows that cover it.
    """
    total = None
    counts = torch.zeros(num_frames)
    for s in window_starts(num_frames, window, overlap):
        e = min(s + window, num_frames)
        pred = predict(s, e)
        if total is None:
            total = torch.zeros((pred.shape[0], num_frames) + tuple(pred.shape[2:]), dtype=torch.float32, device=pred.device)
        total[:, s:e] += pred.float()
        counts[s:e] += 1
    shape = (1, num_frames) + (1,) * (total.dim() - 2)
    return total / counts.to(total.device).view(shape)
