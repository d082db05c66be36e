"""A small pose-guided video diffusion baseline on diffusers.

Components: AutoencoderKL; a UNet (UNet2DConditionModel for the image stage, UNetMotionModel with
AnimateDiff motion modules for the video stage); a pose ControlNet on OpenPose skeleton images; and the
reference image as CLIP image tokens (transformers) in place of text tokens, as Make-Your-Anchor does.

Flavors: `debug` (tiny, random init, trains in seconds on CPU; its VAE is fitted first because there is no
released one at that size), `debug_pixel` (the same tiny networks diffusing in pixel space through a fixed
space-to-depth map, `PatchAutoencoder`: nothing to fit, and nothing lost on clips it never saw) and `sd15` (Stable Diffusion 1.5 sizes; loads the released SD1.5 VAE/UNet,
AnimateDiff v1.5.2 motion modules, the OpenPose ControlNet and CLIP ViT-L/14 by name through
`humanvid.weights`, never downloading).

Option `depth`: the model also generates depth — each frame's depth as a grey image through the same VAE (humanvid.models.depth_images),
its latents stacked beside the RGB latents along channels (the UNet and ControlNet take and predict both),
in the spirit of LDM3D. Grey = 0.2 + 0.8 · (far − d) / (far − near) on the person (per frame), 0 elsewhere;
the generated depth is 1 − grey, affine in true depth on the person (evaluation aligns scale and shift).

Options `reference_concat` (the reference's latents concatenated to the UNet's and ControlNet's input) and
`prediction: residual` (the diffusion runs on the frame's latents minus the reference's, predicted clean) are
what makes the debug model learn appearance on a CPU (docs/baseline.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import AutoencoderKL, ControlNetModel, DDIMScheduler, DDPMScheduler, MotionAdapter, UNet2DConditionModel, UNetMotionModel
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

from humanvid import weights
from humanvid.models.baseline.spec import SPEC, BaselineOptions
from humanvid.models.clip import clip_pixels
from humanvid.models.depth_images import depth_from_image, depth_image
from humanvid.models.latent import (
    DEBUG_BLOCKS,
    DEBUG_PIXEL_BLOCKS,
    SD15_SCHEDULE,
    UNET_CLASSES,
    LatentModel,
    PatchAutoencoder,
    debug_autoencoder,
    debug_controlnet,
    debug_unet,
    flat_keys,
    load_autoencoder,
)


def unzero_controlnet(controlnet: ControlNetModel) -> None:
    """Default-initialise a ControlNet's zero convolutions (ControlNet starts them at zero to leave a *pretrained*
    UNet as it was; trained from scratch beside a random UNet there is nothing to protect, and zero outputs
    pass no gradient back into the branch until they grow: the pose would reach the model late)."""
    for conv in (*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block, controlnet.controlnet_cond_embedding.conv_out):
        conv.reset_parameters()


@dataclass(frozen=True)
class DebugSizes:
    """A debug flavor's sizes (all tiny: CPU, seconds)."""

    vae_channels: tuple[int, ...] = (16, 32, 32)
    unet_channels: tuple[int, ...] = (32, 64)
    cross_attention_dim: int = 32
    attention_head_dim: int = 8
    norm_groups: int = 8
    clip_hidden: int = 32
    clip_image_size: int = 32
    clip_patch: int = 8
    down_blocks: tuple[str, ...] = DEBUG_BLOCKS[0]
    up_blocks: tuple[str, ...] = DEBUG_BLOCKS[1]
    controlnet_zero_init: bool = True
    """ControlNet's zero convolutions (see `unzero_controlnet`)."""


DEBUG_SIZES = {
    "debug": DebugSizes(),
    "debug_pixel": DebugSizes(down_blocks=DEBUG_PIXEL_BLOCKS[0], up_blocks=DEBUG_PIXEL_BLOCKS[1], controlnet_zero_init=False),
}  # fmt: skip


