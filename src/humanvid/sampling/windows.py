"""Sliding windows over a long video and the fusion of their overlapping noise predictions.

Three schedules (`SCHEDULES`):
- `open`: windows step by `window - overlap`; the last is aligned to the end, so no window runs past the
  video.
- `closed_loop` (MagicAnimate's released pipeline, its `uniform` context schedule at its defaults): windows
  start at 0, w - o, 2(w - o), ... while the start is inside the video, and frame indices wrap around
  modulo the length, so the last window joins the end to the beginning.
- `truncated` (Make-Your-Anchor's batch-overlapped temporal denoising, Algorithm 1 and the release's
  `get_overlap_slide_window_indices`): windows start at 0, w - o, 2(w - o), ... while the start is inside the
  video and are cut at its end — the last ones may be shorter, nothing wraps.
A video no longer than one window is one window of the whole video. Each frame's prediction is the
uniform mean over the windows that cover it.
"""

from __future__ import annotations

from typing import Callable, get_args

import torch

from humanvid.config import WindowSchedule as Schedule

SCHEDULES: tuple[str, ...] = get_args(Schedule)


def _check(window: int, overlap: int) -> None:
    if window < 1 or not 0 <= overlap < window:
        raise ValueError(f"need window >= 1 and 0 <= overlap < window, got window={window}, overlap={overlap}")


def window_starts(num_frames: int, window: int, overlap: int) -> list[int]:
    """Start frames of the open schedule."""
    _check(window, overlap)
    if num_frames <= window:
        return [0]
    stride = window - overlap
    starts = list(range(0, num_frames - window + 1, stride))
    if starts[-1] + window < num_frames:
        starts.append(num_frames - window)
    return starts


def window_frames(num_frames: int, window: int, overlap: int, schedule: Schedule = "open") -> list[list[int]]:
    """The frame indices of every window, in order (see the module docstring)."""
    _check(window, overlap)
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown window schedule {schedule!r}; known: {', '.join(SCHEDULES)}")
    if num_frames <= window:
        return [list(range(num_frames))]
    if schedule == "open":
        return [list(range(s, s + window)) for s in window_starts(num_frames, window, overlap)]
    starts = range(0, num_frames, window - overlap)
    if schedule == "truncated":
        return [list(range(s, min(s + window, num_frames))) for s in starts]
    return [[(s + i) % num_frames for i in range(window)] for s in starts]


def coverage(num_frames: int, window: int, overlap: int, schedule: Schedule = "open") -> torch.Tensor:
    """How many windows cover each frame: the divisor of the uniform average."""
    counts = torch.zeros(num_frames)
    for frames in window_frames(num_frames, window, overlap, schedule):
        counts[frames] += 1
    return counts


def fuse_windows(num_frames: int, windows: list[list[int]], predict: Callable[[torch.Tensor], torch.Tensor], batch: int = 1) -> torch.Tensor:
    """Uniformly average `predict(frames (n, K) long) -> (n, K, ...)` over `windows`, `batch` windows per
    call (windows of equal length; one window shorter than the rest goes alone).

    Returns (num_frames, ...): each frame's mean over the windows that cover it.
    """
    if batch < 1:
        raise ValueError(f"window batch must be >= 1, got {batch}")
    total = None
    counts = torch.zeros(num_frames)
    groups: list[list[list[int]]] = []
    for w in windows:
        if groups and len(groups[-1]) < batch and len(groups[-1][0]) == len(w):
            groups[-1].append(w)
        else:
            groups.append([w])
    for group in groups:
        frames = torch.tensor(group)  # (n, K)
        pred = predict(frames)
        if total is None:
            total = torch.zeros((num_frames,) + tuple(pred.shape[2:]), dtype=torch.float32, device=pred.device)
        flat = frames.flatten().to(pred.device)
        total.index_add_(0, flat, pred.flatten(0, 1).float())  # a frame twice in one window (wrap) counts twice
        counts.index_add_(0, frames.flatten(), torch.ones(frames.numel()))
    if total is None:
        raise ValueError("no windows to fuse")
    if bool((counts == 0).any()):
        raise ValueError(f"frames {torch.nonzero(counts == 0).flatten().tolist()} are covered by no window")
    return total / counts.to(total.device).view((num_frames,) + (1,) * (total.dim() - 1))
