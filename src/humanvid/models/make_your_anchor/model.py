"""Make-Your-Anchor (Huang et al., CVPR 2024): the structure-guided diffusion model (SGDM) of its body.

Components:
- `vae`; `unet` (UNet2DConditionModel) and `controlnet` (a ControlNetModel on the rendered 3D mesh: the `smplx`
  control kind, shaded SMPL-X normals), both trained in both stages;
- `image_encoder`: a CLIP vision model whose `last_hidden_state` (all tokens, before the pooled output's layer norm
  and without a projection: ViT-B/32's 50 × 768) replaces the text tokens of the UNet and the ControlNet;
- `null_text`: the CLIP text encoder's embedding of "" (77 tokens) — classifier-free guidance's unconditional
  context, as the released inference contrasts with.

Training (the release's `train_body.py`, a diffusers ControlNet-example script): one frame and one reference
frame of the same identity per sample, epsilon MSE, UNet and ControlNet both optimised; pre-training on many
identities, then fine-tuning on one identity's video (two stages of the same network; data per stage).

Inference: all-frame attention in the UNet and the ControlNet (attention.py, a training-free inflation), batch-
overlapped temporal denoising (`samplers.*.schedule: truncated`, the same initial noise for every frame:
`shared_noise`), the ControlNet's residuals scaled by W_c (`condition_scale`), guidance over the reference.

Flavors: `debug_pixel` (tiny, random init, pixel space through the fixed space-to-depth `PatchAutoencoder`, a
tiny random CLIP and text encoder; trains on a CPU in minutes) and `sd15` (SD1.5's VAE, UNet and text encoder,
CLIP ViT-B/32, the ControlNet initialised from the UNet, all loaded by name through `humanvid.weights`).
What follows the paper or its code and what differs: docs/make_your_anchor.md.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKL, ControlNetModel, DDIMScheduler, DDPMScheduler, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPVisionConfig, CLIPVisionModel

from humanvid import weights
from humanvid.models.clip import clip_pixels, debug_text_encoder, load_null_text, null_text_embedding, save_null_text
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
from humanvid.models.make_your_anchor.attention import inflate
from humanvid.models.make_your_anchor.spec import DEBUG_FLAVORS, SPEC, MakeYourAnchorOptions
from humanvid.models.method import read_spec


class MakeYourAnchor(LatentModel):
    """The body SGDM's components and what each stage does with them."""

    spec = SPEC

    def __init__(self, vae, unet, controlnet, image_encoder, null_text: torch.Tensor, flavor: str, resolution: int, stage: str,
                 options: MakeYourAnchorOptions | None = None) -> None:  # fmt: skip
        self.vae: AutoencoderKL | PatchAutoencoder = vae
        self.unet: UNet2DConditionModel = unet
        self.controlnet: ControlNetModel = controlnet
        self.image_encoder: CLIPVisionModel = image_encoder
        self.null_text = null_text  # (1, 77, D)
        self.flavor, self.resolution, self.stage = flavor, resolution, stage
        self.options = options or MakeYourAnchorOptions()
        self.noise_scheduler = DDPMScheduler(**{k: v for k, v in SD15_SCHEDULE.items() if k != "set_alpha_to_one"})
        self.inflated = inflate(self.unet) + inflate(self.controlnet)
        for module in (self.vae, self.image_encoder):
            module.requires_grad_(False)

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(cls, flavor, options=None, *, resolution, seed, device, weight_dtype, overrides=None) -> "MakeYourAnchor":
        """Fresh components for the first stage (`overrides`: params.yaml `weights.overrides`)."""
        if flavor not in cls.spec.flavors:
            raise ValueError(f"unknown make_your_anchor flavor {flavor!r}; known: {', '.join(cls.spec.flavors)}")
        options = options or MakeYourAnchorOptions()
        cls.check_prediction("make_your_anchor", flavor, options.prediction, DEBUG_FLAVORS)
        torch.manual_seed(seed)
        parts = cls._debug_components(resolution) if flavor in DEBUG_FLAVORS else cls._sd15_components(overrides)
        model = cls(*parts, flavor, resolution, cls.spec.stages_for(flavor)[0].name, options)
        model.residual_head_from_zero(model.unet)
        model.check_resolution()
        return model.to(device, weight_dtype)

    @staticmethod
    def _debug_components(resolution: int):
        vae = debug_autoencoder("debug_pixel", resolution, (16, 32, 32))
        hidden = 32  # the CLIP width = the UNet's cross-attention width (the release feeds the tokens unprojected)
        unet = debug_unet(resolution, vae, DEBUG_PIXEL_BLOCKS, (32, 64), cross_attention_dim=hidden)
        controlnet = debug_controlnet(unet, vae)
        encoder = CLIPVisionModel(CLIPVisionConfig(hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2, num_attention_heads=2,
                                                   image_size=32, patch_size=8))  # fmt: skip
        return vae, unet, controlnet, encoder, null_text_embedding(debug_text_encoder(hidden))

    @staticmethod
    def _sd15_components(overrides: dict[str, str] | None = None):
        sd = weights.resolve("sd15", overrides)
        vae = AutoencoderKL.from_pretrained(sd, subfolder="vae", local_files_only=True)
        unet = UNet2DConditionModel.from_pretrained(sd, subfolder="unet", local_files_only=True)
        text = CLIPTextModel.from_pretrained(sd, subfolder="text_encoder", local_files_only=True)
        encoder = CLIPVisionModel.from_pretrained(weights.resolve("clip-vit-base-patch32", overrides), local_files_only=True)
        if encoder.config.hidden_size != unet.config.cross_attention_dim:
            raise ValueError(f"CLIP's hidden size {encoder.config.hidden_size} must equal the UNet's cross-attention size "
                             f"{unet.config.cross_attention_dim} (its tokens go in unprojected)")  # fmt: skip
        return vae, unet, ControlNetModel.from_unet(unet), encoder, null_text_embedding(text)

    def prepare(self, stage: str, *, seed: int, overrides: dict[str, str] | None = None) -> None:
        """Both stages train the same network: nothing to insert."""
        self.stage = stage

    # ------------------------------------------------------------------ bookkeeping
    def modules(self) -> dict[str, torch.nn.Module]:
        return {"vae": self.vae, "unet": self.unet, "controlnet": self.controlnet, "image_encoder": self.image_encoder}

    def to(self, device: torch.device, dtype: torch.dtype) -> "MakeYourAnchor":
        super().to(device, dtype)
        self.null_text = self.null_text.to(device, dtype)
        return self

    def trainable_parameters(self, stage: str) -> list[torch.nn.Parameter]:
        """pretrain and finetune: UNet + ControlNet (the release chains both into its optimizer)."""
        if stage in ("pretrain", "finetune"):
            return self.train_only(self.unet, self.controlnet)
        raise ValueError(f"unknown stage {stage!r}; known: {', '.join(s.name for s in self.spec.stages)}")

    # ------------------------------------------------------------------ the network
    def image_tokens(self, reference: torch.Tensor) -> torch.Tensor:
        """Reference frames (B, 3, S, S) in [-1, 1] -> CLIP's last hidden state (B, 1 + patches, D), as the release
        reads `CLIPVisionModel(...).last_hidden_state`."""
        pixels = clip_pixels(reference, self.image_encoder.config.image_size, self.dtype)
        return self.image_encoder(pixel_values=pixels).last_hidden_state

    def predict(self, latents: torch.Tensor, t: torch.Tensor, context: torch.Tensor, mesh: torch.Tensor, frames: int = 1,
                condition_scale: float = 1.0) -> torch.Tensor:  # fmt: skip
        """The network on N = windows × `frames` rows: latents (N, C, h, w), t (N,), context (N, L, D), mesh images
        (N, 3, S, S) in [0, 1] -> noise (or the clean residual) (N, C, h, w). Each window's `frames` consecutive rows
        attend to each other (all-frame attention; 1: every frame alone, as in training)."""
        kwargs = {"frames": frames}
        x, context = latents.to(self.dtype), context.to(self.dtype)
        down, mid = self.controlnet(x, t, encoder_hidden_states=context, controlnet_cond=mesh.to(self.dtype), conditioning_scale=condition_scale,
                                    cross_attention_kwargs=kwargs, return_dict=False)  # fmt: skip
        return self.unet(x, t, encoder_hidden_states=context, down_block_additional_residuals=down, mid_block_additional_residual=mid,
                         cross_attention_kwargs=kwargs).sample  # fmt: skip

    def loss(self, batch: dict, stage: str, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Frames (B, 1, 3, S, S) and references (B, 3, S, S) in [-1, 1], mesh images (B, 1, 3, S, S) in [0, 1]."""
        frames = batch["frames"].to(self.device)
        b, k = frames.shape[:2]
        latents = self.encode(frames.flatten(0, 1), generator, flat_keys(batch.get("frame_keys"))).unflatten(0, (b, k))
        reference = batch["reference"].to(self.device)
        with torch.no_grad():
            context = self.image_tokens(reference)
        reference_latents = self.encode(reference, keys=batch.get("reference_key")) if self.residual else None
        diffused = self.diffused(latents, reference_latents)
        noisy, noise, t = self.noised(diffused, generator)
        pred = self.predict(noisy.flatten(0, 1), t.repeat_interleave(k), context.repeat_interleave(k, dim=0),
                            batch["control"].to(self.device).flatten(0, 1)).unflatten(0, (b, k))  # fmt: skip
        return {"loss": self.prediction_loss(pred, self.prediction_target(diffused, noise))}

    # ------------------------------------------------------------------ sampling (humanvid.sampling.denoise)
    def sampling_state(self, reference: torch.Tensor, control: torch.Tensor, guidance_scale: float, condition_scale: float = 1.0) -> dict:
        """The reference's CLIP tokens, the mesh images, the scales."""
        return {"context": self.image_tokens(reference[None].to(self.device)), "mesh": control.to(self.dtype), "guidance_scale": guidance_scale,
                "condition_scale": condition_scale, "reference": self.encode(reference[None].to(self.device)) if self.residual else None}  # fmt: skip

    def begin_step(self, state: dict, latents: torch.Tensor, t: torch.Tensor) -> None:
        """Nothing is shared across windows within a step."""

    def window_noise(self, state: dict, latents: torch.Tensor, frames: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """n windows of K frames (n, K, C, h, w), all-frame attention within each: the conditional prediction, and with
        guidance the unconditional one (the null text as context), combined per window — the same as averaging each
        over the windows first and then guiding (guidance is linear), the release's order."""
        n, k = latents.shape[:2]
        x = latents.flatten(0, 1)
        mesh = state["mesh"][frames.flatten().to(self.device)]
        t_rows = t.expand(n * k)
        cond = self.predict(x, t_rows, state["context"].expand(n * k, -1, -1), mesh, k, state["condition_scale"]).float()
        g = state["guidance_scale"]
        if g > 1.0:
            uncond = self.predict(x, t_rows, self.null_text.expand(n * k, -1, -1), mesh, k, state["condition_scale"]).float()
            cond = uncond + g * (cond - uncond)
        return cond.unflatten(0, (n, k))

    def sampling_scheduler(self) -> DDIMScheduler:
        return self.ddim_scheduler(SD15_SCHEDULE)

    def decode_outputs(self, latents: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"rgb": self.decode(latents.to(self.dtype))}

    # ------------------------------------------------------------------ checkpoints
    def save(self, out_dir: Path) -> None:
        spec = {"method": "make_your_anchor", "flavor": self.flavor, "resolution": self.resolution, "stage": self.stage,
                "options": self.options.model_dump()}  # fmt: skip
        self.save_modules(out_dir, spec)
        save_null_text(out_dir, self.null_text)

    @classmethod
    def from_checkpoint(cls, path: Path, *, device: torch.device, weight_dtype: torch.dtype) -> "MakeYourAnchor":
        ckpt_dir = Path(path)
        spec = read_spec(ckpt_dir)
        if spec.get("method") != "make_your_anchor":
            raise ValueError(f"{ckpt_dir}: a {spec.get('method')} checkpoint, not make_your_anchor")
        model = cls(
            load_autoencoder(ckpt_dir / "vae"),
            UNet2DConditionModel.from_pretrained(ckpt_dir / "unet"),
            ControlNetModel.from_pretrained(ckpt_dir / "controlnet"),
            CLIPVisionModel.from_pretrained(ckpt_dir / "image_encoder"),
            load_null_text(ckpt_dir),
            spec["flavor"], spec["resolution"], spec["stage"], MakeYourAnchorOptions.model_validate(spec.get("options", {})),
        )  # fmt: skip
        return model.to(device, weight_dtype)
