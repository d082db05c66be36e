"""Benchmark: estimator throughput, batched (as humanvid runs it) against a per-frame loop (as the
reference tools call it), on the same network and frames in one run.

OpenPose body: the real architecture with random weights (the released weights cannot be fetched here;
speed does not depend on the values). Frames are 256 x 256 RGB; the network sees them at 184 px high.

    .venv/bin/python benchmarks/estimators.py [--frames 16] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from humanvid.estimators.openpose import BodyPoseNet, OpenPoseBody


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    device = torch.device(args.device)
    est = OpenPoseBody.__new__(OpenPoseBody)  # the estimator's own code paths, without a weight file
    est.device = device
    est.net = BodyPoseNet.build().to(device).eval()
    frames = np.random.default_rng(0).integers(0, 255, (args.frames, args.size, args.size, 3), dtype=np.uint8)
    est.maps(frames[:2])  # warm-up

    def timed(fn) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    batched = min(timed(lambda: est.maps(frames)) for _ in range(2))
    looped = min(timed(lambda: [est.maps(f[None]) for f in frames]) for _ in range(2))
    print(f"machine: {os.cpu_count()} cores, {device}, torch {torch.__version__}, Python {platform.python_version()}")
    print(f"openpose body network + map post-processing, {args.frames} frames {args.size}x{args.size}")
    print()
    print("| approach | seconds | frames/s |")
    print("| --- | ---: | ---: |")
    print(f"| humanvid: whole clip in one batch | {batched:.2f} | {args.frames / batched:.2f} |")
    print(f"| per-frame loop (reference port) | {looped:.2f} | {args.frames / looped:.2f} |")
    print(f"| **speed-up** | **{looped / batched:.2f}x** | |")


if __name__ == "__main__":
    main()
