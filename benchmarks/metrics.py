"""Benchmark: metric throughput on this machine's device, and our shortcuts against the reference
implementations' way, measured in the same run.

- Network metrics, frames/s (random weights at the real sizes; speed does not depend on the values):
  LPIPS-VGG and FID-Inception on 256×256 frames (DisCo's evaluation size), FID-VID (3D ResNet-50,
  16-frame clips at 112²) and FVD (I3D, 16-frame clips at 224²). For clip metrics, frames/s counts the
  frames the clips cover; DisCo's FVD takes a window at every frame, so it costs one clip per frame.
- Per-frame metrics (PSNR, SSIM, L1) in both protocols, frames/s.
- Fréchet distance at 2048-d: the reference way (`scipy.linalg.sqrtm` of Σ1 Σ2, pytorch-fid/DisCo) vs
  ours (the exact trace from eigendecompositions, or the nuclear-norm form with fewer samples).
- DisCo-protocol FVD clip preparation: resizing every window's 16 frames (DisCo's loader) vs resizing
  each frame once and slicing windows (ours).

    .venv/bin/python benchmarks/metrics.py [--device cpu] [--frames 32]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from humanvid.metrics import disco, features, image
from humanvid.metrics.frechet import frechet_distance_of
from humanvid.metrics.networks.i3d import InceptionI3d
from humanvid.metrics.networks.inception import FIDInceptionV3
from humanvid.metrics.networks.lpips import LPIPS
from humanvid.metrics.networks.resnet3d import ResNet3d50


def timed(fn, repeats: int = 1) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def sqrtm_reference(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import linalg

    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(s1 @ s2)
    return float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(root).real)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--frames", type=int, default=32, help="frames per network measurement")
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    video = rng.integers(0, 256, (args.frames, 256, 256, 3), dtype=np.uint8)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, device {device}" + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))  # fmt: skip

    @torch.no_grad()
    def run(model, x):
        for i in range(0, len(x), args.batch):
            model(x[i : i + args.batch].to(device))
        sync()

    rows = []
    lp = LPIPS().eval().to(device)
    x = torch.from_numpy(video).permute(0, 3, 1, 2).float() / 127.5 - 1
    run(lp.net, x[:2])  # warm-up
    s = timed(lambda: [lp(x[i : i + args.batch].to(device), x[i : i + args.batch].to(device)) for i in range(0, len(x), args.batch)] and sync(), 2)
    rows.append(("lpips (VGG16, 256²)", args.frames / s))
    inc = FIDInceptionV3().eval().to(device)
    xf = features.fid_inputs(video, "corrected")
    run(inc, xf[:2])
    rows.append(("fid (InceptionV3, 256² → 299²)", args.frames / timed(lambda: run(inc, xf), 2)))
    r3d = ResNet3d50().eval().to(device)
    clips = features.fid_vid_clips(video, "corrected")
    run(r3d, clips[:1])
    rows.append(("fid_vid (3D ResNet-50, 16×112²)", len(clips) * 16 / timed(lambda: run(r3d, clips), 2)))
    i3d = InceptionI3d().eval().to(device)
    (clip,) = features.fvd_clips(video, "styleganv")
    run(i3d, clip)
    per_clip = timed(lambda: run(i3d, clip.repeat(2, 1, 1, 1, 1)), 2) / 2
    rows.append(("fvd, styleganv clips (I3D, 16×224²)", 16 / per_clip))
    rows.append(("fvd, disco windows (I3D, a clip per frame)", 1 / per_clip))

    small = video[:, :, :, :]
    for name, fn in [("psnr corrected", image.psnr), ("psnr disco", disco.psnr), ("ssim corrected", image.ssim),
                     ("ssim disco", disco.ssim), ("l1 corrected", image.l1), ("l1 disco", disco.l1)]:  # fmt: skip
        rows.append((f"{name} (256²)", len(small) / timed(lambda fn=fn: [fn(a, b) for a, b in zip(small, small[::-1], strict=True)], 2)))
    print("\n| metric | frames/s |\n|---|---:|")
    for name, fps in rows:
        print(f"| {name} | {fps:.1f} |")

    print("\nFréchet distance, 2048-d features:")
    print("| samples (gen, gt) | scipy.linalg.sqrtm (reference) s | ours s | speed-up | |Δ| |\n|---|---:|---:|---:|---:|")
    for n in (200, 3000):
        a = rng.normal(size=(n, 2048)).astype(np.float64)
        b = rng.normal(size=(n, 2048)) * 1.1 + 0.05
        t_ref = timed(lambda a=a, b=b: sqrtm_reference(a, b))
        t_ours = timed(lambda a=a, b=b: frechet_distance_of(a, b))
        diff = abs(sqrtm_reference(a, b) - frechet_distance_of(a, b))
        print(f"| {n}, {n} | {t_ref:.2f} | {t_ours:.3f} | {t_ref / t_ours:.1f}× | {diff:.2g} |")

    frames = video[:48]
    def per_window():  # DisCo's loader: every window resizes its own 16 frames
        for start in range(len(frames) - 15):
            features.pil_bicubic(frames[start : start + 16], 224)
    def once():
        for _ in features.fvd_clips(frames, "disco", batch=8):
            pass
    t_peer, t_ours = timed(per_window), timed(once)
    print(f"\nDisCo-protocol FVD clip preparation, {len(frames)} frames at 256² → 224² ({len(frames) - 15} windows): "
          f"resize per window {t_peer:.2f} s, resize once {t_ours:.2f} s → {t_peer / t_ours:.1f}×")


if __name__ == "__main__":
    main()