def expand_channels(unet: UNet2DConditionModel, factor: int, extra_inputs: int = 0) -> UNet2DConditionModel:
    """A UNet taking `factor` stacked latents plus `extra_inputs` channels and predicting the `factor` latents:
    conv_in reads the first copy with its pretrained weights and the rest from zero; conv_out predicts every
    copy with the pretrained weights."""
    config = dict(unet.config)
    channels = config["in_channels"]
    config.update(in_channels=channels * factor + extra_inputs, out_channels=config["out_channels"] * factor)
    wide = UNet2DConditionModel.from_config(config)
    state = unet.state_dict()
    w_in = torch.zeros_like(wide.conv_in.weight)
    w_in[:, :channels] = state["conv_in.weight"]
    state["conv_in.weight"] = w_in
    state["conv_out.weight"] = state["conv_out.weight"].repeat(factor, 1, 1, 1)
    state["conv_out.bias"] = state["conv_out.bias"].repeat(factor)
    wide.load_state_dict(state)
    return wide


class Baseline(LatentModel):
    """The baseline's components and what each stage does with them."""

    spec = SPEC
    reference_dropout: float = 0.1  # lets a sampler use classifier-free guidance on the reference

    def __init__(self, vae, unet, controlnet, image_encoder, flavor: str, resolution: int, stage: str,
                 options: BaselineOptions | None = None) -> None:  # fmt: skip
        self.vae: AutoencoderKL | PatchAutoencoder = vae
        self.unet: UNet2DConditionModel | UNetMotionModel = unet
        self.controlnet: ControlNetModel = controlnet
        self.image_encoder: CLIPVisionModelWithProjection = image_encoder
        self.flavor, self.resolution, self.stage = flavor, resolution, stage
        self.options = options or BaselineOptions()
        self.noise_scheduler = DDPMScheduler(**{k: v for k, v in SD15_SCHEDULE.items() if k != "set_alpha_to_one"})
        for module in (self.vae, self.image_encoder):
            module.requires_grad_(False)

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(cls, flavor, options=None, *, resolution, seed, device, weight_dtype, overrides=None) -> "Baseline":
        """Fresh components for the first stage (`overrides`: params.yaml `weights.overrides`)."""
        if flavor not in cls.spec.flavors:
            raise ValueError(f"unknown baseline flavor {flavor!r}; known: {', '.join(cls.spec.flavors)}")
        options = options or BaselineOptions()
        cls.check_prediction("baseline", flavor, options.prediction, ("debug", "debug_pixel"))
        torch.manual_seed(seed)
        factor = 2 if options.depth else 1
        if flavor in ("debug", "debug_pixel"):
            vae, unet, controlnet, encoder = cls._debug_components(resolution, flavor, factor, options.reference_concat)
        else:
            vae, unet, controlnet, encoder = cls._sd15_components(overrides, factor, options.reference_concat)
        model = cls(vae, unet, controlnet, encoder, flavor, resolution, cls.spec.stages_for(flavor)[0].name, options)
        model.residual_head_from_zero(unet)
        model.check_resolution()
        return model.to(device, weight_dtype)

    @staticmethod
    def _debug_components(resolution: int, flavor: str, factor: int = 1, reference_concat: bool = False):
        s = DEBUG_SIZES[flavor]
        vae = debug_autoencoder(flavor, resolution, s.vae_channels)
        unet = debug_unet(resolution, vae, (s.down_blocks, s.up_blocks), s.unet_channels, s.cross_attention_dim, s.attention_head_dim,
                          s.norm_groups, inputs=factor + reference_concat, outputs=factor)  # fmt: skip
        controlnet = debug_controlnet(unet, vae)
        if not s.controlnet_zero_init:
            unzero_controlnet(controlnet)
        encoder = CLIPVisionModelWithProjection(
            CLIPVisionConfig(hidden_size=s.clip_hidden, intermediate_size=2 * s.clip_hidden, num_hidden_layers=2,
                             num_attention_heads=2, image_size=s.clip_image_size, patch_size=s.clip_patch,
                             projection_dim=s.cross_attention_dim)  # fmt: skip
        )
        return vae, unet, controlnet, encoder

    @staticmethod
    def _sd15_components(overrides: dict[str, str] | None = None, factor: int = 1, reference_concat: bool = False):
        sd = weights.resolve("sd15", overrides)
        vae = AutoencoderKL.from_pretrained(sd, subfolder="vae", local_files_only=True)
        unet = UNet2DConditionModel.from_pretrained(sd, subfolder="unet", local_files_only=True)
        controlnet = ControlNetModel.from_pretrained(weights.resolve("controlnet-openpose", overrides), local_files_only=True)
        encoder = CLIPVisionModelWithProjection.from_pretrained(weights.resolve("clip-vit-large-patch14", overrides), local_files_only=True)
        if encoder.config.projection_dim != unet.config.cross_attention_dim:
            raise ValueError("CLIP projection size must equal the UNet's cross-attention size")
        if factor > 1 or reference_concat:  # the released ControlNet reads 4 latent channels, so it starts from the UNet
            unet = expand_channels(unet, factor, vae.config.latent_channels if reference_concat else 0)
            controlnet = ControlNetModel.from_unet(unet)
        return vae, unet, controlnet, encoder

    def prepare(self, stage: str, *, seed: int, overrides: dict[str, str] | None = None) -> None:
        """The video stage: insert AnimateDiff motion modules (only temporal layers train there)."""
        self.stage = stage
        if stage != "finetune" or isinstance(self.unet, UNetMotionModel):
            return
        device, dtype = self.device, self.dtype
        torch.manual_seed(seed)
        if self.flavor == "sd15":
            adapter = MotionAdapter.from_pretrained(weights.resolve("animatediff-v1-5-2", overrides), local_files_only=True)
        else:
            s = DEBUG_SIZES[self.flavor]
            adapter = MotionAdapter(block_out_channels=s.unet_channels, motion_layers_per_block=1, motion_num_attention_heads=2,
                                    motion_norm_num_groups=s.norm_groups, motion_max_seq_length=64)  # fmt: skip
        self.unet = UNetMotionModel.from_unet2d(self.unet, adapter)
        self.to(device, dtype)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"vae": self.vae, "unet": self.unet, "controlnet": self.controlnet, "image_encoder": self.image_encoder}

    def trainable_parameters(self, stage: str) -> list[torch.nn.Parameter]:
        """vae: the debug VAE. pretrain: spatial UNet + ControlNet. finetune: the motion modules only."""
        if stage == "vae":
            return self.train_only(self.vae)
        if stage == "pretrain":
            return self.train_only(self.unet, self.controlnet)
        if stage == "finetune":
            return self.motion_parameters()
        raise ValueError(f"unknown stage {stage!r}; known: {', '.join(s.name for s in self.spec.stages)}")

    # ------------------------------------------------------------------ building blocks
    @property
    def depth(self) -> bool:
        return self.options.depth

    def latent_channels(self) -> int:
        return super().latent_channels() * (2 if self.depth else 1)

    def reference_latents(self, reference: torch.Tensor, keys: list[str] | None = None) -> torch.Tensor | None:
        """Reference frames (B, 3, S, S) -> their RGB latents (B, c, h, w) when an option reads them (the posterior
        mean: the reference is a condition, not a target), else None. `keys`: the frames' cache keys."""
        if not (self.options.reference_concat or self.residual):
            return None
        return self.encode(reference.to(self.device), keys=keys)

    def encode_target(self, frames: torch.Tensor, depth: torch.Tensor | None, generator: torch.Generator | None,
                      keys: list[str] | None = None) -> torch.Tensor:  # fmt: skip
        """Frames (N, 3, S, S) [+ depth (N, S, S)] -> latents (N, C, h, w): RGB latents, then depth latents (cached
        under the frame's key + `/depth`)."""
        latents = self.encode(frames, generator, keys)
        if self.depth:
            depth_keys = keys and [f"{key}/depth" for key in keys]
            latents = torch.cat([latents, self.encode(depth_image(depth), generator, depth_keys)], dim=1)
        return latents

    def image_tokens(self, reference: torch.Tensor) -> torch.Tensor:
        """Reference frames (B, 3, S, S) in [-1, 1] -> CLIP image tokens (B, 1 + patches, cross_attention_dim)."""
        out = self.image_encoder.vision_model(pixel_values=clip_pixels(reference, self.image_encoder.config.image_size, self.dtype))
        tokens = self.image_encoder.vision_model.post_layernorm(out.last_hidden_state)
        return self.image_encoder.visual_projection(tokens)

    def predict_noise(self, latents: torch.Tensor, t: torch.Tensor, tokens: torch.Tensor, pose: torch.Tensor,
                      reference_latents: torch.Tensor | None = None, condition_scale: float = 1.0) -> torch.Tensor:  # fmt: skip
        """The network's output for B videos of K frames: the noise, or with `prediction: residual` the clean
        residual (the frame's latents minus the reference's).

        latents (B, K, C, h, w); t (B,); tokens (B, N, D); pose (B, K, 3, S, S); reference_latents (B, c, h, w),
        read with `reference_concat` -> (B, K, C, h, w).
        """
        b, k = latents.shape[:2]
        if self.options.reference_concat:
            if reference_latents is None:
                raise ValueError("option reference_concat: predict_noise needs the reference's latents")
            latents = torch.cat([latents, reference_latents[:, None].to(latents.dtype).expand(-1, k, -1, -1, -1)], dim=2)
        flat = latents.flatten(0, 1)  # (B*K, C, h, w), frame-major within each video
        t_flat = t.repeat_interleave(k)
        tokens_flat = tokens.repeat_interleave(k, dim=0)
        down, mid = self.controlnet(flat, t_flat, encoder_hidden_states=tokens_flat,
                                    controlnet_cond=pose.flatten(0, 1).to(self.dtype), conditioning_scale=condition_scale,
                                    return_dict=False)  # fmt: skip
        if isinstance(self.unet, UNetMotionModel):
            video = latents.permute(0, 2, 1, 3, 4)  # (B, C, K, h, w)
            # UNetMotionModel expects the condition tokens already repeated per frame: (B*K, N, D).
            out = self.unet(video, t, encoder_hidden_states=tokens_flat, down_block_additional_residuals=down,
                            mid_block_additional_residual=mid).sample  # fmt: skip
            return out.permute(0, 2, 1, 3, 4)
        out = self.unet(flat, t_flat, encoder_hidden_states=tokens_flat, down_block_additional_residuals=down,
                        mid_block_additional_residual=mid).sample  # fmt: skip
        return out.unflatten(0, (b, k))

    # ------------------------------------------------------------------ training
    def batch(self, sample: dict, stage: str) -> dict:
        if stage == "vae":  # single frames (and, with depth, their depth images: one VAE encodes both)
            out = self.frames_batch(sample)
            if self.depth:
                out["frames"] = torch.cat([out["frames"], depth_image(sample["depth"].flatten(0, 1).to(self.device))])
            return out
        out = super().batch(sample, stage)
        if self.depth:
            out["depth"] = sample["depth"].to(self.device)  # (B, K, S, S) metres
        return out

    def loss(self, batch: dict, stage: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
        if stage == "vae":
            return self.vae_loss(batch["frames"], generator)
        return {"loss": self.diffusion_loss(batch, generator)}

    def diffusion_loss(self, batch: dict, generator: torch.Generator) -> torch.Tensor:
        """MSE of the prediction (noise, or the clean residual for `residual`) on a batch: reference (B, 3, S, S),
        frames/control (B, K, 3, S, S)[, depth (B, K, S, S)]. Reference dropout blanks the CLIP tokens only."""
        frames = batch["frames"].to(self.device)
        b, k = frames.shape[:2]
        depth = batch["depth"].flatten(0, 1) if self.depth else None
        with torch.no_grad():
            tokens = self.image_tokens(batch["reference"].to(self.device))
            reference = self.reference_latents(batch["reference"], batch.get("reference_key"))
        keys = flat_keys(batch.get("frame_keys"))
        latents = self.diffused(self.encode_target(frames.flatten(0, 1), depth, generator, keys).unflatten(0, (b, k)), reference)
        noisy, noise, t = self.noised(latents, generator)
        keep = (torch.rand(b, generator=generator, device=self.device) >= self.reference_dropout).to(tokens.dtype)
        tokens = tokens * keep.view(b, 1, 1)
        pred = self.predict_noise(noisy, t, tokens, batch["control"].to(self.device), reference)
        return self.prediction_loss(pred, self.prediction_target(latents, noise))

    # ------------------------------------------------------------------ sampling (humanvid.sampling.denoise)
    def sampling_state(self, reference: torch.Tensor, control: torch.Tensor, guidance_scale: float, condition_scale: float = 1.0) -> dict:
        """CLIP tokens of the reference (zeros first for the unconditional half when guiding), its latents where an
        option reads them (both halves keep them: dropout blanks the tokens only) and the pose images."""
        tokens = self.image_tokens(reference[None])
        if guidance_scale > 1.0:
            tokens = torch.cat([torch.zeros_like(tokens), tokens])
        return {"tokens": tokens, "reference": self.reference_latents(reference[None]), "pose": control.to(self.dtype),
                "guidance_scale": guidance_scale, "condition_scale": condition_scale}  # fmt: skip

    def begin_step(self, state: dict, latents: torch.Tensor, t: torch.Tensor) -> None:
        """Nothing is shared across windows within a step."""

    def window_noise(self, state: dict, latents: torch.Tensor, frames: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Guided prediction of n windows (noise, or the clean residual: the scheduler's prediction type):
        latents (n, K, C, h, w), frames (n, K) -> (n, K, C, h, w)."""
        n, g = latents.shape[0], state["guidance_scale"]
        x, pose = latents.to(self.dtype), state["pose"][frames.to(self.device)]
        tokens = state["tokens"].repeat_interleave(n, dim=0)  # (uncond ×n, cond ×n) or (cond ×n)
        if g > 1.0:
            x, pose = torch.cat([x, x]), torch.cat([pose, pose])
        reference = None if state["reference"] is None else state["reference"].expand(x.shape[0], -1, -1, -1)
        pred = self.predict_noise(x, t.expand(x.shape[0]), tokens, pose, reference, state["condition_scale"]).float()
        if g > 1.0:
            uncond, cond = pred.chunk(2)
            pred = uncond + g * (cond - uncond)
        return pred

    def sampling_scheduler(self) -> DDIMScheduler:
        return self.ddim_scheduler(SD15_SCHEDULE)

    def decode_outputs(self, latents: torch.Tensor) -> dict[str, torch.Tensor]:
        c = super().latent_channels()
        out = {"rgb": self.decode(latents[:, :c].to(self.dtype))}
        if self.depth:
            out["depth"] = depth_from_image(self.decode(latents[:, c:].to(self.dtype)), "grey")
        return out

    # ------------------------------------------------------------------ checkpoints
    def save(self, out_dir: Path) -> None:
        spec = {"method": self.spec.name, "flavor": self.flavor, "resolution": self.resolution, "stage": self.stage,
                "options": self.options.model_dump(), "unet_class": type(self.unet).__name__}  # fmt: skip
        self.save_modules(out_dir, spec)

    @classmethod
    def from_checkpoint(cls, path: Path, *, device: torch.device, weight_dtype: torch.dtype,
                        options: BaselineOptions | None = None) -> "Baseline":  # fmt: skip
        ckpt_dir = Path(path)
        spec, options = cls.read_checkpoint(ckpt_dir, options)
        unet_cls = UNET_CLASSES[spec["unet_class"]]
        model = cls(
            load_autoencoder(ckpt_dir / "vae"),
            unet_cls.from_pretrained(ckpt_dir / "unet"),
            ControlNetModel.from_pretrained(ckpt_dir / "controlnet"),
            CLIPVisionModelWithProjection.from_pretrained(ckpt_dir / "image_encoder"),
            spec["flavor"], spec["resolution"], spec["stage"], options,
        )  # fmt: skip
        return model.to(device, weight_dtype)
