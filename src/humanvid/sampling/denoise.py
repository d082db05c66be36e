"""DDIM sampling of a whole clip with a sliding-window fuser."""

from __future__ import annotations

from typing import Callable

import torch

from humanvid.sampling.windows import fuse_windows


@torch.no_grad()
def sample_video(
    model,
    reference: torch.Tensor,
    pose: torch.Tensor,
    steps: int,
    window: int,
    overlap: int,
    guidance_scale: float,
    generator: torch.Generator,
    progress: Callable[[str], None] | None = None,
) -> torch.Tensor:
    """Animate `reference` (3, S, S) in [-1, 1] along `pose` (T, 3, S, S) -> frames (T, 3, S, S) in [-1, 1].

    At every DDIM step the clip's latents are denoised window by window; where windows overlap, their
    noise predictions are averaged uniformly before the scheduler step.
    """
    device, dtype = model.device, model.dtype
    num_frames, size = pose.shape[0], pose.shape[-1]
    h = size // model.vae_scale
    scheduler = model.sampling_scheduler()
    scheduler.set_timesteps(steps, device=device)
    latents = torch.randn((1, num_frames, 4, h, h), generator=generator, device=device, dtype=torch.float32)
    latents = latents * scheduler.init_noise_sigma
    tokens = model.image_tokens(reference[None].to(device))
    if guidance_scale > 1.0:
        tokens = torch.cat([torch.zeros_like(tokens), tokens])  # unconditional first
    pose = pose[None].to(device, dtype)

    for i, t in enumerate(scheduler.timesteps):

        def predict(s: int, e: int, latents: torch.Tensor = latents, t: torch.Tensor = t) -> torch.Tensor:
            x = latents[:, s:e].to(dtype)
            p = pose[:, s:e]
            if guidance_scale > 1.0:
                x, p = torch.cat([x, x]), torch.cat([p, p])
            eps = model.predict_noise(x, t.expand(x.shape[0]), tokens, p).float()
            if guidance_scale > 1.0:
                uncond, cond = eps.chunk(2)
                eps = uncond + guidance_scale * (cond - uncond)
            return eps

        eps = fuse_windows(num_frames, window, overlap, predict)
        latents = scheduler.step(eps.flatten(0, 1), t, latents.flatten(0, 1)).prev_sample.unflatten(0, (1, num_frames))
        if progress is not None:
            progress(f"step {i + 1}/{steps}")
    frames = torch.cat([model.decode(latents[0, s : s + 8].to(dtype)) for s in range(0, num_frames, 8)])
    return frames.float()
