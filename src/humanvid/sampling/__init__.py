"""Window schedules and DDIM glue."""

from humanvid.sampling.denoise import sample_video
from humanvid.sampling.windows import coverage, fuse_windows, window_frames, window_starts

__all__ = ["coverage", "fuse_windows", "sample_video", "window_frames", "window_starts"]
