"""Benchmark: scaled-dot-product attention kernels, forward + backward, at the debug models' attention shapes —
where a debug training step spends half its time on two cores (docs/magicanimate.md, "Where a stage-1 step goes").

Each of torch's kernels (the one it picks by default, flash, math) against attention written as matmul + softmax
(the peer: what a hand-written processor would run), with and without an additive float bias (MagicAnimate's debug
`appearance_locality` prior is one), same inputs, median of `--repeats` timed calls after 5 warm-ups. Then the same
layers' width split into SD's eight heads (the debug flavors' default: diffusers reads `attention_head_dim` as the
head count) against two wider ones (MagicAnimate's `debug_pixel` since 2026-12-05), torch's default kernel, with the bias.

    .venv/bin/python benchmarks/attention_kernels.py [--repeats 50]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

# (batch, queries, keys, width): the debug UNet's 16² level is 32 wide, its 8² mid block 64.
LAYERS = {
    "MagicAnimate debug hybrid (16², frame + reference)": (8, 256, 512, 32),
    "debug self-attention (16²)": (8, 256, 256, 32),
    "debug mid block (8², frame + reference)": (8, 64, 128, 64),
    "debug cross-attention (16² over 77 tokens)": (8, 256, 77, 32),
}
SD_HEADS, WIDE_HEADS = 8, 2


def shape(layer: tuple[int, int, int, int], heads: int) -> tuple[int, int, int, int, int]:
    """(B, heads, queries, keys, head size) of a layer split into `heads`."""
    b, lq, lk, width = layer
    return b, heads, lq, lk, width // heads


SHAPES = {name: shape(layer, SD_HEADS) for name, layer in LAYERS.items()}


def explicit(q, k, v, bias):
    scores = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
    if bias is not None:
        scores = scores + bias
    return scores.softmax(-1) @ v


def kernel(backends):
    def run(q, k, v, bias):
        with sdpa_kernel(backends):
            return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)

    return run


WAYS = {"default": lambda q, k, v, b: F.scaled_dot_product_attention(q, k, v, attn_mask=b), "flash": kernel([SDPBackend.FLASH_ATTENTION]),
        "math": kernel([SDPBackend.MATH]), "matmul + softmax (peer)": explicit}  # fmt: skip


def time_way(way, shape, bias: bool, repeats: int) -> float:
    b, h, lq, lk, d = shape
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(b, h, n, d, generator=g, requires_grad=True) for n in (lq, lk, lk))
    mask = torch.randn(lq, lk, generator=g) if bias else None
    for _ in range(5):
        way(q, k, v, mask).sum().backward()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        way(q, k, v, mask).sum().backward()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args()
    print(json.dumps({"machine": platform.processor() or platform.machine(), "cores": os.cpu_count(), "threads": torch.get_num_threads(),
                      "torch": torch.__version__}))  # fmt: skip
    print("| shape (B, heads, queries, keys, head size) | bias | " + " | ".join(WAYS) + " | peer / default |")
    print("|---|---|" + "---:|" * (len(WAYS) + 1))
    for name, dims in SHAPES.items():
        for bias in (False, True):
            ms = {w: time_way(fn, dims, bias, args.repeats) for w, fn in WAYS.items()}
            cells = " | ".join(f"{v:.2f} ms" for v in ms.values())
            print(f"| {name} {dims} | {'yes' if bias else 'no'} | {cells} | {ms['matmul + softmax (peer)'] / ms['default']:.2f}× |")
    print()
    print(f"| layer (B, queries, keys, width) | {SD_HEADS} heads (peer) | {WIDE_HEADS} heads | peer / {WIDE_HEADS} heads |")
    print("|---|---:|---:|---:|")
    for name, layer in LAYERS.items():
        narrow, wide = (time_way(WAYS["default"], shape(layer, h), True, args.repeats) for h in (SD_HEADS, WIDE_HEADS))
        print(f"| {name} {layer} | {narrow:.2f} ms | {wide:.2f} ms | {narrow / wide:.2f}× |")


if __name__ == "__main__":
    main()
