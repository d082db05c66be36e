"""Benchmark: SMPL-X fitting time per 300-frame clip (against SHOW's published figure), rendering, and
monocular depth batched vs per frame.

Fitting runs the real `smplx` model from a synthetic SMPL-X file with the real layouts and 9930 vertices
(tests/smplx_synthetic.py; the licensed model has 10475 — the fit's cost barely depends on it: only the
174 vertices the keypoints need are skinned), on keypoints projected from a known slow motion, with the
default schedule (60 + 150 + 100 Adam steps over all frames at once). SHOW (the fitter Make-Your-Anchor
used) states 15–20 minutes per 5 s of 30 fps video on a T4 — 150 frames — i.e. 30–40 minutes per 300
frames. Depth: a DPT-Hybrid (MiDaS v3) network at its published size with random weights (the compute is
the weights' shapes), 384×384 inputs, per frame vs batches of 8.

    .venv/bin/python benchmarks/body.py [--frames 300] [--device cpu] [--depth-frames 16]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def fit_benchmark(frames: int, device: torch.device) -> None:
    from smplx_synthetic import write_smplx_npz

    from humanvid.body.fit import WHOLEBODY_TO_SMPLX, FitConfig, fit_smplx, project
    from humanvid.body.model import load_smplx
    from humanvid.body.render import render_normals

    with tempfile.TemporaryDirectory() as tmp:
        path = write_smplx_npz(Path(tmp) / "SMPLX_NEUTRAL.npz")
        model = load_smplx(path, frames, device, torch.float32)
    g = torch.Generator().manual_seed(0)
    phase = torch.linspace(0, 4 * np.pi, frames)[:, None]
    truth = {"betas": torch.randn(1, 10, generator=g).expand(frames, -1) * 0.3,
             "global_orient": torch.tensor([[np.pi, 0.0, 0.0]]) + 0.1 * torch.sin(phase) * torch.tensor([[0.0, 1.0, 0.0]]),
             "body_pose": 0.1 * torch.randn(1, 63, generator=g) + 0.15 * torch.sin(phase) * torch.randn(1, 63, generator=g),
             "left_hand_pose": 0.2 * torch.sin(phase).expand(-1, 12), "right_hand_pose": 0.2 * torch.cos(phase).expand(-1, 12),
             "jaw_pose": 0.05 * (1 + torch.sin(phase)) * torch.tensor([[1.0, 0, 0]]), "expression": 0.3 * torch.sin(phase).expand(-1, 10),
             "transl": torch.tensor([[0.0, -0.6, 4.0]]).expand(frames, -1)}  # fmt: skip
    truth = {k: v.to(device) for k, v in truth.items()}
    with torch.no_grad():
        out = model(**truth)
    idx = sorted(WHOLEBODY_TO_SMPLX)
    kp = np.zeros((frames, 133, 3), np.float32)
    kp[:, idx, :2] = project(out.joints[:, [WHOLEBODY_TO_SMPLX[k] for k in idx]], 512.0, (256.0, 256.0)).cpu().numpy()
    kp[:, idx, 2] = 1.0
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    fit = fit_smplx(kp, 512, 512, model, FitConfig(focal=512.0))
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    show = (30 * 60, 40 * 60)
    print(f"SMPL-X fit, {frames} frames, 310 Adam steps: {seconds:.1f} s ({seconds / frames * 1000:.1f} ms/frame); "
          f"mean reprojection {np.nanmean(fit.reprojection_px):.2f} px; SHOW's figure for {frames} frames on a T4: "
          f"{show[0] * frames / 300 / 60:.0f}–{show[1] * frames / 300 / 60:.0f} min = {show[0] * frames / 300 / seconds:.0f}–"
          f"{show[1] * frames / 300 / seconds:.0f}× longer")  # fmt: skip
    # Rendering at SMPL-X's face count (20908): the synthetic model has few faces, so a sphere of 20808 faces
    # filling about half of a 512² frame stands in for the body mesh.
    n = 102
    th, ph = torch.linspace(0, np.pi, n + 1), torch.linspace(0, 2 * np.pi, n + 1)[:-1]
    verts = torch.stack([torch.sin(th)[:, None] * torch.cos(ph)[None], torch.cos(th)[:, None].expand(-1, n),
                         torch.sin(th)[:, None] * torch.sin(ph)[None]], -1).reshape(-1, 3).to(device) + torch.tensor([0, 0, 2.5], device=device)  # fmt: skip
    faces = torch.tensor([[i * n + j, (i + 1) * n + j, i * n + (j + 1) % n] for i in range(n) for j in range(n)]
                         + [[i * n + (j + 1) % n, (i + 1) * n + j, (i + 1) * n + (j + 1) % n] for i in range(n) for j in range(n)], device=device)  # fmt: skip
    render_normals(verts, faces, 512.0, 512, 512)
    t0 = time.perf_counter()
    for _ in range(8):
        out = render_normals(verts, faces, 512.0, 512, 512)
    render_s = (time.perf_counter() - t0) / 8
    print(f"render shaded normals + depth at 512², {len(faces)} faces ({out['mask'].mean():.0%} of the frame covered): "
          f"{render_s * 1000:.1f} ms/frame")
    clip_s = seconds + frames * render_s  # what the smplx estimator does per clip: fit, then render every frame
    print(f"smplx estimator per {frames}-frame clip (fit + {frames} renders at 512²): {clip_s:.0f} s; SHOW's fit alone: "
          f"{show[0] * frames / 300 / clip_s:.0f}–{show[1] * frames / 300 / clip_s:.0f}× longer")  # fmt: skip


def depth_benchmark(frames: int, device: torch.device) -> None:
    from transformers import BitConfig, DPTConfig, DPTForDepthEstimation

    bit = BitConfig(layer_type="bottleneck", global_padding="same", depths=[3, 4, 9], out_features=["stage1", "stage2", "stage3"],
                    embedding_dynamic_padding=True)  # fmt: skip
    cfg = DPTConfig(is_hybrid=True, backbone_config=bit, backbone_featmap_shape=[1, 1024, 24, 24], neck_hidden_sizes=[256, 512, 768, 768],
                    backbone_out_indices=[2, 5, 8, 11], readout_type="project", image_size=384)  # fmt: skip
    model = DPTForDepthEstimation(cfg).to(device).eval()
    x = torch.rand(frames, 3, 384, 384, device=device)
    with torch.inference_mode():
        model(pixel_values=x[:1])
        rates = {}
        for batch in (1, 8):
            t0 = time.perf_counter()
            for s in range(0, frames, batch):
                model(pixel_values=x[s : s + batch])
            if device.type == "cuda":
                torch.cuda.synchronize()
            rates[batch] = frames / (time.perf_counter() - t0)
    print(f"DPT-Hybrid depth at 384², {frames} frames: per frame {rates[1]:.2f} frames/s, batches of 8 {rates[8]:.2f} frames/s "
          f"({rates[8] / rates[1]:.2f}×)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--depth-frames", type=int, default=16)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{platform.machine()}, {os.cpu_count()} CPUs"
    print(f"machine: {name}; torch {torch.__version__}")
    fit_benchmark(args.frames, device)
    depth_benchmark(args.depth_frames, device)


if __name__ == "__main__":
    main()
