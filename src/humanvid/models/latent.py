"""What the latent video diffusion methods share: the autoencoder and its latents, device/dtype handling, stage
freezing, forward diffusion, a debug VAE's fit and calibration, and diffusers-folder checkpoints. A method
subclasses `LatentModel` (a `humanvid.models.method.Method`) and lists its components in `modules()`.

Two autoencoders: diffusers' `AutoencoderKL` (the released SD VAEs, and a tiny one fitted at debug size) and
`PatchAutoencoder`, a fixed, exactly invertible space-to-depth map for debug flavors that diffuse in pixel
space: a tiny KL VAE fitted in minutes overfits its few training frames and caps every model near 15 dB on
held-out clips (docs/baseline.md)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, ConfigMixin, DDIMScheduler, ModelMixin, UNet2DConditionModel, UNetMotionModel
from diffusers.configuration_utils import register_to_config
from diffusers.models.autoencoders.vae import DecoderOutput, DiagonalGaussianDistribution
from diffusers.models.modeling_outputs import AutoencoderKLOutput

from humanvid.models.latent_cache import LatentCache
from humanvid.models.method import SPEC_FILE, Method, to_unit
from humanvid.models.spec import DiffusionOptions

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


DEBUG_BLOCKS = (("CrossAttnDownBlock2D", "DownBlock2D"), ("UpBlock2D", "CrossAttnUpBlock2D"))
"""A two-level debug UNet's (down, up) block types: attention at the upper level (16 × 16 at 64²)."""
DEBUG_PIXEL_BLOCKS = (("DownBlock2D", "CrossAttnDownBlock2D"), ("CrossAttnUpBlock2D", "UpBlock2D"))
"""Attention at the lower level only (8 × 8 at 64²), what the `debug_pixel` flavors use: a third less time per
step on two cores than at 16 × 16, and every position still attends over the whole frame."""


def debug_unet(resolution: int, vae: AutoencoderKL | PatchAutoencoder, blocks: tuple[tuple[str, ...], tuple[str, ...]],
               widths: tuple[int, ...] = (32, 64), cross_attention_dim: int = 32, attention_head_dim: int = 8, norm_groups: int = 8,
               inputs: int = 1, outputs: int = 1) -> UNet2DConditionModel:  # fmt: skip
    """A debug flavor's tiny denoiser over `vae`'s latents: `inputs` stacked latents in, `outputs` out (a depth latent
    beside the RGB one, a reference concatenated), one layer per block, `blocks` = (down, up) block types."""
    channels, downsampling = latent_geometry(vae)
    return UNet2DConditionModel(
        sample_size=resolution // downsampling, in_channels=channels * inputs, out_channels=channels * outputs, layers_per_block=1,
        down_block_types=blocks[0], up_block_types=blocks[1], block_out_channels=widths, cross_attention_dim=cross_attention_dim,
        attention_head_dim=attention_head_dim, norm_num_groups=norm_groups,
    )  # fmt: skip


def debug_controlnet(unet: UNet2DConditionModel, vae: AutoencoderKL | PatchAutoencoder):
    """A ControlNet copied from a debug UNet whose condition embedding takes pixels down to `vae`'s latents: one
    stride-2 convolution per halving."""
    from diffusers import ControlNetModel

    halvings = latent_geometry(vae)[1].bit_length() - 1
    return ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=tuple(16 * 2**i for i in range(halvings + 1)))


def debug_autoencoder(flavor: str, resolution: int, channels: tuple[int, ...]) -> AutoencoderKL | PatchAutoencoder:
    """A debug flavor's autoencoder: `debug_pixel` the fixed `PatchAutoencoder` with the KL VAE's downsampling (both
    denoise the same 16 × 16 grid at 64²), `debug` the tiny KL VAE fitted in stage `vae`."""
    if flavor == "debug_pixel":
        return PatchAutoencoder(patch_size=2 ** (len(channels) - 1))
    return debug_vae(resolution, channels)


class PatchAutoencoder(ModelMixin, ConfigMixin):
    """Space-to-depth as an autoencoder: (N, C, S, S) -> (N, C·p², S/p, S/p), pixel (c, i, j) of each p×p patch
    to channel c·p² + i·p + j (`torch.nn.functional.pixel_unshuffle`'s order), and back exactly.

    Written as a frozen patch convolution and its transpose with one-hot kernels, so it has AutoencoderKL's
    interface (`encode(x).latent_dist`, `decode(z).sample`, `config.scaling_factor`), dtype, device and
    save/load; its posterior is a point (`sample()` is the mean, KL 0). Nothing trains it.
    """

    @register_to_config
    def __init__(self, patch_size: int = 4, in_channels: int = 3, scaling_factor: float = 1.0) -> None:
        super().__init__()
        if patch_size < 1 or in_channels < 1:
            raise ValueError(f"patch_size and in_channels must be >= 1, got {patch_size}, {in_channels}")
        out = in_channels * patch_size**2
        self.encoder = torch.nn.Conv2d(in_channels, out, patch_size, stride=patch_size, bias=False)
        self.decoder = torch.nn.ConvTranspose2d(out, in_channels, patch_size, stride=patch_size, bias=False)
        one_hot = torch.eye(out).view(out, in_channels, patch_size, patch_size)
        with torch.no_grad():
            self.encoder.weight.copy_(one_hot)
            self.decoder.weight.copy_(one_hot)
        self.requires_grad_(False)

    @property
    def latent_channels(self) -> int:
        return self.config.in_channels * self.config.patch_size**2

    @property
    def downsampling(self) -> int:
        return self.config.patch_size

    def encode(self, x: torch.Tensor, return_dict: bool = True):
        mean = self.encoder(x)
        dist = DiagonalGaussianDistribution(torch.cat([mean, torch.zeros_like(mean)], dim=1), deterministic=True)
        return AutoencoderKLOutput(latent_dist=dist) if return_dict else (dist,)

    def decode(self, z: torch.Tensor, return_dict: bool = True):
        x = self.decoder(z)
        return DecoderOutput(sample=x) if return_dict else (x,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x).latent_dist.mean).sample


