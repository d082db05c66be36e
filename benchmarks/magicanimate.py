"""Benchmark: MagicAnimate sampling — humanvid's loop against the released pipeline's design, same model,
same inputs, same noise — and a training step of each stage.

The released pipeline (magic-animate, pipelines/pipeline_animation.py), re-enacted here on humanvid's
modules so both run the same weights:
- the appearance encoder runs on the reference twice per step (the guidance batch: unconditional and
  conditional copies), though the unconditional branch never reads its tokens;
- its hybrid attention concatenates the reference tokens, repeated for every frame, to the frame's hidden
  states *before* the key/value projections, for every row, then recomputes the unconditional rows as
  plain self-attention;
- the ControlNet runs once per frame per step on windows without overlap (wrapping around, so a frame may
  be computed twice), and its residuals are reused by the overlapping windows;
- one window per UNet call (`context_batch_size` 1, its default).
humanvid: the appearance encoder once (conditional branch only), reference keys/values projected once
per reference, plain attention for the unconditional rows only, ControlNet once per frame, `window_batch`
windows per UNet call. Outputs are compared (max |Δ| of the decoded frames).

    .venv/bin/python benchmarks/magicanimate.py [--size 256] [--frames 24] [--steps 4] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel, UNetMotionModel
from diffusers.models.attention_processor import AttnProcessor2_0

from humanvid.models.latent import debug_vae
from humanvid.models.magicanimate import attention
from humanvid.models.magicanimate.attention import Appearance
from humanvid.models.magicanimate.model import MagicAnimate, magicanimate_adapter
from humanvid.sampling import sample_video
from humanvid.sampling.windows import window_frames


def sd_vae(size: int) -> AutoencoderKL:
    """Random weights in sd-vae-ft-mse's layout (its config.json: four levels of two ResNet blocks, 128-512 wide)."""
    return AutoencoderKL(down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                         block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4, sample_size=size)  # fmt: skip


def build(size: int, device: torch.device, dtype: torch.dtype, sd15: bool) -> MagicAnimate:
    """Random weights in SD1.5's UNet layout (`sd15`: its real widths and sd-vae-ft-mse's VAE) or a narrower copy
    of it (a debug-size VAE with SD's 8× downsampling)."""
    torch.manual_seed(0)
    channels = (320, 640, 1280, 1280) if sd15 else (64, 128, 256, 256)
    unet = UNet2DConditionModel(sample_size=size // 8, block_out_channels=channels, cross_attention_dim=768 if sd15 else 128,
                                attention_head_dim=8, norm_num_groups=32)  # fmt: skip
    appearance = UNet2DConditionModel.from_config(unet.config)
    appearance.load_state_dict(unet.state_dict())
    controlnet = ControlNetModel.from_unet(unet)
    video = UNetMotionModel.from_unet2d(unet, magicanimate_adapter(unet, 8))
    for m in video.modules():  # motion modules start at zero output (AnimateDiff): give them weight so they compute
        if isinstance(m, torch.nn.Linear) and m.weight.abs().sum() == 0:
            torch.nn.init.normal_(m.weight, std=0.02)
    vae = sd_vae(size) if sd15 else debug_vae(size, (32, 64, 64, 64))
    null = torch.randn(1, 77, unet.config.cross_attention_dim)
    return MagicAnimate(vae, video, appearance, controlnet, null, "debug", size, "finetune").to(device, dtype)


