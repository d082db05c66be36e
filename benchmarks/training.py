"""Benchmark: one MagicAnimate training step through humanvid's loop (humanvid.training.loop.train) — step
time, peak memory and model FLOPs utilisation — with and without gradient checkpointing, with torch's
default AdamW and the fused one, with the VAE's posteriors of the batch's frames read from the latent cache
(`humanvid.models.latent_cache`: every step after the first, as for a frame a stage has seen), in float32 or
under bf16 autocast with float32 trained weights.

Each configuration runs in its own process (its peak memory is its own), on the same model (random weights
in SD1.5's UNet layout: `--sd15` for its real widths, otherwise a narrower copy), the same batch and the
same noise; the first steps are a warm-up. FLOPs of one step (forward + backward) come from
`torch.utils.flop_counter.FlopCounterMode`; MFU = FLOPs / step time / the device's peak (`--peak-tflops`,
e.g. 989 for an H100/H200's dense bf16).

    .venv/bin/python benchmarks/training.py [--debug] [--size 64] [--frames 8] [--stage finetune] [--steps 6]
    .venv/bin/python benchmarks/training.py --sd15 --size 512 --frames 16 --device cuda --peak-tflops 989
    .venv/bin/python benchmarks/training.py --sd15 --size 512 --stage pretrain --flops-only   # what the cache saves, by FLOP count
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from magicanimate import build, peak_memory_mb  # noqa: E402  (the same SD-layout model the sampling benchmark builds)

CONFIGS = {
    "plain": {},
    "checkpointing": {"gradient_checkpointing": True},
    "fused": {"fused_adamw": True},
    "checkpointing+fused": {"gradient_checkpointing": True, "fused_adamw": True},
    "latent cache": {"latent_cache": True},
}


class FixedStream:
    """The same batch every step (already model inputs: the benchmark times the model and the optimizer)."""

    def __init__(self, batch: dict) -> None:
        self.batch = batch

    def batches(self, batch_size: int):
        while True:
            yield self.batch

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def epoch_size(self) -> int:
        return 1


def fixed_batch(size: int, k: int, device: torch.device) -> dict:
    """One sample of model inputs (reference, K frames and their controls), its frames named as the loader names them."""
    gen = torch.Generator().manual_seed(1)
    return {"reference": (torch.rand(1, 3, size, size, generator=gen) * 2 - 1).to(device),
            "frames": (torch.rand(1, k, 3, size, size, generator=gen) * 2 - 1).to(device),
            "control": torch.rand(1, k, 3, size, size, generator=gen).to(device),
            "frame_keys": [[f"bench/clip/{i}/0" for i in range(1, k + 1)]], "reference_key": ["bench/clip/0/0"]}  # fmt: skip


def step_flops(model, batch: dict, stage: str, device: torch.device, mixed: str) -> int:
    """FLOPs of one forward + backward of the stage's loss (`FlopCounterMode`; the optimizer's are negligible)."""
    from torch.utils.flop_counter import FlopCounterMode

    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if mixed == "bf16" else torch.autocast(device.type, enabled=False)
    with FlopCounterMode(display=False) as counter, autocast:
        model.loss(batch, stage, torch.Generator(device).manual_seed(0))["loss"].backward()
    return counter.get_total_flops()


def count_flops(args) -> None:
    """--flops-only: one step's FLOPs with every frame encoded, then with the posteriors already cached."""
    device = torch.device(args.device)
    model = build(args.size, device, torch.float32, args.sd15)
    model.prepare(args.stage, seed=0)
    for p in model.trainable_parameters(args.stage):
        p.data = p.data.float()
    batch = fixed_batch(args.size, args.frames if args.stage == "finetune" else 1, device)
    plain = step_flops(model, batch, args.stage, device, "no")
    model.use_latent_cache(1 << 30)
    model.encode(batch["reference"], keys=batch["reference_key"])  # fill the cache with the batch's frames
    model.encode(batch["frames"].flatten(0, 1), keys=batch["frame_keys"][0])
    cached = step_flops(model, batch, args.stage, device, "no")
    print(f"{args.stage}, {batch['frames'].shape[1]} frame(s) at {args.size}², batch 1: {plain / 1e12:.3f} TFLOP per step encoding "
          f"every frame, {cached / 1e12:.3f} TFLOP with cached posteriors: the VAE encoder is {1 - cached / plain:.1%} of the step")  # fmt: skip


