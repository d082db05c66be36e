"""DisCo (Wang et al., CVPR 2024): disentangled control for referring human dance generation.

Components:
- `vae`; `unet` (UNet2DConditionModel of sd-image-variations-diffusers: its context is CLIP image tokens);
- `image_encoder`: CLIPVisionModelWithProjection (frozen). The reference's *foreground* (the frame times its human
  mask) goes in; its last hidden state through the post layer norm and `reference_projection` (a trainable copy of
  CLIP's `visual_projection`: the release's `refer_clip_proj`) gives every token — the UNet's and both ControlNets'
  context (the release's `combine_clip_local`);
- `pose_controlnet` (ControlNetModel on the pose skeleton) and `background_controlnet` (a ControlNet whose condition
  is the VAE latent of the reference's *background*, the frame times one minus its mask, entering through a single
  convolution initialised from the UNet's `conv_in`: the release's `refer_sdvae` + `ControlNetConditioningConvin`).
  Their residuals add (the release's `MultiControlNetModel_MultiHiddenStates`, both reading the same tokens).

Stages: `base` (debug flavors only: the UNet trained as an image-variation model, CLIP's projected image embedding of
the frame as its one-token context — the stand-in for sd-image-variations-diffusers' own training); `hap` (human
attribute pre-training: each frame rebuilt from its own foreground tokens and background latents; trains the UNet's
transformer blocks (`hap_unfreeze`), the background ControlNet and the projection; the pose ControlNet is created here
from the UNet as it was before, as the release builds it from the image-variation UNet before loading its HAP
checkpoint, and is not trained yet); `finetune` (both ControlNets, the whole UNet and the projection; a reference
frame of the video; the reference dropped with `reference_drop` for classifier-free guidance).

Flavors: `debug_pixel` (tiny, random init, pixel space through the fixed `PatchAutoencoder`, a tiny random CLIP),
`sd_image_variations` (`lambdalabs/sd-image-variations-diffusers` by name, 256²), `released_hap` (the release's
pre-training checkpoint over it: trains from fine-tuning on), and `released` / `released_cfg` / `released_temporal`
(the release's fine-tuned checkpoints beside it). What follows the paper or its code and what differs: docs/disco.md.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from diffusers import AutoencoderKL, ControlNetModel, DDIMScheduler, DDPMScheduler, UNet2DConditionModel
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

from humanvid import weights
from humanvid.models.clip import clip_pixels
from humanvid.models.disco.spec import DEBUG_FLAVORS, MASK_CONDITION, SPEC, DiscoOptions
from humanvid.models.disco.temporal import FrameCount, add_temporal_layers, temporal_parameters
from humanvid.models.latent import (
    DEBUG_PIXEL_BLOCKS,
    SD15_SCHEDULE,
    LatentModel,
    PatchAutoencoder,
    debug_autoencoder,
    debug_controlnet,
    debug_unet,
    flat_keys,
    load_autoencoder,
)

TEMPORAL_NETWORKS = ("unet", "pose_controlnet", "background_controlnet")
"""The networks the temporal stage may extend (`Disco.temporal_adder`), in the order it extends them."""


class LatentConditioning(torch.nn.Module):
    """A ControlNet's condition embedding for a condition already at the latent grid: one convolution (the release's
    `ControlNetConditioningConvin`; its weight key `controlnet_cond_embedding.conv_in`)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv_in = torch.nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)

    def forward(self, condition: torch.Tensor) -> torch.Tensor:
        return self.conv_in(condition)


def with_latent_conditioning(controlnet: ControlNetModel) -> ControlNetModel:
    """`controlnet` with its condition embedding replaced by one convolution from latents at its input size (its
    `in_channels`, the UNet's latent channels). A diffusers ControlNet folder holds such a net: its config is the plain
    ControlNet's, its weights name `controlnet_cond_embedding.conv_in` only (`load_latent_controlnet` reads it back)."""
    controlnet.controlnet_cond_embedding = LatentConditioning(controlnet.config.in_channels, controlnet.config.block_out_channels[0])
    return controlnet


