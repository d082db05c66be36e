"""What the latent video diffusion methods share: the VAE and its latents, device/dtype handling, stage
freezing, forward diffusion, a debug VAE's fit and calibration, and diffusers-folder checkpoints. A method
subclasses `LatentModel` (a `humanvid.models.method.Method`) and lists its components in `modules()`."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, UNet2DConditionModel, UNetMotionModel

from humanvid.models.method import SPEC_FILE, Method, to_unit

UNET_CLASSES = {"UNet2DConditionModel": UNet2DConditionModel, "UNetMotionModel": UNetMotionModel}  # spec["unet_class"] -> class

# Stable Diffusion 1.5's noise schedule (its scheduler_config.json).
SD15_SCHEDULE = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                     clip_sample=False, set_alpha_to_one=False, steps_offset=1, prediction_type="epsilon")  # fmt: skip


def debug_vae(resolution: int, channels: tuple[int, ...] = (16, 32, 32)) -> AutoencoderKL:
    """A tiny AutoencoderKL for debug flavors (no released VAE at that size: it is fitted first)."""
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=8,
        down_block_types=("DownEncoderBlock2D",) * len(channels), up_block_types=("UpDecoderBlock2D",) * len(channels),
        block_out_channels=channels, sample_size=resolution,
    )  # fmt: skip


class LatentModel(Method):
    """VAE latents, device/dtype and checkpoint plumbing; `vae` and `modules()` come from the method."""

    vae: AutoencoderKL

    @property
    def device(self) -> torch.device:
        return self.vae.device

    @property
    def dtype(self) -> torch.dtype:
        return self.vae.dtype

    def latent_channels(self) -> int:
        return self.vae.config.latent_channels

    @property
    def vae_scale(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    def to(self, device: torch.device, dtype: torch.dtype):
        for m in self.modules().values():
            # torch's own `.to`: diffusers' override warns on every dtype cast about fp32-kept modules these
            # models do not have (its list is empty), once per component per stage.
            torch.nn.Module.to(m, device=device, dtype=dtype)
        return self

    def check_resolution(self) -> None:
        if self.resolution % self.vae_scale:
            raise ValueError(f"resolution {self.resolution} must be a multiple of the VAE's downsampling factor {self.vae_scale}")

    @torch.no_grad()
    def encode(self, frames: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(N, 3, S, S) in [-1, 1] -> scaled latents (N, 4, S/f, S/f): a posterior sample drawn with
        `generator` (training), or the posterior mean without one (sampling: deterministic, as the released
        MagicAnimate pipeline encodes its reference)."""
        dist = self.vae.encode(frames.to(self.dtype)).latent_dist
        latents = dist.mean if generator is None else dist.sample(generator)
        return latents * self.vae.config.scaling_factor

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Scaled latents (N, 4, h, w) -> frames (N, 3, S, S) in [-1, 1]."""
        return self.vae.decode(latents / self.vae.config.scaling_factor).sample.clamp(-1, 1)

    def train_only(self, *modules: torch.nn.Module) -> list[torch.nn.Parameter]:
        """Freeze every component, then unfreeze `modules`; returns their parameters."""
        for m in self.modules().values():
            m.requires_grad_(False)
        for m in modules:
            m.requires_grad_(True)
        return [p for m in modules for p in m.parameters()]

    def motion_parameters(self) -> list[torch.nn.Parameter]:
        """The video stage's trainables: the motion modules of the UNetMotionModel alone."""
        for m in self.modules().values():
            m.requires_grad_(False)
        if not isinstance(self.unet, UNetMotionModel):
            raise ValueError("the motion modules are not there yet: prepare the finetune stage first")
        self.unet.freeze_unet2d_params()  # leaves exactly the motion modules trainable
        return [p for p in self.unet.parameters() if p.requires_grad]

    def noised(self, latents: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Forward diffusion of B videos of K frames: latents (B, K, 4, h, w) -> (noisy latents, noise, t (B,)),
        one timestep per video."""
        b, k = latents.shape[:2]
        noise = torch.randn(latents.shape, generator=generator, device=self.device, dtype=latents.dtype)
        t = torch.randint(0, self.noise_scheduler.config.num_train_timesteps, (b,), generator=generator, device=self.device)
        noisy = self.noise_scheduler.add_noise(latents.flatten(0, 1), noise.flatten(0, 1), t.repeat_interleave(k)).unflatten(0, (b, k))
        return noisy, noise, t

    def vae_loss(self, frames: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Reconstruction (MSE + L1) + a light KL, for fitting a debug VAE."""
        dist = self.vae.encode(frames).latent_dist
        recon = self.vae.decode(dist.sample(generator)).sample
        mse, l1, kl = F.mse_loss(recon, frames), F.l1_loss(recon, frames), dist.kl().mean()
        return {"loss": mse + l1 + 1e-6 * kl, "mse": mse, "l1": l1, "kl": kl}

    def frames_batch(self, sample: dict) -> dict:
        """A single-frame stage's batch (the VAE fit, a base denoiser): every target frame in [-1, 1], (N, 3, S, S)."""
        return {"frames": to_unit(sample["frames"].flatten(0, 1), self.device)}

    def end_stage(self, stage: str, batch: dict | None) -> None:
        """After the VAE fit: calibrate its latent scale on the stage's end batch."""
        if stage == "vae":
            if batch is None:
                raise ValueError("the vae stage calibrates the latent scale on its end batch: the stage spec must set end_batch")
            self.calibrate_latent_scale(batch["frames"])

    @torch.no_grad()
    def calibrate_latent_scale(self, frames: torch.Tensor) -> float:
        """Set the VAE's scaling factor so latents have unit variance (what SD's 0.18215 does for its VAE)."""
        latents = self.vae.encode(frames.to(self.dtype)).latent_dist.mean
        scale = float(1.0 / latents.float().std().clamp_min(1e-6))
        self.vae.register_to_config(scaling_factor=scale)
        return scale

    def save_modules(self, out_dir: Path, spec: dict) -> None:
        """diffusers/transformers folders (safetensors + config) plus humanvid.json."""
        out_dir = Path(out_dir)
        for name, module in self.modules().items():
            module.save_pretrained(out_dir / name, safe_serialization=True)
        (out_dir / SPEC_FILE).write_text(json.dumps(spec, indent=2, sort_keys=True))
