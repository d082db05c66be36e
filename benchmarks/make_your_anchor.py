"""Benchmark: Make-Your-Anchor sampling time per frame with all-frame attention at window sizes 8, 16 and 32 (the
paper's O(ws²) remark), against frame-by-frame sampling (window 1, "w/o TD") measured in the same run on the same
model, clip and noise.

The model is the body SGDM at a chosen size with random weights (`--sd15-widths`: SD1.5's UNet widths; otherwise
the debug flavor); the clip is `--frames` frames of random mesh images; batch-overlapped temporal denoising with
the release's overlaps (ws/4), the same initial noise for every frame, `--steps` DDIM steps without guidance.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/make_your_anchor.py [--size 64] [--frames 32] [--steps 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from humanvid.models.make_your_anchor.model import MakeYourAnchor
from humanvid.sampling import sample_video


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    device = torch.device(args.device)
    model = MakeYourAnchor.create("debug_pixel", None, resolution=args.size, seed=0, device=device, weight_dtype=torch.float32)
    gen = torch.Generator().manual_seed(0)
    reference = torch.rand(3, args.size, args.size, generator=gen) * 2 - 1
    mesh = torch.rand(args.frames, 3, args.size, args.size, generator=gen)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.machine()}, {os.cpu_count()} CPUs"
    print(f"machine: {name}; torch {torch.__version__}; make_your_anchor/debug_pixel at {args.size}², {args.frames} frames, "
          f"{args.steps} DDIM steps, truncated windows, shared noise; best of {args.repeats}")  # fmt: skip
    print()
    print("| windows | s/frame | vs frame by frame |")
    print("| --- | ---: | ---: |")
    base = None
    for window, overlap in ((1, 0), (8, 2), (16, 4), (32, 8)):
        best = float("inf")
        for _ in range(args.repeats):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            sample_video(model, reference, mesh, args.steps, window, overlap, 1.0, torch.Generator(device).manual_seed(0), "truncated",
                         window_batch=max(1, 16 // window), shared_noise=True, condition_scale=2.0)  # fmt: skip
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            best = min(best, (time.perf_counter() - t0) / args.frames)
        base = base or best
        label = "frame by frame (w/o TD)" if window == 1 else f"ws {window} / os {overlap}"
        print(f"| {label} | {best:.4f} | {base / best:.2f}× |", flush=True)


if __name__ == "__main__":
    main()