def background_controlnet_from(unet: UNet2DConditionModel) -> ControlNetModel:
    """A copy of `unet`'s encoder (ControlNet's `from_unet`) conditioned on latents, its condition convolution starting
    as the UNet's `conv_in` (the release's background ControlNet with `refer_sdvae`)."""
    net = with_latent_conditioning(ControlNetModel.from_unet(unet))
    net.controlnet_cond_embedding.conv_in.load_state_dict(unet.conv_in.state_dict())
    return net


def load_latent_controlnet(folder: Path, add_temporal: Callable[[torch.nn.Module], None] | None = None) -> ControlNetModel:
    """A background ControlNet saved by `save_pretrained` (config + safetensors), key for key (`add_temporal`: what gives
    it its temporal layers first, for one that has them)."""
    folder = Path(folder)
    net = with_latent_conditioning(ControlNetModel.from_config(ControlNetModel.load_config(folder)))
    return load_strict(net, folder, add_temporal)  # a plain ControlNet's folder is refused by its key names


def load_strict(net: torch.nn.Module, folder: Path, add_temporal: Callable[[torch.nn.Module], None] | None = None) -> torch.nn.Module:
    """`net` (built from the folder's config) with the folder's safetensors loaded key for key; `add_temporal` gives it
    its temporal layers first (their keys are in the file: diffusers' `from_pretrained` would drop them)."""
    from safetensors.torch import load_file

    path = Path(folder) / "diffusion_pytorch_model.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing")
    if add_temporal is not None:
        add_temporal(net)
    net.load_state_dict(load_file(str(path)))
    return net


