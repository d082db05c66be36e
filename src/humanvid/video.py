"""mp4 (H.264) reading and writing through PyAV. Errors name the file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from humanvid.atomic import atomic_file


class VideoError(RuntimeError):
    """A video file that cannot be read or does not hold what it should."""


@dataclass(frozen=True)
class VideoInfo:
    num_frames: int
    fps: float
    width: int
    height: int


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float, crf: int = 12) -> None:
    """Encode uint8 frames (T, H, W, 3) as H.264 (yuv444p keeps part colours crisp) and publish atomically."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"{path}: expected non-empty uint8 frames (T, H, W, 3), got {frames.dtype} {frames.shape}")
    _, height, width, _ = frames.shape
    if height % 2 or width % 2:
        raise ValueError(f"{path}: H.264 needs even width and height, got {width}x{height}")
    import av  # imported here: config validation imports this module's callers, not the codec

    with atomic_file(path) as tmp:
        with av.open(str(tmp), "w", format="mp4") as container:
            # Rates must be rational for the mp4 muxer: 12.5 fps -> 25/2.
            from fractions import Fraction

            stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv444p"
            # Deterministic output: one thread, fixed options.
            stream.options = {"crf": str(crf), "preset": "medium", "threads": "1"}
            stream.thread_count = 1
            for frame in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)


def read_video(path: str | os.PathLike) -> np.ndarray:
    """Decode every frame to uint8 (T, H, W, 3). A missing, corrupt or empty file -> VideoError naming it."""
    import av

    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: video file not found")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{path}: no video stream")
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    except VideoError:
        raise
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise VideoError(f"{path}: cannot decode video ({exc})") from exc
    if not frames:
        raise VideoError(f"{path}: video has zero frames")
    return np.stack(frames)


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Frame count, fps and size from the container, decoding to count frames exactly."""
    import av

    frames = read_video(path)
    with av.open(str(path)) as container:
        rate = container.streams.video[0].average_rate
    return VideoInfo(num_frames=len(frames), fps=float(rate) if rate else 0.0, width=frames.shape[2], height=frames.shape[1])
