"""Benchmark: ingest throughput of a dataset plugin against a plain ffmpeg re-encode of the same clips.

Both do the same work per source video: decode, centre-crop to a square, bicubic resize, encode H.264
(libx264, preset medium, CRF 12, yuv444p, one thread). humanvid's `local` plugin additionally splits each
video 80/20 into two clips and writes the clip table. Sources are synthetic 10 s, 30 fps videos made
here (smooth moving content, so the encoder does realistic work).

    .venv/bin/python benchmarks/ingest.py [--videos 6] [--size 256]

Needs the `ffmpeg` command (Debian package `ffmpeg`) for the peer measurement.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from humanvid.datasets.local import LocalVideos
from humanvid.video import write_video


def make_sources(folder: Path, n: int, width: int = 640, height: int = 360, frames: int = 300) -> list[Path]:
    ys, xs = np.mgrid[0:height, 0:width]
    paths = []
    for v in range(n):
        video = np.empty((frames, height, width, 3), np.uint8)
        for t in range(frames):
            phase = 2 * np.pi * (t / 90 + v / n)
            video[t, ..., 0] = (128 + 100 * np.sin(xs / 40 + phase)).astype(np.uint8)
            video[t, ..., 1] = (128 + 100 * np.cos(ys / 30 - phase)).astype(np.uint8)
            video[t, ..., 2] = ((xs + ys + 3 * t) % 256).astype(np.uint8)
            cx = int(width / 2 + 200 * np.sin(phase))
            video[t, 100:260, max(0, cx - 40) : cx + 40] = 250
        path = folder / f"person{v:02d}.mp4"
        write_video(path, video, fps=30, crf=18)
        paths.append(path)
    return paths


def run_ffmpeg(sources: list[Path], out: Path, size: int, height: int) -> None:
    out.mkdir()
    for src in sources:
        cmd = ["ffmpeg", "-y", "-loglevel", "error", "-i", str(src), "-vf", f"crop={height}:{height},scale={size}:{size}:flags=bicubic",
               "-c:v", "libx264", "-preset", "medium", "-crf", "12", "-pix_fmt", "yuv444p", "-threads", "1", str(out / src.name)]  # fmt: skip
        subprocess.run(cmd, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    if shutil.which("ffmpeg") is None:
        raise SystemExit("the peer measurement needs the ffmpeg command (apt-get install ffmpeg)")
    with tempfile.TemporaryDirectory(prefix="humanvid-ingest-bench-") as tmp:
        tmp = Path(tmp)
        (tmp / "src").mkdir()
        sources = make_sources(tmp / "src", args.videos)
        megabytes = sum(p.stat().st_size for p in sources) / 1e6
        frames = args.videos * 300

        start = time.perf_counter()
        clips = LocalVideos("bench", {"path": str(tmp / "src"), "format": {"size": args.size}}).ingest(tmp / "ours", progress=lambda m: None)
        ours = time.perf_counter() - start
        assert all(c.ok for c in clips) and sum(c.num_frames for c in clips) == frames

        start = time.perf_counter()
        run_ffmpeg(sources, tmp / "ffmpeg", args.size, 360)
        peer = time.perf_counter() - start

    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}; {args.videos} videos x 300 frames 640x360 -> {args.size}x{args.size}")
    print()
    print("| approach | seconds | source videos/s | frames/s | MB/s (source) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, sec in (("humanvid `local` ingest", ours), ("plain ffmpeg re-encode", peer)):
        print(f"| {name} | {sec:.1f} | {args.videos / sec:.2f} | {frames / sec:.0f} | {megabytes / sec:.2f} |")
    print(f"| **ratio humanvid / ffmpeg (time)** | **{ours / peer:.2f}x** | | | |")


if __name__ == "__main__":
    main()