def split_reference(reference: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference frames (B, 3, S, S) in [-1, 1] and human masks (B, S, S) in [0, 1] -> (foreground, background), each
    the frame times the mask or its complement (0, mid grey, elsewhere: the release multiplies its normalised images)."""
    m = mask[:, None].to(reference.dtype)
    return reference * m, reference * (1 - m)


def masks_of(alpha: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 mattes (..., S, S) -> float masks in [0, 1] on `device`."""
    return alpha.to(device).float() / 255


def combine_residuals(*branches: tuple[list[torch.Tensor], torch.Tensor]) -> tuple[list[torch.Tensor], torch.Tensor]:
    """ControlNets' (down residuals, mid residual) -> their sums (what DisCo's multi-ControlNet hands the UNet)."""
    downs, mids = zip(*branches, strict=True)
    return [sum(rows) for rows in zip(*downs, strict=True)], sum(mids)


class Disco(LatentModel):
    """DisCo's components and what each stage does with them."""

    spec = SPEC

    def __init__(self, vae, unet, image_encoder, reference_projection, pose_controlnet, background_controlnet, flavor: str,
                 resolution: int, stage: str, options: DiscoOptions | None = None, frames: FrameCount | None = None) -> None:  # fmt: skip
        self.vae = vae
        self.unet: UNet2DConditionModel = unet
        self.image_encoder: CLIPVisionModelWithProjection = image_encoder
        self.reference_projection: torch.nn.Linear = reference_projection
        self.pose_controlnet: ControlNetModel | None = pose_controlnet
        self.background_controlnet: ControlNetModel | None = background_controlnet
        self.flavor, self.resolution, self.stage = flavor, resolution, stage
        self.options = options or self.spec.parse_options({})
        self.frames = frames or FrameCount()
        """Frames per clip of the next forward pass: what the temporal layers (if any) read (shared with them)."""
        self.noise_scheduler = DDPMScheduler(**{k: v for k, v in SD15_SCHEDULE.items() if k != "set_alpha_to_one"})
        for module in (self.vae, self.image_encoder):
            module.requires_grad_(False)
        self._reference_mask: torch.Tensor | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(cls, flavor, options=None, *, resolution, seed, device, weight_dtype, overrides=None) -> "Disco":
        if flavor not in cls.spec.flavors:
            raise ValueError(f"unknown {cls.spec.name} flavor {flavor!r}; known: {', '.join(cls.spec.flavors)}")
        options = options or cls.spec.parse_options({})
        cls.check_prediction(cls.spec.name, flavor, options.prediction, DEBUG_FLAVORS)
        torch.manual_seed(seed)
        if flavor in DEBUG_FLAVORS:
            vae, unet, encoder = cls._debug_components(resolution, options)
            controlnets = (None, None)  # they appear in stage `hap`, copied from the base UNet
        else:
            vae, unet, encoder = cls._image_variation_components(overrides, options, flavor)
            controlnets = (ControlNetModel.from_unet(unet), background_controlnet_from(unet))
        released = cls.spec.flavors[flavor].released
        stage = "released" if released else cls.spec.stages_for(flavor)[0].name
        model = cls(vae, unet, encoder, projection_copy(encoder), *controlnets, flavor, resolution, stage, options)
        if flavor == "released_temporal":
            model.add_temporal_layers()
        if released or flavor == "released_hap":  # the release's checkpoint over sd-image-variations' networks
            model.load_release(Path(weights.resolve(cls.spec.flavors[flavor].weights[-1], overrides)))
        model.residual_head_from_zero(model.unet)
        model.check_resolution()
        return model.to(device, weight_dtype)

    @classmethod
    def _debug_autoencoder(cls, resolution: int, options: DiscoOptions) -> PatchAutoencoder:
        """A debug flavor's fixed pixel-space autoencoder (a subclass changes what it encodes, e.g. LDM3D's RGBD)."""
        return debug_autoencoder("debug_pixel", resolution, (16, 32, 32))

    @classmethod
    def _debug_components(cls, resolution: int, options: DiscoOptions):
        """A debug flavor's autoencoder (`_debug_autoencoder`), UNet over its latents and CLIP image encoder."""
        vae = cls._debug_autoencoder(resolution, options)
        width = 32  # CLIP's projection width = the UNet's cross-attention width
        unet = debug_unet(resolution, vae, DEBUG_PIXEL_BLOCKS, (32, 64), cross_attention_dim=width)
        encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                                                 num_attention_heads=2, image_size=32, patch_size=8, projection_dim=width))  # fmt: skip
        return vae, unet, encoder

    @classmethod
    def _image_variation_components(cls, overrides: dict[str, str] | None, options: DiscoOptions, flavor: str):
        """sd-image-variations-diffusers' VAE, UNet and CLIP image encoder (the release's `pretrained_model_path`) for
        every sd flavor."""
        root = weights.resolve("sd-image-variations", overrides)
        vae = AutoencoderKL.from_pretrained(root, subfolder="vae", local_files_only=True)
        unet = UNet2DConditionModel.from_pretrained(root, subfolder="unet", local_files_only=True)
        encoder = CLIPVisionModelWithProjection.from_pretrained(root, subfolder="image_encoder", local_files_only=True)
        if encoder.config.projection_dim != unet.config.cross_attention_dim:
            raise ValueError(f"sd-image-variations: CLIP projects to {encoder.config.projection_dim}, the UNet attends to "
                             f"{unet.config.cross_attention_dim}")  # fmt: skip
        return vae, unet, encoder

    def load_release(self, path: Path) -> None:
        """A converted release checkpoint (`humanvid.models.disco.released`, key for key): the fine-tuned model's, or
        the HAP checkpoint's (no pose ControlNet in it: that one stays sd-image-variations' UNet copy, as the release
        builds it before loading HAP)."""
        from humanvid.models.disco.released import load_release

        load_release(self, path)

    def prepare(self, stage: str, *, seed: int, overrides: dict[str, str] | None = None) -> None:
        """`hap` on a debug flavor: both ControlNets appear, copied from the UNet the base stage trained (the sd flavors
        copy sd-image-variations' UNet at creation). `temporal`: the temporal layers appear in the UNet and both
        ControlNets, each starting as the identity on a clip of one frame."""
        self.stage = stage
        if stage == "hap" and self.pose_controlnet is None:
            device, dtype = self.device, self.dtype
            torch.manual_seed(seed)
            self.pose_controlnet = debug_controlnet(self.unet, self.vae)
            self.background_controlnet = background_controlnet_from(self.unet)
            self.to(device, dtype)
        if stage == "temporal" and not self.temporal:
            device, dtype = self.device, self.dtype
            torch.manual_seed(seed)
            self.add_temporal_layers()
            self.to(device, dtype)

    @property
    def temporal(self) -> bool:
        """Whether the networks have DisCo's temporal layers (the temporal stage or the released temporal model)."""
        return self.frames.attached

    def add_temporal_layers(self) -> None:
        if self.pose_controlnet is None:
            raise ValueError("the temporal layers go into both ControlNets too: train the image model's stages first")
        for name in TEMPORAL_NETWORKS:
            adder = self.temporal_adder(name, self.options)
            if adder is not None:
                adder(getattr(self, name), self.frames)

    @classmethod
    def temporal_adder(cls, name: str, options: DiscoOptions) -> Callable[[torch.nn.Module, FrameCount], None] | None:
        """What the temporal stage adds to network `name` (of TEMPORAL_NETWORKS), given the clip length they share; None:
        nothing. DisCo: its temporal layers in all three."""
        return lambda net, frames: add_temporal_layers(net, frames, options.temporal_norm)

    # ------------------------------------------------------------------ bookkeeping
    def modules(self) -> dict[str, torch.nn.Module]:
        parts = {"vae": self.vae, "unet": self.unet, "image_encoder": self.image_encoder, "reference_projection": self.reference_projection}
        if self.pose_controlnet is not None:
            parts |= {"pose_controlnet": self.pose_controlnet, "background_controlnet": self.background_controlnet}
        return parts

    def trainable_parameters(self, stage: str) -> list[torch.nn.Parameter]:
        """base: the UNet. hap: the UNet's parameters `hap_unfreeze` names, the background ControlNet, the projection.
        finetune: the UNet, both ControlNets, the projection."""
        if stage == "base":
            if self.flavor not in DEBUG_FLAVORS:
                raise ValueError("only a debug model trains its own base (the sd flavors start from sd-image-variations)")
            return self.train_only(self.unet)
        if self.pose_controlnet is None:
            raise ValueError("the ControlNets are not there yet: prepare the hap stage first")
        if stage == "hap":
            params = self.train_only(self.background_controlnet, self.reference_projection)
            unet = [p for name, p in self.unet.named_parameters() if hap_trains(name, self.options.hap_unfreeze)]
            for p in unet:
                p.requires_grad_(True)
            return unet + params
        if stage == "finetune" or (stage == "temporal" and self.options.temporal_unfreeze == "all"):
            return self.train_only(self.unet, self.pose_controlnet, self.background_controlnet, self.reference_projection)
        if stage == "temporal":
            self.train_only()
            params = [p for net in (self.unet, self.pose_controlnet, self.background_controlnet) for p in temporal_parameters(net)]
            for p in params:
                p.requires_grad_(True)
            return params
        raise ValueError(f"unknown stage {stage!r}; known: {', '.join(s.name for s in self.spec.stages)}")

    # ------------------------------------------------------------------ the network
    def image_embedding(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames (B, 3, S, S) in [-1, 1] -> CLIP's projected image embedding as one token (B, 1, D): sd-image-variations'
        own context (the base stage)."""
        pixels = clip_pixels(frames, self.image_encoder.config.image_size, self.dtype)
        return self.image_encoder(pixel_values=pixels).image_embeds[:, None]

    def reference_tokens(self, foreground: torch.Tensor) -> torch.Tensor:
        """Reference foregrounds (B, 3, S, S) in [-1, 1] -> every token of CLIP's last hidden state, post layer norm,
        through the trainable projection (B, L, D)."""
        pixels = clip_pixels(foreground, self.image_encoder.config.image_size, self.dtype)
        with torch.no_grad():
            hidden = self.image_encoder.vision_model(pixel_values=pixels).last_hidden_state
            hidden = self.image_encoder.vision_model.post_layernorm(hidden)
        return self.reference_projection(hidden)

    def predict(self, latents: torch.Tensor, t: torch.Tensor, context: torch.Tensor, background: torch.Tensor | None,
                pose: torch.Tensor | None, scales: tuple[float, float] = (1.0, 1.0), frames: int = 1,
                class_labels: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        """The network on N rows: latents (N, C, h, w), t (N,), context (N, L, D), background latents (N, C, h, w) or
        None, pose images (N, 3, S, S) in [0, 1] or None -> the prediction (N, C, h, w). Each ControlNet present adds its
        residuals, scaled by `scales` (pose, background). The rows are clips of `frames` consecutive frames (what the
        temporal layers mix; the image model's rows are independent). `class_labels` (N, L): the UNet's class embedding's
        input, for a UNet that has one (IDOL's modality label)."""
        self.frames.value = frames
        x, context = latents.to(self.dtype), context.to(self.dtype)
        branches = []
        if pose is not None:
            branches.append(self.pose_controlnet(x, t, encoder_hidden_states=context, controlnet_cond=pose.to(self.dtype),
                                                 conditioning_scale=scales[0], return_dict=False))  # fmt: skip
        if background is not None:
            branches.append(self.background_controlnet(x, t, encoder_hidden_states=context, controlnet_cond=background.to(self.dtype),
                                                       conditioning_scale=scales[1], return_dict=False))  # fmt: skip
        labels = None if class_labels is None else class_labels.to(self.dtype)
        if not branches:
            return self.unet(x, t, encoder_hidden_states=context, class_labels=labels).sample
        down, mid = combine_residuals(*branches)
        return self.unet(
            x, t, encoder_hidden_states=context, class_labels=labels, down_block_additional_residuals=down,
            mid_block_additional_residual=mid,
        ).sample

    def batch(self, sample: dict, stage: str) -> dict:
        """The common batch and the reference's human mask (B, S, S) in [0, 1]."""
        out = super().batch(sample, stage)
        out["reference_mask"] = masks_of(sample[f"reference_{MASK_CONDITION}"], self.device)
        return out

    def background_hole(self, mask: torch.Tensor, stage: str, generator: torch.Generator) -> torch.Tensor:
        """The region (B, S, S) in [0, 1] cut out of the reference for the background ControlNet: DisCo's is the
        person's mask (IDOL's outpainting pre-training cuts more)."""
        return mask

    def target_latents(self, batch: dict, frames: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The latents (B, K, C, h, w) the diffusion runs on for target frames (B, K, 3, S, S) in [-1, 1]."""
        b, k = frames.shape[:2]
        return self.encode(frames.flatten(0, 1), generator, flat_keys(batch.get("frame_keys"))).unflatten(0, (b, k))

    def loss(self, batch: dict, stage: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Target frames (B, K, 3, S, S) in [-1, 1] — one frame, or a clip of K for the temporal layers — and each
        sample's reference (B, 3, S, S) with the reference's mask; one timestep per sample."""
        frames = batch["frames"].to(self.device)
        b, k = frames.shape[:2]
        if k != 1 and not self.temporal:
            raise ValueError(f"DisCo's image model trains on one frame per sample, got {k} (clips are for the temporal stage)")
        latents = self.target_latents(batch, frames, generator)
        reference, mask = batch["reference"].to(self.device), batch["reference_mask"]
        foreground, _ = split_reference(reference, mask)
        _, behind = split_reference(reference, self.background_hole(mask, stage, generator))
        if stage == "base":
            with torch.no_grad():
                context = self.image_embedding(frames[:, 0])
            background = pose = None
        else:
            dropped = (
                stage == "finetune"
                and self.options.reference_drop > 0
                and bool(torch.rand((), generator=generator, device=self.device) < self.options.reference_drop)
            )  # fmt: skip — one draw per batch, as the release (`forward_train_multicontrol`)
            context = self.reference_tokens(torch.zeros_like(foreground) if dropped else foreground)
            background = self.encode(behind, generator)
            pose = batch["control"].flatten(0, 1).to(self.device) if stage in ("finetune", "temporal") else None
        diffused = self.diffused(latents, self.encode(behind) if self.residual else None)
        noisy, noise, t = self.noised(diffused, generator)
        rows = (lambda x: x.repeat_interleave(k, dim=0)) if k > 1 else (lambda x: x)  # per sample -> per frame
        background = rows(background) if background is not None else None
        pred = self.predict(noisy.flatten(0, 1), rows(t), rows(context), background, pose, frames=k)
        return {"loss": self.prediction_loss(pred, self.prediction_target(diffused.flatten(0, 1), noise.flatten(0, 1)))}

    # ------------------------------------------------------------------ sampling (humanvid.sampling.denoise)
    def generate(self, reference: torch.Tensor, control: torch.Tensor | None, frames: int, sampler, generator: torch.Generator,
                 conditions: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:  # fmt: skip
        """DDIM frame by frame from the reference's foreground tokens and background latents and each frame's pose;
        the reference's mask is the clip's first `alpha` (`spec.sampling_conditions`)."""
        if not conditions or MASK_CONDITION not in conditions:
            raise ValueError(f"DisCo splits its reference by the human mask: the clip's {MASK_CONDITION!r} condition is needed")
        self._reference_mask = masks_of(conditions[MASK_CONDITION][:1], self.device)
        try:
            return super().generate(reference, control, frames, sampler, generator)
        finally:
            self._reference_mask = None

    def sampling_state(self, reference: torch.Tensor, control: torch.Tensor, guidance_scale: float, condition_scale: float = 1.0) -> dict:
        """The reference's foreground tokens (and zeros' tokens for guidance: the release's unconditional reference is a
        zero image), its background latents, the pose images, the scales."""
        if self._reference_mask is None:
            raise ValueError("DisCo samples through `generate`, which reads the reference's mask")
        reference = reference[None].to(self.device)
        foreground, behind = split_reference(reference, self._reference_mask)
        state = {"context": self.reference_tokens(foreground), "background": self.encode(behind), "pose": control.to(self.dtype),
                 "guidance_scale": guidance_scale, "condition_scale": condition_scale}  # fmt: skip
        state["reference"] = state["background"] if self.residual else None  # what `residual` is around (DiscoOptions)
        if guidance_scale > 1.0:
            state["uncond_context"] = self.reference_tokens(torch.zeros_like(foreground))
        return state

    def begin_step(self, state: dict, latents: torch.Tensor, t: torch.Tensor) -> None:
        """Nothing is shared across windows within a step."""

    def window_noise(self, state: dict, latents: torch.Tensor, frames: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """n windows of K frames (n, K, C, h, w), guided over the reference: each frame on its own for the image model,
        each window one clip for the temporal layers."""
        n, k = latents.shape[:2]
        rows = n * k
        x = latents.flatten(0, 1)
        pose = state["pose"][frames.flatten().to(self.device)]
        background = state["background"].expand(rows, -1, -1, -1)
        t_rows = t.expand(rows)
        scales = (state["condition_scale"], 1.0)
        clip = k if self.temporal else 1
        pred = self.predict(x, t_rows, state["context"].expand(rows, -1, -1), background, pose, scales, clip).float()
        g = state["guidance_scale"]
        if g > 1.0:
            uncond = self.predict(x, t_rows, state["uncond_context"].expand(rows, -1, -1), background, pose, scales, clip).float()
            pred = uncond + g * (pred - uncond)
        return pred.unflatten(0, (n, k))

    def sampling_scheduler(self) -> DDIMScheduler:
        return self.ddim_scheduler(SD15_SCHEDULE)

    def decode_outputs(self, latents: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"rgb": self.decode(latents.to(self.dtype))}

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_spec(self) -> dict:
        """What humanvid.json records: enough to rebuild every layer the weights belong to."""
        return {
            "method": self.spec.name,
            "flavor": self.flavor,
            "resolution": self.resolution,
            "stage": self.stage,
            "options": self.options.model_dump(),
            "temporal": self.temporal,
        }

    def save(self, out_dir: Path) -> None:
        self.save_modules(out_dir, self.checkpoint_spec())

    @classmethod
    def saved_additions(cls, saved: dict, options: DiscoOptions) -> dict:
        """Constructor arguments for what a subclass's checkpoint adds to DisCo's networks (DisCo: none)."""
        return {}

    @classmethod
    def add_saved_layers(cls, unet: UNet2DConditionModel, additions: dict) -> None:
        """Give a UNet rebuilt from its config the layers `additions` stand for, before its weights load (DisCo: none)."""

    @classmethod
    def from_checkpoint(
        cls, path: Path, *, device: torch.device, weight_dtype: torch.dtype, options: DiscoOptions | None = None
    ) -> "Disco":
        ckpt_dir = Path(path)
        spec, options = cls.read_checkpoint(ckpt_dir, options)
        encoder = CLIPVisionModelWithProjection.from_pretrained(ckpt_dir / "image_encoder")
        projection = projection_copy(encoder)
        projection.load_state_dict(load_projection(ckpt_dir / "reference_projection"))
        has_controlnets = (ckpt_dir / "pose_controlnet").is_dir()
        temporal = FrameCount() if spec.get("temporal") else None  # the three networks share one

        additions = cls.saved_additions(spec, options)

        def temporal_of(name: str) -> Callable[[torch.nn.Module], None] | None:
            adder = cls.temporal_adder(name, options) if temporal is not None else None
            return None if adder is None else lambda net: adder(net, temporal)

        def network(kind, name):
            net = kind.from_config(kind.load_config(ckpt_dir / name))
            if name == "unet":
                cls.add_saved_layers(net, additions)  # before the temporal layers, in the order training added them
            return load_strict(net, ckpt_dir / name, temporal_of(name))

        model = cls(
            load_autoencoder(ckpt_dir / "vae"),
            network(UNet2DConditionModel, "unet"),
            encoder,
            projection,
            network(ControlNetModel, "pose_controlnet") if has_controlnets else None,
            load_latent_controlnet(ckpt_dir / "background_controlnet", temporal_of("background_controlnet")) if has_controlnets else None,
            spec["flavor"], spec["resolution"], spec["stage"], options, temporal, **additions,
        )  # fmt: skip
        return model.to(device, weight_dtype)


HAP_UNFREEZE = {
    "transblocks": lambda name: "transformer_blocks" in name,
    "crossattn": lambda name: "transformer_blocks" in name and "attn2" in name,
    "crossattn-kv": lambda name: "transformer_blocks" in name and ("attn2.to_k" in name or "attn2.to_v" in name),
    "all": lambda name: True,
}
"""The release's `--unet_unfreeze_type`: which UNet parameters (by name) human attribute pre-training trains."""


def hap_trains(name: str, unfreeze: str) -> bool:
    return HAP_UNFREEZE[unfreeze](name)


def projection_copy(encoder: CLIPVisionModelWithProjection) -> "ProjectionModule":
    """A trainable copy of CLIP's `visual_projection` (no bias), as the release initialises `refer_clip_proj`."""
    proj = ProjectionModule(encoder.config.hidden_size, encoder.config.projection_dim)
    proj.linear.load_state_dict(encoder.visual_projection.state_dict())
    return proj


class ProjectionModule(torch.nn.Module):
    """The reference-token projection as a savable component (`weight`: (projection, hidden), no bias)."""

    def __init__(self, hidden: int, projection: int) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(hidden, projection, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)

    def save_pretrained(self, folder: Path, safe_serialization: bool = True) -> None:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file({"weight": self.linear.weight.detach().contiguous().cpu()}, str(folder / PROJECTION_FILE))


PROJECTION_FILE = "projection.safetensors"


def load_projection(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    path = Path(folder) / PROJECTION_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the reference projection is missing")
    state = load_file(str(path))
    if set(state) != {"weight"}:
        raise ValueError(f"{path}: expected one tensor 'weight', got {sorted(state)}")
    return {"linear.weight": state["weight"]}


__all__ = ["Disco", "background_controlnet_from", "combine_residuals", "load_latent_controlnet", "split_reference"]
