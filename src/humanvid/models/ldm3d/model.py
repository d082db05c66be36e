"""LDM3D adapted to joint human video and depth generation, as IDOL's comparison builds it (docs/ldm3d.md).

LDM3D (Stan et al., 2023) is Stable Diffusion with an RGBD autoencoder: its first and last convolutions take and give
RGB plus depth (`4c`: one depth channel; `6c`: the depth's 16 bits in three channels), the UNet unchanged, so one latent
holds both and one denoising generates both. IDOL (supplement Sec. 2) aligns it to the same video LDM as itself: the 2D
UNet inflated to 3D, a pose ControlNet, foreground and background handled as IDOL does, the autoencoder fine-tuned.

So this model is DisCo's (humanvid.models.disco: the reference's foreground CLIP tokens as context, pose and
background ControlNets, the temporal layers that inflate it) over RGBD latents:
- every frame the UNet learns is its RGB and its depth (the normalised inverse depth on the person,
  humanvid.models.depth_images) through the RGBD autoencoder; an RGB-only image (the reference's background) is
  encoded with its depth channels at "no depth" (the value off the person);
- stages: `autoencoder` (the released flavors: the RGBD VAE fine-tuned on the target frames, reconstruction + a light
  KL), `base` (debug), `haop` (DisCo's HAP with IDOL's outpainting hole), `finetune`, optional `temporal`;
- sampling decodes each frame's latent to RGBD and splits it.
Flavors: `debug_pixel` (a fixed patch autoencoder over 4 or 6 channels, tiny UNet and CLIP), `ldm3d` / `ldm3d_4c` (the
released `Intel/ldm3d` / `Intel/ldm3d-4c` VAE and UNet by name; the reference tokens from sd-image-variations' CLIP image
encoder, whose projection width is the UNet's cross-attention width, 768).
"""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPVisionModelWithProjection

from humanvid import weights
from humanvid.models.depth_images import RGBD_PACKINGS, depth_channels, depth_from_channels
from humanvid.models.disco.model import Disco
from humanvid.models.idol.haop import outpainting_hole
from humanvid.models.idol.loss_weights import latent_weights, person_weights, weighted_prediction_loss
from humanvid.models.idol.model import disco_stage_of
from humanvid.models.idol.spec import DEPTH_CONDITION
from humanvid.models.latent import PatchAutoencoder, flat_keys
from humanvid.models.ldm3d.spec import PACKING_OF_FLAVOR, SPEC, Ldm3dOptions

DISCO_STAGE = {"autoencoder": "autoencoder", "base": "base", "haop": "hap", "finetune": "finetune", "temporal": "temporal"}
"""Each LDM3D stage and the DisCo stage it is (its trainables, the conditions it reads)."""