class PublicHybridAttention:
    """The released pipeline's read-mode block attention: every row attends over [x, bank] (the bank repeated
    per frame, projected per row), then the unconditional half is recomputed over x alone."""

    def __init__(self, bank: dict, name: str) -> None:
        self.bank, self.name = bank, name  # bank["tokens"]: both guidance copies' recording of this step

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, appearance=None):
        rows = appearance.rows if appearance is not None else None
        if rows is None:
            return AttnProcessor2_0()(attn, hidden_states)
        tokens = self.bank["tokens"][self.name]  # (2, L, C): the encoder's unconditional and conditional copies
        n = hidden_states.shape[0]
        per_frame = tokens.repeat_interleave(n // 2, dim=0)  # (n, L, C), a copy per frame
        ctx = torch.cat([hidden_states, per_frame], 1)
        out = attention.attend(attn, attn.to_q(hidden_states), attn.to_k(ctx), attn.to_v(ctx))
        uc = rows < 0
        x = hidden_states[uc]
        out[uc] = attention.attend(attn, attn.to_q(x), attn.to_k(x), attn.to_v(x))
        return out


@torch.no_grad()
def public_sample(model: MagicAnimate, reference, control, steps, window, overlap, guidance, generator) -> torch.Tensor:
    """The released pipeline's loop (see the module docstring) on `model`'s modules."""
    device = model.device
    t_frames, h = control.shape[0], control.shape[-1] // model.vae_scale
    scheduler = model.sampling_scheduler()
    scheduler.set_timesteps(steps, device=device)
    latents = torch.randn((t_frames, 4, h, h), generator=generator, device=device, dtype=torch.float32) * scheduler.init_noise_sigma
    ref = model.encode(reference[None].to(device))
    control = control.to(device, model.dtype)
    names = attention.hybrid_layers(model.unet, model.fusion)
    modules = dict(model.unet.named_modules())
    saved = {n: modules[n].processor for n in names}
    bank: dict = {}
    for n in names:
        modules[n].set_processor(PublicHybridAttention(bank, n))
    try:
        for t in scheduler.timesteps:
            bank["tokens"] = model.record_appearance(torch.cat([ref, ref]), t.expand(2))  # both guidance copies
            cache: dict[int, tuple] = {}
            for frames in window_frames(t_frames, window, 0, "closed_loop"):  # ControlNet: windows without overlap
                idx = torch.tensor(frames, device=device)
                down, mid = model.control_residuals(latents[idx], t.expand(len(frames)), control[idx])
                for j, f in enumerate(frames):
                    cache[f] = ([r[j : j + 1] for r in down], mid[j : j + 1])
            total = torch.zeros((2,) + latents.shape, device=device)
            counter = torch.zeros(t_frames, device=device)
            for frames in window_frames(t_frames, window, overlap, "closed_loop"):  # one window per call
                k = len(frames)
                down = [torch.cat([cache[f][0][i] for f in frames]) for i in range(len(cache[frames[0]][0]))]
                mid = torch.cat([cache[f][1] for f in frames])
                x = latents[torch.tensor(frames, device=device)][None]
                rows = torch.cat([torch.full((k,), -1, device=device), torch.zeros(k, dtype=torch.long, device=device)])
                eps = model.denoise(torch.cat([x, x]), t.expand(2), [torch.cat([r, r]) for r in down], torch.cat([mid, mid]),
                                    Appearance(bank["tokens"], rows)).float()  # fmt: skip
                for j, f in enumerate(frames):
                    total[:, f] += eps[:, j]
                    counter[f] += 1
            uncond, cond = (total / counter.view(1, -1, 1, 1, 1)).unbind(0)
            latents = scheduler.step(uncond + guidance * (cond - uncond), t, latents).prev_sample
    finally:
        for n in names:
            modules[n].set_processor(saved[n])
    return torch.cat([model.decode(latents[s : s + 8].to(model.dtype)) for s in range(0, t_frames, 8)]).float()


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, device: torch.device) -> tuple[float, object]:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0, out


