"""Turning source frames into canonical clips: optional centre crop + resize, frame-rate resampling,
horizontal-flip copies, written as H.264 one frame at a time."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from pydantic import Field

from humanvid.datasets.base import PluginOptions


class FrameFormat(PluginOptions):
    """How source frames become clip frames."""

    size: int | None = Field(None, ge=16)
    """Centre-crop to a square and resize to size x size; None keeps the frame (trimmed to even sides)."""
    fps: float | None = Field(None, gt=0)
    """Resample to this rate by nearest frame; None keeps the source rate."""


def keep_index(i: int, src_fps: float, dst_fps: float | None) -> bool:
    """Whether source frame i survives resampling from src_fps to dst_fps (nearest earlier frame)."""
    if dst_fps is None or dst_fps >= src_fps:
        return True
    ratio = dst_fps / src_fps
    return int(i * ratio) != int((i - 1) * ratio) if i else True


def resampled(frames: Iterable[np.ndarray], src_fps: float, dst_fps: float | None) -> Iterator[np.ndarray]:
    for i, frame in enumerate(frames):
        if keep_index(i, src_fps, dst_fps):
            yield frame


def shape_frame(frame: np.ndarray, fmt: FrameFormat) -> np.ndarray:
    """Apply the format's crop/resize; otherwise trim to even width and height (H.264 needs them)."""
    from humanvid.conditions import crop_resize

    if frame.ndim == 2:
        frame = np.repeat(frame[..., None], 3, axis=-1)
    frame = frame[..., :3]
    if fmt.size is not None:
        return crop_resize(frame, fmt.size)
    h, w = frame.shape[:2]
    return np.ascontiguousarray(frame[: h - h % 2, : w - w % 2])


def shape_plane(plane: np.ndarray, fmt: FrameFormat) -> np.ndarray:
    """The same crop/resize as `shape_frame` for a single-channel map of any dtype (masks, depth), with
    nearest-neighbour resampling so values never blend across a silhouette's edge."""
    from PIL import Image

    from humanvid.conditions import crop_box

    if fmt.size is None:
        h, w = plane.shape[:2]
        return np.ascontiguousarray(plane[: h - h % 2, : w - w % 2])
    top, left, side = crop_box(*plane.shape[:2])
    crop = plane[top : top + side, left : left + side].astype(np.float32)
    resized = np.asarray(Image.fromarray(crop, mode="F").resize((fmt.size, fmt.size), Image.NEAREST))
    return resized.astype(plane.dtype)


@dataclass(frozen=True)
class Written:
    frames: int
    width: int
    height: int


def write_clip(path: Path, frames: Iterable[np.ndarray], fps: float, crf: int, flip_path: Path | None = None) -> Written:
    """Stream frames into `path` (and their mirror images into `flip_path`, in the same pass)."""
    from humanvid.video import VideoWriter

    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise ValueError(f"{path}: the source has zero frames")
    h, w = first.shape[:2]
    with contextlib.ExitStack() as stack:
        writer = stack.enter_context(VideoWriter(path, fps, crf))
        mirror = stack.enter_context(VideoWriter(flip_path, fps, crf)) if flip_path is not None else None
        for frame in _chain(first, frames):
            writer.write(frame)
            if mirror is not None:
                mirror.write(np.ascontiguousarray(frame[:, ::-1]))
    return Written(writer.frames, w, h)


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest
