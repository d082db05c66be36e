"""DDIM sampling of a whole clip with a sliding-window fuser, over any method that offers:

- `sampling_state(reference (3, S, S) in [-1, 1], control (T, 3, S, S) in [0, 1], guidance_scale, condition_scale)
  -> state` (what stays fixed for the clip: image tokens, reference latents, control images, the scales);
- `begin_step(state, latents (T, 4, h, w), t)` (work done once per step for all frames: MagicAnimate's
  appearance encoder and per-frame ControlNet);
- `window_noise(state, latents (n, K, 4, h, w), frames (n, K), t) -> (n, K, 4, h, w)` (the guided noise
  prediction of n windows at once);
- `sampled_latents(state, latents)` (the final latents -> what is decoded: a residual model adds its reference back);
- `sampling_scheduler()`, `latent_channels()`, `decode_outputs(latents) -> {output: tensor}`, `vae_scale`,
  `device`, `dtype` (humanvid.models.method.Method).
"""

from __future__ import annotations

from typing import Callable

import torch

from humanvid.sampling.windows import Schedule, fuse_windows, window_frames


@torch.inference_mode()
def sample_video(
    model,
    reference: torch.Tensor,
    control: torch.Tensor,
    steps: int,
    window: int,
    overlap: int,
    guidance_scale: float,
    generator: torch.Generator,
    schedule: Schedule = "open",
    window_batch: int = 1,
    progress: Callable[[str], None] | None = None,
    clip_sample: bool | None = None,
    shared_noise: bool = False,
    condition_scale: float = 1.0,
    start: Callable[[dict, object, torch.Tensor | None], torch.Tensor] | None = None,
    start_step: int = 0,
) -> dict[str, torch.Tensor]:
    """Animate `reference` (3, S, S) in [-1, 1] along `control` (T, 3, S, S) -> the model's outputs: `rgb` frames
    (T, 3, S, S) in [-1, 1], and `depth` (T, S, S) for a model that generates it.

    At every DDIM step the clip's latents are denoised window by window (`window_batch` windows per
    network call); where windows overlap, their noise predictions are averaged uniformly before the
    scheduler step. Guidance is linear, so guiding each window and then averaging equals averaging the
    unconditional and conditional predictions first and then guiding (the released MagicAnimate order).
    `clip_sample` overrides the method scheduler's clipping of the predicted clean latent (None: keep it).
    `schedule`: the windows (`humanvid.sampling.windows`). `shared_noise`: every frame starts from the same initial
    noise (Make-Your-Anchor's release, `same_frame_noise`). `condition_scale`: the control branch's residual scale
    (W_c; diffusers' `conditioning_scale`). `start`: where the denoising begins instead of pure noise — (the clip's
    state, the scheduler, the timestep of step `start_step`, None when every step is skipped) -> the diffusion variable
    (T, C, h, w) at that noise level (DiffPerformer's latent guidance: a video's latents, `Method.unsampled_latents`,
    noised by `scheduler.add_noise`); the steps before `start_step` are skipped.
    """
    device = model.device
    num_frames, size = control.shape[0], control.shape[-1]
    h = size // model.vae_scale
    scheduler = model.sampling_scheduler()
    if clip_sample is not None and clip_sample != scheduler.config.clip_sample:
        scheduler = type(scheduler).from_config(scheduler.config, clip_sample=clip_sample)
    scheduler.set_timesteps(steps, device=device)
    if not 0 <= start_step <= steps or (start_step and start is None):
        raise ValueError(f"start_step {start_step} needs a start and 0 <= start_step <= steps ({steps})")
    state = model.sampling_state(reference.to(device), control.to(device), guidance_scale, condition_scale)
    if start is None:
        shape = (1 if shared_noise else num_frames, model.latent_channels(), h, h)
        latents = torch.randn(shape, generator=generator, device=device, dtype=torch.float32).expand(num_frames, -1, -1, -1)
        latents = latents * scheduler.init_noise_sigma
    else:
        first = scheduler.timesteps[start_step] if start_step < steps else None
        latents = start(state, scheduler, first).to(device, torch.float32)
        if latents.shape != (num_frames, model.latent_channels(), h, h):
            raise ValueError(f"the start latents are {tuple(latents.shape)}, the clip's {(num_frames, model.latent_channels(), h, h)}")
    windows = window_frames(num_frames, window, overlap, schedule)

    for i, t in enumerate(scheduler.timesteps[start_step:], start=start_step):
        model.begin_step(state, latents, t)

        def predict(frames: torch.Tensor, latents: torch.Tensor = latents, t: torch.Tensor = t) -> torch.Tensor:
            return model.window_noise(state, latents[frames.to(device)], frames, t).float()

        eps = fuse_windows(num_frames, windows, predict, window_batch)
        latents = scheduler.step(eps, t, latents).prev_sample
        if progress is not None:
            progress(f"step {i + 1}/{steps}")
    latents = model.sampled_latents(state, latents)
    chunks = [model.decode_outputs(latents[s : s + 8]) for s in range(0, num_frames, 8)]  # bounded decoder memory
    return {k: torch.cat([c[k] for c in chunks]).float() for k in chunks[0]}