def latent_geometry(vae: AutoencoderKL | PatchAutoencoder) -> tuple[int, int]:
    """(latent channels, spatial downsampling factor) of either autoencoder."""
    if isinstance(vae, PatchAutoencoder):
        return vae.latent_channels, vae.downsampling
    return vae.config.latent_channels, 2 ** (len(vae.config.block_out_channels) - 1)


AUTOENCODER_CLASSES = {"AutoencoderKL": AutoencoderKL, "PatchAutoencoder": PatchAutoencoder}


def load_autoencoder(folder: Path) -> AutoencoderKL | PatchAutoencoder:
    """A checkpoint's autoencoder folder, of the class its config.json names."""
    config = json.loads((Path(folder) / "config.json").read_text())
    name = config.get("_class_name")
    if name not in AUTOENCODER_CLASSES:
        raise ValueError(f"{folder}: autoencoder class {name!r} is not one of {', '.join(AUTOENCODER_CLASSES)}")
    return AUTOENCODER_CLASSES[name].from_pretrained(folder)


def shift_channels(latents: torch.Tensor, reference: torch.Tensor, sign: int) -> torch.Tensor:
    """Latents (..., C, h, w) with `sign` × reference latents (broadcastable to (..., c, h, w), c <= C) added to
    their first c channels (the RGB latents; a depth latent after them is left as it is)."""
    c = reference.shape[-3]
    return torch.cat([latents[..., :c, :, :] + sign * reference.to(latents.dtype), latents[..., c:, :, :]], dim=-3)


def flat_keys(keys: list[list[str]] | None) -> list[str] | None:
    """A batch's per-sample frame keys (B lists of K) in the order of its frames flattened to (B·K), or None."""
    return None if keys is None else [key for clip in keys for key in clip]


