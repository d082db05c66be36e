"""mp4 (H.264) reading and writing through PyAV. Errors name the file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

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


class VideoWriter:
    """Streaming H.264 writer: frames go in one at a time; the file appears atomically on close.

    yuv444p keeps part colours and thin limbs crisp; one thread and fixed options (the bytes are still not
    always identical across processes: docs/architecture.md, known coarseness).
    """

    def __init__(self, path: str | os.PathLike, fps: float, crf: int = 12) -> None:
        self.path, self.fps, self.crf = Path(path), fps, crf
        self._tmp_ctx = None
        self._container = None
        self._stream = None
        self.frames = 0

    def __enter__(self) -> "VideoWriter":
        self._tmp_ctx = atomic_file(self.path)
        tmp = self._tmp_ctx.__enter__()
        import av  # imported here: config validation imports this module's callers, not the codec

        # bitexact: no wall-clock time or library version strings in the container.
        self._container = av.open(str(tmp), "w", format="mp4", options={"fflags": "+bitexact"})
        return self

    def write(self, frame: np.ndarray) -> None:
        import av

        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[-1] != 3:
            raise ValueError(f"{self.path}: expected uint8 frames (H, W, 3), got {frame.dtype} {frame.shape}")
        if self._stream is None:
            height, width = frame.shape[:2]
            if height % 2 or width % 2:
                raise ValueError(f"{self.path}: H.264 needs even width and height, got {width}x{height}")
            stream = self._container.add_stream("libx264", rate=Fraction(self.fps).limit_denominator(1001))
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv444p"
            # x264's own thread settings pinned too. Encodes are still not always byte-identical across
            # processes (docs/architecture.md, known coarseness); the decoded frames are what stages compare.
            stream.options = {"crf": str(self.crf), "preset": "medium", "threads": "1",
                              "x264-params": "threads=1:lookahead-threads=1:sliced-threads=0"}  # fmt: skip
            stream.thread_count = 1
            self._stream = stream
        elif frame.shape[:2] != (self._stream.height, self._stream.width):
            raise ValueError(f"{self.path}: frame size changed to {frame.shape[1]}x{frame.shape[0]}")
        for packet in self._stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
            self._container.mux(packet)
        self.frames += 1

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc is None:
                if self.frames == 0:
                    raise ValueError(f"{self.path}: no frames written")
                for packet in self._stream.encode():  # flush the encoder
                    self._container.mux(packet)
        except BaseException as err:
            exc_type, exc, tb = type(err), err, err.__traceback__
            self._container.close()
            self._tmp_ctx.__exit__(exc_type, exc, tb)  # drops the scratch file
            raise
        self._container.close()
        self._tmp_ctx.__exit__(exc_type, exc, tb)  # publishes, or drops the scratch file on error
        return False


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float, crf: int = 12) -> None:
    """Encode uint8 frames (T, H, W, 3) as H.264 and publish atomically."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"{path}: expected non-empty uint8 frames (T, H, W, 3), got {frames.dtype} {frames.shape}")
    with VideoWriter(path, fps, crf) as writer:
        for frame in frames:
            writer.write(frame)


def write_webm(path: str | os.PathLike, frames: np.ndarray, fps: float) -> None:
    """Encode uint8 frames (T, H, W, 3) as VP9 WebM (plays in every browser without proprietary codecs),
    published atomically. For report previews, not for data."""
    import av

    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"{path}: expected non-empty uint8 frames (T, H, W, 3), got {frames.dtype} {frames.shape}")
    with atomic_file(Path(path)) as tmp:
        with av.open(str(tmp), "w", format="webm") as container:
            stream = container.add_stream("libvpx-vp9", rate=int(round(fps)))
            stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
            stream.options = {"crf": "20", "b:v": "0", "deadline": "good", "cpu-used": "4", "row-mt": "0", "threads": "1"}
            for frame in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
            container.mux(stream.encode())


def iter_frames(path: str | os.PathLike) -> Iterator[np.ndarray]:
    """Decode frames one at a time as uint8 (H, W, 3): long videos never sit in memory whole."""
    import av

    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: video file not found")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{path}: no video stream")
            for frame in container.decode(video=0):
                yield frame.to_ndarray(format="rgb24")
    except VideoError:
        raise
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise VideoError(f"{path}: cannot decode video ({exc})") from exc


def count_frames(path: str | os.PathLike) -> tuple[int, float]:
    """(frames, fps) by demuxing packets, without decoding."""
    import av

    path = Path(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{path}: no video stream")
            stream = container.streams.video[0]
            rate = float(stream.average_rate or stream.guessed_rate or 0)
            n = sum(1 for p in container.demux(stream) if p.size)
    except VideoError:
        raise
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise VideoError(f"{path}: cannot read video ({exc})") from exc
    return n, rate


def read_video(path: str | os.PathLike) -> np.ndarray:
    """Decode every frame to uint8 (T, H, W, 3). A missing, corrupt or empty file -> VideoError naming it."""
    frames = list(iter_frames(path))
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
