"""Benchmark: Make-Your-Anchor sampling time per frame with all-frame attention at window sizes 8, 16 and 32 (the
paper's O(ws²) remark), against frame-by-frame sampling (window 1, "w/o TD") measured in the same run on the same
model, clip and noise; and the identity-specific face enhancement's cost per frame (align, inpaint with the Face
SGDM, blend back) against the body's sampling at ws 16.

The model is the body SGDM at a chosen size with random weights (`--sd15-widths`: SD1.5's UNet widths; otherwise
the debug flavor); the clip is `--frames` frames of random mesh images; batch-overlapped temporal denoising with
the release's overlaps (ws/4), the same initial noise for every frame, `--steps` DDIM steps without guidance.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/make_your_anchor.py [--size 64] [--frames 32] [--steps 2] [--face-size 32]

The faces are synthdance's 68-point face template, a quarter of the frame wide, in every frame.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from humanvid.config import FaceEnhancementConfig
from humanvid.datasets.synthdance.body import FACE_TEMPLATE
from humanvid.keypoints import FACE_START
from humanvid.models.make_your_anchor.model import MakeYourAnchor
from humanvid.models.make_your_anchor.spec import MakeYourAnchorOptions
from humanvid.sampling import sample_video


def face_keypoints(frames: int, size: int) -> torch.Tensor:
    """(frames, 133, 3) keypoints whose face points are the template, centred a third of the way down the frame."""
    kp = torch.zeros(frames, 133, 3)
    uv = torch.tensor(FACE_TEMPLATE, dtype=torch.float32)
    face = slice(FACE_START, FACE_START + 68)
    kp[:, face, 0] = size / 2 + size / 8 * uv[:, 0]
    kp[:, face, 1] = size / 3 - size / 8 * uv[:, 1]
    kp[:, face, 2] = 1.0
    return kp


def timed(device: torch.device, run) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--face-size", type=int, default=32, help="the aligned face crop's side (the paper: 256 beside a 512 body)")
    args = ap.parse_args()
    device = torch.device(args.device)
    options = MakeYourAnchorOptions(face_size=args.face_size)
    model = MakeYourAnchor.create("debug_pixel", options, resolution=args.size, seed=0, device=device, weight_dtype=torch.float32)
    model.prepare("face", seed=0)
    gen = torch.Generator().manual_seed(0)
    reference = torch.rand(3, args.size, args.size, generator=gen) * 2 - 1
    mesh = torch.rand(args.frames, 3, args.size, args.size, generator=gen)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.machine()}, {os.cpu_count()} CPUs"
    print(f"machine: {name}; torch {torch.__version__}; make_your_anchor/debug_pixel at {args.size}², {args.frames} frames, "
          f"{args.steps} DDIM steps, truncated windows, shared noise; best of {args.repeats}")  # fmt: skip
    print()
    print("| windows | s/frame | vs frame by frame |")
    print("| --- | ---: | ---: |")
    base = body16 = None
    for window, overlap in ((1, 0), (8, 2), (16, 4), (32, 8)):
        def body(window: int = window, overlap: int = overlap) -> torch.Tensor:
            return sample_video(model, reference, mesh, args.steps, window, overlap, 1.0, torch.Generator(device).manual_seed(0), "truncated",
                                window_batch=max(1, 16 // window), shared_noise=True, condition_scale=2.0)["rgb"]  # fmt: skip

        best = min(timed(device, body) for _ in range(args.repeats)) / args.frames
        base = base or best
        body16 = best if window == 16 else body16
        label = "frame by frame (w/o TD)" if window == 1 else f"ws {window} / os {overlap}"
        print(f"| {label} | {best:.4f} | {base / best:.2f}× |", flush=True)
    frames = body()
    keypoints = face_keypoints(args.frames, args.size)
    settings = FaceEnhancementConfig(steps=args.steps, guidance_scale=1.0)
    best = min(timed(device, lambda: model.enhance_faces(frames, keypoints, mesh, reference, settings, torch.Generator(device).manual_seed(0)))
               for _ in range(args.repeats)) / args.frames  # fmt: skip
    print()
    print(f"face enhancement ({args.face_size}² crops, {args.steps} DDIM steps, no guidance): {best:.4f} s/frame, "
          f"{best / body16:.2f}× the body's ws 16 sampling per frame")  # fmt: skip

if __name__ == "__main__":
    main()