class LatentModel(Method):
    """VAE latents, device/dtype and checkpoint plumbing, and the `prediction` option's diffusion variable;
    `vae`, `options` and `modules()` come from the method."""

    vae: AutoencoderKL | PatchAutoencoder
    options: DiffusionOptions

    @property
    def device(self) -> torch.device:
        return self.vae.device

    @property
    def dtype(self) -> torch.dtype:
        return self.vae.dtype

    def latent_channels(self) -> int:
        return latent_geometry(self.vae)[0]

    @property
    def vae_scale(self) -> int:
        return latent_geometry(self.vae)[1]

    def to(self, device: torch.device, dtype: torch.dtype):
        for m in self.modules().values():
            # torch's own `.to`: diffusers' override warns on every dtype cast about fp32-kept modules these
            # models do not have (its list is empty), once per component per stage.
            torch.nn.Module.to(m, device=device, dtype=dtype)
        return self

    def check_resolution(self) -> None:
        if self.resolution % self.vae_scale:
            raise ValueError(f"resolution {self.resolution} must be a multiple of the VAE's downsampling factor {self.vae_scale}")

    latent_cache: LatentCache | None = None
    """The stage's cache of training frames' posteriors (`use_latent_cache`), or None: every frame encoded."""

    def use_latent_cache(self, budget_bytes: int) -> LatentCache | None:
        """For a training stage: keep the posteriors of the frames it encodes (`humanvid.models.latent_cache`) when
        the autoencoder is a frozen `AutoencoderKL` (a `PatchAutoencoder` is a reshape: nothing to save; a VAE
        being fitted changes every step) and the budget is not 0. Call after `trainable_parameters`."""
        frozen = not any(p.requires_grad for p in self.vae.parameters())
        self.latent_cache = LatentCache(budget_bytes) if budget_bytes > 0 and frozen and isinstance(self.vae, AutoencoderKL) else None
        return self.latent_cache

    @torch.no_grad()
    def encode(self, frames: torch.Tensor, generator: torch.Generator | None = None, keys: list[str] | None = None) -> torch.Tensor:
        """(N, 3, S, S) in [-1, 1] -> scaled latents (N, 4, S/f, S/f): a posterior sample drawn with
        `generator` (training), or the posterior mean without one (sampling: deterministic, as the released
        MagicAnimate pipeline encodes its reference). With the frames' `keys` (`frame_key`, one per frame) and a
        latent cache, posteriors the stage has already computed are not computed again."""
        if self.latent_cache is None or keys is None:
            dist = self.vae.encode(frames.to(self.dtype)).latent_dist
        else:
            if len(keys) != len(frames):
                raise ValueError(f"{len(keys)} frame keys for {len(frames)} frames")

            def encode_rows(rows: torch.Tensor) -> torch.Tensor:
                return self.vae.encode(frames[rows.to(frames.device)].to(self.dtype)).latent_dist.parameters

            dist = DiagonalGaussianDistribution(self.latent_cache.parameters(keys, encode_rows))
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

    # ------------------------------------------------------------------ the diffusion variable (`prediction`)
    @property
    def residual(self) -> bool:
        return self.options.prediction == "residual"

    def diffused(self, latents: torch.Tensor, reference_latents: torch.Tensor) -> torch.Tensor:
        """What the diffusion runs on: clean latents (B, K, C, h, w), or for `residual` those minus the reference's
        latents (B, c, h, w) — the same subtraction for every frame of a video."""
        return shift_channels(latents, reference_latents[:, None], -1) if self.residual else latents

    @staticmethod
    def check_prediction(method: str, flavor: str, prediction: str, trained_here: tuple[str, ...]) -> None:
        """Only a denoiser trained here (a debug flavor) can predict anything but noise: SD1.5's UNet predicts noise."""
        if prediction != "epsilon" and flavor not in trained_here:
            raise ValueError(f"{method} flavor {flavor!r}: prediction {prediction!r} needs a denoiser trained for it here "
                             f"(flavors {', '.join(trained_here)}); SD1.5's UNet predicts noise")  # fmt: skip

    @property
    def predicts_clean(self) -> bool:
        """The network predicts the clean diffusion variable (`residual`, `sample`), not the noise."""
        return self.options.prediction != "epsilon"

    def prediction_target(self, diffused: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """What the network is trained to predict: the noise (`epsilon`), or the clean diffusion variable."""
        return diffused if self.predicts_clean else noise

    def prediction_loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """MSE of the prediction, plus `l1_weight` × its mean absolute error (in float32)."""
        pred, target = pred.float(), target.float()
        loss = F.mse_loss(pred, target)
        if self.options.l1_weight:
            loss = loss + self.options.l1_weight * F.l1_loss(pred, target)
        return loss

    def residual_head_from_zero(self, *unets: UNet2DConditionModel) -> None:
        """For `residual`: the output layers start at zero — the untrained model predicts no change, i.e. copies
        the reference (the floor it must beat), and the background the reference already shows starts right."""
        if self.residual:
            for unet in unets:
                torch.nn.init.zeros_(unet.conv_out.weight)
                torch.nn.init.zeros_(unet.conv_out.bias)

    def ddim_scheduler(self, schedule: dict) -> DDIMScheduler:
        """DDIM over a method's training schedule, stepping on what the network predicts. `residual`, `sample`: onto the
        clean prediction (`prediction_type="sample"`), the last step landing on alpha = 1 (otherwise it adds 0.03 ×
        the implied noise to the clean prediction and speckles the exact background), unclipped (a residual
        spans [-2, 2])."""
        if not self.predicts_clean:
            return DDIMScheduler(**schedule)
        return DDIMScheduler(**{**schedule, "prediction_type": "sample", "set_alpha_to_one": True, "clip_sample": False})

    def sampled_latents(self, state: dict, latents: torch.Tensor) -> torch.Tensor:
        """The sampled diffusion variable (N, C, h, w) -> the latents to decode: the reference's latents
        (`state["reference"]`, (1, c, h, w)) added back for `residual`."""
        return shift_channels(latents, state["reference"], +1) if self.residual else latents

    def unsampled_latents(self, state: dict, latents: torch.Tensor) -> torch.Tensor:
        """Latents to decode -> the diffusion variable: the reference's latents taken off again for `residual`."""
        return shift_channels(latents, state["reference"], -1) if self.residual else latents

    def vae_loss(self, frames: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Reconstruction (MSE + L1) + a light KL, for fitting a debug VAE."""
        dist = self.vae.encode(frames).latent_dist
        recon = self.vae.decode(dist.sample(generator)).sample
        mse, l1, kl = F.mse_loss(recon, frames), F.l1_loss(recon, frames), dist.kl().mean()
        return {"loss": mse + l1 + 1e-6 * kl, "mse": mse, "l1": l1, "kl": kl}

    def frames_batch(self, sample: dict) -> dict:
        """A single-frame stage's batch (the VAE fit, a base denoiser): every target frame in [-1, 1], (N, 3, S, S)
        (and their keys, flattened alike, when the loader names them)."""
        out = {"frames": to_unit(sample["frames"].flatten(0, 1), self.device)}
        if "frame_keys" in sample:
            out["frame_keys"] = flat_keys(sample["frame_keys"])
        return out

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
