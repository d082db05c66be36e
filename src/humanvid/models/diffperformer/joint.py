"""DiffPerformer's iterative joint optimisation (supplement Algorithm 1) and its latent guidance.

Algorithm 1: V_s = C(D(H(x, y, n))) is the IVR's video; V_p = E_dec(D_p(E_enc(V_s), P)) the pose-guided diffusion
model's reading of it. V_p is computed once before the loop; each step moves the IVR's parameters φ down
L_rec(V_p, V_s) + L_flow(V_s, P); every `every` steps (step mod every = 0) V_p is recomputed from the current V_s.
The output is V_p. With the supplement's 10,000 steps and interval 2,000, V_p is computed at steps 0, 2000, …, 10000.

**Latent guidance** (the paper's Sec. 4.3): D_p does not start from pure noise but from the IVR video's latents with
noise added *in latent space* — E_enc(V_s) noised to the guidance timestep — so the smooth video's content and
temporal coherence carry into the diffusion. The "Noisy-Image Opt." ablation adds the noise to the *image* before
encoding instead (`level="image"`), which the supplement shows destroys content.

The update rule, L_rec's distance and the optimiser are the supplement's unstated choices (docs/diffperformer.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch

from humanvid.models.diffperformer.ivr import ImplicitVideo


def refresh_steps(steps: int, every: int) -> list[int]:
    """The steps after which V_p is (re)computed: 0 (before the loop), then every multiple of `every` up to `steps`."""
    if steps < 0 or every < 1:
        raise ValueError(f"joint optimisation needs steps >= 0 and a refresh interval >= 1, got {steps}, {every}")
    return [0, *range(every, steps + 1, every)]


@dataclass
class JointResult:
    """What the joint optimisation returns: V_p, when it was refreshed, and the loss terms per step."""

    video: torch.Tensor
    """The last V_p (T, 3, H, W) in [-1, 1]: the method's output."""
    refreshed_at: list[int] = field(default_factory=list)
    losses: list[dict[str, float]] = field(default_factory=list)


def optimise_jointly(ivr: ImplicitVideo, refresh: Callable[[torch.Tensor], torch.Tensor], *, steps: int, every: int, lr: float,
                     flow_term: Callable[[torch.Tensor], torch.Tensor] | None = None, flow_weight: float = 1.0,
                     reconstruction: Literal["l2", "l1"] = "l2", progress: Callable[[int, dict], None] | None = None) -> JointResult:  # fmt: skip
    """Algorithm 1. `refresh` maps V_s (T, 3, H, W), detached, to V_p (the diffusion model's pass, latent guidance
    included); `flow_term` maps V_s to L_flow (None: no flow term, the "w/o 3DHF" ablation). Adam at `lr` on φ."""
    schedule = set(refresh_steps(steps, every))
    params = [p for p in ivr.parameters() if p.requires_grad]
    optimiser = torch.optim.Adam(params, lr=lr)
    with torch.no_grad():
        target = refresh(ivr.video())
    result = JointResult(target, [0])
    for step in range(1, steps + 1):
        video = ivr.video()
        diff = video - target
        rec = diff.pow(2).mean() if reconstruction == "l2" else diff.abs().mean()
        terms = {"rec": rec}
        if flow_term is not None:
            terms["flow"] = flow_term(video)
        loss = rec + flow_weight * terms["flow"] if flow_term is not None else rec
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        logged = {k: float(v.detach()) for k, v in terms.items()}
        result.losses.append(logged)
        if step in schedule:
            with torch.no_grad():
                target = refresh(ivr.video())
            result.refreshed_at.append(step)
        if progress is not None:
            progress(step, logged)
    result.video = target
    return result


def guided_start(encode: Callable[[torch.Tensor], torch.Tensor], video: torch.Tensor, noise: torch.Tensor, timestep: torch.Tensor,
                 scheduler, level: Literal["latent", "image"] = "latent") -> torch.Tensor:  # fmt: skip
    """The latents D_p starts denoising from at `timestep`: the IVR video's latents noised in latent space (`latent`,
    DiffPerformer's latent guidance; `noise` shaped like the latents) or the video noised in pixel space, then encoded
    (`image`, the "Noisy-Image Opt." ablation; `noise` shaped like the video). `scheduler`: a diffusers scheduler
    (`add_noise`)."""
    t = timestep.expand(video.shape[0]) if timestep.ndim == 0 else timestep
    if level == "latent":
        latents = encode(video)
        if noise.shape != latents.shape:
            raise ValueError(f"latent guidance: noise {tuple(noise.shape)} vs latents {tuple(latents.shape)}")
        return scheduler.add_noise(latents, noise, t)
    if level == "image":
        if noise.shape != video.shape:
            raise ValueError(f"image-level guidance: noise {tuple(noise.shape)} vs video {tuple(video.shape)}")
        return encode(scheduler.add_noise(video, noise, t))
    raise ValueError(f"unknown guidance level {level!r}; known: latent, image")