class Ldm3d(Disco):
    """DisCo's components over an RGBD autoencoder's latents."""

    spec = SPEC
    options: Ldm3dOptions
    _depth_loss_weights: torch.Tensor | None = None
    """The current batch's loss weights (`depth_loss_weights`), set with its target latents."""

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(cls, flavor, options=None, *, resolution, seed, device, weight_dtype, overrides=None) -> "Ldm3d":
        options = options or cls.spec.parse_options({})
        if flavor in PACKING_OF_FLAVOR and options.rgbd != PACKING_OF_FLAVOR[flavor]:
            raise ValueError(f"flavor {flavor}'s autoencoder takes RGBD packed as {PACKING_OF_FLAVOR[flavor]}, options.rgbd is "
                             f"{options.rgbd}")  # fmt: skip
        return super().create(flavor, options, resolution=resolution, seed=seed, device=device, weight_dtype=weight_dtype,
                              overrides=overrides)  # fmt: skip

    @classmethod
    def _debug_autoencoder(cls, resolution: int, options: Ldm3dOptions) -> PatchAutoencoder:
        """DisCo's debug patch autoencoder over RGB plus the depth channels (DisCo's debug UNet then sized to it)."""
        rgb = super()._debug_autoencoder(resolution, options)
        return PatchAutoencoder(patch_size=rgb.config.patch_size, in_channels=3 + RGBD_PACKINGS[options.rgbd])

    @classmethod
    def _image_variation_components(cls, overrides: dict[str, str] | None, options: Ldm3dOptions, flavor: str):
        """The released LDM3D's RGBD VAE and UNet, and sd-image-variations' CLIP image encoder for the reference tokens."""
        root = weights.resolve(cls.spec.flavors[flavor].weights[0], overrides)
        vae = AutoencoderKL.from_pretrained(root, subfolder="vae", local_files_only=True)
        channels = 3 + RGBD_PACKINGS[options.rgbd]
        if (vae.config.in_channels, vae.config.out_channels) != (channels, channels):
            raise ValueError(f"{root}/vae takes {vae.config.in_channels} and gives {vae.config.out_channels} channels; RGBD "
                             f"{options.rgbd} needs {channels}")  # fmt: skip
        unet = UNet2DConditionModel.from_pretrained(root, subfolder="unet", local_files_only=True)
        clip = weights.resolve("sd-image-variations", overrides)
        encoder = CLIPVisionModelWithProjection.from_pretrained(clip, subfolder="image_encoder", local_files_only=True)
        if encoder.config.projection_dim != unet.config.cross_attention_dim:
            raise ValueError(f"sd-image-variations' CLIP projects to {encoder.config.projection_dim}, {root}/unet attends to "
                             f"{unet.config.cross_attention_dim}")  # fmt: skip
        return vae, unet, encoder

    # ------------------------------------------------------------------ stages
    def prepare(self, stage: str, *, seed: int, overrides: dict[str, str] | None = None) -> None:
        super().prepare(disco_stage_of(stage, DISCO_STAGE), seed=seed, overrides=overrides)
        self.stage = stage

    def trainable_parameters(self, stage: str) -> list[torch.nn.Parameter]:
        """`autoencoder`: the RGBD VAE alone; the others DisCo's for the stage each is."""
        disco_stage = disco_stage_of(stage, DISCO_STAGE)
        if disco_stage == "autoencoder":
            if isinstance(self.vae, PatchAutoencoder):
                raise ValueError("the debug flavor's patch autoencoder is exact: it has nothing to fine-tune")
            return self.train_only(self.vae)
        return super().trainable_parameters(disco_stage)

    # ------------------------------------------------------------------ RGBD through the autoencoder
    def rgbd(self, frames: torch.Tensor, depth: torch.Tensor | None) -> torch.Tensor:
        """Frames (N, 3, S, S) in [-1, 1] and depth (N, S, S) in metres (None: no depth anywhere) -> the autoencoder's
        input (N, 3 + depth channels, S, S)."""
        options = self.options
        if depth is None:  # value 0 everywhere: depth 0 is "none" whatever the source's kind
            channels = depth_channels(torch.zeros_like(frames[:, 0]).float(), options.rgbd)
        else:
            channels = depth_channels(depth.float(), options.rgbd, options.depth_normalisation, options.depth_span, options.depth_source)
        return torch.cat([frames, channels.to(frames.dtype)], dim=1)

    @torch.no_grad()
    def encode(self, frames: torch.Tensor, generator: torch.Generator | None = None, keys: list[str] | None = None) -> torch.Tensor:
        """RGBD images, or RGB images (their depth channels then "no depth": the reference's background) -> latents."""
        if frames.shape[1] == 3:
            frames = self.rgbd(frames, None)
        return super().encode(frames, generator, keys)

    def batch(self, sample: dict, stage: str) -> dict:
        """DisCo's batch and every target frame's depth (B, K, S, S) in metres: every stage learns RGBD."""
        if DEPTH_CONDITION not in sample:
            raise ValueError(f"LDM3D learns RGBD frames: the samples have no {DEPTH_CONDITION!r} condition")
        out = super().batch(sample, DISCO_STAGE.get(stage, stage))
        out["depth"] = sample[DEPTH_CONDITION].to(self.device).float()
        return out

    def target_latents(self, batch: dict, frames: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The RGBD frames' latents (B, K, C, h, w) (cached under the frame's key + `/rgbd`)."""
        b, k = frames.shape[:2]
        keys = flat_keys(batch.get("frame_keys"))
        images = self.rgbd(frames.flatten(0, 1), batch["depth"].flatten(0, 1)).to(self.dtype)
        self._depth_loss_weights = self.depth_loss_weights(batch)  # DisCo's loss takes the targets, then the loss
        return self.encode(images, generator, keys and [f"{key}/rgbd" for key in keys]).unflatten(0, (b, k))

    def depth_loss_weights(self, batch: dict) -> torch.Tensor | None:
        """With `depth_person_weight` above 1: the RGBD latents' weights (B·K, C, h, w) — the depth channels weigh the
        person by it, RGB stays 1 (exact through the patch autoencoder; a KL VAE's latents mix the two); else None."""
        weight = self.options.depth_person_weight
        if weight == 1:
            return None
        person = person_weights(batch["depth"].flatten(0, 1).float(), weight)
        rgb = torch.ones_like(person).expand(-1, 3, -1, -1)
        pixels = torch.cat([rgb, person.expand(-1, RGBD_PACKINGS[self.options.rgbd], -1, -1)], dim=1)
        return latent_weights(self.vae, pixels).to(self.device)

    def prediction_loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """DisCo's, weighted by the batch's `depth_loss_weights` (which `target_latents` leaves for it) when there are."""
        if self._depth_loss_weights is None:
            return super().prediction_loss(pred, target)
        return weighted_prediction_loss(pred, target, self._depth_loss_weights, self.options.l1_weight)

    def background_hole(self, mask: torch.Tensor, stage: str, generator: torch.Generator) -> torch.Tensor:
        """Pre-training cuts IDOL's outpainting hole; later stages cut the person, as DisCo."""
        return outpainting_hole(mask, self.options.haop_shift, generator) if stage == "hap" else mask

    def loss(self, batch: dict, stage: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """`autoencoder`: the RGBD reconstruction (LatentModel.vae_loss); else DisCo's diffusion loss over RGBD latents."""
        disco_stage = disco_stage_of(stage, DISCO_STAGE)
        if disco_stage == "autoencoder":
            frames = batch["frames"].to(self.device).flatten(0, 1)
            return self.vae_loss(self.rgbd(frames, batch["depth"].flatten(0, 1)).to(self.dtype), generator)
        return super().loss(batch, disco_stage, generator)

    def decode_outputs(self, latents: torch.Tensor) -> dict[str, torch.Tensor]:
        """Latents (N, C, h, w) -> `rgb` (N, 3, S, S) and `depth` (N, S, S), relative (larger is farther)."""
        rgbd = self.decode(latents.to(self.dtype))
        return {"rgb": rgbd[:, :3], "depth": depth_from_channels(rgbd[:, 3:], self.options.rgbd)}


__all__ = ["Ldm3d"]