def run_one(args, label: str) -> dict:
    """One way, in this process (so its peak memory is its own)."""
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    torch.set_grad_enabled(False)
    model = build(args.size, device, dtype, args.sd15)
    gen = torch.Generator().manual_seed(1)
    reference = torch.rand(3, args.size, args.size, generator=gen) * 2 - 1
    control = torch.rand(args.frames, 3, args.size, args.size, generator=gen)
    if label == "train":
        torch.set_grad_enabled(True)
        out = {}
        for stage, k in (("pretrain", 1), ("finetune", args.train_frames)):
            opt = torch.optim.AdamW(list(model.trainable_parameters(stage)), lr=1e-5)
            batch = {"reference": reference[None], "frames": torch.rand(1, k, 3, args.size, args.size) * 2 - 1,
                     "control": control[:k][None]}  # fmt: skip

            def step(batch=batch, opt=opt):
                loss = model.diffusion_loss(batch, torch.Generator(device).manual_seed(0))
                opt.zero_grad()
                loss.backward()
                opt.step()

            step()  # warm-up
            out[stage] = timed(step, device)[0]
        out["peak_mb"] = peak_memory_mb(device)
        return out
    if label == "public":
        fn = lambda: public_sample(model, reference, control, args.steps, 16, 4, 7.5, torch.Generator(device).manual_seed(0))  # noqa: E731
    else:
        fn = lambda: sample_video(model, reference, control, args.steps, 16, 4, 7.5, torch.Generator(device).manual_seed(0),  # noqa: E731
                                  schedule="closed_loop", window_batch=args.window_batch)["rgb"]  # fmt: skip
    sample_video(model, reference, control[:16], 1, 16, 4, 7.5, torch.Generator(device).manual_seed(0))  # warm-up
    runs = [timed(fn, device) for _ in range(args.repeats)]
    torch.save(runs[0][1].cpu(), args.out)
    times = sorted(r[0] for r in runs)
    return {"seconds": times[len(times) // 2], "all_seconds": times, "peak_mb": peak_memory_mb(device)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--window-batch", type=int, default=2)
    ap.add_argument("--train-frames", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3, help="sampling runs per way (the median is reported)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--sd15", action="store_true", help="SD1.5's real widths (GPU)")
    ap.add_argument("--train", action="store_true", help="also time a training step of each stage")
    ap.add_argument("--only", choices=("public", "humanvid", "train"), help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.only:
        print(json.dumps(run_one(args, args.only)))
        return
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.machine()}, {os.cpu_count()} CPUs"
    widths = "SD1.5 (320, 640, 1280, 1280)" if args.sd15 else "(64, 128, 256, 256)"
    print(f"machine: {name}; torch {torch.__version__}; {args.dtype}; UNet widths {widths}; {args.frames} frames at {args.size}², "
          f"{args.steps} DDIM steps, guidance 7.5, windows 16/4 closed loop, humanvid window batch {args.window_batch}")  # fmt: skip
    results, outs = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for label in ("public", "humanvid") + (("train",) if args.train else ()):
            outs[label] = str(Path(tmp) / f"{label}.pt")
            argv = [sys.executable, __file__, "--only", label, "--out", outs[label]]
            for key in ("size", "frames", "steps", "window_batch", "train_frames", "repeats", "device", "dtype"):
                argv += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
            argv += ["--sd15"] if args.sd15 else []
            proc = subprocess.run(argv, capture_output=True, text=True)
            if proc.returncode:
                raise SystemExit(f"{label} failed:\n{proc.stderr[-3000:]}")
            results[label] = json.loads(proc.stdout.strip().splitlines()[-1])
            r = results[label]
            if label == "train":
                print(f"  train step: stage 1 (K = 1) {r['pretrain']:.2f} s, stage 2 (K = {args.train_frames}) {r['finetune']:.2f} s; peak {r['peak_mb']:.0f} MB")
            else:
                runs = ", ".join(f"{x:.2f}" for x in r["all_seconds"])
                print(f"  {label:9s} {r['seconds']:8.2f} s (median of {runs})  {r['seconds'] / args.frames:6.3f} s/frame  peak {r['peak_mb']:.0f} MB", flush=True)
        diff = (torch.load(outs["public"], weights_only=True) - torch.load(outs["humanvid"], weights_only=True)).abs().max().item()
    ratio = results["public"]["seconds"] / results["humanvid"]["seconds"]
    print(f"\nhumanvid vs the public design: {ratio:.2f}× faster; max |Δ| of the decoded frames {diff:.2e}")


if __name__ == "__main__":
    main()