def run_one(args, name: str) -> dict:
    from accelerate import Accelerator

    from humanvid.training.loop import LoopSettings, train

    device = torch.device(args.device)
    mixed = args.mixed_precision
    weight_dtype = torch.bfloat16 if mixed == "bf16" else torch.float32
    stage = args.stage
    if args.debug:  # the debug flavor itself, as its stages train it in the debug tables
        from humanvid.models.magicanimate.model import MagicAnimate

        model = MagicAnimate.create("debug", None, resolution=args.size, seed=0, device=device, weight_dtype=weight_dtype)
    else:
        model = build(args.size, device, weight_dtype, args.sd15)
    model.hyper = type(model.hyper)(appearance_dropout=0.0)
    model.prepare(stage, seed=0)  # motion modules for finetune (a built model is already video)
    params = model.trainable_parameters(stage)
    for p in params:
        p.data = p.data.float()
    for module in model.modules().values():
        module.train(any(p.requires_grad for p in module.parameters()))
    opts = CONFIGS[name]
    if opts.get("gradient_checkpointing"):
        model.enable_gradient_checkpointing()
    if opts.get("latent_cache"):
        model.use_latent_cache(1 << 30)
    batch = fixed_batch(args.size, args.frames if stage == "finetune" else 1, device)
    model.batch = lambda sample, stage: sample  # already model inputs
    settings = LoopSettings(steps=args.warmup, lr=1e-5, mixed_precision=mixed, fused_adamw=opts.get("fused_adamw"), log_every=10**9)
    accelerator = Accelerator(cpu=device.type == "cpu")
    train(accelerator, device, model, stage, params, FixedStream(batch), settings, 0, log=lambda m: None)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    settings = LoopSettings(**{**settings.__dict__, "steps": args.steps})
    t0 = time.perf_counter()
    train(accelerator, device, model, stage, params, FixedStream(batch), settings, 0, log=lambda m: None)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = (time.perf_counter() - t0) / args.steps
    out = {"seconds": seconds, "peak_mb": peak_memory_mb(device)}
    if name in ("plain", "latent cache"):  # FLOPs of one step, counted once (the cache is warm by now)
        out["flops"] = step_flops(model, batch, stage, device, mixed)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--stage", choices=("pretrain", "finetune"), default="finetune")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--mixed-precision", choices=("no", "bf16"), default="no")
    ap.add_argument("--sd15", action="store_true", help="SD1.5's real widths (GPU)")
    ap.add_argument("--debug", action="store_true", help="MagicAnimate's debug flavor (what the debug tables train)")
    ap.add_argument("--peak-tflops", type=float, default=None, help="the device's peak for MFU (dense, in the compute dtype)")
    ap.add_argument("--flops-only", action="store_true", help="count one step's FLOPs with and without cached posteriors; time nothing")
    ap.add_argument("--only", choices=tuple(CONFIGS), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.flops_only:
        count_flops(args)
        return
    if args.only:
        print(json.dumps(run_one(args, args.only)))
        return
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.machine()}, {os.cpu_count()} CPUs"
    widths = "the debug flavor's (32, 64)" if args.debug else "SD1.5 (320, 640, 1280, 1280)" if args.sd15 else "(64, 128, 256, 256)"
    k = args.frames if args.stage == "finetune" else 1
    print(f"machine: {name}; torch {torch.__version__}; MagicAnimate {args.stage} ({k} frames at {args.size}², batch 1), UNet widths "
          f"{widths}; autocast {args.mixed_precision}, trained weights float32; {args.steps} steps after {args.warmup} of warm-up")  # fmt: skip
    print()
    print("| configuration | s/step | vs plain | peak memory (MB) | MFU |")
    print("| --- | ---: | ---: | ---: | ---: |")
    results = {}
    for config in CONFIGS:
        argv = [sys.executable, __file__, "--only", config, "--size", str(args.size), "--frames", str(args.frames), "--stage", args.stage,
                "--steps", str(args.steps), "--warmup", str(args.warmup), "--device", args.device, "--mixed-precision", args.mixed_precision]  # fmt: skip
        argv += (["--sd15"] if args.sd15 else []) + (["--debug"] if args.debug else [])
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(f"{config} failed:\n{proc.stderr[-3000:]}")
        r = results[config] = json.loads(proc.stdout.strip().splitlines()[-1])
        flops = results["plain"].get("flops")
        mfu = f"{flops / r['seconds'] / (args.peak_tflops * 1e12):.1%}" if flops and args.peak_tflops else "—"
        print(f"| {config} | {r['seconds']:.3f} | {results['plain']['seconds'] / r['seconds']:.2f}× | {r['peak_mb']:.0f} | {mfu} |", flush=True)
    print(f"\nFLOPs of one step (forward + backward, FlopCounterMode): {results['plain']['flops'] / 1e9:.1f} GFLOP; "
          f"{results['latent cache']['flops'] / 1e9:.1f} GFLOP with the frames' posteriors cached")


if __name__ == "__main__":
    main()
