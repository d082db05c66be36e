"""Benchmark: JPEG frames to model-ready uint8 tensors on the training device — the loader's two paths.

Same JPEGs (512² synthetic frames with moving content, q95 4:4:4, as the shard stage writes them), same output
(B × 17 frames (3, 512, 512) uint8 on `--device`):
(a) `decode_on_device`: the batch's JPEG bytes through torchvision's `decode_jpeg` in one call on the device
    (nvJPEG on CUDA; libjpeg on a CPU), then the crop (a no-op at the shard's own size), then to the device;
(b) peer, the CPU path the loader takes otherwise: simplejpeg (libjpeg-turbo) into a reused host buffer, one frame
    at a time, then one copy to the device (pinned and non-blocking on CUDA).
Both in one process, no loader workers: the decode cost alone. Rates are steady-state (two warm-up batches).

    .venv/bin/python benchmarks/jpeg_decode.py [--device cuda] [--batch 4] [--batches 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

SIZE, FRAMES = 512, 17


def make_jpegs(n: int) -> list[bytes]:
    import simplejpeg

    ys, xs = np.mgrid[0:SIZE, 0:SIZE]
    out = []
    for i in range(n):
        img = np.stack([(xs + 7 * i) % 256, (ys * 2 + 3 * i) % 256, ((xs ^ ys) + i) % 256], -1).astype(np.uint8)
        out.append(simplejpeg.encode_jpeg(img, quality=95, colorspace="RGB", colorsubsampling="444"))
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_path(batch: list[list[bytes]], device: torch.device) -> torch.Tensor:
    from humanvid.shards.loader import decode_on_device

    return decode_on_device({"frames_jpeg": batch, "flip": [False] * len(batch)}, device, SIZE)["frames"]


def host_path(batch: list[list[bytes]], device: torch.device, buffer: torch.Tensor) -> torch.Tensor:
    import simplejpeg

    host = buffer.numpy()
    for b, frames in enumerate(batch):
        for k, data in enumerate(frames):
            simplejpeg.decode_jpeg(data, colorspace="RGB", buffer=host[b, k])
    return buffer.permute(0, 1, 4, 2, 3).to(device, non_blocking=True)


def rate(fn, batches: list, device: torch.device) -> float:
    for b in batches[:2]:
        fn(b)
    sync(device)
    t0 = time.perf_counter()
    for b in batches:
        fn(b)
    sync(device)
    return len(batches) * len(batches[0]) * FRAMES / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--batches", type=int, default=20)
    args = ap.parse_args()
    device = torch.device(args.device)
    jpegs = make_jpegs(args.batch * FRAMES)
    batches = [[jpegs[b * FRAMES : (b + 1) * FRAMES] for b in range(args.batch)]] * args.batches
    buffer = torch.empty((args.batch, FRAMES, SIZE, SIZE, 3), dtype=torch.uint8, pin_memory=device.type == "cuda")
    assert torch.equal(device_path(batches[0], device), host_path(batches[0], device, buffer)), "the two paths must agree"
    on_device = rate(lambda b: device_path(b, device), batches, device)
    host = rate(lambda b: host_path(b, device, buffer), batches, device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.machine()}, {os.cpu_count()} cpus"
    print(f"machine: {name}; torch {torch.__version__}; batch {args.batch} × {FRAMES} frames at {SIZE}², {args.batches} batches")
    print("| path | frames/s | ratio |")
    print("|---|---:|---:|")
    print(f"| decode_on_device ({args.device}) | {on_device:.0f} | {on_device / host:.2f}× |")
    print(f"| peer: simplejpeg on the host, copy to {args.device} | {host:.0f} | 1.00× |")


if __name__ == "__main__":
    main()
